"""Evidence exports and unblur requests: the SQL behind ``governance.export`` (store/ owns all SQL).

Contracts:

* :func:`alert_context` gathers, in one read, everything an export needs to
  know about an alert: its status, sighting, run (source file, recording time,
  case) and the case of the authorisation it was raised under.
* An unblur request goes ``pending -> approved | refused`` (decided by a user
  other than the requester) and ``approved -> used`` exactly once:
  :func:`record_export` flips it to ``used`` with a conditional ``UPDATE`` in
  the same transaction that inserts the ``exports`` row, so two concurrent
  exports cannot both use one approval.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update

from citywatch.errors import NotFoundError, PolicyError
from citywatch.store import models as m
from citywatch.store.records import AuditRecord
from citywatch.store.repo import Store, _audit_record


@dataclass(frozen=True, slots=True)
class AlertContext:
    """An alert with its sighting and run: what an evidence export reads."""

    alert_id: int
    status: str
    identity_id: int
    identity_name: str
    sighting_id: int
    camera: str
    track_id: int
    start: datetime
    end: datetime
    start_offset: float
    end_offset: float
    thumbnail: str | None
    run_id: int
    source: str
    recorded_at: datetime
    run_case_ref: str | None
    """The case the recording was processed for, if any."""
    authorisation_case_ref: str | None
    """The case of the authorisation the alert was raised under, if any."""


@dataclass(frozen=True, slots=True)
class UnblurRequestRecord:
    id: int
    case_ref: str
    alert_id: int
    reason: str
    requested_by: str
    decided_by: str | None
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: int
    case_ref: str
    alert_id: int | None
    path: str
    sha256: str
    exporter: str
    unblurred: bool
    unblur_approved_by: str | None
    created_at: datetime


def _unblur_record(r: m.UnblurRequest) -> UnblurRequestRecord:
    return UnblurRequestRecord(
        r.id, r.case_ref, r.alert_id, r.reason, r.requested_by, r.decided_by, r.status, r.created_at
    )


def _export_record(e: m.Export) -> ExportRecord:
    return ExportRecord(
        e.id,
        e.case_ref,
        e.alert_id,
        e.path,
        e.sha256,
        e.exporter,
        e.unblurred,
        e.unblur_approved_by,
        e.created_at,
    )


def alert_context(store: Store, alert_id: int) -> AlertContext:
    """The alert, its sighting and run; NotFoundError for an unknown alert."""
    q = (
        select(m.Alert, m.Identity.name, m.Sighting, m.Run, m.Authorisation.case_ref)
        .join(m.Identity, m.Alert.identity_id == m.Identity.id)
        .join(m.Sighting, m.Alert.sighting_id == m.Sighting.id)
        .join(m.Run, m.Sighting.run_id == m.Run.id)
        .outerjoin(m.Authorisation, m.Alert.authorisation_id == m.Authorisation.id)
        .where(m.Alert.id == alert_id)
    )
    with store._session() as s:
        row = s.execute(q).first()
        if row is None:
            raise NotFoundError(f"alert {alert_id} does not exist")
        a, name, sg, run, auth_case = row
        return AlertContext(
            alert_id=a.id,
            status=a.status,
            identity_id=a.identity_id,
            identity_name=name,
            sighting_id=sg.id,
            camera=sg.camera,
            track_id=sg.track_id,
            start=sg.start,
            end=sg.end,
            start_offset=sg.start_offset,
            end_offset=sg.end_offset,
            thumbnail=sg.thumbnail,
            run_id=run.id,
            source=run.source,
            recorded_at=run.recorded_at,
            run_case_ref=run.case_ref,
            authorisation_case_ref=auth_case,
        )


def create_unblur_request(
    store: Store, case_ref: str, alert_id: int, reason: str, requested_by: str
) -> UnblurRequestRecord:
    """Insert a pending request; PolicyError without a case or a reason, NotFoundError for an unknown alert."""
    if not case_ref.strip():
        raise PolicyError("an unblur request needs a case reference (--case)")
    if not reason.strip():
        raise PolicyError("an unblur request needs a reason (--reason)")
    with store._tx() as s:
        if s.get(m.Alert, alert_id) is None:
            raise NotFoundError(f"alert {alert_id} does not exist")
        r = m.UnblurRequest(
            case_ref=case_ref.strip(),
            alert_id=alert_id,
            reason=reason.strip(),
            requested_by=requested_by,
            status="pending",
        )
        s.add(r)
        s.flush()
        return _unblur_record(r)


def get_unblur_request(store: Store, request_id: int) -> UnblurRequestRecord:
    """NotFoundError for an unknown id."""
    with store._session() as s:
        r = s.get(m.UnblurRequest, request_id)
        if r is None:
            raise NotFoundError(f"unblur request {request_id} does not exist")
        return _unblur_record(r)


def decide_unblur_request(
    store: Store, request_id: int, decided_by: str, *, approve: bool
) -> UnblurRequestRecord:
    """Approve or refuse a pending request.

    PolicyError when the decider is the requester (two people are needed) or
    the request is no longer pending; NotFoundError for an unknown id.
    """
    with store._tx() as s:
        r = s.get(m.UnblurRequest, request_id)
        if r is None:
            raise NotFoundError(f"unblur request {request_id} does not exist")
        if r.requested_by == decided_by:
            raise PolicyError(
                f"unblur request {request_id} was made by {decided_by!r}: a different user must decide it"
            )
        if r.status != "pending":
            raise PolicyError(f"unblur request {request_id} is already {r.status}")
        r.status = "approved" if approve else "refused"
        r.decided_by = decided_by
        s.flush()
        return _unblur_record(r)


def record_export(
    store: Store,
    *,
    case_ref: str,
    alert_id: int,
    path: str,
    sha256: str,
    exporter: str,
    unblur_request_id: int | None = None,
) -> ExportRecord:
    """Insert the ``exports`` row; with ``unblur_request_id``, use that approval (``approved -> used``).

    The use is a conditional update in the same transaction: PolicyError (and
    no row) when the request is not approved for this case, alert and exporter,
    or was used already.
    """
    with store._tx() as s:
        approved_by: str | None = None
        if unblur_request_id is not None:
            res = s.execute(
                update(m.UnblurRequest)
                .where(
                    m.UnblurRequest.id == unblur_request_id,
                    m.UnblurRequest.status == "approved",
                    m.UnblurRequest.case_ref == case_ref,
                    m.UnblurRequest.alert_id == alert_id,
                    m.UnblurRequest.requested_by == exporter,
                )
                .values(status="used")
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise PolicyError(
                    f"unblur request {unblur_request_id} is not an unused approval of {exporter!r}'s "
                    f"request for case {case_ref!r}, alert {alert_id}"
                )
            approved_by = s.scalar(
                select(m.UnblurRequest.decided_by).where(m.UnblurRequest.id == unblur_request_id)
            )
        e = m.Export(
            case_ref=case_ref,
            alert_id=alert_id,
            path=path,
            sha256=sha256,
            exporter=exporter,
            unblurred=unblur_request_id is not None,
            unblur_approved_by=approved_by,
        )
        s.add(e)
        s.flush()
        return _export_record(e)


def list_exports(store: Store, case_ref: str | None = None) -> list[ExportRecord]:
    """Exports, oldest first, optionally of one case."""
    q = select(m.Export).order_by(m.Export.id)
    if case_ref is not None:
        q = q.where(m.Export.case_ref == case_ref)
    with store._session() as s:
        return [_export_record(e) for e in s.scalars(q)]


def audit_excerpt(store: Store, case_ref: str, targets: Collection[str] = ()) -> list[AuditRecord]:
    """Audit entries of ``case_ref`` or about any of ``targets`` (e.g. ``alert:7``), in ``seq`` order."""
    cond = m.AuditEntry.case_ref == case_ref
    if targets:
        cond = or_(cond, m.AuditEntry.target.in_(list(targets)))
    with store._session() as s:
        return [
            _audit_record(a) for a in s.scalars(select(m.AuditEntry).where(cond).order_by(m.AuditEntry.seq))
        ]


def audit_head(store: Store) -> tuple[int, str] | None:
    """``(seq, hash)`` of the latest audit entry, or ``None`` for an empty log."""
    with store._session() as s:
        row = s.execute(
            select(m.AuditEntry.seq, m.AuditEntry.hash).order_by(m.AuditEntry.seq.desc()).limit(1)
        ).first()
        return (int(row[0]), str(row[1])) if row else None


__all__ = [
    "AlertContext",
    "ExportRecord",
    "UnblurRequestRecord",
    "alert_context",
    "audit_excerpt",
    "audit_head",
    "create_unblur_request",
    "decide_unblur_request",
    "get_unblur_request",
    "list_exports",
    "record_export",
]
