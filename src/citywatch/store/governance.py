"""The SQL behind watchlist approvals, authorisations and two-person alert verification.

store/ owns all SQL (DESIGN.md); the rules (who may, when, what follows) live
in ``citywatch.governance``. Functions take a :class:`Store` and return plain
frozen records; datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citywatch.errors import NotFoundError, PolicyError, StoreError
from citywatch.store import models as m
from citywatch.store.repo import Store


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value!r}; pass a timezone-aware (UTC) datetime")
    return value


# --- watchlist entries -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryState:
    """The approval state of one watchlist entry."""

    id: int
    name: str
    watchlist: str
    status: str
    requested_by: str
    approved_by: str | None
    expires_at: datetime | None
    legal_basis: str
    legal_reference: str


def get_entry(store: Store, identity_id: int) -> EntryState:
    """The entry ``identity_id``; NotFoundError naming it when there is none."""
    with store._session() as s:
        row = s.execute(
            select(m.Identity, m.Watchlist.name)
            .join(m.Watchlist, m.Identity.watchlist_id == m.Watchlist.id)
            .where(m.Identity.id == identity_id)
        ).first()
        if row is None:
            raise NotFoundError(f"watchlist entry {identity_id} does not exist")
        i, wl = row
        return EntryState(
            i.id, i.name, wl, i.status, i.requested_by, i.approved_by, i.expires_at,
            i.legal_basis, i.legal_reference,
        )  # fmt: skip


def decide_entry(
    store: Store, identity_id: int, status: str, by: str, at: datetime, note: str | None
) -> EntryState:
    """Move a *pending* entry to ``approved``/``rejected``/``expired``; PolicyError if it is not pending.

    The check and the write are one transaction, so two supervisors cannot both decide.
    """
    if status not in ("approved", "rejected", "expired"):
        raise StoreError(f"entry decision {status!r} is not approved, rejected or expired")
    with store._tx() as s:
        i = s.get(m.Identity, identity_id)
        if i is None:
            raise NotFoundError(f"watchlist entry {identity_id} does not exist")
        if i.status != "pending":
            raise PolicyError(f"watchlist entry {identity_id} is {i.status}, not pending")
        i.status = status
        i.approved_by = by if status == "approved" else None
        i.decided_at = _aware(at, "decided_at")
        i.decision_note = note
        s.flush()
    return get_entry(store, identity_id)


# --- authorisations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorisationRecord:
    """One authorisation and the watchlist entries (targets) it covers."""

    id: int
    case_ref: str
    authority: str
    reference: str
    purpose: str
    use: str
    urgent: bool
    deadline: datetime | None
    status: str
    cameras: tuple[str, ...] | None
    """``None``: every camera."""
    window_start: datetime
    window_end: datetime
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    targets: tuple[int, ...]


def _auth_record(a: m.Authorisation, targets: Sequence[int]) -> AuthorisationRecord:
    return AuthorisationRecord(
        a.id, a.case_ref, a.authority, a.reference, a.purpose, a.use, a.urgent, a.deadline, a.status,
        tuple(a.cameras) if a.cameras is not None else None, a.window_start, a.window_end,
        a.requested_by, a.decided_by, a.decided_at, a.created_at, tuple(sorted(targets)),
    )  # fmt: skip


def add_authorisation(
    store: Store,
    *,
    case_ref: str,
    authority: str,
    reference: str,
    purpose: str,
    use: str,
    targets: Collection[int],
    cameras: Collection[str] | None,
    window_start: datetime,
    window_end: datetime,
    urgent: bool,
    deadline: datetime | None,
    requested_by: str,
    created_at: datetime,
) -> AuthorisationRecord:
    """Insert a *pending* authorisation; NotFoundError names a target entry that does not exist."""
    with store._tx() as s:
        known = set(s.scalars(select(m.Identity.id).where(m.Identity.id.in_(list(targets)))))
        missing = sorted(set(targets) - known)
        if missing:
            raise NotFoundError(f"watchlist entry {missing[0]} does not exist (authorisation target)")
        a = m.Authorisation(
            case_ref=case_ref,
            authority=authority,
            reference=reference,
            purpose=purpose,
            use=use,
            urgent=urgent,
            deadline=deadline,
            status="pending",
            cameras=sorted(cameras) if cameras is not None else None,
            window_start=window_start,
            window_end=window_end,
            requested_by=requested_by,
            created_at=created_at,
        )
        s.add(a)
        s.flush()
        for t in sorted(set(targets)):
            s.add(m.AuthorisationTarget(authorisation_id=a.id, identity_id=t))
        s.flush()
        return _auth_record(a, sorted(set(targets)))


def _targets(s: Session, ids: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        q = select(m.AuthorisationTarget.authorisation_id, m.AuthorisationTarget.identity_id).where(
            m.AuthorisationTarget.authorisation_id.in_(list(ids))
        )
        for aid, iid in s.execute(q):
            out[aid].append(iid)
    return out


def get_authorisation(store: Store, auth_id: int) -> AuthorisationRecord:
    """NotFoundError naming ``auth_id`` when it does not exist."""
    with store._session() as s:
        a = s.get(m.Authorisation, auth_id)
        if a is None:
            raise NotFoundError(f"authorisation {auth_id} does not exist")
        return _auth_record(a, _targets(s, [a.id])[a.id])


def list_authorisations(
    store: Store,
    *,
    case_ref: str | None = None,
    statuses: Collection[str] | None = None,
    use: str | None = None,
    urgent: bool | None = None,
) -> list[AuthorisationRecord]:
    """Authorisations by id, optionally filtered."""
    q = select(m.Authorisation).order_by(m.Authorisation.id)
    if case_ref is not None:
        q = q.where(m.Authorisation.case_ref == case_ref)
    if statuses is not None:
        q = q.where(m.Authorisation.status.in_(list(statuses)))
    if use is not None:
        q = q.where(m.Authorisation.use == use)
    if urgent is not None:
        q = q.where(m.Authorisation.urgent == urgent)
    with store._session() as s:
        rows = list(s.scalars(q))
        targets = _targets(s, [a.id for a in rows])
        return [_auth_record(a, targets[a.id]) for a in rows]


def decide_authorisation(
    store: Store, auth_id: int, status: str, by: str | None, at: datetime
) -> AuthorisationRecord:
    """Move a *pending* authorisation to ``granted``/``refused``/``expired`` (one transaction).

    PolicyError names the authorisation and its current status when it is not pending.
    """
    if status not in ("granted", "refused", "expired"):
        raise StoreError(f"authorisation decision {status!r} is not granted, refused or expired")
    with store._tx() as s:
        a = s.get(m.Authorisation, auth_id)
        if a is None:
            raise NotFoundError(f"authorisation {auth_id} does not exist")
        if a.status != "pending":
            raise PolicyError(f"authorisation {auth_id} is {a.status}, not pending")
        a.status, a.decided_by, a.decided_at = status, by, _aware(at, "decided_at")
        s.flush()
        return _auth_record(a, _targets(s, [a.id])[a.id])


@dataclass(frozen=True, slots=True)
class DeletedOutputs:
    """What deleting the outputs of one authorisation's use removed (the receipt's counts)."""

    runs: tuple[int, ...]
    sightings: int
    alerts: int


def delete_authorisation_outputs(store: Store, auth_id: int) -> DeletedOutputs:
    """Delete every output of the use made under ``auth_id``.

    That is every sighting (row, thumbnail, vector, alert) of a run recorded
    under it, and every alert raised under it together with its sighting (the
    match is an output of that use even in a run shared with other
    authorisations). The runs themselves stay, marked ``failed`` with the reason,
    so the trail of what was processed survives.
    """
    with store._session() as s:
        runs = sorted(s.scalars(select(m.Run.id).where(m.Run.authorisation_id == auth_id)))
        sids = set(s.scalars(select(m.Sighting.id).where(m.Sighting.run_id.in_(runs)))) if runs else set()
        alert_sids = set(s.scalars(select(m.Alert.sighting_id).where(m.Alert.authorisation_id == auth_id)))
        sids |= alert_sids
        n_alerts = int(
            s.scalar(
                select(func.count())
                .select_from(m.Alert)
                .where((m.Alert.authorisation_id == auth_id) | m.Alert.sighting_id.in_(sorted(sids)))
            )
            or 0
        )
    n = store.delete_sightings(sids)
    if runs:
        with store._tx() as s:
            s.execute(
                update(m.Run)
                .where(m.Run.id.in_(runs))
                .values(
                    sightings=0,
                    status="failed",
                    error=f"outputs deleted: authorisation {auth_id} refused or expired",
                )
            )
    return DeletedOutputs(tuple(runs), n, n_alerts)


def set_run_authorisation(store: Store, run_id: int, auth_id: int | None, case_ref: str | None) -> None:
    """Record the case and authorisation a run was processed under."""
    with store._tx() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFoundError(f"run {run_id} does not exist")
        run.authorisation_id, run.case_ref = auth_id, case_ref


# --- alert decisions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert with the camera it came from and who has decided on it (not what they decided)."""

    id: int
    camera: str
    identity_id: int
    identity_name: str
    start: datetime
    score: float
    threshold: float
    status: str
    authorisation_id: int | None
    deciders: tuple[str, ...]


