"""Vector indexes: the derived, searchable copy of the embeddings held in SQL.

:class:`VectorIndex` is what :class:`~citywatch.store.repo.Store` needs from a
vector store, one index per embedding model; a :class:`VectorBackend` finds and
opens them. :class:`FaissDayIndex` (:class:`FaissBackend`) is the embedded
implementation: one exact inner-product index (``IndexIDMap2(IndexFlatIP)``)
per UTC day, in ``root/<model>/<YYYY-MM-DD>.faiss``, so retention drops a day
by deleting one file. ``store.milvus`` holds the Milvus implementation (a
server, or a milvus-lite file), chosen by ``vectors.uri``
(:func:`open_vector_backend`).

Contracts and pitfalls:

* Vectors must be L2-normalised float32; the score is then the cosine
  similarity. The index does not normalise for you.
* Ids are SQL sighting ids (int64). Adding an id that is already in the day
  replaces it (never a duplicate).
* ``add``/``remove`` change memory only; ``flush()`` writes each changed day
  atomically (temp file, fsync, ``os.replace``, fsync of the directory). A
  killed process leaves either the old or the new file, never half of one.
  SQL is the source of truth: ``Store.reconcile()`` rebuilds segments that
  disagree with it.
* Several processes may share a root (camera workers): ``flush`` takes an
  exclusive ``flock`` on ``root/<model>/.lock``, re-reads a segment another
  process replaced since we loaded it, and re-applies our pending changes
  before writing. Searches reload segments whose file changed (one ``stat``
  per day). POSIX only (``fcntl``).
* A root records its model and dimension in ``meta.json``; opening it with
  another model or dimension raises :class:`~citywatch.errors.ModelError`.
* FAISS keeps ids and vectors only (``filters_metadata`` is False): the Store
  turns camera and time filters into ``allowed_ids`` from SQL. Milvus stores
  camera and time per vector and filters itself, which is what scales.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import faiss
import numpy as np
import numpy.typing as npt

from citywatch.errors import ModelError, StoreError
from citywatch.store.faiss_segments import (
    SegmentLayout,
    SegmentPolicy,
    extend_layout,
    rebalance,
    search_segment,
    segment_ids,
    segment_kind,
    segment_layout,
    write_index_atomic,
)

if TYPE_CHECKING:
    from citywatch.config import VectorConfig

log = logging.getLogger(__name__)

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MODEL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # no leading dot: never "." or ".."
SUFFIX = ".faiss"

IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class VectorMeta:
    """Where and when each added vector was seen (parallel to the ids of one ``add``).

    Times are UTC epoch seconds of the sighting's start and end.
    """

    cameras: tuple[str, ...]
    starts: tuple[float, ...]
    ends: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.cameras) == len(self.starts) == len(self.ends):
            raise StoreError(
                f"vector meta: {len(self.cameras)} cameras, {len(self.starts)} starts and "
                f"{len(self.ends)} ends must be as many"
            )


@dataclass(frozen=True, slots=True)
class VectorFilter:
    """Camera and time filter for indexes that store :class:`VectorMeta` (overlap semantics)."""

    cameras: frozenset[str] | None = None
    """Only these cameras (``None``: all)."""
    since: float | None = None
    """Only vectors whose sighting ends at or after this (epoch seconds)."""
    until: float | None = None
    """Only vectors whose sighting starts at or before this (epoch seconds)."""


@runtime_checkable
class VectorIndex(Protocol):
    """A day-segmented vector index keyed by int64 ids (cosine similarity on normalised vectors)."""

    @property
    def dim(self) -> int: ...

    @property
    def model(self) -> str: ...

    @property
    def filters_metadata(self) -> bool:
        """True when ``search`` honours ``where`` (the index keeps :class:`VectorMeta`)."""

    def add(
        self, day: str, ids: IdArray, vectors: npt.NDArray[np.float32], meta: VectorMeta | None = None
    ) -> None:
        """Add (or replace) ``ids`` with ``vectors`` (N, D) float32 in segment ``day``.

        ``meta``: camera and times per vector, kept by indexes that filter on them
        (ignored by the others).
        """

    def remove(self, ids: Collection[int] | IdArray, days: Collection[str] | None = None) -> int:
        """Remove ``ids`` from ``days`` (all days when ``None``); return how many were removed."""

    def drop_day(self, day: str) -> None:
        """Delete a whole day segment (persistent at once, no flush needed)."""

    def search(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        days: Collection[str] | None = None,
        allowed_ids: set[int] | None = None,
        where: VectorFilter | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` best ``(id, score)`` over ``days`` (all when ``None``), best first; ties by id.

        ``allowed_ids`` restricts candidates (e.g. to SQL-filtered cameras and
        times). ``where`` filters on stored meta; StoreError where
        ``filters_metadata`` is False.
        """

    def ids(self, day: str) -> IdArray:
        """Ids currently in segment ``day`` (including unflushed changes)."""

    def days(self) -> list[str]:
        """Days that have a segment, sorted."""

    def count(self) -> int:
        """Total number of vectors over all days."""

    def flush(self) -> None:
        """Persist every changed segment."""

    def pending(self) -> int:
        """Number of changes not yet persisted (0 where every write is durable at once)."""

    def cleanup_tmp(self) -> int:
        """Delete temporary files left by killed writers; returns how many. Only while no other writer runs."""

    def close(self) -> None:
        """Flush and release resources."""


