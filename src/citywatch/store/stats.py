"""Counts for the transparency report and capture-quality samples (store/ owns all SQL).

Every function returns counts or measurements only, never identities.
Periods are half-open ``[since, until)`` in UTC.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from citywatch.store import models as m
from citywatch.store.repo import Store


def quality_samples(store: Store, camera: str, limit: int = 1000) -> list[tuple[float, float | None]]:
    """``(face_px, frontal)`` of the camera's newest ``limit`` sightings that have a measured face size."""
    q = (
        select(m.Sighting.face_px, m.Sighting.frontal)
        .where(m.Sighting.camera == camera, m.Sighting.face_px.is_not(None))
        .order_by(m.Sighting.id.desc())
        .limit(limit)
    )
    with store._session() as s:
        return [(float(px), None if fr is None else float(fr)) for px, fr in s.execute(q) if px is not None]


def sighting_cameras(store: Store) -> list[str]:
    """Cameras that have sightings (whether or not they are configured)."""
    with store._session() as s:
        return sorted(s.scalars(select(m.Sighting.camera).distinct()))


def faces_processed(store: Store, since: datetime, until: datetime) -> int:
    """Faces (tracks) stored by runs started in the period.

    Finished runs keep their sighting count after retention deletes the rows;
    runs still going are counted from their rows.
    """
    with store._session() as s:
        done = s.scalar(
            select(func.coalesce(func.sum(m.Run.sightings), 0)).where(
                m.Run.started_at >= since, m.Run.started_at < until, m.Run.status != "running"
            )
        )
        running = s.scalar(
            select(func.count())
            .select_from(m.Sighting)
            .join(m.Run, m.Sighting.run_id == m.Run.id)
            .where(m.Run.started_at >= since, m.Run.started_at < until, m.Run.status == "running")
        )
    return int(done or 0) + int(running or 0)


def alerts_created(store: Store, since: datetime, until: datetime) -> int:
    """Alert rows (still stored) created in the period."""
    with store._session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(m.Alert)
                .where(m.Alert.created_at >= since, m.Alert.created_at < until)
            )
            or 0
        )


def searches(store: Store, since: datetime, until: datetime) -> int:
    with store._session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(m.Search)
                .where(m.Search.created_at >= since, m.Search.created_at < until)
            )
            or 0
        )


def exports(store: Store, since: datetime, until: datetime) -> int:
    with store._session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(m.Export)
                .where(m.Export.created_at >= since, m.Export.created_at < until)
            )
            or 0
        )


def authorisations(store: Store, since: datetime, until: datetime) -> dict[str, int]:
    """Authorisations requested in the period: ``requested``, ``granted``, ``refused``, ``expired``,
    ``pending``, and ``late``.

    ``late``: urgent ones not granted by their deadline (expired ungranted,
    or decided after the deadline).
    """
    with store._session() as s:
        rows = list(
            s.execute(
                select(
                    m.Authorisation.status,
                    m.Authorisation.urgent,
                    m.Authorisation.deadline,
                    m.Authorisation.decided_at,
                ).where(m.Authorisation.created_at >= since, m.Authorisation.created_at < until)
            )
        )
    c: Counter[str] = Counter()
    for status, urgent, deadline, decided_at in rows:
        c["requested"] += 1
        c[str(status)] += 1
        if (
            urgent
            and deadline is not None
            and (status == "expired" or (decided_at is not None and decided_at > deadline))
        ):
            c["late"] += 1
    return {k: c[k] for k in ("requested", "granted", "refused", "expired", "pending", "late")}


def watchlist_by_legal_basis(store: Store, since: datetime, until: datetime) -> dict[str, int]:
    """Watchlist entries that were approved and unexpired at some point of the period, by legal basis.

    Entries created before ``until``, approved (or expired since), and not
    expired before ``since``. Counts only.
    """
    q = (
        select(m.Identity.legal_basis, func.count())
        .where(
            m.Identity.created_at < until,
            m.Identity.status.in_(["approved", "expired"]),
            or_(m.Identity.expires_at.is_(None), m.Identity.expires_at >= since),
            or_(m.Identity.decided_at.is_(None), m.Identity.decided_at < until),
        )
        .group_by(m.Identity.legal_basis)
        .order_by(m.Identity.legal_basis)
    )
    with store._session() as s:
        return {str(b): int(n) for b, n in s.execute(q)}


def cameras_with_sightings_between(store: Store, since: datetime, until: datetime) -> dict[str, int]:
    """Sightings still stored per camera with a start in the period."""
    q = (
        select(m.Sighting.camera, func.count())
        .where(and_(m.Sighting.start >= since, m.Sighting.start < until))
        .group_by(m.Sighting.camera)
    )
    with store._session() as s:
        return {str(c): int(n) for c, n in s.execute(q)}


__all__ = [
    "alerts_created",
    "authorisations",
    "cameras_with_sightings_between",
    "exports",
    "faces_processed",
    "quality_samples",
    "searches",
    "sighting_cameras",
    "watchlist_by_legal_basis",
]
