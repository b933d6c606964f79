"""A writer process killed with SIGKILL mid-way leaves a store that reopens consistent.

The child adds sightings (some matched, so alerts too) in a tight loop with
frequent vector flushes; the parent kills it at different points. After each
kill, reopening the store (which reconciles) must give: every sighting row has
its thumbnail file and its vector; no vector and no file without a row; and a
rerun of the same camera and source replaces the killed run and completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from citywatch.store import PhotoIn, SightingIn, Store

MODEL = "kill_model"
DIM = 32
T0 = datetime(2024, 5, 1, 23, 59, 50, tzinfo=UTC)  # sightings straddle two UTC days
CAMERA, SOURCE = "cam-k", "/videos/street.mp4"

CHILD = """
import sys
from datetime import timedelta
from pathlib import Path
import numpy as np
from citywatch.store import SightingIn, Store
from citywatch.store.records import PhotoIn

home, t0, model, dim, camera, source, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
from datetime import datetime
t0 = datetime.fromisoformat(t0)
store = Store.open(url, home, autoflush_every=7, autoflush_seconds=0.05)
iid = store.list_identities()[0].id
run = store.begin_run(camera, source, t0)
rng = np.random.default_rng(run)
i = 0
while True:
    v = rng.normal(size=dim).astype(np.float32)
    v /= np.linalg.norm(v)
    start = t0 + timedelta(seconds=i)
    s = SightingIn(run, camera, i, start, start + timedelta(seconds=1), float(i), i + 1.0, v, model,
                   0.5, 3, 0.9 if i % 5 == 0 else 0.1, 0.6, iid if i % 5 == 0 else None)
    store.add_sighting(s, b"\\xff\\xd8" + bytes(2000))
    i += 1
    sys.stdout.write(f"{i}\\n")
    sys.stdout.flush()
"""


def _assert_consistent(store: Store) -> int:
    rows = store.list_sightings()
    index = store.vector_index(MODEL)
    assert index is not None
    vector_ids: list[int] = []
    for day in index.days():
        vector_ids.extend(index.ids(day).tolist())
    assert sorted(vector_ids) == sorted(r.id for r in rows), "vectors and rows differ"
    for r in rows:
        assert r.thumbnail is not None
        assert store.thumbnail_path(r.thumbnail).is_file(), f"sighting {r.id} lost its thumbnail"
        assert r.id in index.ids(r.day).tolist()
    files = {
        p.relative_to(store.thumbnails_dir).as_posix() for p in store.thumbnails_dir.rglob("*") if p.is_file()
    }
    assert files == {r.thumbnail for r in rows}, "thumbnail files without rows"
    assert not list(store.vectors_dir.rglob(".*.tmp-*"))
    alerts = store.list_alerts()
    assert {a.sighting_id for a in alerts} == {r.id for r in rows if r.matched}
    return len(rows)


def _run_child_and_kill(home: Path, url: str, kill_after: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), T0.isoformat(), MODEL, str(DIM), CAMERA, SOURCE, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line) >= kill_after:
                break
        else:
            pytest.fail(f"child exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL


def test_kill_mid_write_then_reopen_and_rerun(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    with Store.open(db_url, home) as store:
        store.ensure_watchlist("wl", "alice")
        photo = rng.normal(size=DIM).astype(np.float32)
        photo /= np.linalg.norm(photo)
        store.add_identity(
            "wl", "target", "court order 7", "alice", [PhotoIn("a" * 64, "a.jpg", "t", photo, MODEL)]
        )

    for kill_after in (9, 23):
        _run_child_and_kill(home, db_url, kill_after)
        with Store.open(db_url, home) as store:
            n = _assert_consistent(store)
            assert n >= kill_after  # committed rows survive the kill
            runs = store.list_runs(CAMERA)
            assert [r.status for r in runs] == ["running"]  # earlier killed runs were replaced

    # a clean rerun replaces the killed run and completes
    with Store.open(db_url, home) as store:
        killed = store.list_runs(CAMERA)[0].id
        run = store.begin_run(CAMERA, SOURCE, T0)
        for i in range(4):
            v = rng.normal(size=DIM).astype(np.float32)
            v /= np.linalg.norm(v)
            store.add_sighting(
                SightingIn(run, CAMERA, i, T0, T0, 0.0, 1.0, v, MODEL, 0.5, 3, 0.1, 0.6), b"\xff\xd8"
            )
        done = store.finish_run(run, frames=100)
        assert (done.status, done.sightings) == ("done", 4)
        assert [r.id for r in store.list_runs(CAMERA)] == [run] and run != killed
    with Store.open(db_url, home) as store:
        assert _assert_consistent(store) == 4
