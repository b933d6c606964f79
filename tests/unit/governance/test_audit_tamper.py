"""Tamper tests: every edit, deletion, insertion and reordering of audit rows is found, at the right entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citywatch.governance.audit import verify_audit_trail
from citywatch.store import Store
from citywatch.store.audit_io import audit_hash_at, audit_head_path, read_audit_head, write_audit_head
from citywatch.store.repo import audit_hash

N = 6
COLS = "seq, ts, actor, role, action, target, case_ref, reason, client, details, prev_hash, hash"


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    for i in range(N):
        s.append_audit(
            "alice", "sighting.view", f"sighting:{i}", case_ref="C-1", reason="check", role="investigator",
            client="10.0.0.1", details={"i": i},
        )  # fmt: skip
    yield s
    s.close()


def _sql(store: Store, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Run ``sql`` (qmark placeholders) on the raw driver connection, outside citywatch, and commit."""
    if store.engine.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(sql, args)
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        raw.commit()
        return rows
    finally:
        raw.close()


def _row(store: Store, seq: int) -> tuple[object, ...]:
    (row,) = _sql(store, f"SELECT {COLS} FROM audit_log WHERE seq = ?", seq)
    return row


def _fields(row: tuple[object, ...], iso_ts: str) -> dict[str, object]:
    keys = ("seq", "ts", "actor", "role", "action", "target", "case_ref", "reason", "client", "details")
    d = dict(zip(keys, row[:10], strict=True))
    d["ts"] = iso_ts
    return d


def _bad(store: Store) -> int | None:
    res = verify_audit_trail(store)
    assert not res.ok and res.reason
    return res.first_bad_seq


def test_intact_trail_verifies(store: Store) -> None:
    res = verify_audit_trail(store)
    assert res.ok and res.entries == N and res.first_bad_seq is None
    head = read_audit_head(store.home)
    assert head is not None and res.head == head and head.seq == N


def test_empty_trail_verifies(tmp_path: Path, db_url: str) -> None:
    with Store.open(db_url, tmp_path / "h") as s:
        assert verify_audit_trail(s).ok


@pytest.mark.parametrize("seq", range(1, N + 1))
@pytest.mark.parametrize(
    "column,value",
    [("reason", "nothing to see"), ("actor", "mallory"), ("details", '{"i":99}'), ("hash", "f" * 64)],
)
def test_every_edit_is_found_at_its_entry(store: Store, seq: int, column: str, value: str) -> None:
    _sql(store, f"UPDATE audit_log SET {column} = ? WHERE seq = ?", value, seq)
    assert _bad(store) == seq


@pytest.mark.parametrize("seq", range(1, N + 1))
def test_every_single_deletion_is_found(store: Store, seq: int) -> None:
    _sql(store, "DELETE FROM audit_log WHERE seq = ?", seq)
    assert _bad(store) == seq


def test_deleting_the_last_entries_is_found(store: Store) -> None:
    _sql(store, "DELETE FROM audit_log WHERE seq >= ?", N - 1)
    assert _bad(store) == N - 1
    res = verify_audit_trail(store)
    assert "deleted" in (res.reason or "")


def test_deleting_everything_is_found(store: Store) -> None:
    _sql(store, "DELETE FROM audit_log")
    assert _bad(store) == 1


@pytest.mark.parametrize("seq", range(1, N))
def test_every_adjacent_swap_is_found(store: Store, seq: int) -> None:
    """Reordering: two entries exchange places (their seq values are swapped)."""
    _sql(store, "UPDATE audit_log SET seq = -1 WHERE seq = ?", seq)
    _sql(store, "UPDATE audit_log SET seq = ? WHERE seq = ?", seq, seq + 1)
    _sql(store, "UPDATE audit_log SET seq = ? WHERE seq = -1", seq + 1)
    assert _bad(store) == seq


def test_reordered_timestamps_are_found(store: Store) -> None:
    a, b = _row(store, 2), _row(store, 5)
    _sql(store, "UPDATE audit_log SET ts = ? WHERE seq = 2", b[1])
    _sql(store, "UPDATE audit_log SET ts = ? WHERE seq = 5", a[1])
    assert _bad(store) == 2


def _shift_from(store: Store, seq: int) -> None:
    _sql(store, "UPDATE audit_log SET seq = -seq WHERE seq >= ?", seq)
    _sql(store, "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")


