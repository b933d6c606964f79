"""FAISS index kind per day segment, chosen by size: exact below a limit, IVF above.

A segment with up to ``SegmentPolicy.exact_limit`` vectors is an exact
``IndexIDMap2(IndexFlatIP)``: nothing to train, perfect recall, and a scan
of 200,000 x 128 floats costs a few milliseconds. Past the limit,
:func:`rebalance` rebuilds it as an ``IndexIVFFlat`` (inner product, about
``sqrt(n)`` lists, trained on the segment itself) searched with ``probe_factor * sqrt(nlist)`` of its lists. The kind is recorded by the index file itself (its FAISS type);
:func:`segment_kind` reads it back.

Why IVF and not HNSW: retention must delete vectors (``remove_ids``), which
IVF supports and FAISS's HNSW does not, and an IVF build on 2 cores takes
minutes where HNSW takes hours at 10 M. IVF-Flat keeps full vectors, so a
candidate's score is exact; recall depends only on ``nprobe``
(bench/search_scale.py measures it).

Filtered searches (camera/time filters arrive as allowed ids) visit more
lists in proportion: if a share ``s`` of the segment qualifies, ``nprobe /
s`` lists (at most all of them), so about as many qualifying candidates are
scanned as without a filter. A contiguous block of allowed ids (a time
window: ids grow with time) is tested as a range; because a segment's lists
keep their ids in ascending order (ids are added in order, and rebuilds sort
them), FAISS finds that range in each list by binary search instead of
testing every entry. Other filters (cameras) cost a membership test per list
entry, about 10 ns, so at 10 M a full scan takes ~100 ms; when the allowed
vectors are few enough that gathering them and scoring them exactly costs
less (``FETCH_COST``), they are, with perfect recall. The gather uses a
:class:`SegmentLayout` (ids ascending, where each sits in the lists, and views
of the lists' vectors), built once per segment version and cached by the
caller.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

IdArray = npt.NDArray[np.int64]
Kind = Literal["flat", "ivf"]

FETCH_COST = 30
"""Gathering one allowed vector from the lists and scoring it costs about as much as scanning this
many list entries past an id filter on one thread: random reads across gigabytes of lists miss the
TLB and the caches (measured at 10 M: ~400 ns against ~12 ns per entry, bench/search_scale.py). The
scan splits over FAISS's threads; the gather (numpy, one thread) does not."""

BITMAP_MAX_ID = 2**31
"""Id filters over IVF lists use a bitmap indexed by id (one bit per id up to the largest allowed:
at most 256 MiB of address space, of which only the pages around the segment's ids are touched:
``np.zeros`` maps zero pages lazily). Past this id, a hash set."""


@dataclass(frozen=True, slots=True)
class SegmentPolicy:
    """When a segment stops being exact, and how its IVF is shaped and searched."""

    exact_limit: int = 200_000
    """Segments with more vectors than this become IVF (at flush)."""
    probe_factor: float = 5.0
    """An unfiltered query visits ``probe_factor * sqrt(nlist)`` lists: recall against speed. The share
    of lists a query must visit for a given recall falls as segments grow; on clustered face-like
    vectors this rule gave recall@10 0.986 at 1 M (160 of 1,024 lists) and ~0.99 at 10 M (320 of
    4,096), bench/search_scale.py."""
    min_nprobe: int = 16
    min_nlist: int = 64
    max_nlist: int = 16_384
    train_per_list: int = 64
    """Training sample: this many vectors per list (FAISS wants at least 39)."""

    def __post_init__(self) -> None:
        if (
            self.exact_limit < 1
            or self.probe_factor <= 0
            or self.min_nprobe < 1
            or not 1 <= self.min_nlist <= self.max_nlist
        ):
            raise ValueError(f"bad segment policy {self}")

    def nprobe(self, nlist: int) -> int:
        """Lists to visit in an IVF index of ``nlist`` lists (unfiltered)."""
        return min(nlist, max(self.min_nprobe, math.ceil(self.probe_factor * math.sqrt(nlist))))

    def nlist(self, n: int) -> int:
        """Lists for ``n`` vectors: the power of two nearest ``sqrt(n)``, within the bounds."""
        target = math.sqrt(max(n, 1))
        p = 2 ** round(math.log2(target))
        return int(min(self.max_nlist, max(self.min_nlist, p)))


