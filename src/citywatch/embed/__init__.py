"""citywatch.embed: aligned faces -> L2-normalised vectors."""

from __future__ import annotations

from citywatch.config import DlibResnetConfig
from citywatch.embed.base import FaceEmbedder, FaceInput


def build_embedder(cfg: DlibResnetConfig) -> FaceEmbedder:
    """The embedder plugin named by ``cfg.type``."""
    from citywatch.embed.dlib_resnet import DlibResnetEmbedder

    return DlibResnetEmbedder(cfg)


__all__ = ["FaceEmbedder", "FaceInput", "build_embedder"]
