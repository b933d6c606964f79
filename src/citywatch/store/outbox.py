"""The SQL of the alert outbox: expand, claim, and record each delivery attempt.

``Store.add_sighting`` commits one ``*`` row with each alert. The dispatcher
(``citywatch.events``) then, each round:

1. :func:`expand`: turns ``*`` rows into one ``pending`` row per configured
   destination (``mqtt``, ``webhook:<name>``), keeping the alert's idempotency key;
2. :func:`claim`: takes due ``pending`` rows and pushes their
   ``next_attempt_at`` one lease ahead, so a second dispatcher skips them while
   this one delivers (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the write
   lock taken at ``BEGIN``);
3. :func:`mark_delivered` or :func:`mark_failed` per row.

A dispatcher killed between claim and mark leaves rows that fall due again when
the lease ends: delivery is at least once, never at most once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from citywatch.errors import StoreError
from citywatch.store import models as m
from citywatch.store.repo import Store

MAX_ERROR_CHARS = 2_000


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value!r}; pass a timezone-aware (UTC) datetime")
    return value


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed delivery: the outbox row and the alert facts a message is built from."""

    id: int
    alert_id: int
    destination: str
    key: str
    attempts: int
    """Attempts made before this one."""
    camera: str
    start: datetime
    end: datetime
    sighting_id: int
    entry_id: int
    entry_name: str
    watchlist: str
    score: float
    threshold: float
    alert_status: str
    alert_created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """The delivery state of one outbox row."""

    id: int
    alert_id: int
    destination: str
    key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _insert_ignoring_duplicates(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows; one that exists already (same alert and destination) is left alone."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(m.OutboxEntry).on_conflict_do_nothing(
            index_elements=["alert_id", "destination"]
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(m.OutboxEntry).on_conflict_do_nothing(index_elements=["alert_id", "destination"])
    else:
        raise StoreError(f"outbox: database dialect {dialect!r} is not supported")
    s.execute(stmt, rows)


def expand(store: Store, destinations: Sequence[str], now: datetime, limit: int = 500) -> int:
    """Turn up to ``limit`` new alerts (``*`` rows) into one pending row per destination; returns how many.

    With no destination configured the alerts are marked expanded all the
    same: there is nobody to tell, and a destination added later starts with
    the alerts raised after it.
    """
    now = _aware(now, "outbox expand now")
    if any(d == m.FAN_OUT or not d for d in destinations):
        raise StoreError(f"outbox: bad destination name in {list(destinations)!r}")
    with store._tx() as s:
        rows = s.execute(
            select(m.OutboxEntry.id, m.OutboxEntry.alert_id, m.OutboxEntry.key)
            .where(m.OutboxEntry.destination == m.FAN_OUT, m.OutboxEntry.status == "pending")
            .order_by(m.OutboxEntry.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        new = [
            {
                "alert_id": alert_id,
                "destination": dest,
                "key": key,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for _, alert_id, key in rows
            for dest in destinations
        ]
        if new:
            _insert_ignoring_duplicates(s, new)
        s.execute(
            update(m.OutboxEntry).where(m.OutboxEntry.id.in_([r[0] for r in rows])).values(status="expanded")
        )
        return len(rows)


def claim(
    store: Store,
    now: datetime,
    limit: int,
    lease: timedelta,
    destinations: Collection[str] | None = None,
) -> list[OutboxItem]:
    """Take up to ``limit`` due pending rows (oldest due first) and lease them until ``now + lease``."""
    now = _aware(now, "outbox claim now")
    q = (
        select(m.OutboxEntry.id)
        .where(
            m.OutboxEntry.status == "pending",
            m.OutboxEntry.destination != m.FAN_OUT,
            m.OutboxEntry.next_attempt_at <= now,
        )
        .order_by(m.OutboxEntry.next_attempt_at, m.OutboxEntry.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if destinations is not None:
        q = q.where(m.OutboxEntry.destination.in_(list(destinations)))
    with store._tx() as s:
        ids = list(s.scalars(q))
        if not ids:
            return []
        s.execute(update(m.OutboxEntry).where(m.OutboxEntry.id.in_(ids)).values(next_attempt_at=now + lease))
        rows = s.execute(
            select(
                m.OutboxEntry,
                m.Alert,
                m.Sighting.camera,
                m.Sighting.start,
                m.Sighting.end,
                m.Identity.name,
                m.Watchlist.name,
            )
            .join(m.Alert, m.OutboxEntry.alert_id == m.Alert.id)
            .join(m.Sighting, m.Alert.sighting_id == m.Sighting.id)
            .join(m.Identity, m.Alert.identity_id == m.Identity.id)
            .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
            .where(m.OutboxEntry.id.in_(ids))
            .order_by(m.OutboxEntry.next_attempt_at, m.OutboxEntry.id)
        ).all()
        return [
            OutboxItem(
                id=o.id,
                alert_id=a.id,
                destination=o.destination,
                key=o.key,
                attempts=o.attempts,
                camera=camera,
                start=start,
                end=end,
                sighting_id=a.sighting_id,
                entry_id=a.identity_id,
                entry_name=name,
                watchlist=wl,
                score=a.score,
                threshold=a.threshold,
                alert_status=a.status,
                alert_created_at=a.created_at,
            )
            for o, a, camera, start, end, name, wl in rows
        ]


def mark_delivered(store: Store, outbox_id: int, now: datetime) -> None:
    now = _aware(now, "outbox delivered at")
    with store._tx() as s:
        s.execute(
            update(m.OutboxEntry)
            .where(m.OutboxEntry.id == outbox_id)
            .values(
                status="delivered",
                attempts=m.OutboxEntry.attempts + 1,
                delivered_at=now,
                last_error=None,
            )
        )


def mark_failed(store: Store, outbox_id: int, error: str, retry_at: datetime | None) -> None:
    """Count a failed attempt: retry at ``retry_at``, or give up (``dead``) when it is ``None``."""
    values: dict[str, Any] = {
        "attempts": m.OutboxEntry.attempts + 1,
        "last_error": error[:MAX_ERROR_CHARS],
    }
    if retry_at is None:
        values["status"] = "dead"
    else:
        values["next_attempt_at"] = _aware(retry_at, "outbox retry at")
    with store._tx() as s:
        s.execute(update(m.OutboxEntry).where(m.OutboxEntry.id == outbox_id).values(**values))


def release(store: Store, outbox_id: int, at: datetime) -> None:
    """Hand a claimed row back unattempted, due again at ``at`` (its destination is down this round)."""
    at = _aware(at, "outbox release at")
    with store._tx() as s:
        s.execute(update(m.OutboxEntry).where(m.OutboxEntry.id == outbox_id).values(next_attempt_at=at))


def retry_dead(store: Store, now: datetime, destination: str | None = None) -> int:
    """Give dead rows a fresh set of attempts (after the cause is fixed); returns how many."""
    now = _aware(now, "outbox retry now")
    q = update(m.OutboxEntry).where(m.OutboxEntry.status == "dead")
    if destination is not None:
        q = q.where(m.OutboxEntry.destination == destination)
    with store._tx() as s:
        res = s.execute(q.values(status="pending", attempts=0, next_attempt_at=now))
        return int(res.rowcount)  # type: ignore[attr-defined]


def counts(store: Store) -> dict[str, dict[str, int]]:
    """``{destination: {status: rows}}`` (``*``: alerts not yet expanded)."""
    out: dict[str, dict[str, int]] = {}
    with store._session() as s:
        for dest, status, n in s.execute(
            select(m.OutboxEntry.destination, m.OutboxEntry.status, func.count())
            .group_by(m.OutboxEntry.destination, m.OutboxEntry.status)
            .order_by(m.OutboxEntry.destination, m.OutboxEntry.status)
        ):
            out.setdefault(dest, {})[status] = int(n)
    return out


def _outbox_row(o: m.OutboxEntry) -> OutboxRow:
    return OutboxRow(
        o.id, o.alert_id, o.destination, o.key, o.status, o.attempts, o.next_attempt_at,
        o.last_error, o.created_at, o.delivered_at,
    )  # fmt: skip


def list_outbox(store: Store, alert_id: int | None = None) -> list[OutboxRow]:
    q = select(m.OutboxEntry).order_by(m.OutboxEntry.id)
    if alert_id is not None:
        q = q.where(m.OutboxEntry.alert_id == alert_id)
    with store._session() as s:
        return [_outbox_row(o) for o in s.scalars(q)]


def next_due(store: Store) -> datetime | None:
    """When the earliest pending row falls due (``None``: nothing pending)."""
    with store._session() as s:
        return s.scalar(
            select(func.min(m.OutboxEntry.next_attempt_at)).where(m.OutboxEntry.status == "pending")
        )
