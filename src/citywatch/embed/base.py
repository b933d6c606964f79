"""The embedder interface: aligned face -> L2-normalised vector."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citywatch.errors import ModelError
from citywatch.types import FloatArray, ImageArray


@dataclass(frozen=True, slots=True)
class FaceInput:
    """A face to embed: an image that contains it, its box and 5 landmarks in that image."""

    image: ImageArray
    box: FloatArray
    kps: FloatArray


def l2_normalise(vectors: FloatArray, what: str) -> FloatArray:
    """Rows scaled to unit length; a zero or non-finite row is a model failure, not a face."""
    out = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] <= 1e-12)
    if bad.any():
        raise ModelError(f"{what}: the model returned {int(bad.sum())} zero or non-finite embedding(s)")
    result: FloatArray = (out / norms).astype(np.float32)
    return result


class FaceEmbedder(ABC):
    """Turns faces into L2-normalised float32 vectors of a fixed dimension.

    Lifecycle: cheap ``__init__``, ``load()``, then ``embed()`` any number of
    times, ``close()``. ``model_id`` names the vector space: vectors from two
    different ``model_id`` values must never be compared.

    ``embed`` is ``embed_aligned(align(faces))``: the two halves are separate so
    that the pipeline can time them apart (alignment is CPU work even when the
    network runs on a GPU) and batch the network over several tracks.
    """

    model_id: str
    dim: int

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def align(self, faces: Sequence[FaceInput]) -> list[ImageArray]:
        """The network's input chips, one per face, in RGB."""

    @abstractmethod
    def embed_aligned(self, chips: Sequence[ImageArray]) -> FloatArray:
        """Return ``(len(chips), dim)`` float32, each row with unit L2 norm."""

    def embed(self, faces: Sequence[FaceInput]) -> FloatArray:
        """Return ``(len(faces), dim)`` float32, each row with unit L2 norm."""
        if not faces:
            self.load()
            return np.zeros((0, self.dim), np.float32)
        return self.embed_aligned(self.align(faces))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release model memory (optional)."""
