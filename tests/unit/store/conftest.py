"""Fixtures for the store tests: a fresh store (each database and vector backend) in a temporary data directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from store_helpers import MODEL, T0

from citywatch.config import VectorConfig
from citywatch.store import SightingIn, Store


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def store(tmp_path: Path, db_url: str, vector_cfg: VectorConfig) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home", vectors=vector_cfg)
    yield s
    s.close()


@pytest.fixture
def make_sighting() -> Callable[..., SightingIn]:
    def make(
        run_id: int,
        embedding: np.ndarray,
        *,
        camera: str = "cam1",
        track_id: int = 1,
        start: datetime = T0,
        identity_id: int | None = None,
        score: float = 0.1,
        model: str = MODEL,
    ) -> SightingIn:
        return SightingIn(
            run_id=run_id,
            camera=camera,
            track_id=track_id,
            start=start,
            end=start + timedelta(seconds=2),
            start_offset=(start - T0).total_seconds(),
            end_offset=(start - T0).total_seconds() + 2,
            embedding=embedding,
            model=model,
            quality=0.5,
            detections=7,
            score=score,
            threshold=0.6,
            identity_id=identity_id,
        )

    return make
