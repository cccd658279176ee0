"""Opening a database and bringing its schema to the migrations' head.

SQLite gets WAL (readers never block the writer, and a killed writer loses only its open
transaction) and a busy timeout; PostgreSQL URLs are pointed at psycopg 3, the driver we install.
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from recorder.store.schema import SCHEMA_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///recorder.db"
URL_ENV = "RECORDER_DATABASE_URL"

_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = _ROOT / "alembic.ini"
MIGRATIONS = _ROOT / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database was made by another version of the recorder."""


def resolve_url(url: str | None) -> str:
    """The URL to use: the one given, else RECORDER_DATABASE_URL, else the SQLite default."""
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_store_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Alembic is imported only where migrations run: it costs a noticeable part of every CLI start.
def alembic_config() -> Config:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["configure_logger"] = False
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in `alembic_version`, or None for a database without one."""
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except DBAPIError:
        return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to `revision` (what `recorder init` and `alembic upgrade` do)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse a database of another schema version.

    An empty database is set up on first use (zero set-up for SQLite); an existing one is only
    migrated by an explicit `recorder init`, so production upgrades stay deliberate.
    """
    current = current_revision(engine)
    if current is None:
        if _has_recorder_tables(engine):
            raise SchemaOutOfDate("the database has recorder tables but no alembic version; run `recorder init`")
        upgrade(engine)
        return
    if current != SCHEMA_REVISION:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current}, this recorder needs {SCHEMA_REVISION}: run `recorder init`"
        )


def _has_recorder_tables(engine: Engine) -> bool:
    return "events" in inspect(engine).get_table_names()
