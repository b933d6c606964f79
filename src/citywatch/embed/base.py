"""The embedder interface: aligned face -> L2-normalised vector."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from citywatch.types import FloatArray, ImageArray


@dataclass(frozen=True, slots=True)
class FaceInput:
    """A face to embed: an image that contains it, its box and 5 landmarks in that image."""

    image: ImageArray
    box: FloatArray
    kps: FloatArray


class FaceEmbedder(ABC):
    """Turns faces into L2-normalised float32 vectors of a fixed dimension.

    Lifecycle: cheap ``__init__``, ``load()``, then ``embed()`` any number of
    times, ``close()``. ``model_id`` names the vector space: vectors from two
    different ``model_id`` values must never be compared.
    """

    model_id: str
    dim: int

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def embed(self, faces: Sequence[FaceInput]) -> FloatArray:
        """Return ``(len(faces), dim)`` float32, each row with unit L2 norm."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release model memory (optional)."""
