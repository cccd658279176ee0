"""Which exceptions are the user's to fix (a bad URL, a missing extra, an unknown id), as one line.

Anything else is a bug and keeps its traceback. The error classes are looked up only in modules
already imported: an exception cannot be an instance of a class whose module never loaded, and the
CLI does not pay for importing SQLAlchemy or httpx just to name their errors.
"""

from __future__ import annotations

import sys

from recorder.extras import MissingExtra, missing_extra_of
from recorder.store.errors import StoreError

# module -> names of the exception classes in it whose message is meant for the user as it is.
USER_ERRORS: dict[str, tuple[str, ...]] = {
    "recorder.api": ("ExecutionNotFound",),
    "recorder.stream.ingest": ("IngestError",),
    "recorder.stream.sink": ("SinkFailed",),
    "recorder.stream.vellum_api": ("MissingApiKey",),
}


def one_line_error(exc: BaseException) -> str | None:
    """The one-line message for an error the user caused, or None for a bug."""
    if isinstance(exc, (StoreError, MissingExtra)):
        return _message(exc)
    if isinstance(exc, ModuleNotFoundError):
        missing = missing_extra_of(exc)
        return str(missing) if missing is not None else None
    for module_name, class_names in USER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, tuple(getattr(module, name) for name in class_names)):
            return _message(exc)
    return _database_error(exc)


def _database_error(exc: BaseException) -> str | None:
    """The database refused while a command ran (read-only file, lost connection, disk full...)."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is None or not isinstance(exc, sqlalchemy_exc.OperationalError):
        return None
    from recorder.store.engine import database_reason

    return f"database error: {database_reason(exc)}"


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return " ".join(text.split()) or exc.__class__.__name__
