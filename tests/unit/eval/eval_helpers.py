"""Fake encoders for the evaluation tests: a path -> vector dict (plumbing, not accuracy)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

FakeEncode = Callable[[Path], "npt.NDArray[np.float64] | None"]


def unit_at(score: float, axis: int = 1, dim: int = 3) -> npt.NDArray[np.float64]:
    """A unit vector whose cosine with ``e0`` is ``score`` (the rest goes on ``axis``)."""
    v = np.zeros(dim)
    v[0] = score
    v[axis] = math.sqrt(max(0.0, 1.0 - score * score))
    return v


def make_encoder(table: dict[Path, npt.NDArray[np.float64] | None]) -> tuple[FakeEncode, list[Path]]:
    """An ``encode`` reading ``table``, and the list of paths it was called with."""
    calls: list[Path] = []

    def encode(path: Path) -> npt.NDArray[np.float64] | None:
        calls.append(path)
        return table[path]

    return encode, calls