@runtime_checkable
class VectorBackend(Protocol):
    """Where the indexes of every model live: finds them and opens one per model."""

    def models(self) -> set[str]:
        """Models that have an index."""

    def dim_of(self, model: str) -> int | None:
        """The recorded dimension of ``model``'s index, or ``None`` when it has none."""

    def open(self, model: str, dim: int) -> VectorIndex:
        """The index of ``model`` (created if missing); ModelError when it was built for another dimension."""

    def close(self) -> None:
        """Release connections (indexes must be closed first)."""


def check_vectors(vectors: npt.NDArray[Any], dim: int, model: str, what: str) -> npt.NDArray[np.float32]:
    """``vectors`` as a contiguous ``(n, dim)`` float32 array; ModelError naming the index otherwise."""
    arr = np.asarray(vectors)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ModelError(
            f"{what}: vectors of shape {arr.shape} do not fit index {model!r} of dimension {dim}"
        )
    if arr.dtype != np.float32:
        raise ModelError(f"{what}: vectors must be float32, got {arr.dtype}")
    return np.ascontiguousarray(arr)


def _new_index(dim: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    The temporary file (``.<name>.tmp-<pid>``) lives in the same directory;
    leftovers from a killed process are removed by ``Store.reconcile``.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Segment:
    index: Any
    disk: tuple[int, int, int] | None
    """Stat key of the file this copy was loaded from / written to (None: no file)."""
    pending_add: dict[int, npt.NDArray[np.float32]] = field(default_factory=dict)
    pending_remove: set[int] = field(default_factory=set)
    layout: SegmentLayout | None = None
    """Where an IVF segment's vectors sit, cached for filtered searches; None after any change but
    appends (it points into the index's lists, which a change may move)."""
    appended: bool = False
    """Higher ids were appended since ``layout`` was made: extend it before use (never use it as is)."""
    max_id: int | None = None
    """No id above this is in the index (None: not known yet). Ids grow with time, so an add above it
    needs no removal of an older copy first: a removal scans a whole IVF segment (~50 ms at 10 M)."""

    @property
    def dirty(self) -> bool:
        return bool(self.pending_add or self.pending_remove)


class FaissDayIndex:
    """Exact FAISS inner-product search, one file per (model, UTC day). Thread-safe."""

    def __init__(self, root: Path, dim: int, model: str, policy: SegmentPolicy | None = None) -> None:
        """``policy``: when a day segment turns from exact into IVF (:mod:`citywatch.store.faiss_segments`)."""
        if dim <= 0:
            raise ModelError(f"vector index: dimension must be positive, got {dim}")
        if not MODEL_RE.match(model):
            raise ModelError(f"vector index: model name {model!r} is not a safe directory name")
        self._dim = dim
        self._model = model
        self._dir = Path(root) / model
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._segments: dict[str, _Segment] = {}
        self._policy = policy or SegmentPolicy()
        self._check_meta()

    # --- properties --------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model(self) -> str:
        return self._model

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def filters_metadata(self) -> bool:
        return False

    @staticmethod
    def read_meta(root: Path, model: str) -> tuple[str, int] | None:
        """``(model, dim)`` recorded under ``root/<model>``, or ``None`` when there is no index yet."""
        path = Path(root) / model / "meta.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            return str(meta["model"]), int(meta["dim"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"vector index {path}: unreadable meta.json ({exc})") from exc

    def _check_meta(self) -> None:
        meta = self.read_meta(self._dir.parent, self._model)
        if meta is None:
            with self._file_lock():
                if self.read_meta(self._dir.parent, self._model) is None:
                    data = json.dumps({"model": self._model, "dim": self._dim}, sort_keys=True)
                    atomic_write(self._dir / "meta.json", data.encode())
            meta = self.read_meta(self._dir.parent, self._model)
        assert meta is not None
        model, dim = meta
        if model != self._model or dim != self._dim:
            raise ModelError(
                f"vector index {self._dir} was built for model {model!r} (dim {dim}), "
                f"not {self._model!r} (dim {self._dim}); rebuild it or use another data directory"
            )

    # --- files and locking --------------------------------------------------

    def _path(self, day: str) -> Path:
        if not DAY_RE.match(day):
            raise StoreError(f"vector index: bad day {day!r} (expected YYYY-MM-DD)")
        return self._dir / f"{day}{SUFFIX}"

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        with open(self._dir / ".lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _read(self, day: str) -> tuple[Any, tuple[int, int, int] | None]:
        path = self._path(day)
        for _ in range(3):
            key = _stat_key(path)
            if key is None:
                return _new_index(self._dim), None
            try:
                index = faiss.read_index(str(path))  # streams: a 5 GB segment is not held twice
            except RuntimeError as exc:
                if not path.exists():
                    continue  # dropped between stat and read
                raise StoreError(f"vector segment {path} is unreadable: {exc}") from exc
            if index.d != self._dim:
                raise ModelError(f"vector segment {path} has dimension {index.d}, expected {self._dim}")
            # The file may have been replaced between stat and read; a later _refresh catches it.
            return index, key
        return _new_index(self._dim), None

    def _segment(self, day: str) -> _Segment:
        seg = self._segments.get(day)
        if seg is None:
            index, key = self._read(day)
            seg = _Segment(index, key)
            self._segments[day] = seg
        return seg

    def _refresh(self, day: str) -> _Segment:
        """The segment, reloaded if another process replaced its file, with our pending changes on top."""
        seg = self._segments.get(day)
        if seg is None:
            return self._segment(day)
        key = _stat_key(self._path(day))
        if key == seg.disk:
            return seg
        index, key = self._read(day)
        pending = list(seg.pending_remove | set(seg.pending_add))
        if pending:
            index.remove_ids(np.asarray(pending, dtype=np.int64))
        if seg.pending_add:
            ids = np.fromiter(seg.pending_add.keys(), dtype=np.int64, count=len(seg.pending_add))
            index.add_with_ids(np.stack(list(seg.pending_add.values())), ids)
        seg.index, seg.disk, seg.layout, seg.max_id = index, key, None, None
        return seg

    # --- VectorIndex ----------------------------------------------------------

    def _check_vectors(self, vectors: npt.NDArray[Any], what: str) -> npt.NDArray[np.float32]:
        return check_vectors(vectors, self._dim, self._model, what)

    def add(
        self, day: str, ids: IdArray, vectors: npt.NDArray[np.float32], meta: VectorMeta | None = None
    ) -> None:
        # ``meta`` is not kept: camera and time filters come from SQL as ``allowed_ids``
        vecs = self._check_vectors(vectors, "vector index add")
        id_arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(id_arr) != len(vecs):
            raise StoreError(f"vector index add: {len(id_arr)} ids for {len(vecs)} vectors")
        if len(np.unique(id_arr)) != len(id_arr):
            raise StoreError("vector index add: duplicate ids in one call")
        if len(id_arr) == 0:
            return
        with self._lock:
            seg = self._segment(day)
            if seg.max_id is None:
                held = segment_ids(seg.index)
                seg.max_id = int(held.max()) if len(held) else -1
            appending = int(id_arr.min()) > seg.max_id
            if not appending:
                seg.index.remove_ids(id_arr)  # re-adding an id replaces its vector
                seg.layout = None
            seg.index.add_with_ids(vecs, id_arr)
            seg.max_id = max(seg.max_id, int(id_arr.max()))
            seg.appended = seg.layout is not None
            for i, v in zip(id_arr.tolist(), vecs, strict=True):
                seg.pending_add[i] = v.copy()
                seg.pending_remove.discard(i)

    def remove(self, ids: Collection[int] | IdArray, days: Collection[str] | None = None) -> int:
        id_arr = np.ascontiguousarray(np.asarray(list(ids), dtype=np.int64).reshape(-1))
        if len(id_arr) == 0:
            return 0
        removed = 0
        with self._lock:
            for day in self.days() if days is None else days:
                seg = self._segment(day)
                removed += int(seg.index.remove_ids(id_arr))
                seg.layout = None
                for i in id_arr.tolist():
                    seg.pending_add.pop(i, None)
                    seg.pending_remove.add(i)
        return removed

    def drop_day(self, day: str) -> None:
        path = self._path(day)
        with self._lock, self._file_lock():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                _fsync_dir(self._dir)
            self._segments.pop(day, None)
        log.info("vector index %s: dropped day %s", self._model, day)

    def search(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        days: Collection[str] | None = None,
        allowed_ids: set[int] | None = None,
        where: VectorFilter | None = None,
    ) -> list[tuple[int, float]]:
        if where is not None:
            raise StoreError(
                f"vector index {self._model!r} (FAISS) keeps no camera/time data: filter with allowed_ids"
            )
        q = np.asarray(vector)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self._dim,):
            raise ModelError(
                f"vector search: probe of shape {q.shape} does not fit index {self._model!r} "
                f"of dimension {self._dim}"
            )
        if k <= 0 or (allowed_ids is not None and not allowed_ids):
            return []
        query = np.ascontiguousarray(q.astype(np.float32, copy=False).reshape(1, -1))
        allowed = None
        if allowed_ids is not None:
            allowed = np.sort(np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids)))
        hits: list[tuple[int, float]] = []
        with self._lock:
            for day in sorted(self.days() if days is None else days):
                if not DAY_RE.match(day):
                    continue
                seg = self._refresh(day)
                n = int(seg.index.ntotal)
                if n == 0:
                    continue
                scores, labels = search_segment(
                    seg.index, query, min(k, n), self._policy, allowed, self._layout(seg, allowed)
                )
                hits.extend(
                    (int(i), float(s)) for i, s in zip(labels[0], scores[0], strict=True) if int(i) >= 0
                )
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits[:k]

    def ids(self, day: str) -> IdArray:
        with self._lock:
            return segment_ids(self._refresh(day).index)

    def days(self) -> list[str]:
        with self._lock:
            on_disk = {p.name[: -len(SUFFIX)] for p in self._dir.glob(f"*{SUFFIX}")}
            in_memory = {d for d, s in self._segments.items() if s.dirty or s.index.ntotal > 0}
            return sorted(d for d in on_disk | in_memory if DAY_RE.match(d))

    def count(self) -> int:
        with self._lock:
            return sum(int(self._refresh(d).index.ntotal) for d in self.days())

    def flush(self) -> None:
        with self._lock:
            dirty = [d for d, s in self._segments.items() if s.dirty]
            if not dirty:
                return
            with self._file_lock():
                for day in dirty:
                    seg = self._refresh(day)
                    path = self._path(day)
                    if seg.index.ntotal == 0:
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                    else:
                        # exact below the policy's limit, IVF above (rebuilt here, at most once per flush)
                        seg.index = rebalance(
                            seg.index, self._dim, self._policy, f"vector index {self._model} {day}"
                        )
                        seg.layout = None
                        write_index_atomic(seg.index, path)
                    seg.disk = _stat_key(path)
                    seg.pending_add.clear()
                    seg.pending_remove.clear()
        log.debug("vector index %s: flushed %d day(s)", self._model, len(dirty))

    def _layout(self, seg: _Segment, allowed: IdArray | None) -> SegmentLayout | None:
        """An IVF segment's layout (cached), for filtered searches; None where not needed."""
        if allowed is None or segment_kind(seg.index) != "ivf":
            return None
        if seg.layout is not None and seg.layout.index is seg.index and seg.appended:
            seg.layout = extend_layout(seg.layout)  # None if it cannot: rebuilt below
        seg.appended = False
        if seg.layout is None or seg.layout.index is not seg.index:
            seg.layout = segment_layout(seg.index)
        return seg.layout

    def segment_kinds(self) -> dict[str, str]:
        """``day -> "flat" | "ivf"``: the index kind each segment has now (the file records it)."""
        with self._lock:
            return {d: segment_kind(self._refresh(d).index) for d in self.days()}

    def pending(self) -> int:
        """Number of unflushed changes (adds + removes)."""
        with self._lock:
            return sum(len(s.pending_add) + len(s.pending_remove) for s in self._segments.values())

    def cleanup_tmp(self) -> int:
        """Delete temporary files left by killed writers. Call only when no other writer runs."""
        n = 0
        with self._file_lock():
            for p in self._dir.glob(".*.tmp-*"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    n += 1
        return n

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._segments.clear()


class FaissBackend:
    """FAISS day segments under ``root/<model>/`` (the embedded default)."""

    def __init__(self, root: Path, policy: SegmentPolicy | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.policy = policy or SegmentPolicy()

    def models(self) -> set[str]:
        return {p.parent.name for p in self.root.glob("*/meta.json")}

    def dim_of(self, model: str) -> int | None:
        meta = FaissDayIndex.read_meta(self.root, model)
        return None if meta is None else meta[1]

    def open(self, model: str, dim: int) -> FaissDayIndex:
        return FaissDayIndex(self.root, dim, model, self.policy)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FaissBackend({self.root})"


def open_vector_backend(cfg: VectorConfig | None, home: Path) -> VectorBackend:
    """The backend ``cfg.uri`` names: empty, FAISS files in ``home/vectors``; otherwise Milvus.

    Milvus is imported only when used (pymilvus is heavy to import).
    """
    if cfg is None:
        return FaissBackend(Path(home) / "vectors")
    if not cfg.uri:
        policy = SegmentPolicy(exact_limit=cfg.faiss_exact_limit, probe_factor=cfg.faiss_probe_factor)
        return FaissBackend(Path(home) / "vectors", policy)
    from citywatch.store.milvus import MilvusBackend

    return MilvusBackend(cfg, Path(home))
