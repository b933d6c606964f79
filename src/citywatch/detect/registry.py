"""Build the configured face detector plugin."""

from __future__ import annotations

from pathlib import Path

from citywatch.config import (
    BlazeFaceConfig,
    DetectorConfig,
    DlibCnnConfig,
    DlibHogConfig,
    ScrfdConfig,
    YuNetConfig,
)
from citywatch.detect.base import FaceDetector


def build_detector(cfg: DetectorConfig, model_dir: Path | None = None) -> FaceDetector:
    """The plugin for ``cfg.type`` (not loaded yet: call ``load()`` or just ``detect()``).

    ``model_dir`` is where ONNX weights are looked for when ``model_path`` is
    empty or relative (the App passes ``<data-dir>/models``).
    """
    # plugins are imported here so that importing citywatch.detect loads neither dlib, LiteRT nor ONNX Runtime
    if isinstance(cfg, BlazeFaceConfig):
        from citywatch.detect.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(cfg)
    if isinstance(cfg, DlibHogConfig):
        from citywatch.detect.dlib_detectors import DlibHogDetector

        return DlibHogDetector(cfg)
    if isinstance(cfg, DlibCnnConfig):
        from citywatch.detect.dlib_detectors import DlibCnnDetector

        return DlibCnnDetector(cfg)
    if isinstance(cfg, YuNetConfig):
        from citywatch.detect.yunet import YuNetDetector

        return YuNetDetector(cfg, model_dir)
    if isinstance(cfg, ScrfdConfig):
        from citywatch.detect.scrfd import ScrfdDetector

        return ScrfdDetector(cfg, model_dir)
    raise TypeError(f"unknown detector config {type(cfg).__name__}")
