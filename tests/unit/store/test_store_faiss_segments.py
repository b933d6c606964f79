"""Index kind by segment size: exact below the limit, IVF above, rebuilt at flush, recorded in the file.

Small limits and clustered synthetic vectors keep this fast; bench/search_scale.py
measures the real sizes (1 M, 10 M).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.store.faiss_segments import (
    SegmentPolicy,
    build_ivf,
    count_inside,
    segment_contents,
    segment_ids,
    segment_kind,
)
from citywatch.store.vectors import FaissDayIndex

DIM = 16
DAY = "2026-03-01"
POLICY = SegmentPolicy(
    exact_limit=400, probe_factor=1.5, min_nprobe=2, min_nlist=4, max_nlist=64, train_per_list=40
)


def clustered(n: int, seed: int = 0, centres: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, DIM))
    x = c[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    scores = x @ q
    order = np.lexsort((ids, -scores))[:k]
    return [int(i) for i in ids[order]]


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 4), (100, 8), (10_000, 64), (1_000_000, 64)],
    ids=["tiny", "small", "capped", "huge"],
)
def test_nlist_follows_sqrt_within_bounds(n: int, expected: int) -> None:
    assert POLICY.nlist(n) == expected
    assert SegmentPolicy().nlist(1_000_000) == 1024
    assert SegmentPolicy().nlist(10_000_000) == 4096
    assert (SegmentPolicy().nprobe(1024), SegmentPolicy().nprobe(4096), SegmentPolicy().nprobe(64)) == (
        160,
        320,
        40,
    )


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="bad segment policy"):
        SegmentPolicy(exact_limit=0)


def test_segment_turns_ivf_past_the_limit_and_stays_so_on_disk(tmp_path: Path) -> None:
    x = clustered(1000)
    ids = np.arange(10, 1010, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids[:300], x[:300])
    idx.flush()
    assert idx.segment_kinds() == {DAY: "flat"}
    idx.add(DAY, ids[300:], x[300:])
    idx.flush()
    assert idx.segment_kinds() == {DAY: "ivf"}

    again = FaissDayIndex(tmp_path, DIM, "m", POLICY)  # another process: the file says IVF
    assert again.segment_kinds() == {DAY: "ivf"}
    assert sorted(again.ids(DAY).tolist()) == ids.tolist()
    hits = 0
    for q in clustered(30, seed=1):
        got = [i for i, _ in again.search(q, 10)]
        hits += len(set(got) & set(exact_top(x, ids, q, 10)))
    assert hits / 300 >= 0.9  # 9 of 32 lists on 20 clusters


def test_ivf_segment_removes_and_filters(tmp_path: Path) -> None:
    x = clustered(1000, seed=2)
    ids = np.arange(1000, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids, x)
    idx.flush()
    assert idx.segment_kinds()[DAY] == "ivf"
    q = x[5]
    assert idx.search(q, 1)[0][0] == 5
    assert idx.remove([5, 6]) == 2
    assert 5 not in [i for i, _ in idx.search(q, 10)]
    allowed = set(range(500, 540))  # few enough to fetch by id and score exactly
    got = [i for i, _ in idx.search(q, 10, allowed_ids=allowed)]
    assert set(got) <= allowed
    keep = np.isin(ids, list(allowed))
    assert got == exact_top(x[keep], ids[keep], q, 10)
    # the same filter again uses the cached sorted ids; a change drops the cache
    assert [i for i, _ in idx.search(q, 10, allowed_ids=allowed)] == got
    idx.add(DAY, np.array([2000], np.int64), q.reshape(1, -1))
    assert idx.search(q, 1, allowed_ids={2000})[0][0] == 2000


def test_shrunk_ivf_segment_goes_back_to_exact(tmp_path: Path) -> None:
    x = clustered(1000, seed=3)
    ids = np.arange(1000, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids, x)
    idx.flush()
    idx.remove(ids[:850])  # retention: 150 left, below half the limit
    idx.flush()
    assert idx.segment_kinds() == {DAY: "flat"}
    assert sorted(idx.ids(DAY).tolist()) == ids[850:].tolist()
    assert idx.search(x[900], 1)[0][0] == 900


def test_segment_contents_round_trip() -> None:
    x = clustered(500, seed=4)
    ids = np.arange(100, 600, dtype=np.int64)
    index = build_ivf(DIM, ids, x, POLICY)
    assert segment_kind(index) == "ivf"
    got_ids, got_x = segment_contents(index)
    order = np.argsort(got_ids)
    np.testing.assert_array_equal(got_ids[order], ids)
    np.testing.assert_allclose(got_x[order], x)
    np.testing.assert_array_equal(np.sort(segment_ids(index)), ids)


def test_count_inside() -> None:
    sorted_ids = np.array([2, 4, 6, 8], np.int64)
    assert count_inside(sorted_ids, np.array([1, 2, 8, 9, 100], np.int64)) == 2
    assert count_inside(sorted_ids, np.zeros(0, np.int64)) == 0
    assert count_inside(np.zeros(0, np.int64), np.array([1], np.int64)) == 0


def test_large_filters_scan_more_lists_small_ones_fetch_by_id(tmp_path: Path) -> None:
    x = clustered(1000, seed=5)
    ids = np.arange(1000, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids, x)
    idx.flush()
    again = FaissDayIndex(tmp_path, DIM, "m", POLICY)  # the id map survives the file
    for allowed in (set(range(0, 600, 1)), set(range(1, 1000, 2)), {3, 7, 999_999}):
        keep = np.isin(ids, list(allowed))
        for q in clustered(5, seed=6):
            got = [i for i, _ in again.search(q, 10, allowed_ids=allowed)]
            assert set(got) <= allowed
            assert got == exact_top(x[keep], ids[keep], q, 10)
