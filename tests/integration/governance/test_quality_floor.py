"""Capture quality per camera and the recognition floor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from govint_world import sighting

from citywatch.config import GovernanceConfig
from citywatch.governance.quality import camera_quality, recognition_allowed
from citywatch.store import Store


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    yield s
    s.close()


def _fill(store: Store, camera: str, sizes: list[float]) -> None:
    rng = np.random.default_rng(7)
    run = store.begin_run(camera, f"{camera}.mp4", datetime.now(UTC))
    for i, px in enumerate(sizes):
        sighting(store, rng, run, i, camera=camera, face_px=px)
    store.finish_run(run, frames=len(sizes))


def test_floor(store: Store) -> None:
    cfg = GovernanceConfig(min_eye_px=16, min_quality_sightings=20)
    _fill(store, "far", [10.0] * 15 + [30.0] * 5)
    _fill(store, "near", [24.0] * 25)
    _fill(store, "young", [8.0] * 19)

    ok, why = recognition_allowed(store, "far", cfg)
    assert not ok
    assert "median inter-eye distance 10.0 px is below the floor of 16 px" in why and "25%" in why
    q = camera_quality(store, "far", cfg)
    assert q.faces == 20 and q.median_eye_px == 10.0 and q.share_recognisable == 0.25
    assert q.median_frontal == pytest.approx(0.8)

    assert recognition_allowed(store, "near", cfg)[0]
    ok, why = recognition_allowed(store, "young", cfg)
    assert ok and "judged after 20" in why
    assert recognition_allowed(store, "unknown", cfg) == (True, "no measured faces yet; judged after 20")


def test_switched_off_camera_is_refused(store: Store) -> None:
    store.upsert_camera("private", recognition=False)
    ok, why = recognition_allowed(store, "private", GovernanceConfig())
    assert not ok and "switched off" in why