def alert_deciders(s: Session, alert_ids: list[int]) -> dict[int, list[str]]:
    """Who has decided each alert, in decision order (an empty list for undecided ones)."""
    deciders: dict[int, list[str]] = {i: [] for i in alert_ids}
    if alert_ids:
        for aid, user in s.execute(
            select(m.AlertDecision.alert_id, m.AlertDecision.user)
            .where(m.AlertDecision.alert_id.in_(alert_ids))
            .order_by(m.AlertDecision.id)
        ):
            deciders[aid].append(user)
    return deciders


def list_alert_states(
    store: Store, *, status: str | None = None, alert_id: int | None = None, limit: int | None = None
) -> list[AlertState]:
    """Alerts, newest first, with the names of their deciders."""
    q = (
        select(m.Alert, m.Sighting.camera, m.Sighting.start, m.Identity.name)
        .join(m.Sighting, m.Alert.sighting_id == m.Sighting.id)
        .join(m.Identity, m.Alert.identity_id == m.Identity.id)
        .order_by(m.Alert.id.desc())
    )
    if status is not None:
        q = q.where(m.Alert.status == status)
    if alert_id is not None:
        q = q.where(m.Alert.id == alert_id)
    if limit is not None:
        q = q.limit(limit)
    with store._session() as s:
        rows = s.execute(q).all()
        deciders = alert_deciders(s, [r[0].id for r in rows])
        return [
            AlertState(
                a.id,
                cam,
                a.identity_id,
                name,
                start,
                a.score,
                a.threshold,
                a.status,
                a.authorisation_id,
                tuple(deciders[a.id]),
            )
            for a, cam, start, name in rows
        ]


