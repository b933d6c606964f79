"""Audit trail I/O beyond ``Store.append_audit``: the head anchor file and raw row reads.

The head anchor (``<home>/audit-head.json``) records the ``seq`` and ``hash`` of
the newest audit entry. ``Store.append_audit`` moves it forward after each
commit (under a file lock, never backwards), so deleting the *last* entries
(which the hash chain alone cannot show) or appending forged entries after the
head is detected by ``governance.audit.verify_audit_trail``.

Rows are returned as plain dicts of exactly the fields that are hashed
(``repo._audit_fields``: ``details`` is the stored canonical JSON *text*),
plus ``prev_hash`` and ``hash``; this is also the line format of a signed
audit export.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from citywatch.errors import StoreError
from citywatch.store import models as m
from citywatch.store.repo import Store, _audit_fields
from citywatch.store.vectors import atomic_write

log = logging.getLogger(__name__)

HEAD_FILE = "audit-head.json"
_LOCK_FILE = ".audit-head.lock"


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest audit entry as last anchored: its ``seq`` and ``hash``."""

    seq: int
    hash: str


def audit_head_path(home: Path) -> Path:
    """Where the head anchor of the store at ``home`` lives."""
    return Path(home) / HEAD_FILE


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    with (Path(home) / _LOCK_FILE).open("a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_audit_head(home: Path) -> AuditHead | None:
    """The anchored head, or ``None`` when no anchor file exists.

    Raises StoreError when the file exists but is not a valid anchor (that is
    itself a sign of tampering, and verification reports it).
    """
    path = audit_head_path(home)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(raw)
        seq, digest = int(obj["seq"]), str(obj["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"audit head anchor {path} is unreadable: {exc}") from exc
    return AuditHead(seq, digest)


def write_audit_head(home: Path, seq: int, digest: str) -> None:
    """Move the anchor to ``(seq, digest)`` unless it already points at ``seq`` or later.

    Atomic (temp file + rename) and serialised by a file lock, so concurrent
    appenders in several processes leave the highest ``seq`` anchored.
    Pitfall: a process killed between its commit and this call leaves the
    anchor one entry behind; ``audit verify`` then reports the unanchored entry.
    """
    with _locked(home):
        current: AuditHead | None
        try:
            current = read_audit_head(home)
        except StoreError:
            current = None  # a damaged anchor is replaced; verification already compared it
        if current is not None and current.seq >= seq:
            return
        body = json.dumps({"seq": seq, "hash": digest}, sort_keys=True) + "\n"
        atomic_write(audit_head_path(home), body.encode("utf-8"))


def _raw(row: m.AuditEntry) -> dict[str, Any]:
    out = _audit_fields(row)
    out["prev_hash"] = row.prev_hash
    out["hash"] = row.hash
    return out


def iter_audit_rows(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    first_seq: int | None = None,
    last_seq: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Audit rows in ``seq`` order as raw dicts (hashed fields + ``prev_hash`` + ``hash``).

    ``since``/``until`` (aware datetimes) filter on ``ts`` (``since <= ts < until``);
    ``first_seq``/``last_seq`` bound ``seq`` (inclusive).
    """
    q = select(m.AuditEntry).order_by(m.AuditEntry.seq)
    if first_seq is not None:
        q = q.where(m.AuditEntry.seq >= first_seq)
    if last_seq is not None:
        q = q.where(m.AuditEntry.seq <= last_seq)
    if since is not None:
        q = q.where(m.AuditEntry.ts >= since)
    if until is not None:
        q = q.where(m.AuditEntry.ts < until)
    with store._session() as s:
        for (row,) in s.execute(q.execution_options(yield_per=1000)):
            yield _raw(row)


def seq_range(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> tuple[int, int] | None:
    """``(first, last)`` seq of the entries with ``since <= ts < until``, or ``None`` when there are none."""
    q = select(func.min(m.AuditEntry.seq), func.max(m.AuditEntry.seq))
    if since is not None:
        q = q.where(m.AuditEntry.ts >= since)
    if until is not None:
        q = q.where(m.AuditEntry.ts < until)
    with store._session() as s:
        row = s.execute(q).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def table_head(store: Store) -> AuditHead | None:
    """The highest-``seq`` row actually in the table, or ``None`` when it is empty."""
    with store._session() as s:
        row = s.execute(
            select(m.AuditEntry.seq, m.AuditEntry.hash).order_by(m.AuditEntry.seq.desc()).limit(1)
        ).first()
    return None if row is None else AuditHead(int(row[0]), str(row[1]))


def audit_hash_at(store: Store, seq: int) -> str | None:
    """The stored hash of entry ``seq``, or ``None`` when there is no such row."""
    with store._session() as s:
        return s.scalar(select(m.AuditEntry.hash).where(m.AuditEntry.seq == seq))


def count_actions(store: Store, actions: list[str], since: datetime, until: datetime) -> dict[str, int]:
    """How many entries of each action have ``since <= ts < until`` (actions without entries: 0)."""
    q = (
        select(m.AuditEntry.action, func.count())
        .where(m.AuditEntry.action.in_(actions), m.AuditEntry.ts >= since, m.AuditEntry.ts < until)
        .group_by(m.AuditEntry.action)
    )
    with store._session() as s:
        found = {str(a): int(n) for a, n in s.execute(q)}
    return {a: found.get(a, 0) for a in actions}


def action_details(store: Store, action: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Parsed ``details`` of every entry of ``action`` with ``since <= ts < until`` (empty ones skipped)."""
    q = (
        select(m.AuditEntry.details)
        .where(m.AuditEntry.action == action, m.AuditEntry.ts >= since, m.AuditEntry.ts < until)
        .order_by(m.AuditEntry.seq)
    )
    out: list[dict[str, Any]] = []
    with store._session() as s:
        for text in s.scalars(q):
            if not text:
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                log.warning("audit entry of %s has unreadable details; skipped in counts", action)
                continue
            if isinstance(obj, dict):
                out.append(obj)
    return out


__all__ = [
    "HEAD_FILE",
    "AuditHead",
    "action_details",
    "audit_hash_at",
    "audit_head_path",
    "count_actions",
    "iter_audit_rows",
    "read_audit_head",
    "seq_range",
    "table_head",
    "write_audit_head",
]
