"""Builders shared by the governance integration tests (a unique module name: safe to import)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from citywatch.store import PhotoIn, SightingIn, Store

DIM = 16
MODEL = "test_model"


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def identity(store: Store, rng: np.random.Generator, name: str, basis: str = "court order") -> int:
    store.ensure_watchlist("wanted", "admin")
    photo = PhotoIn(
        sha256=name.ljust(64, "0")[:64],
        filename=f"{name}.jpg",
        provenance="test",
        embedding=unit(rng),
        model=MODEL,
    )
    return store.add_identity("wanted", name, basis, "admin", [photo], legal_reference="ref-1")


def sighting(
    store: Store,
    rng: np.random.Generator,
    run_id: int,
    track: int,
    *,
    start: datetime | None = None,
    identity_id: int | None = None,
    camera: str = "cam1",
    face_px: float | None = 24.0,
) -> int:
    t = start or datetime.now(UTC)
    s = SightingIn(
        run_id=run_id, camera=camera, track_id=track, start=t, end=t + timedelta(seconds=2),
        start_offset=0.0, end_offset=2.0, embedding=unit(rng), model=MODEL, quality=0.5, detections=5,
        score=0.95 if identity_id else 0.1, threshold=0.9, identity_id=identity_id, face_px=face_px, frontal=0.8,
    )  # fmt: skip
    return store.add_sighting(s, b"\xff\xd8 fake jpeg \xff\xd9").id
