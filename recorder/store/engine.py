"""Opening a database and bringing its schema to the migrations' head.

The engine's dialect (recorder.store.dialects) sets each connection up (SQLite: WAL, so readers
never block the writer and a killed writer loses only its open transaction, and a busy timeout)
and points PostgreSQL URLs at psycopg 3, the driver we install.

Who may create the schema: the writer that first uses an *empty* database (zero set-up for SQLite),
and `recorder init`. Readers never do, and nobody adds our tables to a database that holds another
application's tables unless asked (`allow_other_tables`). Creating or migrating happens under a lock
(PostgreSQL: a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE`), so processes that start
on the same empty database at once queue up, and each one after the first finds the schema made.

Everything that can go wrong here because of the URL or the database (not because of a bug) is
raised as a `StoreError` whose message is one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from recorder.store.dialects import dialect_named, dialect_of
from recorder.store.errors import ForeignDatabase, NoStore, SchemaOutOfDate, StoreError, StoreUnavailable
from recorder.store.schema import SCHEMA_REVISION, Base
from recorder.store.urls import DEFAULT_URL, URL_ENV

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "SchemaOutOfDate",
    "create_store_engine",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "migrate",
    "migrations_directory",
    "resolve_url",
    "schema_lock",
    "upgrade",
]

_PACKAGE = Path(__file__).resolve().parents[1]
# A wheel ships the migrations inside the package; a source checkout keeps them at its top level.
MIGRATION_DIRECTORIES = (_PACKAGE / "migrations", _PACKAGE.parent / "migrations")

RECORDER_TABLES = frozenset(Base.metadata.tables) | {"alembic_version"}


def resolve_url(url: str | None) -> str:
    """The URL to use: the one given, else RECORDER_DATABASE_URL, else the SQLite default, spelled
    the way its engine's dialect wants it.

    Anything but a SQLite or PostgreSQL URL is refused here, with the URL in the message.
    """
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"{url!r} is not a database URL: use sqlite:///path.db or postgresql://user@host/db") from None
    backend = parsed.drivername.partition("+")[0]
    dialect = dialect_named(backend)
    if dialect is None:
        raise StoreUnavailable(
            f"{display_url(parsed)}: the recorder stores into SQLite or PostgreSQL, not {backend!r}: "
            "use sqlite:///path.db or postgresql://user@host/db"
        )
    return dialect.normalise_url(parsed).render_as_string(hide_password=False)


def display_url(url: str | URL) -> str:
    """The URL for messages: as given, with any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def create_store_engine(url: str) -> Engine:
    """An engine for a resolved URL, set up by its dialect; no connection is made yet."""
    parsed = make_url(url)
    dialect = dialect_of(parsed)
    dialect.check_url(parsed, display_url(parsed))
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ModuleNotFoundError) as exc:
        # A driver named in the URL (postgresql+psycopg2://, sqlite+foo://) that is not there.
        raise StoreUnavailable(
            f"cannot open {display_url(parsed)}: {exc}; the recorder's own drivers are sqlite:/// and postgresql:// (psycopg 3)"
        ) from exc
    dialect.configure_engine(engine)
    return engine


def migrations_directory() -> Path:
    """Where the Alembic scripts are: inside the installed package, else in the source checkout."""
    for directory in MIGRATION_DIRECTORIES:
        if (directory / "env.py").is_file():
            return directory
    raise StoreError(f"the recorder's migrations are missing (looked in {', '.join(map(str, MIGRATION_DIRECTORIES))}): reinstall workflow-recorder")


# Alembic is imported only where migrations run: it costs a noticeable part of every CLI start.
def alembic_config() -> Config:
    """Alembic's configuration, built in code: an installed recorder has no alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("path_separator", "os")
    config.attributes["configure_logger"] = False
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this recorder's migrations know (older ones can be migrated by `recorder init`)."""
    from alembic.script import ScriptDirectory

    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


@dataclass(frozen=True)
class _Contents:
    """What a database holds, as far as deciding about the schema goes."""

    revision: str | None
    tables: frozenset[str]

    @property
    def recorder_tables(self) -> frozenset[str]:
        return self.tables & RECORDER_TABLES

    @property
    def other_tables(self) -> frozenset[str]:
        return self.tables - RECORDER_TABLES


def _contents(connection: Connection) -> _Contents:
    tables = frozenset(inspect(connection).get_table_names())
    revision = None
    if "alembic_version" in tables:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return _Contents(revision, tables)


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in `alembic_version`, or None for a database without one."""
    with _opening(engine), engine.connect() as connection:
        return _contents(connection).revision


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the recorder's schema lock until it ends.

    Only one process at a time checks and changes the schema; the others wait here (SQLite: up to
    the busy timeout) and then see what the first one committed.
    """
    with engine.begin() as connection:
        dialect_of(connection).lock_schema(connection)
        yield connection


