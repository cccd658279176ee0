"""Why a store cannot be used as asked, as one line a person can act on.

Kept free of SQLAlchemy so the command line can name these errors without paying for the import.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The database named by a store URL cannot be used as asked; the message says why and what to do."""


class StoreUnavailable(StoreError):
    """The URL cannot be parsed, names something that is not a database, or the server refuses."""


class NoStore(StoreError):
    """The database holds no recorder schema, and the caller only reads, so none is created."""


class ForeignDatabase(StoreError):
    """The database holds tables of another application; the recorder adds its own only when asked."""


class SchemaOutOfDate(StoreError):
    """The database was made by another version of the recorder."""
