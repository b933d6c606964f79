"""Two-person verification of alerts.

An alert starts ``unconfirmed``. Two *different* users with the verifier role
each record a decision (``confirm``/``reject``) without seeing the other's:
neither :func:`verify` nor :func:`alerts_for` ever shows another user's
decision. After the second decision the alert becomes ``confirmed`` (both
confirm), ``rejected`` (both reject) or ``disputed`` (they disagree; a
disputed alert is not confirmed, so it cannot be exported). Only
``confirmed`` alerts may be exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from citywatch.errors import NotFoundError
from citywatch.governance.access import Perm, require
from citywatch.store.governance import AlertState, add_alert_decision, list_alert_states
from citywatch.store.repo import Store

DECISIONS_NEEDED = 2


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as one user may see it: whether *they* decided, how many did, never what others decided."""

    id: int
    camera: str
    identity_name: str
    start: datetime
    score: float
    threshold: float
    status: str
    decisions: int
    mine: bool


@dataclass(frozen=True, slots=True)
class VerifyResult:
    alert_id: int
    decisions: int
    needed: int
    status: str
    """``unconfirmed`` until the last decision; then the outcome."""


def _view(a: AlertState, user: str) -> AlertView:
    return AlertView(
        a.id, a.camera, a.identity_name, a.start, a.score, a.threshold, a.status, len(a.deciders),
        user in a.deciders,
    )  # fmt: skip


def alerts_for(
    store: Store, acting: str, *, status: str | None = None, limit: int | None = None
) -> list[AlertView]:
    """Alerts ``acting`` may see (``alerts.view``, their cameras only), newest first; audited ``alerts.view``."""
    actor = require(store, acting, Perm.ALERTS_VIEW)
    views = [
        _view(a, actor.name)
        for a in list_alert_states(store, status=status, limit=limit)
        if actor.sees_camera(a.camera)
    ]
    store.append_audit(
        actor.name, "alerts.view", "alerts", role=actor.role,
        details={"status": status, "count": len(views), "ids": [v.id for v in views[:200]]},
    )  # fmt: skip
    return views


def verify(
    store: Store, acting: str, alert_id: int, decision: str, note: str = "", *, now: datetime | None = None
) -> VerifyResult:
    """Record ``acting``'s blind decision on an alert (``alerts.verify``); audited ``alert.decision``.

    PolicyError when the user already decided or the alert is decided;
    NotFoundError for an unknown alert or one on a camera they may not see.
    """
    actor = require(store, acting, Perm.ALERTS_VERIFY)
    found = list_alert_states(store, alert_id=alert_id)
    if not found or not actor.sees_camera(found[0].camera):
        raise NotFoundError(f"alert {alert_id} does not exist")
    n, status = add_alert_decision(
        store, alert_id, actor.name, decision, note.strip(), now or datetime.now(UTC), DECISIONS_NEEDED
    )
    store.append_audit(
        actor.name,
        "alert.decision",
        f"alert:{alert_id}",
        reason=note.strip() or None,
        role=actor.role,
        details={"decision": decision, "decisions": n, "status": status},
    )
    if n >= DECISIONS_NEEDED:
        store.append_audit(
            actor.name, f"alert.{status}", f"alert:{alert_id}", role=actor.role, details={"decisions": n}
        )
    return VerifyResult(alert_id, n, DECISIONS_NEEDED, status)
