"""Watchlist entries: four-eyes approval and expiry.

An entry is *requested* (``App.enroll``, status ``pending``) by a user with
``watchlist.request`` and becomes ``approved`` or ``rejected`` only by a
different user with ``watchlist.approve``. Only approved, unexpired entries
are in the matching gallery (``Store.active_gallery``), so pending, rejected
and expired entries never raise alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citywatch.config import GovernanceConfig
from citywatch.errors import PolicyError
from citywatch.governance.access import Perm, require
from citywatch.store.governance import EntryState, decide_entry, get_entry
from citywatch.store.repo import Store


def expiry_for(gov: GovernanceConfig, days: int | None, now: datetime) -> datetime:
    """``now + days`` (default ``watchlist_default_days``); PolicyError outside 1..``watchlist_max_days``."""
    d = gov.watchlist_default_days if days is None else days
    if d < 1 or d > gov.watchlist_max_days:
        raise PolicyError(
            f"watchlist entry expiry of {d} day(s) is outside 1..{gov.watchlist_max_days} "
            "(governance.watchlist_max_days)"
        )
    return now + timedelta(days=d)


def effective_status(entry: EntryState, now: datetime) -> str:
    """The stored status, or ``expired`` for an entry whose expiry has passed."""
    if entry.expires_at is not None and entry.expires_at <= now and entry.status in ("approved", "pending"):
        return "expired"
    return entry.status


def decide(
    store: Store,
    acting: str,
    identity_id: int,
    approve: bool,
    note: str = "",
    *,
    now: datetime | None = None,
) -> EntryState:
    """Approve or reject a pending entry as ``acting``; audited ``watchlist.approve``/``watchlist.reject``.

    Refused (PolicyError) when ``acting`` lacks ``watchlist.approve``, is the
    requester, when the entry is not pending, or when it has already expired
    (it is then marked ``expired``). A rejection needs a note.
    """
    now = now or datetime.now(UTC)
    actor = require(store, acting, Perm.WATCHLIST_APPROVE)
    entry = get_entry(store, identity_id)
    if entry.requested_by == actor.name:
        raise PolicyError(
            f"user {actor.name!r} requested watchlist entry {identity_id} and may not decide on it; "
            "another supervisor must"
        )
    if not approve and not note.strip():
        raise PolicyError(f"rejecting watchlist entry {identity_id} needs a note (--note)")
    if entry.status == "pending" and effective_status(entry, now) == "expired":
        decide_entry(store, identity_id, "expired", actor.name, now, "expired before a decision")
        raise PolicyError(f"watchlist entry {identity_id} expired on {entry.expires_at} before a decision")
    status = "approved" if approve else "rejected"
    res = decide_entry(store, identity_id, status, actor.name, now, note.strip() or None)
    store.append_audit(
        actor.name,
        f"watchlist.{'approve' if approve else 'reject'}",
        f"identity:{identity_id}",
        reason=note.strip() or None,
        role=actor.role,
        details={"requested_by": entry.requested_by, "expires_at": str(entry.expires_at)},
    )
    return res
