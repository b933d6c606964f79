"""Helpers for the engine tests: fast supervision settings, polling, health lookup."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from citywatch.config import CameraConfig, Config
from citywatch.engine.fleet import Fleet
from citywatch.engine.health import CameraHealth
from citywatch.store.repo import Store

T = TypeVar("T")

# quick backoffs so an outage test takes seconds, not minutes
FAST = {
    "fleet": {
        "restart_min_seconds": 0.3,
        "restart_max_seconds": 2.0,
        "health_seconds": 0.25,
        "live_frame_seconds": 0.5,
        "stop_seconds": 8.0,
    },
    "ingest": {"reconnect_min_seconds": 0.2, "reconnect_max_seconds": 1.0},
}


def fast_config(*cameras: CameraConfig, **extra: object) -> Config:
    return Config.model_validate({**FAST, **extra, "cameras": [c.model_dump() for c in cameras]})


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def camera_health(fleet: Fleet, name: str) -> CameraHealth:
    return next(h for h in fleet.health() if h.camera == name)


CASE = "CASE-ENGINE-1"


def build_world(home: Path, cfg: Config, recorded_at: datetime) -> None:
    """Users, an approved watchlist entry (the astronaut portrait), a case and a granted post-event authorisation.

    Deterministic: the same steps on two fresh homes give the same ids.
    """
    from PIL import Image

    from citywatch.app import App
    from citywatch.demo import astronaut
    from citywatch.governance.access import add_user
    from citywatch.governance.authorisations import grant, request
    from citywatch.governance.cases import open_case
    from citywatch.governance.watchlist import decide

    photo = home / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    app = App(cfg, home, Store.open("", home))
    try:
        add_user(app.store, None, "root", "admin")
        add_user(app.store, "root", "ivy", "investigator")
        add_user(app.store, "root", "sue", "supervisor")
        ent = app.enroll(
            "test-list", "Astronaut (public-domain NASA portrait)", [photo], "test statute",
            "ivy", provenance="scikit-image data.astronaut", legal_reference="TEST-REF-1",
        )  # fmt: skip
        decide(app.store, "sue", ent.identity_id, approve=True, note="test")
        open_case(app.store, "ivy", CASE, "engine equivalence")
        auth = request(
            app.store, cfg.governance, "ivy", case_ref=CASE, authority="test court", reference="TEST-AUTH-1",
            purpose="post_event", use="post_event", targets=[ent.identity_id], cameras=[c.name for c in cfg.cameras],
            window_start=recorded_at - timedelta(hours=1), window_end=recorded_at + timedelta(hours=1),
        )  # fmt: skip
        grant(app.store, "sue", auth.id)
    finally:
        app.close()


def stored_results(home: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """(sightings, alerts) of a data directory, as comparable rows in a stable order."""
    with Store.open("", home, reconcile=False) as store:
        sightings = sorted(
            (
                s.camera,
                s.track_id,
                s.start,
                s.end,
                s.detections,
                s.identity_name,
                s.matched,
                s.score,
                s.quality,
            )
            for s in store.list_sightings()
        )
        alerts = sorted(
            (a.camera, a.identity_name, a.watchlist, a.start, a.score) for a in store.list_alerts()
        )
    return sightings, alerts