def _alembic_upgrade(connection: Connection, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config_on(connection), revision)


def _alembic_downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config_on(connection), revision)


def _alembic_config_on(connection: Connection) -> Config:
    """Alembic's configuration, running on `connection` (in the caller's transaction and lock)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to `revision` (what `alembic upgrade` does), under the schema lock."""
    with _opening(engine), schema_lock(engine) as connection:
        _alembic_upgrade(connection, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _opening(engine), schema_lock(engine) as connection:
        _alembic_downgrade(connection, revision)


def ensure_schema(engine: Engine, *, create: bool = True, allow_other_tables: bool = False) -> None:
    """Check that the database holds this version's schema; create it where that is allowed.

    `create`: a database with no tables at all (or a SQLite file not there yet) gets the schema;
    with `allow_other_tables` also one that holds only another application's tables. Without
    `create`, nothing is created, not even the SQLite file. A schema of another version is refused:
    only `recorder init` (`migrate`) changes an existing one, so production upgrades stay deliberate.
    """
    url = display_url(engine.url)
    path = dialect_of(engine).database_file(engine.url)
    if not create and path is not None and not path.exists():
        raise NoStore(f"no recorder store at {url} (no such file): `recorder init` creates one")
    with _opening(engine):
        with engine.connect() as connection:
            contents = _contents(connection)
        if contents.revision == SCHEMA_REVISION:
            return
        if contents.revision is None and create:
            with schema_lock(engine) as connection:
                contents = _contents(connection)
                if contents.revision is None:
                    _refuse_to_create(url, contents, allow_other_tables)
                    _alembic_upgrade(connection)
                    return
        if contents.revision is None:
            if contents.recorder_tables:
                raise _unversioned(url, contents)
            if contents.other_tables:
                raise NoStore(
                    f"no recorder store at {url}, only other tables ({_names(contents.other_tables)}): "
                    "`recorder init --allow-other-tables` adds the recorder's beside them"
                )
            raise NoStore(f"no recorder store at {url}: `recorder init` creates one")
        if contents.revision != SCHEMA_REVISION:
            if contents.revision in known_revisions():
                raise SchemaOutOfDate(
                    f"{url}: the schema is at revision {contents.revision}, this recorder needs {SCHEMA_REVISION}: "
                    "run `recorder init` to migrate it"
                )
            raise _unknown_revision(url, contents.revision)


def migrate(engine: Engine, *, allow_other_tables: bool = False) -> tuple[str | None, str | None]:
    """What `recorder init` does: create the schema or migrate it to head; (before, after) revisions.

    Refused, with nothing changed: a revision these migrations do not know (a newer recorder's, or
    another application's alembic history), and tables of another application unless
    `allow_other_tables`.
    """
    url = display_url(engine.url)
    with _opening(engine), schema_lock(engine) as connection:
        contents = _contents(connection)
        before = contents.revision
        if before is None:
            _refuse_to_create(url, contents, allow_other_tables)
        elif before not in known_revisions():
            raise _unknown_revision(url, before)
        if before != SCHEMA_REVISION:
            _alembic_upgrade(connection)
        return before, _contents(connection).revision


def _refuse_to_create(url: str, contents: _Contents, allow_other_tables: bool) -> None:
    if contents.recorder_tables:
        raise _unversioned(url, contents)
    if contents.other_tables and not allow_other_tables:
        raise ForeignDatabase(
            f"{url} holds other tables ({_names(contents.other_tables)}) and no recorder store: use an empty database, "
            "or `recorder init --allow-other-tables` to add the recorder's tables beside them"
        )


def _unversioned(url: str, contents: _Contents) -> ForeignDatabase:
    return ForeignDatabase(
        f"{url} has tables named like the recorder's ({_names(contents.recorder_tables)}) but no alembic_version: "
        "it is not a recorder store; use another database"
    )


def _unknown_revision(url: str, revision: str) -> SchemaOutOfDate:
    from recorder.version import __version__

    return SchemaOutOfDate(
        f"{url}: schema revision {revision!r} is unknown to this recorder ({__version__}): a newer workflow-recorder "
        "made it (upgrade the recorder), or the database belongs to another application; nothing was changed"
    )


def _names(tables: frozenset[str], shown: int = 4) -> str:
    names = sorted(tables)
    return ", ".join(names[:shown]) + (f", ... {len(names)} in all" if len(names) > shown else "")


@contextmanager
def _opening(engine: Engine) -> Iterator[None]:
    """Database errors while opening a store become StoreUnavailable, one line naming the URL."""
    try:
        yield
    except DBAPIError as exc:
        raise StoreUnavailable(f"cannot open {display_url(engine.url)}: {database_reason(exc)}") from exc


def database_reason(exc: DBAPIError) -> str:
    """The driver's own words, on one line (psycopg's span several)."""
    return " ".join(str(exc.orig if exc.orig is not None else exc).split()) or exc.__class__.__name__
