"""Alerts for the events tests: a store with an approved watchlist entry, and a way to raise alerts.

(At the top of ``tests/`` so that unit and integration tests can both import it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from citywatch.store import PhotoIn, SightingIn, Store

MODEL = "events_model"
DIM = 8
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class AlertWorld:
    """A store with one approved entry ("Jane Roe" on watchlist "wanted") and a run on camera ``gate``."""

    store: Store
    entry_id: int
    run_id: int
    rng: np.random.Generator
    tracks: int = 0

    @classmethod
    def build(cls, store: Store, cameras: tuple[str, ...] = ("gate",)) -> AlertWorld:
        rng = np.random.default_rng(7)
        for cam in cameras:
            store.upsert_camera(cam)
        store.ensure_watchlist("wanted", "admin")
        entry = store.add_identity(
            "wanted",
            "Jane Roe",
            "court order 12",
            "admin",
            [PhotoIn("a" * 64, "a.jpg", "test", _unit(rng), MODEL)],
        )
        run = store.begin_run(cameras[0], "live:" + cameras[0], T0, replace_unfinished=False)
        return cls(store, entry, run, rng)

    def raise_alert(self, camera: str = "gate", score: float = 0.91) -> int:
        """Store a matched sighting (and so an alert with its outbox row); returns the alert id."""
        self.tracks += 1
        start = T0 + timedelta(seconds=self.tracks)
        sighting = SightingIn(
            run_id=self.run_id, camera=camera, track_id=self.tracks, start=start,
            end=start + timedelta(seconds=2), start_offset=0.0, end_offset=2.0, embedding=_unit(self.rng),
            model=MODEL, quality=0.7, detections=6, score=score, threshold=0.6, identity_id=self.entry_id,
        )  # fmt: skip
        out = self.store.add_sighting(sighting, b"\xff\xd8 face \xff\xd9")
        assert out.alert_id is not None
        return out.alert_id
