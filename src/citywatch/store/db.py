"""Engine and session construction.

SQLite (the embedded default) is tuned on every new connection: WAL journal
(readers never block the writer), foreign keys on (SQLite ignores them
otherwise, so ``ON DELETE CASCADE`` would do nothing), ``synchronous=NORMAL``
(durable at each WAL checkpoint, safe against process kills) and a busy
timeout so concurrent writers wait instead of failing.

Pitfall: Python's ``sqlite3`` starts transactions lazily (at the first write),
so a transaction that reads and then writes can fail with "database is locked"
under concurrency without the busy timeout ever being applied. We therefore
take over transaction control: ``BEGIN`` is emitted by SQLAlchemy, and an
engine made with :func:`write_engine` emits ``BEGIN IMMEDIATE`` so writers
queue on the lock up front. On PostgreSQL these options are no-ops.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from citywatch.log import scrub_url

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "citywatch_sqlite_begin"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` (any SQLAlchemy URL).

    For a SQLite file the parent directory is created. In-memory SQLite is
    supported for throwaway use only (each connection would be its own database,
    so a single static connection is used).
    """
    u = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if u.get_backend_name() != "sqlite":
        kwargs["pool_pre_ping"] = True
        engine = create_engine(u, **kwargs)
        log.debug("database engine for %s", scrub_url(url))
        return engine

    memory = u.database in (None, "", ":memory:")
    if memory:
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        Path(str(u.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Disable the driver's own (lazy) transaction handling; see module docstring.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    log.debug("sqlite engine for %s", u.database)
    return engine


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) whose transactions take the write lock at BEGIN on SQLite."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)
