"""Store façade: round trips, gallery policy, filtered vector search, run replacement, reconcile."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from store_helpers import DIM, MODEL, T0, unit

from citywatch.config import VectorConfig
from citywatch.errors import ModelError, NotFoundError, PolicyError
from citywatch.store import PhotoIn, SightingIn, Store


def _photo(rng: np.random.Generator, model: str = MODEL, tag: str = "a") -> PhotoIn:
    return PhotoIn((tag * 64)[:64], f"{tag}.jpg", "unit test", unit(rng), model, (1.0, 2.0, 30.0, 40.0))


def test_camera_and_watchlist_round_trip(store: Store) -> None:
    store.upsert_camera("cam1", "file.mp4", "Main St", 52.1, 4.3, recognition=False)
    store.upsert_camera("cam1", "rtsp://x", "Main St", 52.1, 4.3)  # update in place
    cam = store.get_camera("cam1")
    assert (cam.source, cam.lat, cam.recognition) == ("rtsp://x", 52.1, True)
    assert cam.created_at.tzinfo is UTC
    assert [c.name for c in store.list_cameras()] == ["cam1"]
    with pytest.raises(NotFoundError):
        store.get_camera("nope")
    wl = store.ensure_watchlist("wanted", "alice", "desc")
    assert store.ensure_watchlist("wanted", "bob").id == wl.id


def test_identity_needs_legal_basis_and_watchlist(store: Store, rng: np.random.Generator) -> None:
    store.ensure_watchlist("wl", "alice")
    with pytest.raises(PolicyError):
        store.add_identity("wl", "x", "  ", "alice", [_photo(rng)])
    with pytest.raises(NotFoundError):
        store.add_identity("missing", "x", "warrant 1", "alice", [_photo(rng)])
    iid = store.add_identity("wl", "x", "warrant 1", "alice", [_photo(rng), _photo(rng, tag="b")])
    (rec,) = store.list_identities("wl")
    assert (rec.id, rec.photos, rec.status, rec.requested_by) == (iid, 2, "approved", "alice")


def test_gallery_only_approved_unexpired(store: Store, rng: np.random.Generator) -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    store.ensure_watchlist("wl", "alice")
    ok = store.add_identity("wl", "ok", "basis", "alice", [_photo(rng), _photo(rng, tag="b")])
    store.add_identity("wl", "pending", "basis", "alice", [_photo(rng)], status="pending")
    store.add_identity("wl", "rejected", "basis", "alice", [_photo(rng)], status="rejected")
    store.add_identity("wl", "expired", "basis", "alice", [_photo(rng)], expires_at=now - timedelta(days=1))
    future = store.add_identity(
        "wl", "future", "basis", "alice", [_photo(rng)], expires_at=now + timedelta(days=1)
    )
    store.add_identity("wl", "othermodel", "basis", "alice", [_photo(rng, model="other")])

    g = store.active_gallery(MODEL, now)
    assert g.identity_ids.tolist() == [ok, ok, future]
    assert g.names == ("ok", "ok", "future")
    assert g.watchlists == ("wl",) * 3
    assert g.embeddings.shape == (3, DIM) and g.embeddings.dtype == np.float32
    empty = store.active_gallery("unknown", now)
    assert len(empty) == 0 and empty.embeddings.shape == (0, 0)
    with pytest.raises(ValueError, match="naive"):
        store.active_gallery(MODEL, datetime(2024, 1, 1))


def test_sighting_round_trip_with_alert(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    store.ensure_watchlist("wl", "alice")
    iid = store.add_identity("wl", "bob", "basis", "alice", [_photo(rng)])
    run = store.begin_run("cam1", "a.mp4", T0)
    emb = unit(rng)
    out = store.add_sighting(make_sighting(run, emb, identity_id=iid, score=0.9), b"\xff\xd8jpeg")
    miss = store.add_sighting(make_sighting(run, unit(rng), track_id=2), b"jpeg2")
    assert out.alert_id is not None and miss.alert_id is None
    assert store.thumbnail_path(out.thumbnail).read_bytes() == b"\xff\xd8jpeg"
    assert out.thumbnail.startswith("2024-05-01/")

    rec = store.get_sighting(out.id)
    assert (rec.camera, rec.identity_name, rec.matched, rec.day) == ("cam1", "bob", True, "2024-05-01")
    assert rec.start == T0 and rec.start.tzinfo is UTC
    model, vec = store.get_sighting_embedding(out.id)
    assert model == MODEL and np.array_equal(vec, emb)
    assert [s.id for s in store.list_sightings(camera="cam1")] == [out.id, miss.id]
    (alert,) = store.list_alerts()
    assert (alert.sighting_id, alert.identity_name, alert.status) == (out.id, "bob", "unconfirmed")

    done = store.finish_run(run, frames=123)
    assert (done.status, done.frames, done.sightings) == ("done", 123, 2)
    with pytest.raises(NotFoundError):
        store.get_sighting(10_000)


def test_search_vectors_filters_by_camera_and_time(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    probe = unit(rng)
    run1 = store.begin_run("cam1", "a.mp4", T0)
    run2 = store.begin_run("cam2", "b.mp4", T0)
    close = (probe + 0.2 * unit(rng)) / np.linalg.norm(probe + 0.2 * unit(rng))
    ids = {}
    ids["exact_cam1_day1"] = store.add_sighting(make_sighting(run1, probe), b"j").id
    ids["close_cam2_day2"] = store.add_sighting(
        make_sighting(run2, close.astype(np.float32), camera="cam2", start=T0 + timedelta(days=1)), b"j"
    ).id
    ids["far_cam1_day2"] = store.add_sighting(
        make_sighting(run1, -probe, track_id=3, start=T0 + timedelta(days=1)), b"j"
    ).id

    hits = store.search_vectors(probe, 10, model=MODEL)
    assert [h[0].id for h in hits] == [ids["exact_cam1_day1"], ids["close_cam2_day2"], ids["far_cam1_day2"]]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)

    only_cam2 = store.search_vectors(probe, 10, cameras=["cam2"], model=MODEL)
    assert [h[0].id for h in only_cam2] == [ids["close_cam2_day2"]]
    day2 = store.search_vectors(probe, 10, since=T0 + timedelta(hours=12), model=MODEL)
    assert [h[0].id for h in day2] == [ids["close_cam2_day2"], ids["far_cam1_day2"]]
    window = store.search_vectors(
        probe, 10, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1), model=MODEL
    )
    assert [h[0].id for h in window] == [ids["exact_cam1_day1"]]
    assert store.search_vectors(probe, 1, model=MODEL)[0][0].id == ids["exact_cam1_day1"]
    assert store.search_vectors(probe, 10, cameras=["nowhere"], model=MODEL) == []
    assert store.search_vectors(probe, 10, model="never_used") == []
    with pytest.raises(ModelError):
        store.search_vectors(unit(rng, DIM + 3), 10, model=MODEL)


def test_wrong_dimension_sighting_refused(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    run = store.begin_run("cam1", "a.mp4", T0)
    store.add_sighting(make_sighting(run, unit(rng)), b"j")
    with pytest.raises(ModelError):
        store.add_sighting(make_sighting(run, unit(rng, DIM * 2)), b"j")
    with pytest.raises(ModelError):
        store.add_sighting(make_sighting(run, unit(rng).astype(np.float64)), b"j")
    assert len(store.list_sightings()) == 1


def test_begin_run_replaces_unfinished_run_of_same_source(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    store.ensure_watchlist("wl", "alice")
    iid = store.add_identity("wl", "bob", "basis", "alice", [_photo(rng)])
    killed = store.begin_run("cam1", "a.mp4", T0)
    outs = [store.add_sighting(make_sighting(killed, unit(rng), track_id=i), b"j") for i in range(3)]
    store.add_sighting(make_sighting(killed, unit(rng), track_id=9, identity_id=iid), b"j")
    finished_other = store.begin_run("cam1", "b.mp4", T0)
    kept = store.add_sighting(make_sighting(finished_other, unit(rng), track_id=1), b"j")
    store.finish_run(finished_other, 10)
    store.flush()
    files = [store.thumbnail_path(o.thumbnail) for o in outs]
    assert all(f.exists() for f in files)

    rerun = store.begin_run("cam1", "a.mp4", T0)
    assert rerun != killed
    with pytest.raises(NotFoundError):
        store.get_run(killed)
    assert [s.id for s in store.list_sightings()] == [kept.id]
    assert store.list_alerts() == []
    assert not any(f.exists() for f in files)
    index = store.vector_index(MODEL)
    assert index is not None and index.ids("2024-05-01").tolist() == [kept.id]
    # a finished run is never replaced
    store.begin_run("cam1", "b.mp4", T0)
    assert store.get_run(finished_other).status == "done"


def test_reconcile_repairs_vectors_and_thumbnails(
    tmp_path: Path,
    db_url: str,
    vector_cfg: VectorConfig,
    rng: np.random.Generator,
    make_sighting: Callable[..., SightingIn],
) -> None:
    home = tmp_path / "home"
    store = Store.open(db_url, home, vectors=vector_cfg)
    run = store.begin_run("cam1", "a.mp4", T0)
    a = store.add_sighting(make_sighting(run, unit(rng), track_id=1), b"j")
    b = store.add_sighting(make_sighting(run, unit(rng), track_id=2, start=T0 + timedelta(days=1)), b"j")
    index = store.vector_index(MODEL)
    assert index is not None
    index.add("2024-05-01", np.asarray([999], np.int64), unit(rng)[None])  # orphan vector
    index.remove([b.id])  # missing vector
    index.flush()
    index.add("2024-04-01", np.asarray([998], np.int64), unit(rng)[None])  # day without rows
    index.flush()
    orphan = home / "thumbnails" / "2024-05-01" / "orphan.jpg"
    orphan.write_bytes(b"x")
    (home / "thumbnails" / "2024-05-01" / ".x.jpg.tmp-1-1").write_bytes(b"x")
    store.close()

    store = Store.open(db_url, home, vectors=vector_cfg)
    try:
        index = store.vector_index(MODEL)
        assert index is not None
        assert index.days() == ["2024-05-01", "2024-05-02"]
        assert index.ids("2024-05-01").tolist() == [a.id]
        assert index.ids("2024-05-02").tolist() == [b.id]
        assert not orphan.exists()
        assert store.thumbnail_path(a.thumbnail).exists()
        report = store.reconcile()
        assert report.segments_rebuilt == () and report.thumbnails_deleted == 0
    finally:
        store.close()


def test_delete_sightings(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    run = store.begin_run("cam1", "a.mp4", T0)
    a = store.add_sighting(make_sighting(run, unit(rng)), b"j")
    b = store.add_sighting(make_sighting(run, unit(rng), track_id=2), b"j")
    assert store.delete_sightings([a.id, 12345]) == 1
    assert [s.id for s in store.list_sightings()] == [b.id]
    assert not store.thumbnail_path(a.thumbnail).exists()
    index = store.vector_index(MODEL)
    assert index is not None and index.ids("2024-05-01").tolist() == [b.id]


def test_record_search_requires_case_and_reason(store: Store) -> None:
    with pytest.raises(PolicyError):
        store.record_search("", "why", "inv", None, None, None, None, 10, 0)
    with pytest.raises(PolicyError):
        store.record_search("CASE-1", " ", "inv", None, None, None, None, 10, 0)
    sid = store.record_search("CASE-1", "robbery", "inv", "ab" * 32, ["cam2", "cam1"], T0, None, 10, 3)
    assert sid > 0 and store.count_searches() == 1


def test_naive_datetimes_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.begin_run("cam1", "a.mp4", datetime(2024, 1, 1))


def test_foreign_keys_enforced(store: Store) -> None:
    with store.engine.connect() as conn, pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        conn.execute(
            text("INSERT INTO identities (watchlist_id, name, legal_basis, legal_reference, enrolled_by, "
                 "requested_by, status, created_at) VALUES (42, 'x', 'b', '', 'a', 'a', 'approved', "
                 "'2024-01-01 00:00:00.000000')")
        )  # fmt: skip


def test_deleted_ids_are_not_reused(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    run = store.begin_run("cam1", "a.mp4", T0)
    a = store.add_sighting(make_sighting(run, unit(rng)), b"j")
    store.delete_sightings([a.id])
    b = store.add_sighting(make_sighting(run, unit(rng)), b"j")
    assert b.id > a.id


def test_sighting_for_unknown_run_is_refused_and_leaves_no_file(
    store: Store, rng: np.random.Generator, make_sighting: Callable[..., SightingIn]
) -> None:
    from citywatch.errors import StoreError

    with pytest.raises(StoreError, match="does not exist"):
        store.add_sighting(make_sighting(999, unit(rng)), b"j")
    assert not [p for p in store.thumbnails_dir.rglob("*") if p.is_file()]
