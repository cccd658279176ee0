"""Alembic owns the schema: it builds it from nothing, takes it down again, and matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from recorder.store import SchemaOutOfDate, Store
from recorder.store.engine import create_store_engine, downgrade, head_revision, upgrade
from recorder.store.schema import Base

TABLES = {"recordings", "executions", "events", "rejects", "node_spans", "store_state", "export_cursors"}


def test_upgrade_builds_every_table_from_an_empty_database(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_downgrade_to_base_removes_every_table(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    """What `alembic check` verifies: autogenerate finds nothing to change after upgrade head."""
    engine = create_store_engine(empty_database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_the_models_declare_the_migrations_head() -> None:
    from recorder.store.schema import SCHEMA_REVISION

    assert SCHEMA_REVISION == head_revision()


def test_opening_an_empty_database_creates_the_schema(empty_database_url: str) -> None:
    with Store(empty_database_url) as store:
        assert store.revision() == head_revision()


def test_a_database_at_an_older_revision_is_refused_until_init(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    upgrade(engine, "0001")
    engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="recorder init"):
        Store(empty_database_url)


def test_the_alembic_command_line_upgrades_and_checks(empty_database_url: str) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "RECORDER_DATABASE_URL": empty_database_url}
    for args in (["upgrade", "head"], ["check"]):
        done = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
