"""Authorisations: the legal permission a use of recognition runs under.

An authorisation names an issuing authority, a reference number, a purpose
category, the watchlist entries it covers (targets), cameras (``None``: all), a
time window, a use (``live`` alerting or ``post_event`` processing of a
recording) and, when urgent, a deadline by which it must be granted (24 h for
live, 48 h for post-event; ``governance.urgent_*_hours``).

Rules:

* It is *active* when ``granted``, or ``pending`` + urgent and before its
  deadline. Alerts are raised only for targets of an active authorisation
  whose cameras include the camera and whose window covers the sighting time.
* It is requested by one user (``authorisation.request``) and granted or
  refused by a different one (``authorisation.decide``).
* When it is refused, or an urgent one passes its deadline ungranted
  (:func:`enforce_deadlines`), every output of its use is deleted (sightings,
  thumbnails, vectors, alerts) and an ``authorisation.outputs_deleted`` audit
  entry with the counts is the receipt.

Every function takes ``now`` so tests (and a replayed clock) can inject time.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from citywatch.config import GovernanceConfig
from citywatch.errors import PolicyError
from citywatch.governance.access import Actor, Perm, get_actor, require
from citywatch.store import models as m
from citywatch.store.governance import (
    AuthorisationRecord,
    DeletedOutputs,
    add_authorisation,
    decide_authorisation,
    delete_authorisation_outputs,
    get_authorisation,
    list_authorisations,
)
from citywatch.store.repo import Store
from citywatch.types import Gallery

PURPOSES = m.AUTH_PURPOSES
USES = m.AUTH_USES


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def is_active(a: AuthorisationRecord, now: datetime) -> bool:
    """Granted, or urgent and still pending inside its deadline."""
    if a.status == "granted":
        return True
    return a.status == "pending" and a.urgent and a.deadline is not None and now < a.deadline


def covers(a: AuthorisationRecord, identity_id: int, camera: str, when: datetime) -> bool:
    """Whether ``a`` covers this entry on this camera at this time (status not considered)."""
    return (
        identity_id in a.targets
        and (a.cameras is None or camera in a.cameras)
        and a.window_start <= when <= a.window_end
    )


def request(
    store: Store,
    gov: GovernanceConfig,
    acting: str,
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
    urgent: bool = False,
    now: datetime | None = None,
) -> AuthorisationRecord:
    """Record a pending authorisation as ``acting`` (``authorisation.request``); audited.

    Urgent: deadline = now + ``urgent_live_hours`` (live) or
    ``urgent_post_event_hours`` (post-event); it is active until then.
    PolicyError names the missing or bad field.
    """
    now = _now(now)
    actor = require(store, acting, Perm.AUTH_REQUEST)
    for what, value in (("--case", case_ref), ("--authority", authority), ("--reference", reference)):
        if not value.strip():
            raise PolicyError(f"an authorisation needs {what} (got {value!r})")
    if purpose not in PURPOSES:
        raise PolicyError(f"authorisation purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    if use not in USES:
        raise PolicyError(f"authorisation use {use!r} is not one of {', '.join(USES)}")
    if not targets:
        raise PolicyError("an authorisation needs at least one target watchlist entry (--target)")
    if window_end <= window_start:
        raise PolicyError(f"authorisation window: --until {window_end} is not after --from {window_start}")
    if cameras is not None and not cameras:
        cameras = None
    deadline = None
    if urgent:
        hours = gov.urgent_live_hours if use == "live" else gov.urgent_post_event_hours
        deadline = now + timedelta(hours=hours)
    rec = add_authorisation(
        store,
        case_ref=case_ref.strip(),
        authority=authority.strip(),
        reference=reference.strip(),
        purpose=purpose,
        use=use,
        targets=targets,
        cameras=cameras,
        window_start=window_start,
        window_end=window_end,
        urgent=urgent,
        deadline=deadline,
        requested_by=actor.name,
        created_at=now,
    )
    store.append_audit(
        actor.name,
        "authorisation.request",
        f"authorisation:{rec.id}",
        case_ref=rec.case_ref,
        role=actor.role,
        details=_details(rec),
    )
    return rec


def _details(a: AuthorisationRecord) -> dict[str, object]:
    return {
        "authority": a.authority,
        "reference": a.reference,
        "purpose": a.purpose,
        "use": a.use,
        "targets": list(a.targets),
        "cameras": list(a.cameras) if a.cameras is not None else None,
        "window": [a.window_start.isoformat(), a.window_end.isoformat()],
        "urgent": a.urgent,
        "deadline": a.deadline.isoformat() if a.deadline else None,
    }


def _decider(store: Store, acting: str, auth_id: int) -> tuple[Actor, AuthorisationRecord]:
    actor = require(store, acting, Perm.AUTH_DECIDE)
    rec = get_authorisation(store, auth_id)
    if rec.requested_by == actor.name:
        raise PolicyError(
            f"user {actor.name!r} requested authorisation {auth_id} and may not decide on it; "
            "another supervisor must"
        )
    return actor, rec


def grant(store: Store, acting: str, auth_id: int, *, now: datetime | None = None) -> AuthorisationRecord:
    """Grant a pending authorisation (not by its requester); audited ``authorisation.grant``.

    An urgent one past its deadline is expired (outputs deleted) instead and
    PolicyError says so.
    """
    now = _now(now)
    actor, rec = _decider(store, acting, auth_id)
    if rec.status == "pending" and rec.urgent and rec.deadline is not None and now >= rec.deadline:
        _expire(store, actor, rec, now)
        raise PolicyError(
            f"authorisation {auth_id} passed its urgent deadline {rec.deadline.isoformat()} ungranted; "
            "it has expired and its outputs were deleted"
        )
    res = decide_authorisation(store, auth_id, "granted", actor.name, now)
    store.append_audit(
        actor.name, "authorisation.grant", f"authorisation:{auth_id}", case_ref=res.case_ref, role=actor.role,
        details=_details(res),
    )  # fmt: skip
    return res


def refuse(
    store: Store, acting: str, auth_id: int, note: str = "", *, now: datetime | None = None
) -> tuple[AuthorisationRecord, DeletedOutputs]:
    """Refuse a pending authorisation (not by its requester) and delete every output of its use."""
    now = _now(now)
    actor, _ = _decider(store, acting, auth_id)
    res = decide_authorisation(store, auth_id, "refused", actor.name, now)
    store.append_audit(
        actor.name, "authorisation.refuse", f"authorisation:{auth_id}", case_ref=res.case_ref,
        reason=note.strip() or None, role=actor.role, details=_details(res),
    )  # fmt: skip
    return res, _delete_outputs(store, actor, res, "refused")


def _expire(store: Store, actor: Actor, rec: AuthorisationRecord, now: datetime) -> DeletedOutputs:
    res = decide_authorisation(store, rec.id, "expired", None, now)
    store.append_audit(
        actor.name, "authorisation.expire", f"authorisation:{rec.id}", case_ref=res.case_ref,
        reason="urgent authorisation not granted before its deadline", role=actor.role,
        details={"deadline": rec.deadline.isoformat() if rec.deadline else None},
    )  # fmt: skip
    return _delete_outputs(store, actor, res, "expired")


def _delete_outputs(store: Store, actor: Actor, rec: AuthorisationRecord, why: str) -> DeletedOutputs:
    gone = delete_authorisation_outputs(store, rec.id)
    store.append_audit(
        actor.name,
        "authorisation.outputs_deleted",
        f"authorisation:{rec.id}",
        case_ref=rec.case_ref,
        reason=f"authorisation {why}",
        role=actor.role,
        details={"runs": list(gone.runs), "sightings": gone.sightings, "alerts": gone.alerts},
    )
    return gone


def enforce_deadlines(
    store: Store, acting: str, *, now: datetime | None = None
) -> list[tuple[AuthorisationRecord, DeletedOutputs]]:
    """Expire every urgent authorisation past its deadline ungranted, deleting its outputs.

    Any active user may trigger this (it only ever stops processing); the
    audit entries name them. Returns what was expired and deleted.
    """
    now = _now(now)
    actor = get_actor(store, acting)
    done = []
    for rec in list_authorisations(store, statuses=["pending"], urgent=True):
        if rec.deadline is not None and now >= rec.deadline:
            done.append((rec, _expire(store, actor, rec, now)))
    return done


@dataclass
class AlertScope:
    """Which watchlist entries may raise alerts for one processing run, and under which authorisation.

    Built by :func:`alert_scope`; ``refresh`` re-reads the authorisations (live
    runs call it periodically, so a refusal or a passed deadline stops
    alerting within that period).
    """

    store: Store
    use: str
    camera: str
    case_ref: str | None
    window: tuple[datetime, datetime]
    """The times this run's sightings fall in (for a file: its recording; live: open-ended)."""
    authorisations: list[AuthorisationRecord]

    def refresh(self, now: datetime) -> None:
        if self.use == "post_event" and self.case_ref is None:
            self.authorisations = []
            return
        recs = list_authorisations(store=self.store, case_ref=self.case_ref, use=self.use)
        lo, hi = self.window
        self.authorisations = [
            a
            for a in recs
            if is_active(a, now)
            and (a.cameras is None or self.camera in a.cameras)
            and a.window_start <= hi
            and a.window_end >= lo
        ]

    def identity_ids(self) -> set[int]:
        return {t for a in self.authorisations for t in a.targets}

    def covering(self, identity_id: int, when: datetime, now: datetime) -> int | None:
        """The id of an active authorisation covering this entry at ``when``, else ``None``."""
        for a in self.authorisations:
            if is_active(a, now) and covers(a, identity_id, self.camera, when):
                return a.id
        return None

    def run_authorisation(self) -> int | None:
        """The one authorisation the run is under (``None`` when zero or several apply)."""
        return self.authorisations[0].id if len(self.authorisations) == 1 else None


def alert_scope(
    store: Store,
    *,
    live: bool,
    camera: str,
    case_ref: str | None,
    window: tuple[datetime, datetime],
    now: datetime,
) -> AlertScope:
    """The alerting scope of a run: post-event (a file) needs ``case_ref``; live does not."""
    scope = AlertScope(store, "live" if live else "post_event", camera, case_ref, window, [])
    scope.refresh(now)
    return scope


def restrict_gallery(gallery: Gallery, identity_ids: Collection[int]) -> Gallery:
    """The gallery rows (photos) of the given entries only: the matcher never sees the others."""
    keep = np.isin(gallery.identity_ids, np.asarray(sorted(identity_ids), dtype=np.int64))
    idx = np.flatnonzero(keep)
    emb = gallery.embeddings[idx] if len(gallery) else gallery.embeddings
    return Gallery(
        identity_ids=gallery.identity_ids[idx],
        names=tuple(gallery.names[i] for i in idx),
        watchlists=tuple(gallery.watchlists[i] for i in idx),
        embeddings=emb,
        model=gallery.model,
    )
