"""Transparency report for a month with known counts: JSON keys, CSV rows, PNG chart; never identities."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from govint_world import identity, sighting
from sqlalchemy import text

from citywatch.config import Config
from citywatch.errors import PolicyError
from citywatch.governance.report import build_report, period_bounds, write_report
from citywatch.store import Store
from citywatch.store import models as m

NOV = "2026-11-10 10:00:00.000000"


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    yield s
    s.close()


def _auth(store: Store, status: str, urgent: bool = False, late: bool = False) -> None:
    t = datetime(2026, 11, 10, 10, tzinfo=UTC)
    with store._tx() as s:
        s.add(
            m.Authorisation(
                case_ref="C-1", authority="court", reference="R-1", purpose="post_event", use="post_event",
                urgent=urgent, deadline=t + timedelta(hours=48) if urgent else None, status=status,
                window_start=t, window_end=t + timedelta(days=1), requested_by="inv",
                decided_by="sup" if status != "pending" else None,
                decided_at=t + timedelta(hours=60 if late else 1) if status != "pending" else None,
                created_at=t,
            )
        )  # fmt: skip


def _world(store: Store) -> None:
    rng = np.random.default_rng(5)
    store.upsert_camera(
        "cam1", location="Main St / 3rd Ave", district="Centre", purpose="traffic junction", vendor="Acme",
        cost=12500.0, installed_on="2025-03-01", recognition=True,
    )  # fmt: skip
    ids = [
        identity(store, rng, n, b)
        for n, b in [("Alice Secret", "court order"), ("Bob Hidden", "court order")]
    ]
    identity(store, rng, "Carol Private", "missing person")
    r1 = store.begin_run("cam1", "a.mp4", datetime.now(UTC))
    sighting(store, rng, r1, 1)
    sighting(store, rng, r1, 2)
    sighting(store, rng, r1, 3, identity_id=ids[0])
    store.finish_run(r1, frames=50)
    r2 = store.begin_run("cam1", "b.mp4", datetime.now(UTC))
    sighting(store, rng, r2, 1)
    sighting(store, rng, r2, 2)
    store.finish_run(r2, frames=50)
    for _ in range(2):
        store.record_search("C-1", "robbery", "inv", "ab" * 32, None, None, None, 10, 3)
    _auth(store, "granted")
    _auth(store, "refused")
    _auth(store, "granted", urgent=True, late=True)
    store.append_audit("v1", "alert.confirmed", "alert:1")
    store.append_audit("v1", "alert.rejected", "alert:2")
    store.append_audit(
        "system:retention", "retention.run", "sightings",
        details={"sightings": 4, "alerts": 2, "by_month": {"2026-11": {"sightings": 4, "alerts": 2}}},
    )  # fmt: skip
    with store.engine.begin() as c:
        for table, col in [
            ("runs", "started_at"), ("alerts", "created_at"), ("searches", "created_at"),
            ("identities", "created_at"), ("audit_log", "ts"),
        ]:  # fmt: skip
            c.execute(text(f"UPDATE {table} SET {col} = :t"), {"t": NOV})


def test_report_counts(store: Store, tmp_path: Path) -> None:
    _world(store)
    rep = build_report(store, Config(), "2026-11", now=datetime(2026, 12, 1, tzinfo=UTC))
    mt = rep.metrics
    assert (mt.faces_processed, mt.alerts, mt.alerts_confirmed, mt.alerts_rejected) == (5, 3, 1, 1)
    assert mt.searches == 2 and mt.exports == 0
    assert (mt.authorisations.requested, mt.authorisations.granted, mt.authorisations.refused) == (3, 2, 1)
    assert mt.authorisations.late == 1
    assert (mt.deletions.sightings, mt.deletions.alerts, mt.deletions.retention_runs) == (4, 2, 1)
    assert mt.watchlist_entries_by_legal_basis == {"court order": 2, "missing person": 1}
    assert [c.name for c in rep.cameras] == ["cam1"]
    cam = rep.cameras[0]
    assert (cam.district, cam.purpose, cam.vendor, cam.cost, cam.installed_on) == (
        "Centre", "traffic junction", "Acme", 12500.0, "2025-03-01",
    )  # fmt: skip
    assert cam.recognition and cam.recognition_running
    assert rep.retention.unmatched_hours == 72 and rep.retention.matched_days == 30
    assert rep.model.embedder == "dlib_resnet_v1" and rep.model.threshold is not None
    assert rep.accuracy.measured and rep.accuracy.tar is not None
    assert len(rep.activity) == 12 and rep.activity[-1].month == "2026-11"
    assert rep.activity[-1].faces_processed == 5 and rep.activity[0].month == "2025-12"
    assert rep.audit_head is not None

    # an empty month reports zeros
    empty = build_report(store, Config(), "2026-10")
    assert empty.metrics.faces_processed == 0 and empty.metrics.alerts == 0

    paths = write_report(rep, tmp_path / "out")
    doc = json.loads(paths["json"].read_text())
    for key in ("cameras", "retention", "metrics", "model", "accuracy", "activity", "period", "not_built"):
        assert key in doc
    rows = list(csv.DictReader(paths["csv"].open()))
    assert {"section": "metric", "item": "", "field": "faces_processed", "value": "5"} in rows
    assert {"section": "camera", "item": "cam1", "field": "vendor", "value": "Acme"} in rows
    assert {
        "section": "metric",
        "item": "watchlist_entries_by_legal_basis",
        "field": "court order",
        "value": "2",
    } in rows
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for p in paths.values():
        if p.suffix != ".png":
            body = p.read_text()
            for secret in ("Alice", "Bob", "Carol", "C-1", "robbery"):
                assert secret not in body


def test_accuracy_file_and_bad_period(store: Store, tmp_path: Path) -> None:
    acc = tmp_path / "accuracy.json"
    acc.write_text(
        json.dumps({"tar": 0.9, "far": 0.001, "dataset": "site test", "n_genuine": 10, "n_impostor": 90})
    )
    rep = build_report(store, Config(), "2026-11", accuracy_file=acc)
    assert rep.accuracy.measured and rep.accuracy.tar == 0.9 and rep.accuracy.dataset == "site test"
    cfg = Config.model_validate({"match": {"threshold": 0.5}})
    rep = build_report(store, cfg, "2026-11")
    assert not rep.accuracy.measured and rep.accuracy.source == "not measured"
    with pytest.raises(PolicyError, match="YYYY-MM"):
        period_bounds("2026-13")
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
