"""SQL of retention and legal holds: which sightings are due, cases and their holds.

The rules (what is due when, what a hold protects) live in
``governance.retention``; this module only answers and changes rows.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from citywatch.errors import NotFoundError, PolicyError
from citywatch.store import models as m
from citywatch.store.repo import Store


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    case_ref: str
    title: str
    legal_hold: bool
    created_by: str
    created_at: datetime


def _case(c: m.Case) -> CaseRecord:
    return CaseRecord(c.id, c.case_ref, c.title, c.legal_hold, c.created_by, c.created_at)


def create_case(store: Store, case_ref: str, title: str, created_by: str) -> CaseRecord:
    """Insert a case (no hold); PolicyError for an empty or taken reference."""
    ref = case_ref.strip()
    if not ref:
        raise PolicyError("a case needs a reference")
    try:
        with store._tx() as s:
            c = m.Case(case_ref=ref, title=title.strip(), legal_hold=False, created_by=created_by)
            s.add(c)
            s.flush()
            return _case(c)
    except IntegrityError as exc:
        raise PolicyError(f"case {ref!r} already exists") from exc


def get_case(store: Store, case_ref: str) -> CaseRecord:
    """NotFoundError for an unknown case."""
    with store._session() as s:
        c = s.scalar(select(m.Case).where(m.Case.case_ref == case_ref))
        if c is None:
            raise NotFoundError(f"case {case_ref!r} does not exist (create it with `citywatch case create`)")
        return _case(c)


def list_cases(store: Store) -> list[CaseRecord]:
    with store._session() as s:
        return [_case(c) for c in s.scalars(select(m.Case).order_by(m.Case.case_ref))]


def set_legal_hold(store: Store, case_ref: str, hold: bool) -> CaseRecord:
    """Set or clear a case's legal hold; NotFoundError for an unknown case."""
    with store._tx() as s:
        c = s.scalar(select(m.Case).where(m.Case.case_ref == case_ref))
        if c is None:
            raise NotFoundError(f"case {case_ref!r} does not exist (create it with `citywatch case create`)")
        c.legal_hold = hold
        s.flush()
        return _case(c)


def held_case_refs(store: Store) -> set[str]:
    """References of every case on legal hold."""
    with store._session() as s:
        return set(s.scalars(select(m.Case.case_ref).where(m.Case.legal_hold.is_(True))))


@dataclass(frozen=True, slots=True)
class DueSightings:
    """Sightings past their retention period, split by kind, and those a hold keeps."""

    unmatched: tuple[int, ...]
    matched: tuple[int, ...]
    held: tuple[int, ...]
    """Matched and past their period, but kept because a case on legal hold refers to them."""
    alerts: int = 0
    """Alerts of the due sightings (deleted with them)."""
    by_month: dict[str, dict[str, int]] = field(default_factory=dict)
    """``YYYY-MM`` (UTC month the row was stored) -> ``{"sightings": n, "alerts": n}`` of due rows."""