def add_alert_decision(
    store: Store, alert_id: int, user: str, decision: str, note: str, at: datetime, needed: int = 2
) -> tuple[int, str]:
    """Record ``user``'s decision; once ``needed`` different users decided, set the outcome.

    Returns ``(decisions so far, alert status)``. Outcome: all confirm ->
    ``confirmed``, all reject -> ``rejected``, otherwise ``disputed``.
    PolicyError when the user already decided or the alert is already decided.
    One transaction, so two verifiers deciding at once cannot lose a decision.
    """
    if decision not in m.DECISIONS:
        raise PolicyError(f"decision {decision!r} is not one of {', '.join(m.DECISIONS)}")
    try:
        with store._tx() as s:
            a = s.get(m.Alert, alert_id)
            if a is None:
                raise NotFoundError(f"alert {alert_id} does not exist")
            rows = list(s.execute(select(m.AlertDecision.user, m.AlertDecision.decision).where(
                m.AlertDecision.alert_id == alert_id
            )))  # fmt: skip
            if any(u == user for u, _ in rows):
                raise PolicyError(f"user {user!r} has already decided on alert {alert_id}")
            if a.status != "unconfirmed" or len(rows) >= needed:
                raise PolicyError(f"alert {alert_id} is already decided ({a.status})")
            s.add(
                m.AlertDecision(
                    alert_id=alert_id, user=user, decision=decision, note=note, decided_at=_aware(at, "at")
                )
            )
            decisions = [d for _, d in rows] + [decision]
            if len(decisions) >= needed:
                if all(d == "confirm" for d in decisions):
                    a.status = "confirmed"
                elif all(d == "reject" for d in decisions):
                    a.status = "rejected"
                else:
                    a.status = "disputed"
            s.flush()
            return len(decisions), a.status
    except IntegrityError as exc:
        raise PolicyError(f"user {user!r} has already decided on alert {alert_id}") from exc
