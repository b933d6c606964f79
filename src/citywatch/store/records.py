"""Plain frozen records going in and out of :class:`citywatch.store.Store`.

The façade never returns ORM objects: these records are detached, immutable
and safe to pass between threads or pickle to another process. Datetimes are
timezone-aware UTC. Records holding numpy arrays compare by identity
(``eq=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from citywatch.types import FloatArray

IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class CameraRecord:
    id: int
    name: str
    source: str
    location: str
    lat: float | None
    lon: float | None
    recognition: bool
    created_at: datetime
    district: str = ""
    purpose: str = ""
    vendor: str = ""
    cost: float | None = None
    installed_on: str | None = None


@dataclass(frozen=True, slots=True)
class WatchlistRecord:
    id: int
    name: str
    description: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True, eq=False)
class PhotoIn:
    """One enrolment photo: its hash, where it came from, and its embedding."""

    sha256: str
    filename: str
    provenance: str
    """Where the photo came from (e.g. "custody record 2024/113", "passport scan")."""
    embedding: FloatArray
    """(D,) float32, L2-normalised."""
    model: str
    box: tuple[float, float, float, float] | None = None
    """Face box ``xyxy`` in the photo, for review."""


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    id: int
    watchlist: str
    name: str
    legal_basis: str
    legal_reference: str
    enrolled_by: str
    requested_by: str
    approved_by: str | None
    status: str
    expires_at: datetime | None
    created_at: datetime
    photos: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    camera: str
    source: str
    status: str
    recorded_at: datetime
    started_at: datetime
    finished_at: datetime | None
    frames: int
    sightings: int
    error: str | None


@dataclass(frozen=True, slots=True, eq=False)
class SightingIn:
    """What the pipeline stores for one closed, embedded, matched track.

    ``start``/``end`` are wall-clock UTC datetimes (for a file:
    ``run.recorded_at + timedelta(seconds=offset)``); ``start_offset``/
    ``end_offset`` are media seconds. ``identity_id`` set means a watchlist
    match: an alert row is created in the same transaction.
    """

    run_id: int
    camera: str
    track_id: int
    start: datetime
    end: datetime
    start_offset: float
    end_offset: float
    embedding: FloatArray
    """(D,) float32 track template, L2-normalised."""
    model: str
    quality: float
    detections: int
    score: float
    threshold: float
    identity_id: int | None = None
    face_px: float | None = None
    frontal: float | None = None
    authorisation_id: int | None = None
    """The authorisation an alert (if any) is raised under."""

    @property
    def matched(self) -> bool:
        return self.identity_id is not None


@dataclass(frozen=True, slots=True)
class SightingOut:
    id: int
    thumbnail: str
    """Path relative to the thumbnails directory (``Store.thumbnail_path`` makes it absolute)."""
    alert_id: int | None


@dataclass(frozen=True, slots=True)
class SightingRecord:
    id: int
    run_id: int
    camera: str
    track_id: int
    start: datetime
    end: datetime
    start_offset: float
    end_offset: float
    day: str
    thumbnail: str | None
    model: str
    quality: float
    detections: int
    identity_id: int | None
    identity_name: str | None
    score: float
    threshold: float
    matched: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    sighting_id: int
    identity_id: int
    identity_name: str
    watchlist: str
    camera: str
    start: datetime
    score: float
    threshold: float
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: datetime
    actor: str
    role: str | None
    action: str
    target: str
    case_ref: str | None
    reason: str | None
    client: str | None
    details: dict[str, Any] | None = field(default=None, hash=False)
    prev_hash: str = ""
    hash: str = ""