def new_flat(dim: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _ivf(index: Any) -> Any | None:
    inner = faiss.downcast_index(index)
    return inner if isinstance(inner, faiss.IndexIVF) else None


def segment_kind(index: Any) -> Kind:
    return "ivf" if _ivf(index) is not None else "flat"


def segment_contents(index: Any) -> tuple[IdArray, npt.NDArray[np.float32]]:
    """All ``(ids, vectors)`` of a flat or IVF-Flat segment (order unspecified)."""
    ivf = _ivf(index)
    n = int(index.ntotal)
    if ivf is None:
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vecs = index.index.reconstruct_n(0, n) if n else np.zeros((0, index.d), np.float32)
        return ids, np.asarray(vecs, np.float32)
    lists = ivf.invlists
    all_ids: list[IdArray] = []
    all_vecs: list[npt.NDArray[np.float32]] = []
    for lst in range(ivf.nlist):
        size = lists.list_size(lst)
        if size == 0:
            continue
        all_ids.append(faiss.rev_swig_ptr(lists.get_ids(lst), size).astype(np.int64))
        codes = faiss.rev_swig_ptr(lists.get_codes(lst), size * ivf.code_size)
        all_vecs.append(np.frombuffer(codes.tobytes(), np.float32).reshape(size, ivf.d))
    if not all_ids:
        return np.zeros(0, np.int64), np.zeros((0, ivf.d), np.float32)
    return np.concatenate(all_ids), np.concatenate(all_vecs)


def segment_ids(index: Any) -> IdArray:
    ivf = _ivf(index)
    if ivf is None:
        out: IdArray = faiss.vector_to_array(index.id_map).astype(np.int64)
        return out
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(lst), lists.list_size(lst)).astype(np.int64)
        for lst in range(ivf.nlist)
        if lists.list_size(lst)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def build_ivf(
    dim: int, ids: IdArray, vectors: npt.NDArray[np.float32], policy: SegmentPolicy, nlist: int | None = None
) -> Any:
    """An IVF-Flat inner-product index over ``vectors``, trained on a sample of them."""
    n = len(vectors)
    lists = nlist or policy.nlist(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)  # keeps quantizer alive
    sample = vectors
    want = lists * policy.train_per_list
    if n > want:
        pick = np.random.default_rng(0).choice(n, size=want, replace=False)
        sample = vectors[np.sort(pick)]
    index.train(np.ascontiguousarray(sample, np.float32))
    # ascending ids in every list: a time window is then found by binary search (see SegmentLayout)
    order = np.argsort(ids, kind="stable")
    add_in_chunks(index, ids[order], vectors[order])
    return index


def add_in_chunks(index: Any, ids: IdArray, vectors: npt.NDArray[np.float32], chunk: int = 262_144) -> None:
    for i in range(0, len(vectors), chunk):
        index.add_with_ids(
            np.ascontiguousarray(vectors[i : i + chunk], np.float32),
            np.ascontiguousarray(ids[i : i + chunk], np.int64),
        )


def rebalance(index: Any, dim: int, policy: SegmentPolicy, what: str) -> Any:
    """The index ``policy`` wants for this segment's size: the same object, or a rebuilt one.

    Flat past ``exact_limit`` -> IVF; IVF that grew four times past what its
    lists were sized for -> a larger IVF; IVF shrunk below half the limit
    (retention) -> flat again.
    """
    n = int(index.ntotal)
    ivf = _ivf(index)
    if ivf is None and n <= policy.exact_limit:
        return index
    if ivf is not None:
        if n < policy.exact_limit // 2:
            ids, vecs = segment_contents(index)
            flat = new_flat(dim)
            add_in_chunks(flat, ids, vecs)
            log.info("%s: %d vectors, below half the exact limit: back to an exact index", what, n)
            return flat
        if policy.nlist(n) < 2 * ivf.nlist:
            return index
    ids, vecs = segment_contents(index)
    rebuilt = build_ivf(dim, ids, vecs, policy)
    log.info(
        "%s: %d vectors (exact limit %d): rebuilt as IVF with %d lists",
        what,
        n,
        policy.exact_limit,
        rebuilt.nlist,
    )
    return rebuilt


