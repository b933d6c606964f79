"""Index kind by segment size: exact below the limit, IVF above, rebuilt at flush, recorded in the file.

Small limits and clustered synthetic vectors keep this fast; bench/search_scale.py
measures the real sizes (1 M, 10 M).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from citywatch.config import VectorConfig
from citywatch.store.faiss_segments import (
    SegmentPolicy,
    build_ivf,
    extend_layout,
    search_segment,
    segment_contents,
    segment_ids,
    segment_kind,
    segment_layout,
)
from citywatch.store.vectors import FaissBackend, FaissDayIndex, open_vector_backend

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


def ivf_day(tmp_path: Path, n: int, seed: int) -> tuple[FaissDayIndex, np.ndarray, np.ndarray]:
    """A day index whose segment holds ``n`` clustered vectors (ids 0..n-1), flushed: IVF past 400."""
    x = clustered(n, seed=seed)
    ids = np.arange(n, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids, x)
    idx.flush()
    return idx, x, ids


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
    idx, x, ids = ivf_day(tmp_path, 1000, seed=2)
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
    # the same filter again uses the cached layout; a change drops it
    assert [i for i, _ in idx.search(q, 10, allowed_ids=allowed)] == got
    idx.add(DAY, np.array([2000], np.int64), q.reshape(1, -1))
    assert idx.search(q, 1, allowed_ids={2000})[0][0] == 2000


def test_shrunk_ivf_segment_goes_back_to_exact(tmp_path: Path) -> None:
    idx, x, ids = ivf_day(tmp_path, 1000, seed=3)
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


@pytest.mark.parametrize("spacing", [2, 1000], ids=["dense-ids", "sparse-ids"])
def test_layout_finds_allowed_ids_and_scores_them_exactly(spacing: int) -> None:
    x = clustered(600, seed=7)
    ids = np.arange(600, dtype=np.int64) * spacing + 50
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(600)
    index = build_ivf(DIM, ids[shuffled], x[shuffled], POLICY)  # given out of order: stored sorted
    layout = segment_layout(index)
    assert layout is not None
    assert layout.lists_sorted
    assert (layout.rank is not None) == (spacing == 2)
    np.testing.assert_array_equal(layout.sorted_ids, ids)
    allowed = np.array([0, 50, ids[7], ids[7] + 1, ids[599], ids[599] + spacing], np.int64)
    mine, pos = layout.positions(allowed)
    assert mine.tolist() == [50, int(ids[7]), int(ids[599])]
    np.testing.assert_array_equal(layout.sorted_ids[pos], mine)
    scores, labels = layout.score(x[7].reshape(1, -1), mine, pos, 5)
    assert labels[0].tolist()[:3] == exact_top(x[[0, 7, 599]], ids[[0, 7, 599]], x[7], 3)
    assert labels[0, 3:].tolist() == [-1, -1]  # fewer than k: padded
    np.testing.assert_allclose(scores[0, 0], 1.0, atol=1e-5)
    empty = layout.positions(np.zeros(0, np.int64))
    assert len(empty[0]) == 0
    assert segment_layout(faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))) is None  # flat: no layout


def test_time_window_binary_searches_sorted_lists_and_still_works_unsorted() -> None:
    x = clustered(1000, seed=8)
    ids = np.arange(1000, dtype=np.int64)
    index = build_ivf(DIM, ids, x, POLICY)
    window = np.arange(400, 700, dtype=np.int64)  # contiguous: a range filter
    keep = (ids >= 400) & (ids < 700)
    layout = segment_layout(index)
    assert layout is not None and layout.lists_sorted
    for q in clustered(5, seed=9):
        _, labels = search_segment(index, q.reshape(1, -1), 10, POLICY, window, layout)
        assert labels[0].tolist() == exact_top(x[keep], ids[keep], q, 10)
    # a removal swaps entries inside lists: no longer sorted, the range is then tested entry by entry
    index.remove_ids(np.array([3, 410], np.int64))
    layout = segment_layout(index)
    assert layout is not None and not layout.lists_sorted
    keep[410] = False
    for q in clustered(5, seed=9):
        _, labels = search_segment(index, q.reshape(1, -1), 10, POLICY, window, layout)
        assert labels[0].tolist() == exact_top(x[keep], ids[keep], q, 10)
    with pytest.raises(ValueError, match="another index"):
        search_segment(build_ivf(DIM, ids, x, POLICY), x[:1], 10, POLICY, window, layout)


def test_large_filters_scan_more_lists_small_ones_fetch_by_id(tmp_path: Path) -> None:
    _, x, ids = ivf_day(tmp_path, 1000, seed=5)
    again = FaissDayIndex(tmp_path, DIM, "m", POLICY)  # the id map survives the file
    for allowed in (set(range(0, 600, 1)), set(range(1, 1000, 2)), {3, 7, 999_999}):
        keep = np.isin(ids, list(allowed))
        for q in clustered(5, seed=6):
            got = [i for i, _ in again.search(q, 10, allowed_ids=allowed)]
            assert set(got) <= allowed
            assert got == exact_top(x[keep], ids[keep], q, 10)


def test_segment_policy_comes_from_config(tmp_path: Path) -> None:
    cfg = VectorConfig(faiss_exact_limit=300, faiss_probe_factor=2.0)
    backend = open_vector_backend(cfg, tmp_path)
    assert isinstance(backend, FaissBackend)
    assert (backend.policy.exact_limit, backend.policy.probe_factor) == (300, 2.0)
    idx = backend.open("m", DIM)
    x = clustered(400, seed=10)
    idx.add(DAY, np.arange(400, dtype=np.int64), x)
    idx.flush()
    assert idx.segment_kinds() == {DAY: "ivf"}  # the default limit (200,000) would have kept it exact
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        VectorConfig(faiss_exact_limit=0)


@pytest.mark.parametrize("base", [0, 2**31 + 5], ids=["bitmap", "hash-set"])
def test_scattered_filters_scan_with_a_bitmap_or_a_hash_set_exactly(base: int) -> None:
    x = clustered(1000, seed=11)
    ids = np.arange(1000, dtype=np.int64) * 3 + base  # ids past 2**31 would need too large a bitmap
    index = build_ivf(DIM, ids, x, POLICY)
    layout = segment_layout(index)
    every_other = ids[::2]  # half the segment: scanning beats gathering
    keep = np.isin(ids, every_other)
    for q in clustered(5, seed=12):
        _, labels = search_segment(index, q.reshape(1, -1), 10, POLICY, every_other, layout, nprobe=64)
        assert labels[0].tolist() == exact_top(x[keep], ids[keep], q, 10)


def test_layout_extends_after_appends_and_equals_a_rebuild() -> None:
    x = clustered(1200, seed=13)
    ids = np.arange(1200, dtype=np.int64) + 100
    index = build_ivf(DIM, ids[:800], x[:800], POLICY)
    layout = segment_layout(index)
    assert layout is not None
    index.add_with_ids(x[800:1000], ids[800:1000])  # a live day's next sightings
    index.add_with_ids(x[1000:][::-1].copy(), ids[1000:][::-1].copy())  # a batch in any order
    grown = extend_layout(layout)
    fresh = segment_layout(index)
    assert grown is not None and fresh is not None
    for field in ("sorted_ids", "lists", "offsets", "rank", "sizes"):
        np.testing.assert_array_equal(getattr(grown, field), getattr(fresh, field), err_msg=field)
    assert grown.lists_sorted == fresh.lists_sorted is False  # the reversed batch broke the order
    assert extend_layout(grown) is grown  # nothing new
    mine, pos = grown.positions(ids[1190:])
    _, labels = grown.score(x[1195].reshape(1, -1), mine, pos, 1)
    assert labels[0, 0] == ids[1195]  # read through the refreshed views

    index.add_with_ids(x[:1], np.array([50], np.int64))  # an id below the others: not an append
    assert extend_layout(fresh) is None
    index.remove_ids(np.array([50, 100], np.int64))  # lists shrink
    assert extend_layout(fresh) is None


def test_day_index_extends_its_layout_for_new_sightings(tmp_path: Path) -> None:
    x = clustered(1300, seed=14)
    ids = np.arange(1300, dtype=np.int64)
    idx = FaissDayIndex(tmp_path, DIM, "m", POLICY)
    idx.add(DAY, ids[:1000], x[:1000])
    idx.flush()
    allowed = set(range(0, 1300, 3))
    q = x[1200]
    idx.search(q, 5, allowed_ids=allowed)  # builds the layout
    first = idx._segments[DAY].layout
    idx.add(DAY, ids[1000:1100], x[1000:1100])
    idx.add(DAY, ids[1100:], x[1100:])
    got = [i for i, _ in idx.search(q, 10, allowed_ids=allowed)]
    keep = np.isin(ids, list(allowed))
    assert got == exact_top(x[keep], ids[keep], q, 10) and got[0] == 1200
    layout = idx._segments[DAY].layout
    assert layout is not None and layout is not first and len(layout.sorted_ids) == 1300
    np.testing.assert_array_equal(layout.sorted_ids[:1000], first.sorted_ids)  # extended, same start
    idx.add(DAY, ids[5:6], x[5:6])  # re-adding an old id: a removal first, then a rebuild
    assert idx._segments[DAY].layout is None
    assert [i for i, _ in idx.search(x[5], 1, allowed_ids={5, 6})] == [5]
