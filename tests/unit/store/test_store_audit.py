"""The audit log is hash-chained: any edit or deletion in the middle is found."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from citywatch.store import GENESIS_HASH, Store


def _fill(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.append_audit(
            "alice",
            "sighting.view",
            f"sighting:{i}",
            case_ref="CASE-1",
            reason="check",
            role="investigator",
            client="10.0.0.1",
            details={"i": i, "name": "Zoë"},
        )


def test_chain_links_and_verifies(store: Store) -> None:
    assert store.verify_audit() == (True, None)
    _fill(store)
    entries = store.list_audit()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[2].details == {"i": 2, "name": "Zoë"}
    assert store.verify_audit() == (True, None)


def test_edited_row_is_detected(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3"))
    assert store.verify_audit() == (False, 3)


def test_edited_details_is_detected(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET details = :d WHERE seq = 2"), {"d": '{"i":9}'})
    assert store.verify_audit() == (False, 2)


def test_deleted_row_is_detected(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    assert store.verify_audit() == (False, 3)


def test_rehashed_row_still_breaks_the_next_link(store: Store) -> None:
    """An attacker who recomputes the edited row's own hash still breaks the following row."""
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 4"), {"h": "f" * 64})
    assert store.verify_audit() == (False, 4)