@dataclass(frozen=True, slots=True, eq=False)
class SegmentLayout:
    """Where each vector of one IVF segment sits, for filtered searches; valid for one segment version.

    Built by :func:`segment_layout` and cached by the caller, who must not use
    it after any change to the index (an add or remove may move the lists in
    memory: the views here would then point at freed memory): after appends of
    higher ids only, :func:`extend_layout` brings it up to date cheaply; after
    anything else it must be rebuilt. It holds the index itself so that the
    lists outlive it.
    """

    index: Any
    sorted_ids: IdArray
    """Every id of the segment, ascending."""
    lists: npt.NDArray[np.signedinteger[Any]]
    """16-bit where ``nlist`` allows (numpy then sorts them by radix: 10x faster)."""
    offsets: npt.NDArray[np.int32]
    """``lists[i], offsets[i]``: where ``sorted_ids[i]`` sits."""
    views: tuple[npt.NDArray[np.float32] | None, ...]
    """The vectors of each list, in place (no copy); None for an empty list."""
    lists_sorted: bool
    """Every list holds its ids in ascending order (a range filter may then binary-search them)."""
    rank: npt.NDArray[np.int32] | None
    """``rank[id - sorted_ids[0]]``: position of ``id`` in ``sorted_ids``, -1 if absent. Only kept
    when the ids are dense (a day's sightings mostly are); else lookups binary-search."""
    sizes: npt.NDArray[np.int64]
    """Entries per list when this layout was made (:func:`extend_layout` reads what was appended)."""

    def positions(self, allowed: IdArray) -> tuple[IdArray, npt.NDArray[np.int64]]:
        """``(ids, positions)``: the ``allowed`` ids this segment holds, and where in ``sorted_ids``."""
        ids = self.sorted_ids
        if len(ids) == 0 or len(allowed) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        lo, hi = int(ids[0]), int(ids[-1])
        cand = allowed[(allowed >= lo) & (allowed <= hi)]
        if self.rank is not None:
            pos = self.rank[cand - lo].astype(np.int64)
        else:
            pos = np.searchsorted(ids, cand)
            pos[pos >= len(ids)] = len(ids) - 1
            pos[ids[pos] != cand] = -1
        hit = pos >= 0
        return cand[hit], pos[hit]

    def count_range(self, first: int, last: int) -> int:
        """How many ids of this segment lie in ``[first, last]``."""
        ids = self.sorted_ids
        return int(np.searchsorted(ids, last, "right") - np.searchsorted(ids, first, "left"))

    def score(
        self, query: npt.NDArray[np.float32], ids: IdArray, pos: npt.NDArray[np.int64], k: int
    ) -> tuple[npt.NDArray[np.float32], IdArray]:
        """Exact top ``k`` of the vectors at ``pos`` (from :meth:`positions`), shaped ``(1, k)``; ids -1 pad."""
        scores = np.full((1, k), -np.inf, np.float32)
        labels = np.full((1, k), -1, np.int64)
        if len(pos) == 0:
            return scores, labels
        lists = self.lists[pos]
        order = np.argsort(lists, kind="stable")  # list by list: each list's memory in one pass
        lists, offs, ids = lists[order], self.offsets[pos][order], ids[order]
        cuts = np.flatnonzero(np.diff(lists)) + 1
        starts = [0, *cuts.tolist()]
        ends = [*cuts.tolist(), len(lists)]
        gathered = np.empty((len(ids), self.index.d), np.float32)
        # a Python step per list (~2 us) beside ~200 ns per vector of cache/TLB misses: fine
        for lst, a, b in zip(lists[starts].tolist(), starts, ends, strict=True):
            np.take(self.views[lst], offs[a:b], axis=0, out=gathered[a:b], mode="clip")  # "raise" would copy
        sims = gathered @ query[0]
        top = min(k, len(ids))
        best = np.argpartition(-sims, top - 1)[:top]
        best = best[np.lexsort((ids[best], -sims[best]))]
        scores[0, :top] = sims[best]
        labels[0, :top] = ids[best]
        return scores, labels


def segment_layout(index: Any) -> SegmentLayout | None:
    """The :class:`SegmentLayout` of an IVF-Flat segment (None for a flat one): one pass over its lists."""
    ivf = _ivf(index)
    if ivf is None:
        return None
    empty = np.zeros(0, np.int64)
    start = SegmentLayout(
        index, empty, empty.astype(np.int16), empty.astype(np.int32), (None,) * ivf.nlist, True, None,
        np.zeros(ivf.nlist, np.int64),
    )  # fmt: skip
    return extend_layout(start)


