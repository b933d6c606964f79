"""Fixtures shared by every test package.

Database backends: tests that take ``db_url`` run once per backend, SQLite and
PostgreSQL. ``CITYWATCH_TEST_DATABASES`` (comma list, default
``sqlite,postgresql``) picks the backends; ``CITYWATCH_TEST_PG_URL`` is the
maintenance URL of the PostgreSQL server (default: the local one, user
``postgres``, trust auth). Each test gets a database of its own
(``citywatch_test_<session>_<n>``, C collation so ordering matches SQLite),
migrated and without rows (pooled: emptied after each test); all are dropped
at the end. PostgreSQL tests skip with the reason when the server cannot be
reached.

Vector backends: tests that take ``vector_cfg`` run once with FAISS files and
once with Milvus (milvus-lite: one local file per session, one collection
prefix per test, its collections dropped after the test).
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citywatch.config import VectorConfig

REPO = Path(__file__).resolve().parents[1]

PG_ADMIN_URL = os.environ.get(
    "CITYWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DB_BACKENDS = tuple(
    b.strip() for b in os.environ.get("CITYWATCH_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()
)
VECTOR_BACKENDS = tuple(
    b.strip() for b in os.environ.get("CITYWATCH_TEST_VECTORS", "faiss,milvus").split(",") if b.strip()
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$CITYWATCH_DATA`` or ``../shared/data`` from the repository root; skips when absent."""
    data = Path(os.environ.get("CITYWATCH_DATA", REPO.parent / "shared" / "data"))
    if not (data / "deepface" / "unit" / "dataset" / "master.csv").is_file():
        pytest.skip(f"shared data set not found at {data} (set CITYWATCH_DATA)")
    return data


# --- PostgreSQL -------------------------------------------------------------------


class PgTestDatabase:
    """Throw-away databases on the test server for one session; all dropped at its end.

    Migrated databases are pooled: a test gets one at the migrations' head with
    no rows, and on release its rows are deleted and its sequences restarted
    (~0.1 s, where migrating a new database costs ~0.5 s of DDL and dropping
    one forces a checkpoint). One whose tables changed is dropped, not reused.
    Empty databases (for migration tests) start from ``template0`` and are dropped.
    """

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self._admin_url = make_url(admin_url)
        self.prefix = f"citywatch_test_{secrets.token_hex(4)}"
        self._admin = create_engine(
            self._admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with self._admin.connect() as c:
            c.exec_driver_sql("SELECT 1")
        self._n = itertools.count(1)
        self._free: list[str] = []
        self._tables: frozenset[str] | None = None
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        return self._admin_url.set(database=name).render_as_string(hide_password=False)

    def _create(self) -> str:
        name = f"{self.prefix}_{next(self._n)}"
        with self._admin.connect() as c:
            # C collation: ORDER BY on text sorts like SQLite (bytewise), whatever the server's locale
            c.exec_driver_sql(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            )
            # test data need not survive a power cut: skip the WAL flush at every commit
            c.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return name

    def _table_names(self, conn: Any) -> frozenset[str]:
        rows = conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return frozenset(r[0] for r in rows)

    def acquire(self, migrated: bool = True) -> str:
        """A database name: migrated and without rows, or empty (``migrated=False``)."""
        from sqlalchemy import create_engine

        from citywatch.store.migrations import upgrade

        if not migrated:
            return self._create()
        with self._lock:
            if self._free:
                return self._free.pop()
        name = self._create()
        upgrade(self.url(name))
        if self._tables is None:
            engine = create_engine(self.url(name))
            with engine.connect() as c:
                self._tables = self._table_names(c)
            engine.dispose()
        return name

    def release(self, name: str, migrated: bool) -> None:
        """Back to the pool (rows deleted) or dropped."""
        if migrated and self._clean(name):
            with self._lock:
                self._free.append(name)
        else:
            self._drop(name)

    def _clean(self, name: str) -> bool:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import DBAPIError

        from citywatch.store.models import Base

        with self._admin.connect() as c:  # connections a test leaked would hold locks
            c.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %(d)s AND pid <> pg_backend_pid()",
                {"d": name},
            )
        engine = create_engine(self.url(name))
        try:
            with engine.begin() as c:
                if self._table_names(c) != self._tables:
                    return False
                c.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                for table in reversed(Base.metadata.sorted_tables):  # children before parents
                    c.exec_driver_sql(f'DELETE FROM "{table.name}"')
                for (seq,) in c.exec_driver_sql(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                ):
                    c.exec_driver_sql(f'ALTER SEQUENCE "{seq}" RESTART')
            return True
        except DBAPIError:
            return False
        finally:
            engine.dispose()

    def _drop(self, name: str) -> None:
        with self._admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        with self._admin.connect() as c:
            names = c.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": self.prefix + "%"}
            ).scalars()
            for name in list(names):
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgTestDatabase]:
    """The session's PostgreSQL test server; skips when it is not reachable."""
    from sqlalchemy.exc import OperationalError

    try:
        db = PgTestDatabase(PG_ADMIN_URL)
    except (OperationalError, ModuleNotFoundError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} (set CITYWATCH_TEST_PG_URL): {exc}")
    yield db
    db.close()


DbUrlFactory = Callable[..., str]


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql`` (one test run per backend)."""
    return str(request.param)


@pytest.fixture
def make_db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbUrlFactory]:
    """A factory of fresh databases of the test's backend: ``make(migrated=True)``, each call a new one.

    SQLite: a new file (empty; ``Store.open`` migrates it). PostgreSQL: a new
    database, already at the migrations' head unless ``migrated=False``.
    """
    made: list[tuple[str, bool]] = []
    counter = itertools.count(1)

    def make(migrated: bool = True) -> str:
        if db_backend == "sqlite":
            return f"sqlite:///{tmp_path / f'citywatch-{next(counter)}.db'}"
        if db_backend != "postgresql":
            raise ValueError(f"unknown test database backend {db_backend!r} (CITYWATCH_TEST_DATABASES)")
        pg: PgTestDatabase = request.getfixturevalue("pg_database")
        name = pg.acquire(migrated)
        made.append((name, migrated))
        return pg.url(name)

    yield make
    if made:
        pg: PgTestDatabase = request.getfixturevalue("pg_database")
        for name, migrated in made:
            pg.release(name, migrated)


@pytest.fixture
def db_url(make_db_url: DbUrlFactory) -> str:
    """A fresh database URL of this test's backend (SQLite file or PostgreSQL database)."""
    return make_db_url()


# --- vectors ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def milvus_lite_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One milvus-lite file for the session (it starts an in-process server per file)."""
    pytest.importorskip("pymilvus", reason="pymilvus is not installed")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed")
    path = str(tmp_path_factory.mktemp("milvus") / "vectors.db")
    yield path
    # stop its server now rather than at exit (where its goodbye is logged to closed streams)
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


_prefixes = itertools.count(1)


@pytest.fixture(params=VECTOR_BACKENDS)
def vector_cfg(request: pytest.FixtureRequest) -> Iterator[VectorConfig]:
    """Vector store settings: FAISS files (``uri`` empty) or Milvus with a collection prefix of its own."""
    if request.param == "faiss":
        yield VectorConfig()
        return
    if request.param != "milvus":
        raise ValueError(f"unknown test vector backend {request.param!r} (CITYWATCH_TEST_VECTORS)")
    uri: str = request.getfixturevalue("milvus_lite_uri")
    cfg = VectorConfig(uri=uri, collection_prefix=f"cwtest{next(_prefixes)}")
    yield cfg
    from citywatch.store.milvus import drop_collections

    drop_collections(cfg)
