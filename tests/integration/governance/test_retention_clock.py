"""Retention with an injected clock: nothing is left behind (rows, vectors, files); legal holds are kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from govint_world import MODEL, identity, sighting
from sqlalchemy import func, select

from citywatch.config import RetentionConfig
from citywatch.governance.audit import verify_audit_trail
from citywatch.governance.retention import in_window, retention_floor, run_retention
from citywatch.store import Store
from citywatch.store import models as m
from citywatch.store.retention import create_case, set_legal_hold


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    yield s
    s.close()


def _count(store: Store, model: type[m.Base]) -> int:
    with store._session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _files(store: Store) -> list[Path]:
    return [p for p in store.thumbnails_dir.rglob("*") if p.is_file()]


def _vectors(store: Store) -> int:
    index = store.vector_index(MODEL)
    return 0 if index is None else index.count()


def _segment_files(store: Store) -> list[Path]:
    return list((store.vectors_dir / MODEL).glob("*.faiss"))


def test_unmatched_expire_after_72h_matched_after_30d(store: Store, db_url: str) -> None:
    rng = np.random.default_rng(1)
    cfg = RetentionConfig()
    ident = identity(store, rng, "Person A")
    run = store.begin_run("cam1", "file.mp4", datetime.now(UTC))
    for t in range(4):
        sighting(store, rng, run, t)
    matched = sighting(store, rng, run, 10, identity_id=ident)
    store.finish_run(run, frames=100)
    t0 = datetime.now(UTC)
    assert len(_files(store)) == 5 and _vectors(store) == 5

    rep = run_retention(store, cfg, t0 + timedelta(hours=71), "tester")
    assert rep.sightings == 0 and _count(store, m.Sighting) == 5

    rep = run_retention(store, cfg, t0 + timedelta(hours=73), "tester")
    assert (rep.unmatched_sightings, rep.matched_sightings, rep.thumbnails) == (4, 0, 4)
    assert _count(store, m.Sighting) == 1 and _vectors(store) == 1 and len(_files(store)) == 1
    assert store.get_sighting(matched).matched

    rep = run_retention(store, cfg, t0 + timedelta(days=31), "tester")
    assert (rep.matched_sightings, rep.alerts, rep.held) == (1, 1, 0)
    assert _count(store, m.Sighting) == 0 and _count(store, m.Alert) == 0
    assert _vectors(store) == 0 and _files(store) == [] and _segment_files(store) == []
    assert list(store.thumbnails_dir.iterdir()) == []  # empty day directories removed too

    # a fresh process sees the same: nothing to rebuild, nothing left on disk
    store.close()
    again = Store.open(db_url, store.home)
    try:
        rec = again.reconcile()
        assert rec.segments_rebuilt == () and rec.thumbnails_deleted == 0
        entries = [e for e in again.list_audit() if e.action == "retention.run"]
        assert len(entries) == 3 and entries[1].details and entries[1].details["unmatched_sightings"] == 4
        assert entries[2].details and entries[2].details["alerts"] == 1
        assert verify_audit_trail(again).ok
    finally:
        again.close()


def test_legal_hold_keeps_matched_sightings_until_released(store: Store) -> None:
    rng = np.random.default_rng(2)
    cfg = RetentionConfig()
    ident = identity(store, rng, "Person B")
    create_case(store, "CASE-9", "robbery", "inv")
    held_run = store.begin_run("cam1", "a.mp4", datetime.now(UTC), case_ref="CASE-9")
    kept = sighting(store, rng, held_run, 1, identity_id=ident)
    bystander = sighting(store, rng, held_run, 2)
    store.finish_run(held_run, frames=10)
    other_run = store.begin_run("cam2", "b.mp4", datetime.now(UTC), case_ref="CASE-OTHER")
    gone = sighting(store, rng, other_run, 1, identity_id=ident, camera="cam2")
    store.finish_run(other_run, frames=10)
    set_legal_hold(store, "CASE-9", True)
    later = datetime.now(UTC) + timedelta(days=40)

    rep = run_retention(store, cfg, later, "tester")
    assert (rep.unmatched_sightings, rep.matched_sightings, rep.held) == (1, 1, 1)
    ids = {s.id for s in store.list_sightings()}
    assert ids == {kept}  # the bystander is not held, the other case's match is gone
    assert bystander not in ids and gone not in ids
    assert _vectors(store) == 1 and len(_files(store)) == 1

    set_legal_hold(store, "CASE-9", False)
    rep = run_retention(store, cfg, later, "tester")
    assert rep.matched_sightings == 1 and _count(store, m.Sighting) == 0 and _files(store) == []


def test_late_processed_recording_is_kept_for_the_full_period(store: Store) -> None:
    """Age counts from when the sighting was stored as well as captured: old footage is not deleted at once."""
    rng = np.random.default_rng(3)
    old = datetime.now(UTC) - timedelta(days=10)
    run = store.begin_run("cam1", "old.mp4", old)
    sid = sighting(store, rng, run, 1, start=old)
    now = datetime.now(UTC)
    assert run_retention(store, RetentionConfig(), now + timedelta(hours=1), "t").sightings == 0
    assert in_window(store.get_sighting(sid), RetentionConfig(), now + timedelta(hours=1))
    assert not in_window(store.get_sighting(sid), RetentionConfig(), now + timedelta(hours=80))
    assert run_retention(store, RetentionConfig(), now + timedelta(hours=73), "t").sightings == 1


def test_floor_and_naive_clock() -> None:
    cfg = RetentionConfig(unmatched_hours=24, matched_days=7)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert retention_floor(cfg, now) == datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert retention_floor(cfg, now, matched=True) == datetime(2026, 11, 21, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        retention_floor(cfg, datetime(2026, 11, 28))
