"""The store façade: every SQL statement and vector/thumbnail write of citywatch goes through here.

Layout of a data directory (``home``)::

    home/vectors/<model>/<YYYY-MM-DD>.faiss   derived: rebuilt from SQL when they disagree
    home/vectors/<model>/meta.json
    home/thumbnails/<YYYY-MM-DD>/<camera>-<run>-<track>-<uuid>.jpg

Consistency model (what survives ``kill -9`` at any instant):

1. ``add_sighting`` writes the thumbnail file atomically, then commits the
   sighting row (and its alert) in one transaction, then adds the vector to the
   in-memory day segment; ``flush()`` (also automatic, see ``autoflush_*``)
   persists segments atomically.
2. SQL is the source of truth. ``reconcile()`` (run by ``Store.open``) rebuilds
   any day segment whose ids differ from the SQL rows of that day and model, and
   deletes thumbnail files no row refers to. So after a kill: a thumbnail without
   a row is deleted, a row without a vector gets it back, a vector without a row
   disappears.
3. ``begin_run`` deletes the rows, vectors and thumbnails of earlier runs of the
   same camera and source that never finished, so re-processing a file after a
   kill does not duplicate sightings.

Multi-process use (camera workers): open the store once in the coordinator
(``migrate=True, reconcile=True``, the defaults), then in each worker with
``migrate=False, reconcile=False``: reconcile deletes thumbnails whose rows are
not committed yet, which is only safe while no other process writes.

Times are timezone-aware UTC everywhere; ``day`` is the UTC date of a
sighting's start.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, Select, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.errors import ModelError, NotFoundError, PolicyError, StoreError
from citywatch.store import models as m
from citywatch.store.db import make_engine, session_factory, write_engine
from citywatch.store.migrations import upgrade
from citywatch.store.records import (
    AlertRecord,
    AuditRecord,
    CameraRecord,
    IdentityRecord,
    PhotoIn,
    RunRecord,
    SightingIn,
    SightingOut,
    SightingRecord,
    WatchlistRecord,
)
from citywatch.store.vectors import (
    VectorBackend,
    VectorFilter,
    VectorIndex,
    VectorMeta,
    atomic_write,
    open_vector_backend,
)
from citywatch.types import Gallery

if TYPE_CHECKING:
    from citywatch.config import VectorConfig

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_AUDIT_LOCK_KEY = 0x63697479  # "city": PostgreSQL advisory lock serialising audit appends
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_CHUNK = 500  # ids per IN (...) clause

AUDIT_CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "citywatch_audit_client", default=None
)
"""Where the current request came from (the API sets it per request): the default ``client`` of
:meth:`Store.append_audit`, so entries appended by governance functions name the client address too."""


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8, no NaN): the bytes that get hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def audit_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(fields))`` as hex."""
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


def _audit_fields(row: m.AuditEntry) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "ts": row.ts.astimezone(UTC).isoformat(),
        "actor": row.actor,
        "role": row.role,
        "action": row.action,
        "target": row.target,
        "case_ref": row.case_ref,
        "reason": row.reason,
        "client": row.client,
        "details": row.details,
    }


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value!r}; pass a timezone-aware (UTC) datetime")
    return value.astimezone(UTC)


def day_of(ts: datetime) -> str:
    """The UTC day (``YYYY-MM-DD``) a timestamp falls in: the vector segment key."""
    return _aware(ts, "day_of").date().isoformat()


def _days_between(since: datetime, until: datetime) -> list[str]:
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _embedding_bytes(vec: npt.NDArray[Any], what: str) -> bytes:
    arr = np.asarray(vec)
    if arr.ndim != 1 or arr.size == 0:
        raise ModelError(f"{what}: embedding must be a non-empty 1-D vector, got shape {arr.shape}")
    if arr.dtype != np.float32:
        raise ModelError(f"{what}: embedding must be float32, got {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{what}: embedding has NaN or infinite values")
    return np.ascontiguousarray(arr).tobytes()


def _vector(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float32)


def _insert_missing(s: Session, model: type[m.Base], key: str, values: dict[str, Any]) -> None:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``: concurrent creators of one row both succeed.

    SQLite serialises writers at ``BEGIN IMMEDIATE``, but PostgreSQL (read
    committed) lets two select-then-insert transactions both miss the row and
    one of them then fails on the unique key.
    """
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        s.execute(pg_insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        s.execute(sqlite_insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))
    elif s.scalar(select(func.count()).select_from(model).where(getattr(model, key) == values[key])) == 0:
        s.add(model(**values))
        s.flush()


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _camera_record(c: m.Camera) -> CameraRecord:
    return CameraRecord(
        c.id, c.name, c.source, c.location, c.lat, c.lon, c.recognition, c.created_at,
        c.district, c.purpose, c.vendor, c.cost, c.installed_on,
    )  # fmt: skip


def _run_record(r: m.Run) -> RunRecord:
    return RunRecord(
        r.id,
        r.camera,
        r.source,
        r.status,
        r.recorded_at,
        r.started_at,
        r.finished_at,
        r.frames,
        r.sightings,
        r.error,
    )


def _sighting_record(s: m.Sighting, identity_name: str | None) -> SightingRecord:
    return SightingRecord(
        id=s.id,
        run_id=s.run_id,
        camera=s.camera,
        track_id=s.track_id,
        start=s.start,
        end=s.end,
        start_offset=s.start_offset,
        end_offset=s.end_offset,
        day=s.day,
        thumbnail=s.thumbnail,
        model=s.model,
        quality=s.quality,
        detections=s.detections,
        identity_id=s.identity_id,
        identity_name=identity_name,
        score=s.score,
        threshold=s.threshold,
        matched=s.matched,
        created_at=s.created_at,
    )


def _audit_record(a: m.AuditEntry) -> AuditRecord:
    details = json.loads(a.details) if a.details is not None else None
    return AuditRecord(
        a.seq,
        a.ts,
        a.actor,
        a.role,
        a.action,
        a.target,
        a.case_ref,
        a.reason,
        a.client,
        details,
        a.prev_hash,
        a.hash,
    )


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What ``Store.reconcile`` repaired."""

    segments_rebuilt: tuple[str, ...]
    """``<model>/<day>`` segments rewritten from SQL."""
    segments_dropped: tuple[str, ...]
    """``<model>/<day>`` segments deleted because SQL has no rows for them."""
    thumbnails_deleted: int
    temp_files_deleted: int


