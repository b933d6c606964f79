"""citywatch.embed: aligned faces -> L2-normalised vectors.

Plugins: ``dlib_resnet`` (default, 128-d), ``sface`` (128-d) and ``arcface``
(512-d) on ONNX Runtime. Build one from config with :func:`build_embedder`.
"""

from __future__ import annotations

from pathlib import Path

from citywatch.config import ArcFaceConfig, DlibResnetConfig, EmbedderConfig, SFaceConfig
from citywatch.embed.base import FaceEmbedder, FaceInput


def build_embedder(cfg: EmbedderConfig, model_dir: Path | None = None) -> FaceEmbedder:
    """The embedder plugin named by ``cfg.type`` (not loaded yet).

    ``model_dir`` is where ONNX weights are looked for when ``model_path`` is
    empty or relative (the App passes ``<data-dir>/models``).
    """
    # plugins are imported here so that importing citywatch.embed loads neither dlib nor ONNX Runtime
    if isinstance(cfg, DlibResnetConfig):
        from citywatch.embed.dlib_resnet import DlibResnetEmbedder

        return DlibResnetEmbedder(cfg)
    if isinstance(cfg, SFaceConfig):
        from citywatch.embed.onnx_embedders import SFaceEmbedder

        return SFaceEmbedder(cfg, model_dir)
    if isinstance(cfg, ArcFaceConfig):
        from citywatch.embed.onnx_embedders import ArcFaceEmbedder

        return ArcFaceEmbedder(cfg, model_dir)
    raise TypeError(f"unknown embedder config {type(cfg).__name__}")


__all__ = ["FaceEmbedder", "FaceInput", "build_embedder"]
