"""The Alembic migration creates exactly the schema described by the ORM models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, inspect, text

from citywatch.store.db import make_engine
from citywatch.store.migrations import alembic_config, upgrade
from citywatch.store.models import Base


def _diff(url: str, metadata: MetaData) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


def test_migration_matches_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    assert _diff(url, Base.metadata) == []


def test_comparison_would_see_a_difference(tmp_path: Path) -> None:
    """Guard against a vacuous comparison: an extra table must show up as a diff."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    meta = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(meta)
    Table("extra", meta, Column("id", Integer, primary_key=True))
    assert any(d[0] == "add_table" for d in _diff(url, meta) if isinstance(d, tuple))


def test_upgrade_is_idempotent_and_sets_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert "audit_log" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_sqlite_ids_are_never_reused(tmp_path: Path) -> None:
    """compare_metadata cannot see AUTOINCREMENT: check the created DDL directly."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ddl = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    finally:
        engine.dispose()
    for name, table in Base.metadata.tables.items():
        if "id" in table.c:
            assert "AUTOINCREMENT" in ddl[name], name


def test_schema_compiles_for_postgresql() -> None:
    """No PostgreSQL driver is installed here; at least every table's DDL must compile for it."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = postgresql.dialect()
    for table in Base.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert "AUTOINCREMENT" not in ddl
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
    assert "TIMESTAMP WITH TIME ZONE" in str(
        CreateTable(Base.metadata.tables["sightings"]).compile(dialect=dialect)
    )