def extend_layout(layout: SegmentLayout) -> SegmentLayout | None:
    """``layout`` brought up to date after entries were only appended to its index's lists, with ids
    above every id it holds (a live day's new sightings); None when anything else changed (a list
    shrank, or a lower id arrived): rebuild it with :func:`segment_layout` then.

    Costs a pass over the list sizes plus the appended entries, against ~1 s for a rebuild at 10 M.
    """
    ivf = _ivf(layout.index)
    if ivf is None or len(layout.sizes) != ivf.nlist:
        return None
    lists = ivf.invlists
    list_type = np.int16 if ivf.nlist <= np.iinfo(np.int16).max else np.int32
    views = list(layout.views)
    sizes = layout.sizes.copy()
    lists_sorted = layout.lists_sorted
    ids_parts: list[IdArray] = []
    list_parts: list[npt.NDArray[np.signedinteger[Any]]] = []
    off_parts: list[npt.NDArray[np.int32]] = []
    for lst in range(ivf.nlist):
        size = lists.list_size(lst)
        old = int(sizes[lst])
        if size == old:
            continue
        if size < old:
            return None
        ids = faiss.rev_swig_ptr(lists.get_ids(lst), size)
        codes = faiss.rev_swig_ptr(lists.get_codes(lst), size * ivf.code_size)
        views[lst] = codes.view(np.float32).reshape(size, ivf.d)  # the list may have moved
        tail = ids[max(old - 1, 0) :]
        lists_sorted = lists_sorted and bool(np.all(tail[1:] > tail[:-1]))
        ids_parts.append(ids[old:].astype(np.int64))
        list_parts.append(np.full(size - old, lst, list_type))
        off_parts.append(np.arange(old, size, dtype=np.int32))
        sizes[lst] = size
    if not ids_parts:
        return layout
    added = np.concatenate(ids_parts)
    order = np.argsort(added, kind="stable")
    added = added[order]
    old_ids = layout.sorted_ids
    if len(old_ids) and added[0] <= old_ids[-1]:
        return None
    sorted_ids = np.concatenate([old_ids, added])
    base = int(sorted_ids[0])
    span = int(sorted_ids[-1]) - base + 1
    rank = None
    if (layout.rank is not None or len(old_ids) == 0) and span <= 4 * len(sorted_ids):
        # dense ids: a table costs at most 16 bytes per vector
        rank = np.full(span, -1, np.int32)
        if layout.rank is not None:
            rank[: len(layout.rank)] = layout.rank
        rank[added - base] = np.arange(len(old_ids), len(sorted_ids), dtype=np.int32)
    return SegmentLayout(
        layout.index,
        sorted_ids,
        np.concatenate([layout.lists.astype(list_type), np.concatenate(list_parts)[order]]),
        np.concatenate([layout.offsets, np.concatenate(off_parts)[order]]),
        tuple(views),
        lists_sorted,
        rank,
        sizes,
    )


def search_params(
    index: Any,
    policy: SegmentPolicy,
    allowed: IdArray | None,
    inside: int | None,
    nprobe: int | None = None,
    lists_sorted: bool = False,
) -> Any:
    """Search parameters for one segment: the id filter, and for IVF the lists to visit.

    ``inside``: how many ``allowed`` ids this segment holds (None: unknown,
    take ``len(allowed)``). ``nprobe`` overrides the policy's (benchmarks).
    ``lists_sorted``: every IVF list holds ascending ids (a range filter then
    binary-searches each list).
    """
    ivf = _ivf(index)
    sel = (
        _selector(allowed, lists_sorted and ivf is not None, ivf is not None) if allowed is not None else None
    )
    if ivf is None:
        if sel is None:
            return None
        params = faiss.SearchParameters()
        params.sel = sel
        return params
    params = faiss.SearchParametersIVF()
    params.nprobe = lists_to_visit(index, policy, allowed, inside, nprobe)
    if sel is not None:
        params.sel = sel
    return params


