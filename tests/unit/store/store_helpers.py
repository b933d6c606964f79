"""Shared constants and helpers of the store tests (a unique module name: safe to import)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

DIM = 16
MODEL = "test_model"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)