@pytest.mark.parametrize("seq", range(2, N + 1))
def test_every_insertion_is_found(store: Store, seq: int) -> None:
    """A forged entry with a correct own hash is inserted before ``seq``: the next link breaks."""
    prev = _row(store, seq - 1)
    iso = verify_audit_trail(store).head
    assert iso is not None
    template = store.list_audit(since_seq=seq - 2, limit=1)[0]
    _shift_from(store, seq)
    fields = _fields(prev, template.ts.isoformat())
    fields.update(seq=seq, reason="forged", details=None)
    digest = audit_hash(str(prev[11]), fields)
    _sql(
        store,
        f"INSERT INTO audit_log ({COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        seq, prev[1], prev[2], prev[3], prev[4], prev[5], prev[6], "forged", prev[8], None, prev[11], digest,
    )  # fmt: skip
    assert _bad(store) == seq + 1


def test_naive_insertion_is_found_at_the_inserted_entry(store: Store) -> None:
    row = _row(store, 3)
    _shift_from(store, 3)
    _sql(
        store,
        f"INSERT INTO audit_log ({COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        3, row[1], "mallory", row[3], row[4], row[5], row[6], row[7], row[8], None, "0" * 64, "e" * 64,
    )  # fmt: skip
    assert _bad(store) == 3


def test_forged_append_after_the_head_is_found(store: Store) -> None:
    """A valid-looking entry appended outside citywatch (correct hash and link) is after the anchor."""
    last = _row(store, N)
    template = store.list_audit(since_seq=N - 1)[0]
    fields = _fields(last, template.ts.isoformat())
    fields.update(seq=N + 1, reason="forged")
    digest = audit_hash(str(last[11]), fields)
    _sql(
        store,
        f"INSERT INTO audit_log ({COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        N + 1, last[1], last[2], last[3], last[4], last[5], last[6], "forged", last[8], last[9], last[11], digest,
    )  # fmt: skip
    assert _bad(store) == N + 1


def test_consistently_rewritten_chain_is_found(store: Store) -> None:
    """Edit entry 2 and recompute every later hash: only the anchor can tell, and it does."""
    entries = store.list_audit()
    prev = entries[0].hash
    for e in entries[1:]:
        fields = {
            "seq": e.seq, "ts": e.ts.isoformat(), "actor": "mallory" if e.seq == 2 else e.actor, "role": e.role,
            "action": e.action, "target": e.target, "case_ref": e.case_ref, "reason": e.reason,
            "client": e.client, "details": _row(store, e.seq)[9],
        }  # fmt: skip
        digest = audit_hash(prev, fields)
        _sql(
            store,
            "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            fields["actor"], prev, digest, e.seq,
        )  # fmt: skip
        prev = digest
    assert store.verify_audit() == (True, None)  # the chain alone is fooled
    assert _bad(store) == N


def test_missing_anchor_fails(store: Store) -> None:
    audit_head_path(store.home).unlink()
    res = verify_audit_trail(store)
    assert not res.ok and "anchor" in (res.reason or "")


def test_damaged_anchor_fails(store: Store) -> None:
    audit_head_path(store.home).write_text("{not json", encoding="utf-8")
    assert not verify_audit_trail(store).ok


def test_anchor_follows_appends_and_never_goes_back(store: Store) -> None:
    from citywatch.store.audit_io import write_audit_head

    rec = store.append_audit("bob", "x", "y")
    head = read_audit_head(store.home)
    assert head is not None and (head.seq, head.hash) == (rec.seq, rec.hash)
    write_audit_head(store.home, 1, "0" * 64)
    assert read_audit_head(store.home) == head


def test_a_tail_anchored_moments_later_is_not_a_finding(store: Store) -> None:
    """A verification running between an append's commit and its anchor update waits, then passes."""
    import json
    import threading

    head = read_audit_head(store.home)
    assert head is not None
    prev_hash = audit_hash_at(store, head.seq - 1)
    # the window of a live appender: the newest row is committed, the anchor still one behind
    audit_head_path(store.home).write_text(json.dumps({"seq": head.seq - 1, "hash": prev_hash}))
    catch_up = threading.Timer(0.4, write_audit_head, args=(store.home, head.seq, head.hash))
    catch_up.start()
    try:
        assert verify_audit_trail(store).ok
    finally:
        catch_up.join()
    # never anchored (a row added outside citywatch): still reported
    audit_head_path(store.home).write_text(json.dumps({"seq": head.seq - 1, "hash": prev_hash}))
    res = verify_audit_trail(store)
    assert not res.ok and res.first_bad_seq == head.seq
