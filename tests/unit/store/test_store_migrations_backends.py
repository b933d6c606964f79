"""The migrations on every database backend (SQLite and PostgreSQL): schema equals the models, idempotent,
and the outbox revision (0003) goes down and up again."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from citywatch.store.db import make_engine
from citywatch.store.migrations import alembic_config, upgrade
from citywatch.store.models import Base


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_migrated_schema_matches_models(make_db_url: Callable[..., str]) -> None:
    db_url = make_db_url(migrated=False)  # an empty database: the migrations run here
    upgrade(db_url)
    upgrade(db_url)  # a second run finds the schema at head and does nothing
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert list(compare_metadata(ctx, Base.metadata)) == []
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
    finally:
        engine.dispose()


def test_outbox_revision_goes_down_and_up(make_db_url: Callable[..., str]) -> None:
    db_url = make_db_url(migrated=False)
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert "outbox" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert "outbox" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