def lists_to_visit(
    index: Any, policy: SegmentPolicy, allowed: IdArray | None, inside: int | None, nprobe: int | None = None
) -> int:
    """IVF lists a query visits: the policy's share, divided by the share of the segment a filter allows."""
    ivf = _ivf(index)
    if ivf is None:
        raise ValueError("lists_to_visit: not an IVF index")
    nlist = int(ivf.nlist)
    lists = nprobe or policy.nprobe(nlist)
    if allowed is not None:
        share = min(1.0, max(inside if inside is not None else len(allowed), 1) / max(int(index.ntotal), 1))
        lists = math.ceil(lists / share)
    return min(nlist, lists)


def _selector(allowed: IdArray, sorted_lists: bool = False, bitmap: bool = False) -> Any:
    """A range test for a contiguous block of ids (a time window: ids grow with time), else a bitmap
    (``bitmap``, ids below ``BITMAP_MAX_ID``) or a hash set.

    ``allowed`` holds unique ids. A range costs nothing to build, and over
    lists of ascending ids (``sorted_lists``) FAISS bounds it by binary search.
    A hash set costs an insert per id on every query (11 ms for 200,000) and a
    hash probe per scanned entry; a bitmap is built in ~1 ms and tested with
    one memory read (a full scan of 10 M: 140 -> 105 ms on one thread).
    """
    if _contiguous(allowed):
        return faiss.IDSelectorRange(int(allowed.min()), int(allowed.max()) + 1, sorted_lists)
    if bitmap and len(allowed) and int(allowed.min()) >= 0 and int(allowed.max()) < BITMAP_MAX_ID:
        ids = np.sort(allowed)
        cells, first = np.unique(ids >> 3, return_index=True)
        bits = np.left_shift(1, ids & 7).astype(np.uint8)
        table = np.zeros(int(ids[-1] >> 3) + 1, np.uint8)
        table[cells] = np.bitwise_or.reduceat(bits, first)
        # faiss's wrapper takes the array alone and keeps it alive (its stubs know only (n, pointer))
        return faiss.IDSelectorBitmap(table)  # type: ignore[call-arg, arg-type]
    return faiss.IDSelectorBatch(allowed)


def _contiguous(allowed: IdArray) -> bool:
    """``allowed`` (unique ids) is one block of consecutive ids."""
    return bool(len(allowed)) and int(allowed.max()) - int(allowed.min()) + 1 == len(allowed)


def search_segment(
    index: Any,
    query: npt.NDArray[np.float32],
    k: int,
    policy: SegmentPolicy,
    allowed: IdArray | None,
    layout: SegmentLayout | None,
    nprobe: int | None = None,
) -> tuple[npt.NDArray[np.float32], IdArray]:
    """``(scores, ids)`` of the ``k`` best in one segment, shaped ``(1, k)``; ids -1 pad.

    ``layout`` (this IVF segment's current :class:`SegmentLayout`) lets a
    filtered search count, and gather, the allowed vectors this segment holds.
    """
    ivf = _ivf(index)
    if layout is not None and layout.index is not index:
        raise ValueError("search_segment: the layout belongs to another index")
    if ivf is not None:
        ivf.parallel_mode = 1  # one query at a time: FAISS's threads split its lists (not saved in the file)
    if ivf is None or allowed is None or layout is None:
        params = search_params(index, policy, allowed, None, nprobe)
        scores, labels = index.search(query, k, params=params)
        return scores, labels
    if layout.lists_sorted and _contiguous(allowed):
        # a time window: FAISS binary-searches it in each sorted list, no per-entry test
        inside = layout.count_range(int(allowed.min()), int(allowed.max()))
        params = search_params(index, policy, allowed, inside, nprobe, lists_sorted=True)
    else:
        mine, pos = layout.positions(allowed)
        visit = lists_to_visit(index, policy, allowed, len(mine), nprobe)
        scanned = int(index.ntotal) * visit / max(int(ivf.nlist), 1)
        if len(mine) * FETCH_COST * faiss.omp_get_max_threads() <= scanned:
            return layout.score(query, mine, pos, k)  # cheaper than building a filter and scanning
        params = search_params(index, policy, allowed, len(mine), nprobe)
    scores, labels = index.search(query, k, params=params)
    return scores, labels


def write_index_atomic(index: Any, path: Path) -> None:
    """Write ``index`` to ``path`` so that readers see the old or the new file (streams: no copy in memory)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        faiss.write_index(index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
