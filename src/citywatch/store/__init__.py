"""citywatch.store: all SQL, vector and thumbnail I/O behind one façade, :class:`Store`.

Other packages import from here (``from citywatch.store import Store, SightingIn``),
never from ``store.models``: ORM objects do not leave this package.
"""

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
from citywatch.store.repo import GENESIS_HASH, ReconcileReport, Store, day_of
from citywatch.store.vectors import FaissDayIndex, VectorIndex
from citywatch.types import Gallery

__all__ = [
    "GENESIS_HASH",
    "AlertRecord",
    "AuditRecord",
    "CameraRecord",
    "FaissDayIndex",
    "Gallery",
    "IdentityRecord",
    "PhotoIn",
    "ReconcileReport",
    "RunRecord",
    "SightingIn",
    "SightingOut",
    "SightingRecord",
    "Store",
    "VectorIndex",
    "WatchlistRecord",
    "day_of",
]
