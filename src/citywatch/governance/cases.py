"""Cases and legal holds: creating a case, putting it on hold, releasing it (all audited).

A case on legal hold keeps the matched sightings and alerts that refer to it
past their retention period (``governance.retention``); releasing it lets the
next retention run delete them.
"""

from __future__ import annotations

from citywatch.governance.access import Perm, require
from citywatch.store.repo import Store
from citywatch.store.retention import CaseRecord, create_case, get_case, set_legal_hold


def open_case(store: Store, acting: str, case_ref: str, title: str = "") -> CaseRecord:
    """Create a case (needs ``cases.manage``); audited ``case.create``."""
    actor = require(store, acting, Perm.CASES_MANAGE)
    rec = create_case(store, case_ref, title, actor.name)
    store.append_audit(
        actor.name, "case.create", f"case:{rec.case_ref}", case_ref=rec.case_ref, role=actor.role,
        details={"title": rec.title},
    )  # fmt: skip
    return rec


def hold(store: Store, acting: str, case_ref: str, reason: str = "") -> CaseRecord:
    """Put a case on legal hold (needs ``cases.manage``); audited ``case.hold``."""
    return _set(store, acting, case_ref, True, reason)


def release(store: Store, acting: str, case_ref: str, reason: str = "") -> CaseRecord:
    """Release a case's legal hold (needs ``cases.manage``); audited ``case.release``."""
    return _set(store, acting, case_ref, False, reason)


def _set(store: Store, acting: str, case_ref: str, on: bool, reason: str) -> CaseRecord:
    actor = require(store, acting, Perm.CASES_MANAGE)
    before = get_case(store, case_ref)
    rec = set_legal_hold(store, case_ref, on)
    store.append_audit(
        actor.name, "case.hold" if on else "case.release", f"case:{rec.case_ref}", case_ref=rec.case_ref,
        reason=reason.strip() or None, role=actor.role,
        details={"legal_hold": rec.legal_hold, "was": before.legal_hold},
    )  # fmt: skip
    return rec


__all__ = ["hold", "open_case", "release"]