def due_sightings(store: Store, unmatched_cutoff: datetime, matched_cutoff: datetime) -> DueSightings:
    """Sightings whose capture end *and* storage time are before the cutoff of their kind.

    A matched sighting is held (not due) when any case on legal hold refers
    to it: through its run (``runs.case_ref``), the run's or one of its
    alerts' authorisation (``authorisations.case_ref``), or an export of one
    of its alerts (``exports.case_ref``).
    """
    held_refs = held_case_refs(store)
    with store._session() as s:
        unmatched = list(
            s.execute(
                select(m.Sighting.id, m.Sighting.created_at).where(
                    m.Sighting.matched.is_(False),
                    m.Sighting.end < unmatched_cutoff,
                    m.Sighting.created_at < unmatched_cutoff,
                )
            )
        )
        matched = list(
            s.execute(
                select(m.Sighting.id, m.Sighting.created_at, m.Run.case_ref, m.Run.authorisation_id)
                .join(m.Run, m.Sighting.run_id == m.Run.id)
                .where(
                    m.Sighting.matched.is_(True),
                    m.Sighting.end < matched_cutoff,
                    m.Sighting.created_at < matched_cutoff,
                )
            )
        )
        auth_case = {i: ref for i, ref in s.execute(select(m.Authorisation.id, m.Authorisation.case_ref))}
        due_ids = [r[0] for r in unmatched] + [r[0] for r in matched]
        alerts: list[tuple[int, int, int | None, datetime]] = []
        for i in range(0, len(due_ids), 500):
            chunk = due_ids[i : i + 500]
            alerts.extend(
                (int(a), int(sid), auth, created)
                for a, sid, auth, created in s.execute(
                    select(
                        m.Alert.id, m.Alert.sighting_id, m.Alert.authorisation_id, m.Alert.created_at
                    ).where(m.Alert.sighting_id.in_(chunk))
                )
            )
        alert_ids = [a[0] for a in alerts]
        exported: dict[int, set[str]] = {}
        for i in range(0, len(alert_ids), 500):
            for aid, ref in s.execute(
                select(m.Export.alert_id, m.Export.case_ref).where(
                    m.Export.alert_id.in_(alert_ids[i : i + 500])
                )
            ):
                if aid is not None:
                    exported.setdefault(int(aid), set()).add(ref)
    refs_of: dict[int, set[str]] = {}
    for aid, sid, auth, _ in alerts:
        refs = refs_of.setdefault(sid, set())
        if auth is not None and auth in auth_case:
            refs.add(auth_case[auth])
        refs |= exported.get(aid, set())
    held: list[int] = []
    due_matched: list[int] = []
    for sid, _, case_ref, run_auth in matched:
        refs = set(refs_of.get(sid, set()))
        if case_ref:
            refs.add(case_ref)
        if run_auth is not None and run_auth in auth_case:
            refs.add(auth_case[run_auth])
        (held if refs & held_refs else due_matched).append(int(sid))
    held_set = set(held)
    months: dict[str, Counter[str]] = {}
    created_of = {int(r[0]): r[1] for r in unmatched} | {int(r[0]): r[1] for r in matched}
    for sid, created in created_of.items():
        if sid not in held_set:
            months.setdefault(created.strftime("%Y-%m"), Counter())["sightings"] += 1
    n_alerts = 0
    for _, sid, _, created in alerts:
        if sid not in held_set:
            n_alerts += 1
            months.setdefault(created.strftime("%Y-%m"), Counter())["alerts"] += 1
    return DueSightings(
        unmatched=tuple(int(r[0]) for r in unmatched),
        matched=tuple(due_matched),
        held=tuple(held),
        alerts=n_alerts,
        by_month={k: {"sightings": v["sightings"], "alerts": v["alerts"]} for k, v in sorted(months.items())},
    )


def thumbnails_of(store: Store, ids: list[int]) -> list[str]:
    """Relative thumbnail paths of these sightings (those that have one)."""
    out: list[str] = []
    with store._session() as s:
        for i in range(0, len(ids), 500):
            out.extend(
                t
                for t in s.scalars(select(m.Sighting.thumbnail).where(m.Sighting.id.in_(ids[i : i + 500])))
                if t
            )
    return out


def remove_empty_thumbnail_dirs(store: Store) -> int:
    """Delete empty day directories under the thumbnails directory; returns how many."""
    n = 0
    for d in sorted(store.thumbnails_dir.iterdir()):
        if d.is_dir():
            with contextlib.suppress(OSError):
                d.rmdir()  # only succeeds when empty
                n += 1
    return n


__all__ = [
    "CaseRecord",
    "DueSightings",
    "create_case",
    "due_sightings",
    "get_case",
    "held_case_refs",
    "list_cases",
    "remove_empty_thumbnail_dirs",
    "set_legal_hold",
    "thumbnails_of",
]
