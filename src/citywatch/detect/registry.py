"""Build the configured face detector plugin."""

from __future__ import annotations

from citywatch.config import BlazeFaceConfig, DetectorConfig, DlibCnnConfig, DlibHogConfig
from citywatch.detect.base import FaceDetector


def build_detector(cfg: DetectorConfig) -> FaceDetector:
    """The plugin for ``cfg.type`` (not loaded yet: call ``load()`` or just ``detect()``)."""
    # plugins are imported here so that importing citywatch.detect loads neither dlib nor LiteRT
    if isinstance(cfg, BlazeFaceConfig):
        from citywatch.detect.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(cfg)
    if isinstance(cfg, DlibHogConfig):
        from citywatch.detect.dlib_detectors import DlibHogDetector

        return DlibHogDetector(cfg)
    if isinstance(cfg, DlibCnnConfig):
        from citywatch.detect.dlib_detectors import DlibCnnDetector

        return DlibCnnDetector(cfg)
    raise TypeError(f"unknown detector config {type(cfg).__name__}")
