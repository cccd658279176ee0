"""Which database a store uses when none is named. Free of SQLAlchemy: the CLI's help reads it."""

from __future__ import annotations

DEFAULT_URL = "sqlite:///recorder.db"
URL_ENV = "RECORDER_DATABASE_URL"
