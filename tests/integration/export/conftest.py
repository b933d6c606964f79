"""The export tests' world: a processed two-person clip, users, and alerts on both sightings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from export_scene import render_two_people

from citywatch.app import App
from citywatch.config import CameraConfig, Config
from citywatch.store import models as m
from citywatch.store.users import create_user

CONFIG = "cameras:\n  - name: cam\n    detect_fps: 5\n"


@dataclass(frozen=True)
class ExportWorld:
    app: App
    home: Path
    config: Path
    clip: Path
    subject_alert: int
    """Alert on the subject's sighting (confirmed)."""
    bystander_alert: int
    """Alert on the bystander's sighting (left unconfirmed)."""
    subject_sighting: int


def _add_alert(app: App, sighting_id: int, identity_id: int, status: str) -> int:
    """Insert an alert row directly (independent of how ``process`` raises alerts)."""
    with app.store._tx() as s:
        alert = m.Alert(
            sighting_id=sighting_id, identity_id=identity_id, score=0.9, threshold=0.5, status=status
        )
        s.add(alert)
        s.flush()
        return alert.id


@pytest.fixture(scope="package")
def export_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportWorld]:
    root = tmp_path_factory.mktemp("export")
    clip = render_two_people(root / "two-people.mp4")
    config = root / "config.yaml"
    config.write_text(CONFIG)
    cfg = Config(cameras=[CameraConfig(name="cam", detect_fps=5.0, source="")])
    app = App.open(data_dir=root / "home", cfg=cfg)
    try:
        for name, role in (
            ("ivy", "investigator"),
            ("ian", "investigator"),
            ("sam", "supervisor"),
            ("otto", "operator"),
        ):
            create_user(app.store, name, role, "admin")
        app.process(str(clip), "cam", actor="ivy", recorded_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        sightings = app.store.list_sightings()
        assert len(sightings) == 2, [(s.start_offset, s.end_offset) for s in sightings]
        subject = max(sightings, key=lambda s: s.end_offset - s.start_offset)
        bystander = next(s for s in sightings if s.id != subject.id)
        wl = app.store.ensure_watchlist("wanted", created_by="admin")
        with app.store._tx() as s:
            row = m.Identity(
                watchlist_id=wl.id,
                name="astronaut",
                legal_basis="court order 1/26",
                enrolled_by="admin",
                requested_by="admin",
                approved_by="sam",
                status="approved",
            )
            s.add(row)
            s.flush()
            identity = row.id
        subject_alert = _add_alert(app, subject.id, identity, "confirmed")
        bystander_alert = _add_alert(app, bystander.id, identity, "unconfirmed")
        app.store.append_audit(
            "vera", "alert.verify", f"alert:{subject_alert}", details={"decision": "confirm"}
        )
        yield ExportWorld(app, root / "home", config, clip, subject_alert, bystander_alert, subject.id)
    finally:
        app.close()
