"""Read-only queries shaped for the API: alerts with everything a console row shows, enrolment photos.

The live alert stream follows the alerts table through :func:`alerts_after`:
camera workers commit alerts in other processes, so the table (not an
in-process event) is what says an alert exists.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from citywatch.store import models as m
from citywatch.store.exports import UnblurRequestRecord, _unblur_record
from citywatch.store.governance import alert_deciders
from citywatch.store.records import AuditRecord, SightingRecord
from citywatch.store.repo import Store, _audit_record, _sighting_record


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    camera: str
    sighting_id: int
    identity_id: int
    identity: str
    watchlist: str
    start: datetime
    end: datetime
    score: float
    threshold: float
    status: str
    created_at: datetime
    deciders: tuple[str, ...]


def _query() -> Select[m.Alert, str, str, str, datetime, datetime]:
    return (
        select(
            m.Alert, m.Identity.name, m.Watchlist.name, m.Sighting.camera, m.Sighting.start, m.Sighting.end
        )
        .join(m.Sighting, m.Alert.sighting_id == m.Sighting.id)
        .join(m.Identity, m.Alert.identity_id == m.Identity.id)
        .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
    )


def _rows(store: Store, q: Select[m.Alert, str, str, str, datetime, datetime]) -> list[AlertRow]:
    with store._session() as s:
        rows = s.execute(q).all()
        deciders = alert_deciders(s, [r[0].id for r in rows])
    return [
        AlertRow(
            a.id,
            cam,
            a.sighting_id,
            a.identity_id,
            name,
            wl,
            start,
            end,
            a.score,
            a.threshold,
            a.status,
            a.created_at,
            tuple(deciders[a.id]),
        )
        for a, name, wl, cam, start, end in rows
    ]


def list_alert_rows(
    store: Store,
    *,
    cameras: Collection[str] | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AlertRow]:
    """Alerts newest first, optionally only on ``cameras``, with ``status``, older than ``before_id``."""
    q = _query().order_by(m.Alert.id.desc()).limit(limit)
    if cameras is not None:
        q = q.where(m.Sighting.camera.in_(sorted(cameras)))
    if status is not None:
        q = q.where(m.Alert.status == status)
    if before_id is not None:
        q = q.where(m.Alert.id < before_id)
    return _rows(store, q)


def get_alert_row(store: Store, alert_id: int) -> AlertRow | None:
    found = _rows(store, _query().where(m.Alert.id == alert_id))
    return found[0] if found else None


def alerts_after(store: Store, after_id: int, limit: int = 200) -> list[AlertRow]:
    """Alerts with an id above ``after_id``, oldest first (ids only grow: SQLite AUTOINCREMENT)."""
    return _rows(store, _query().where(m.Alert.id > after_id).order_by(m.Alert.id).limit(limit))


def max_alert_id(store: Store) -> int:
    with store._session() as s:
        return int(s.scalar(select(func.max(m.Alert.id))) or 0)


def recent_sightings(
    store: Store,
    cameras: Collection[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    created_after: datetime | None = None,
    limit: int = 100,
) -> list[SightingRecord]:
    """Newest sightings of ``cameras`` first (overlap semantics for ``since``/``until``)."""
    q = (
        select(m.Sighting, m.Identity.name)
        .outerjoin(m.Identity, m.Sighting.identity_id == m.Identity.id)
        .where(m.Sighting.camera.in_(sorted(cameras)))
        .order_by(m.Sighting.start.desc(), m.Sighting.id.desc())
        .limit(limit)
    )
    if since is not None:
        q = q.where(m.Sighting.end >= since)
    if until is not None:
        q = q.where(m.Sighting.start <= until)
    if created_after is not None:
        q = q.where((m.Sighting.end >= created_after) | (m.Sighting.created_at >= created_after))
    with store._session() as s:
        return [_sighting_record(row, name) for row, name in s.execute(q)]


def audit_page(
    store: Store,
    *,
    after_seq: int = 0,
    before_seq: int | None = None,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
) -> list[AuditRecord]:
    """Audit entries in ``seq`` order after ``after_seq`` (or, with ``before_seq``, the newest before it)."""
    q = select(m.AuditEntry).where(m.AuditEntry.seq > after_seq)
    if before_seq is not None:
        q = q.where(m.AuditEntry.seq < before_seq).order_by(m.AuditEntry.seq.desc())
    else:
        q = q.order_by(m.AuditEntry.seq)
    if action is not None:
        q = q.where(m.AuditEntry.action.startswith(action, autoescape=True))
    if actor is not None:
        q = q.where(m.AuditEntry.actor == actor)
    with store._session() as s:
        rows = [_audit_record(a) for a in s.scalars(q.limit(limit))]
    return sorted(rows, key=lambda r: r.seq)


def pending_unblur_requests(store: Store) -> list[UnblurRequestRecord]:
    with store._session() as s:
        return [
            _unblur_record(r)
            for r in s.scalars(
                select(m.UnblurRequest)
                .where(m.UnblurRequest.status == "pending")
                .order_by(m.UnblurRequest.id)
            )
        ]


def photo_shas(store: Store, identity_id: int) -> list[str]:
    """SHA-256 of an entry's enrolment photos, in enrolment order (one per photo, whatever the models)."""
    with store._session() as s:
        rows = s.execute(
            select(m.IdentityPhoto.sha256, func.min(m.IdentityPhoto.id).label("first"))
            .where(m.IdentityPhoto.identity_id == identity_id)
            .group_by(m.IdentityPhoto.sha256)
            .order_by("first")
        ).all()
        return [r[0] for r in rows]


def photo_used_elsewhere(store: Store, sha256: str, identity_id: int) -> bool:
    """Whether another entry that is not rejected has a photo with this hash."""
    with store._session() as s:
        q = (
            select(func.count())
            .select_from(m.IdentityPhoto)
            .join(m.Identity, m.IdentityPhoto.identity_id == m.Identity.id)
            .where(
                m.IdentityPhoto.sha256 == sha256,
                m.IdentityPhoto.identity_id != identity_id,
                m.Identity.status != "rejected",
            )
        )
        return bool(s.scalar(q))


__all__ = [
    "AlertRow",
    "alerts_after",
    "audit_page",
    "get_alert_row",
    "list_alert_rows",
    "max_alert_id",
    "pending_unblur_requests",
    "photo_shas",
    "photo_used_elsewhere",
    "recent_sightings",
]