class Store:
    """Relational rows, vector segments and thumbnail files, kept consistent. See the module docstring.

    Thread-safe for use from one process's threads (sessions are per call).
    Construct with :meth:`open`; close with :meth:`close` (or ``with``).
    """

    def __init__(
        self,
        engine: Engine,
        home: Path,
        *,
        autoflush_every: int = 64,
        autoflush_seconds: float = 5.0,
        vectors: VectorBackend | None = None,
    ) -> None:
        self.engine = engine
        self.home = Path(home)
        self.vectors_dir = self.home / "vectors"
        self.thumbnails_dir = self.home / "thumbnails"
        self.vectors_dir.mkdir(parents=True, exist_ok=True)
        self.thumbnails_dir.mkdir(parents=True, exist_ok=True)
        self._read: sessionmaker[Session] = session_factory(engine)
        self._write_sessions: sessionmaker[Session] = session_factory(write_engine(engine))
        self.vectors: VectorBackend = vectors if vectors is not None else open_vector_backend(None, self.home)
        """Where the vector indexes live (FAISS files in ``vectors_dir`` by default, or Milvus)."""
        self._indexes: dict[str, VectorIndex] = {}
        self._index_lock = threading.Lock()
        self._autoflush_every = autoflush_every
        self._autoflush_seconds = autoflush_seconds
        self._last_flush = time.monotonic()

    @classmethod
    def open(
        cls,
        url: str,
        home: Path,
        *,
        migrate: bool = True,
        reconcile: bool = True,
        autoflush_every: int = 64,
        autoflush_seconds: float = 5.0,
        vectors: VectorConfig | None = None,
    ) -> Store:
        """Open (creating if needed) the store: migrate the schema, then repair derived data.

        ``vectors``: the ``vectors`` config section (default: FAISS files in ``home``).

        ``url`` empty means ``sqlite:///<home>/citywatch.db``. ``autoflush_*``: vector
        segments are persisted after that many added sightings or seconds (and on
        ``finish_run``/``flush``/``close``); a kill loses nothing either way, since
        ``reconcile`` rebuilds from SQL, but other processes only see flushed vectors.
        """
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        url = url or f"sqlite:///{home / 'citywatch.db'}"
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        store = cls(
            engine,
            home,
            autoflush_every=autoflush_every,
            autoflush_seconds=autoflush_seconds,
            vectors=open_vector_backend(vectors, home),
        )
        if reconcile:
            store.reconcile()
        return store

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush vector segments and release the database pool."""
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()
        self.vectors.close()
        self.engine.dispose()

    # --- sessions ---------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        with self._read() as s:
            yield s

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction (SQLite: takes the write lock at BEGIN, so read-then-write is safe)."""
        with self._write_sessions() as s, s.begin():
            yield s

    # --- paths ------------------------------------------------------------------

    def thumbnail_path(self, relative: str) -> Path:
        """Absolute path of a stored thumbnail; refuses paths that leave the thumbnails directory."""
        root = self.thumbnails_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or path == root:
            raise StoreError(f"thumbnail path {relative!r} is outside the thumbnails directory")
        return path

    # --- vector indexes -------------------------------------------------------------

    def vector_index(self, model: str, dim: int | None = None) -> VectorIndex | None:
        """The index for ``model``; created with ``dim`` if it does not exist, else ``None`` without ``dim``.

        Raises ModelError when ``dim`` disagrees with an existing index of that model.
        """
        with self._index_lock:
            return self._vector_index(model, dim)

    def _vector_index(self, model: str, dim: int | None) -> VectorIndex | None:
        index = self._indexes.get(model)
        if index is not None:
            if dim is not None and dim != index.dim:
                raise ModelError(f"model {model!r} has dimension {index.dim} in this store, not {dim}")
            return index
        recorded = self.vectors.dim_of(model)
        if recorded is None and dim is None:
            return None
        index = self.vectors.open(model, dim if dim is not None else recorded or 0)
        self._indexes[model] = index
        return index

    def _index_models(self) -> set[str]:
        return self.vectors.models() | set(self._indexes)

    def flush(self) -> None:
        """Persist all changed vector segments (atomic per day)."""
        for index in self._indexes.values():
            index.flush()
        self._last_flush = time.monotonic()

    def _maybe_flush(self) -> None:
        pending = sum(i.pending() for i in self._indexes.values())
        if pending >= self._autoflush_every or (
            pending and time.monotonic() - self._last_flush >= self._autoflush_seconds
        ):
            self.flush()

    # --- cameras ----------------------------------------------------------------

    def upsert_camera(
        self,
        name: str,
        source: str = "",
        location: str = "",
        lat: float | None = None,
        lon: float | None = None,
        recognition: bool = True,
        *,
        district: str = "",
        purpose: str = "",
        vendor: str = "",
        cost: float | None = None,
        installed_on: str | None = None,
    ) -> CameraRecord:
        """Create the camera or update its fields; returns the stored record."""
        if not name:
            raise StoreError("camera name must not be empty")
        with self._tx() as s:
            _insert_missing(s, m.Camera, "name", {"name": name})
            cam = s.scalar(select(m.Camera).where(m.Camera.name == name))
            assert cam is not None
            cam.source, cam.location, cam.lat, cam.lon = source, location, lat, lon
            cam.recognition = recognition
            cam.district, cam.purpose, cam.vendor = district, purpose, vendor
            cam.cost, cam.installed_on = cost, installed_on
            s.flush()
            return _camera_record(cam)

    def get_camera(self, name: str) -> CameraRecord:
        """Raises NotFoundError for an unknown camera."""
        with self._session() as s:
            cam = s.scalar(select(m.Camera).where(m.Camera.name == name))
            if cam is None:
                raise NotFoundError(f"camera {name!r} does not exist")
            return _camera_record(cam)

    def list_cameras(self) -> list[CameraRecord]:
        with self._session() as s:
            return [_camera_record(c) for c in s.scalars(select(m.Camera).order_by(m.Camera.name))]

    # --- watchlists -------------------------------------------------------------

    def ensure_watchlist(self, name: str, created_by: str, description: str = "") -> WatchlistRecord:
        """The watchlist ``name``, created if missing (an existing one is returned unchanged)."""
        if not name:
            raise StoreError("watchlist name must not be empty")
        with self._tx() as s:
            _insert_missing(
                s, m.Watchlist, "name", {"name": name, "created_by": created_by, "description": description}
            )
            wl = s.scalar(select(m.Watchlist).where(m.Watchlist.name == name))
            assert wl is not None
            return WatchlistRecord(wl.id, wl.name, wl.description, wl.created_by, wl.created_at)

    def list_watchlists(self) -> list[WatchlistRecord]:
        with self._session() as s:
            return [
                WatchlistRecord(w.id, w.name, w.description, w.created_by, w.created_at)
                for w in s.scalars(select(m.Watchlist).order_by(m.Watchlist.name))
            ]

    def add_identity(
        self,
        watchlist: str,
        name: str,
        legal_basis: str,
        enrolled_by: str,
        photos: Sequence[PhotoIn],
        legal_reference: str = "",
        expires_at: datetime | None = None,
        *,
        requested_by: str | None = None,
        approved_by: str | None = None,
        status: str = "approved",
    ) -> int:
        """Add a watchlist entry with its photos; returns the identity id.

        Raises PolicyError for an empty ``legal_basis``, NotFoundError for an
        unknown watchlist (call ``ensure_watchlist`` first), StoreError without
        photos. ``requested_by`` defaults to ``enrolled_by``. Status defaults to
        ``approved`` until the approvals workflow exists.
        """
        if not legal_basis or not legal_basis.strip():
            raise PolicyError(f"watchlist entry {name!r}: a legal basis is required")
        if not name:
            raise StoreError("identity name must not be empty")
        if not photos:
            raise StoreError(f"watchlist entry {name!r}: at least one photo is required")
        if status not in m.IDENTITY_STATUSES:
            raise StoreError(f"identity status {status!r} is not one of {m.IDENTITY_STATUSES}")
        if expires_at is not None:
            expires_at = _aware(expires_at, "expires_at")
        blobs = [_embedding_bytes(p.embedding, f"photo {p.filename or p.sha256}") for p in photos]
        with self._tx() as s:
            wl = s.scalar(select(m.Watchlist).where(m.Watchlist.name == watchlist))
            if wl is None:
                raise NotFoundError(f"watchlist {watchlist!r} does not exist")
            ident = m.Identity(
                watchlist_id=wl.id,
                name=name,
                legal_basis=legal_basis.strip(),
                legal_reference=legal_reference,
                enrolled_by=enrolled_by,
                requested_by=requested_by or enrolled_by,
                approved_by=approved_by,
                status=status,
                expires_at=expires_at,
            )
            s.add(ident)
            s.flush()
            for p, blob in zip(photos, blobs, strict=True):
                s.add(
                    m.IdentityPhoto(
                        identity_id=ident.id,
                        sha256=p.sha256,
                        filename=p.filename,
                        provenance=p.provenance,
                        embedding=blob,
                        model=p.model,
                        box=[float(x) for x in p.box] if p.box is not None else None,
                    )
                )
            return ident.id

    def list_identities(self, watchlist: str | None = None) -> list[IdentityRecord]:
        """All watchlist entries (any status), with their photo count."""
        photos = (
            select(m.IdentityPhoto.identity_id, func.count().label("n"))
            .group_by(m.IdentityPhoto.identity_id)
            .subquery()
        )
        q = (
            select(m.Identity, m.Watchlist.name, func.coalesce(photos.c.n, 0))
            .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
            .outerjoin(photos, photos.c.identity_id == m.Identity.id)
            .order_by(m.Identity.id)
        )
        if watchlist is not None:
            q = q.where(m.Watchlist.name == watchlist)
        with self._session() as s:
            return [
                IdentityRecord(
                    i.id,
                    wl,
                    i.name,
                    i.legal_basis,
                    i.legal_reference,
                    i.enrolled_by,
                    i.requested_by,
                    i.approved_by,
                    i.status,
                    i.expires_at,
                    i.created_at,
                    int(n),
                )
                for i, wl, n in s.execute(q)
            ]

    def active_gallery(self, model: str, now: datetime) -> Gallery:
        """Embeddings of approved, unexpired entries for ``model``, one row per photo.

        An entry is active when ``status == 'approved'`` and (``expires_at`` is
        empty or later than ``now``). Photos of other models are ignored.
        """
        now = _aware(now, "active_gallery now")
        q = (
            select(m.IdentityPhoto.embedding, m.Identity.id, m.Identity.name, m.Watchlist.name)
            .join(m.Identity, m.IdentityPhoto.identity_id == m.Identity.id)
            .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
            .where(
                m.IdentityPhoto.model == model,
                m.Identity.status == "approved",
                (m.Identity.expires_at.is_(None)) | (m.Identity.expires_at > now),
            )
            .order_by(m.Identity.id, m.IdentityPhoto.id)
        )
        with self._session() as s:
            rows = s.execute(q).all()
        if not rows:
            return Gallery(
                identity_ids=np.zeros((0,), np.int64),
                names=(),
                watchlists=(),
                embeddings=np.zeros((0, 0), np.float32),
                model=model,
            )
        vecs = [_vector(r[0]) for r in rows]
        if len({v.shape for v in vecs}) != 1:
            raise ModelError(f"gallery for model {model!r} mixes embedding dimensions")
        return Gallery(
            model=model,
            identity_ids=np.asarray([r[1] for r in rows], dtype=np.int64),
            names=tuple(r[2] for r in rows),
            watchlists=tuple(r[3] for r in rows),
            embeddings=np.stack(vecs).astype(np.float32, copy=False),
        )

    # --- runs -------------------------------------------------------------------

    @staticmethod
    def source_key(source: str) -> str:
        return hashlib.sha256(source.encode("utf-8")).hexdigest()

    def begin_run(
        self,
        camera: str,
        source: str,
        recorded_at: datetime,
        *,
        replace_unfinished: bool = True,
        case_ref: str | None = None,
        authorisation_id: int | None = None,
    ) -> int:
        """Start a run; returns its id.

        ``case_ref``/``authorisation_id``: the case a recorded file is processed
        for and the authorisation its alerting runs under (a refusal deletes the
        run's outputs).

        With ``replace_unfinished`` (the default, right for files), every earlier
        run of the same camera and source still marked ``running`` (its process
        was killed) is deleted first with its sightings, alerts, vectors and
        thumbnails, so processing the file again does not duplicate them. Live
        sources should pass ``replace_unfinished=False``: their old sightings
        cannot be re-created. Pitfall: never run two processes on the same
        camera and source; the second would delete the first's run.
        """
        recorded_at = _aware(recorded_at, "begin_run recorded_at")
        key = self.source_key(source)
        if replace_unfinished:
            with self._session() as s:
                stale = list(
                    s.scalars(
                        select(m.Run.id).where(
                            m.Run.camera == camera, m.Run.source_key == key, m.Run.status == "running"
                        )
                    )
                )
            if stale:
                n = self._delete_runs(stale)
                log.info(
                    "camera %s: removed %d unfinished run(s) %s of the same source (%d sightings)",
                    camera,
                    len(stale),
                    stale,
                    n,
                )
        with self._tx() as s:
            run = m.Run(
                camera=camera,
                source=source,
                source_key=key,
                status="running",
                recorded_at=recorded_at,
                case_ref=case_ref,
                authorisation_id=authorisation_id,
            )
            s.add(run)
            s.flush()
            return run.id

    def _delete_runs(self, run_ids: Sequence[int]) -> int:
        with self._session() as s:
            ids = list(s.scalars(select(m.Sighting.id).where(m.Sighting.run_id.in_(run_ids))))
        n = self.delete_sightings(ids)
        with self._tx() as s:
            s.execute(delete(m.Run).where(m.Run.id.in_(run_ids)))
        return n

    def finish_run(
        self, run_id: int, frames: int, status: str = "done", error: str | None = None
    ) -> RunRecord:
        """Mark a run done or failed, after flushing its vectors; records frames and sighting count."""
        if status not in ("done", "failed"):
            raise StoreError(f"finish_run: status must be 'done' or 'failed', not {status!r}")
        self.flush()
        with self._tx() as s:
            run = s.get(m.Run, run_id)
            if run is None:
                raise NotFoundError(f"run {run_id} does not exist")
            run.sightings = s.scalar(select(func.count()).where(m.Sighting.run_id == run_id)) or 0
            run.frames, run.status, run.error, run.finished_at = frames, status, error, m.utcnow()
            s.flush()
            return _run_record(run)

    def get_run(self, run_id: int) -> RunRecord:
        with self._session() as s:
            run = s.get(m.Run, run_id)
            if run is None:
                raise NotFoundError(f"run {run_id} does not exist")
            return _run_record(run)

    def list_runs(self, camera: str | None = None) -> list[RunRecord]:
        q = select(m.Run).order_by(m.Run.id)
        if camera is not None:
            q = q.where(m.Run.camera == camera)
        with self._session() as s:
            return [_run_record(r) for r in s.scalars(q)]

    # --- sightings --------------------------------------------------------------

    def add_sighting(self, sighting: SightingIn, thumbnail_jpeg: bytes) -> SightingOut:
        """Store one sighting: thumbnail file, row (+ alert when matched) in one transaction, vector.

        The alert row is committed together with the sighting and its outbox row
        (``events`` delivers it): notify only after this returns. Raises
        ModelError for a bad embedding or one whose dimension differs from the
        model's index.
        """
        blob = _embedding_bytes(sighting.embedding, f"camera {sighting.camera} track {sighting.track_id}")
        vec = _vector(blob)
        start = _aware(sighting.start, "sighting start")
        end = _aware(sighting.end, "sighting end")
        day = start.date().isoformat()
        index = self.vector_index(sighting.model, dim=len(vec))
        assert index is not None
        cam = _SAFE_NAME.sub("_", sighting.camera)[:64]
        rel = f"{day}/{cam}-{sighting.run_id}-{sighting.track_id}-{uuid.uuid4().hex[:12]}.jpg"
        path = self.thumbnails_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, thumbnail_jpeg)
        try:
            with self._tx() as s:
                row = m.Sighting(
                    run_id=sighting.run_id,
                    camera=sighting.camera,
                    track_id=sighting.track_id,
                    start=start,
                    end=end,
                    start_offset=float(sighting.start_offset),
                    end_offset=float(sighting.end_offset),
                    day=day,
                    thumbnail=rel,
                    embedding=blob,
                    model=sighting.model,
                    quality=float(sighting.quality),
                    detections=int(sighting.detections),
                    identity_id=sighting.identity_id,
                    score=float(sighting.score),
                    threshold=float(sighting.threshold),
                    matched=sighting.matched,
                    face_px=sighting.face_px,
                    frontal=sighting.frontal,
                )
                s.add(row)
                s.flush()
                alert_id: int | None = None
                if sighting.identity_id is not None:
                    alert = m.Alert(
                        sighting_id=row.id,
                        identity_id=sighting.identity_id,
                        score=float(sighting.score),
                        threshold=float(sighting.threshold),
                        status="unconfirmed",
                        authorisation_id=sighting.authorisation_id,
                    )
                    s.add(alert)
                    s.flush()
                    alert_id = alert.id
                    # outbox: committed with the alert, delivered by the events dispatcher
                    s.add(m.OutboxEntry(alert_id=alert_id, destination=m.FAN_OUT, key=uuid.uuid4().hex))
                sid = row.id
        except BaseException as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            if isinstance(exc, IntegrityError):
                raise StoreError(
                    f"camera {sighting.camera} track {sighting.track_id}: run {sighting.run_id} or "
                    f"identity {sighting.identity_id} does not exist ({exc.orig})"
                ) from exc
            raise
        meta = VectorMeta((sighting.camera,), (start.timestamp(),), (end.timestamp(),))
        index.add(day, np.asarray([sid], dtype=np.int64), vec.reshape(1, -1), meta)
        self._maybe_flush()
        return SightingOut(sid, rel, alert_id)

    def _sighting_query(self) -> Select[m.Sighting, str | None]:
        return select(m.Sighting, m.Identity.name).outerjoin(
            m.Identity, m.Sighting.identity_id == m.Identity.id
        )

    def get_sighting(self, sighting_id: int) -> SightingRecord:
        """Raises NotFoundError for an unknown id."""
        with self._session() as s:
            row = s.execute(self._sighting_query().where(m.Sighting.id == sighting_id)).first()
            if row is None:
                raise NotFoundError(f"sighting {sighting_id} does not exist")
            return _sighting_record(*row)

    def get_sighting_embedding(self, sighting_id: int) -> tuple[str, npt.NDArray[np.float32]]:
        """``(model, template)`` of a sighting."""
        with self._session() as s:
            row = s.execute(
                select(m.Sighting.model, m.Sighting.embedding).where(m.Sighting.id == sighting_id)
            ).first()
            if row is None:
                raise NotFoundError(f"sighting {sighting_id} does not exist")
            return row[0], _vector(row[1]).copy()

    def list_sightings(
        self,
        camera: str | None = None,
        run_id: int | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[SightingRecord]:
        """Sightings ordered by start time (then id), optionally filtered; overlap semantics for times."""
        q = self._sighting_query().order_by(m.Sighting.start, m.Sighting.id)
        if camera is not None:
            q = q.where(m.Sighting.camera == camera)
        if run_id is not None:
            q = q.where(m.Sighting.run_id == run_id)
        if since is not None:
            q = q.where(m.Sighting.end >= _aware(since, "since"))
        if until is not None:
            q = q.where(m.Sighting.start <= _aware(until, "until"))
        if limit is not None:
            q = q.limit(limit)
        with self._session() as s:
            return [_sighting_record(*r) for r in s.execute(q)]

    def delete_sightings(self, ids: Collection[int]) -> int:
        """Delete sightings (rows, alerts, vectors, thumbnails); returns rows deleted.

        Rows go first (one transaction), then vectors (flushed) and files; a kill
        in between leaves orphans that ``reconcile`` removes.
        """
        id_list = sorted({int(i) for i in ids})
        if not id_list:
            return 0
        found: list[tuple[int, str, str, str | None]] = []
        with self._tx() as s:
            for chunk in _chunks(id_list):
                found.extend(
                    s.execute(
                        select(m.Sighting.id, m.Sighting.day, m.Sighting.model, m.Sighting.thumbnail).where(
                            m.Sighting.id.in_(chunk)
                        )
                    )
                )
                s.execute(delete(m.Alert).where(m.Alert.sighting_id.in_(chunk)))
                s.execute(delete(m.Sighting).where(m.Sighting.id.in_(chunk)))
        by_model: dict[str, dict[str, list[int]]] = {}
        for sid, day, model, _ in found:
            by_model.setdefault(model, {}).setdefault(day, []).append(sid)
        for model, days in by_model.items():
            index = self.vector_index(model)
            if index is None:
                continue
            for day, day_ids in days.items():
                index.remove(day_ids, days=[day])
            index.flush()
        for *_, thumb in found:
            if thumb:
                with contextlib.suppress(FileNotFoundError, StoreError):
                    self.thumbnail_path(thumb).unlink()
        return len(found)

    # --- alerts -----------------------------------------------------------------

    def list_alerts(self, status: str | None = None, limit: int | None = None) -> list[AlertRecord]:
        """Alerts, newest first."""
        q = (
            select(m.Alert, m.Identity.name, m.Watchlist.name, m.Sighting.camera, m.Sighting.start)
            .join(m.Identity, m.Alert.identity_id == m.Identity.id)
            .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
            .join(m.Sighting, m.Alert.sighting_id == m.Sighting.id)
            .order_by(m.Alert.created_at.desc(), m.Alert.id.desc())
        )
        if status is not None:
            q = q.where(m.Alert.status == status)
        if limit is not None:
            q = q.limit(limit)
        with self._session() as s:
            return [
                AlertRecord(
                    a.id,
                    a.sighting_id,
                    a.identity_id,
                    name,
                    wl,
                    cam,
                    start,
                    a.score,
                    a.threshold,
                    a.status,
                    a.created_at,
                )
                for a, name, wl, cam, start in s.execute(q)
            ]

    # --- search -----------------------------------------------------------------

    def search_vectors(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        cameras: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        model: str = "",
    ) -> list[tuple[SightingRecord, float]]:
        """The ``k`` sightings most similar to ``vector`` (cosine), best first, within the filters.

        Times use overlap semantics (a sighting that ends after ``since`` and
        starts before ``until`` qualifies). Only vectors of ``model`` are
        searched; a model with no index gives ``[]``; a probe of another
        dimension raises ModelError. This does not audit or check policy: the
        caller (``search/``) records the search with :meth:`record_search`.
        """
        if not model:
            raise StoreError("search_vectors: the embedding model must be given")
        index = self.vector_index(model)
        if index is None or k <= 0:
            return []
        since = _aware(since, "since") if since is not None else None
        until = _aware(until, "until") if until is not None else None
        days: list[str] | None = None
        allowed: set[int] | None = None
        where: VectorFilter | None = None
        if index.filters_metadata:
            # the index filters by camera and time itself: no list of SQL ids per query
            if cameras is not None or since is not None or until is not None:
                where = VectorFilter(
                    frozenset(cameras) if cameras is not None else None,
                    since.timestamp() if since is not None else None,
                    until.timestamp() if until is not None else None,
                )
            if since is not None and until is not None and since <= until:
                days = _days_between(since - timedelta(days=1), until)
        elif cameras is not None or since is not None or until is not None:
            q = select(m.Sighting.id, m.Sighting.day).where(m.Sighting.model == model)
            if cameras is not None:
                q = q.where(m.Sighting.camera.in_(list(cameras)))
            if since is not None:
                q = q.where(m.Sighting.end >= since)
            if until is not None:
                q = q.where(m.Sighting.start <= until)
            if since is not None and until is not None and since <= until:
                # lets the (day, model) index narrow the scan; tracks never last a day
                q = q.where(m.Sighting.day.in_(_days_between(since - timedelta(days=1), until)))
            with self._session() as s:
                rows = s.execute(q).all()
            if not rows:
                return []
            allowed = {r[0] for r in rows}
            days = sorted({r[1] for r in rows})
        hits = index.search(vector, k, days=days, allowed_ids=allowed, where=where)
        if not hits:
            return []
        by_id: dict[int, SightingRecord] = {}
        with self._session() as s:
            for chunk in _chunks([h[0] for h in hits]):
                for row in s.execute(self._sighting_query().where(m.Sighting.id.in_(chunk))):
                    by_id[row[0].id] = _sighting_record(*row)
        out = [(by_id[i], score) for i, score in hits if i in by_id]
        if len(out) != len(hits):
            log.warning("vector index %s has %d id(s) without a sighting row", model, len(hits) - len(out))
        return out

    def record_search(
        self,
        case_ref: str,
        reason: str,
        actor: str,
        probe_sha256: str | None,
        cameras: Collection[str] | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        result_count: int,
    ) -> int:
        """Record a retrospective search; PolicyError without a case reference or reason."""
        if not case_ref or not case_ref.strip():
            raise PolicyError("a search needs a case reference")
        if not reason or not reason.strip():
            raise PolicyError("a search needs a reason")
        with self._tx() as s:
            row = m.Search(
                case_ref=case_ref.strip(),
                reason=reason.strip(),
                actor=actor,
                probe_sha256=probe_sha256,
                cameras=sorted(cameras) if cameras is not None else None,
                since=_aware(since, "since") if since is not None else None,
                until=_aware(until, "until") if until is not None else None,
                limit=limit,
                result_count=result_count,
            )
            s.add(row)
            s.flush()
            return row.id

    def count_searches(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(m.Search)) or 0

    # --- audit ------------------------------------------------------------------

    def append_audit(
        self,
        actor: str,
        action: str,
        target: str,
        case_ref: str | None = None,
        reason: str | None = None,
        role: str | None = None,
        client: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one hash-chained audit entry and return it.

        Appends are serialised (SQLite: write lock at BEGIN; PostgreSQL: an
        advisory transaction lock), and ``seq`` is the primary key, so two
        writers can never fork the chain; a conflict is retried.
        ``details`` must be JSON-serialisable (no NaN); it is stored as the exact
        canonical text that was hashed.
        """
        if not actor or not action:
            raise StoreError("audit entries need an actor and an action")
        if client is None:
            client = AUDIT_CLIENT.get()
        details_text = canonical_json(details) if details is not None else None
        for attempt in range(5):
            try:
                with self._tx() as s:
                    if self.engine.dialect.name == "postgresql":
                        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
                    last = s.execute(
                        select(m.AuditEntry.seq, m.AuditEntry.hash).order_by(m.AuditEntry.seq.desc()).limit(1)
                    ).first()
                    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
                    row = m.AuditEntry(
                        seq=seq,
                        ts=m.utcnow(),
                        actor=actor,
                        role=role,
                        action=action,
                        target=target,
                        case_ref=case_ref,
                        reason=reason,
                        client=client,
                        details=details_text,
                        prev_hash=prev,
                    )
                    # hash what the database will return: microsecond UTC timestamps
                    row.hash = audit_hash(prev, _audit_fields(row))
                    s.add(row)
                    s.flush()
                    record = _audit_record(row)
                # committed: move the head anchor kept outside the table (catches truncation)
                from citywatch.store.audit_io import write_audit_head

                write_audit_head(self.home, record.seq, record.hash)
                return record
            except (IntegrityError, OperationalError) as exc:
                if attempt == 4:
                    raise StoreError(f"audit append failed: {exc}") from exc
                log.warning("audit append conflict (attempt %d): %s", attempt + 1, exc)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def verify_audit(self) -> tuple[bool, int | None]:
        """Check the whole chain: ``(True, None)`` or ``(False, first bad seq)``.

        Detects an edited row (its hash no longer matches), a deleted or
        inserted row (a gap in ``seq`` or a broken ``prev_hash`` link). Pitfall:
        deleting the *last* rows is invisible to the chain alone; compare the
        latest hash with one kept elsewhere (reports, exports) to catch that.
        """
        prev = GENESIS_HASH
        expected = 1
        with self._session() as s:
            rows = s.execute(
                select(m.AuditEntry).order_by(m.AuditEntry.seq).execution_options(yield_per=1000)
            )
            for (row,) in rows:
                if row.seq != expected or row.prev_hash != prev:
                    return False, row.seq  # a row before this one was deleted (or this one edited)
                if audit_hash(prev, _audit_fields(row)) != row.hash:
                    return False, row.seq
                prev, expected = row.hash, expected + 1
        return True, None

    def last_audit(self, action: str) -> AuditRecord | None:
        """The newest audit entry with this action, if any."""
        q = (
            select(m.AuditEntry)
            .where(m.AuditEntry.action == action)
            .order_by(m.AuditEntry.seq.desc())
            .limit(1)
        )
        with self._session() as s:
            row = s.scalar(q)
            return _audit_record(row) if row is not None else None

    def list_audit(self, since_seq: int = 0, limit: int | None = None) -> list[AuditRecord]:
        q = select(m.AuditEntry).where(m.AuditEntry.seq > since_seq).order_by(m.AuditEntry.seq)
        if limit is not None:
            q = q.limit(limit)
        with self._session() as s:
            return [_audit_record(a) for a in s.scalars(q)]

    # --- repair -----------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make derived data agree with SQL: vector segments and thumbnail files.

        For each model and day, a segment whose ids differ from the SQL sighting
        ids of that (day, model) is rebuilt from the SQL embeddings; a segment
        with no rows is deleted; thumbnail files (and temp files) no row refers
        to are deleted. Pitfall: only call while no other process is writing.
        """
        rebuilt: list[str] = []
        dropped: list[str] = []
        tmp_deleted = 0
        with self._session() as s:
            sql_pairs = s.execute(select(m.Sighting.model, m.Sighting.day).distinct()).all()
        sql_days: dict[str, set[str]] = {}
        for model, day in sql_pairs:
            sql_days.setdefault(model, set()).add(day)
        for model in sorted(self._index_models() | set(sql_days)):
            index = self._reconcile_index(model)
            if index is None:
                continue
            tmp_deleted += index.cleanup_tmp()
            for day in sorted(set(index.days()) | sql_days.get(model, set())):
                with self._session() as s:
                    sql_ids = np.asarray(
                        sorted(
                            s.scalars(
                                select(m.Sighting.id).where(m.Sighting.model == model, m.Sighting.day == day)
                            )
                        ),
                        dtype=np.int64,
                    )
                try:
                    have = np.sort(index.ids(day))
                except StoreError as exc:
                    log.warning("%s; rebuilding it from the database", exc)
                    have = np.asarray([-1], dtype=np.int64)
                if np.array_equal(have, sql_ids):
                    continue
                index.drop_day(day)
                if len(sql_ids) == 0:
                    dropped.append(f"{model}/{day}")
                    continue
                self._rebuild_day(index, day)
                rebuilt.append(f"{model}/{day}")
        thumbs_deleted, thumb_tmp = self._reconcile_thumbnails()
        report = ReconcileReport(tuple(rebuilt), tuple(dropped), thumbs_deleted, tmp_deleted + thumb_tmp)
        if rebuilt or dropped or thumbs_deleted or report.temp_files_deleted:
            log.warning(
                "reconcile: rebuilt %s, dropped %s, deleted %d orphan thumbnail(s) and %d temp file(s)",
                rebuilt,
                dropped,
                thumbs_deleted,
                report.temp_files_deleted,
            )
        return report

    def _reconcile_index(self, model: str) -> VectorIndex | None:
        index = self.vector_index(model)
        if index is not None:
            return index
        with self._session() as s:
            blob = s.scalar(select(m.Sighting.embedding).where(m.Sighting.model == model).limit(1))
        return None if blob is None else self.vector_index(model, dim=len(_vector(blob)))

    def _rebuild_day(self, index: VectorIndex, day: str) -> None:
        q = (
            select(m.Sighting.id, m.Sighting.embedding, m.Sighting.camera, m.Sighting.start, m.Sighting.end)
            .where(m.Sighting.model == index.model, m.Sighting.day == day)
            .order_by(m.Sighting.id)
            .execution_options(yield_per=2000)
        )
        with self._session() as s:
            batch_ids: list[int] = []
            batch_vecs: list[npt.NDArray[np.float32]] = []
            batch_meta: list[tuple[str, float, float]] = []

            def add_batch() -> None:
                cams, starts, ends = zip(*batch_meta, strict=True)
                meta = VectorMeta(tuple(cams), tuple(starts), tuple(ends))
                index.add(day, np.asarray(batch_ids, np.int64), np.stack(batch_vecs), meta)

            for sid, blob, camera, start, end in s.execute(q):
                vec = _vector(blob)
                if len(vec) != index.dim:
                    log.error(
                        "sighting %d: embedding dimension %d != %d, not indexed", sid, len(vec), index.dim
                    )
                    continue
                batch_ids.append(sid)
                batch_vecs.append(vec)
                batch_meta.append((camera, start.timestamp(), end.timestamp()))
                if len(batch_ids) >= 2000:
                    add_batch()
                    batch_ids, batch_vecs, batch_meta = [], [], []
            if batch_ids:
                add_batch()
        index.flush()

    def _reconcile_thumbnails(self) -> tuple[int, int]:
        with self._session() as s:
            known = set(s.scalars(select(m.Sighting.thumbnail).where(m.Sighting.thumbnail.is_not(None))))
        deleted = tmp = 0
        for path in list(self.thumbnails_dir.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(self.thumbnails_dir).as_posix()
            if rel in known:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                if ".tmp-" in path.name:
                    tmp += 1
                else:
                    deleted += 1
        for d in sorted(self.thumbnails_dir.iterdir()):
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()  # only succeeds when empty
        return deleted, tmp

    # --- small helpers for other stages -------------------------------------------

    def set_alert_status(self, alert_id: int, status: str) -> None:
        """Change an alert's status (e.g. ``confirmed``, ``dismissed``)."""
        with self._tx() as s:
            res = s.execute(update(m.Alert).where(m.Alert.id == alert_id).values(status=status))
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"alert {alert_id} does not exist")

    def days(self) -> list[str]:
        """Days that have sightings (any model), sorted."""
        with self._session() as s:
            return sorted(s.scalars(select(m.Sighting.day).distinct()))


__all__ = [
    "AUDIT_CLIENT",
    "GENESIS_HASH",
    "ReconcileReport",
    "Store",
    "audit_hash",
    "canonical_json",
    "day_of",
]
