"""Optional dependencies, grouped as the package's extras, and the one-line error when one is missing.

A plain install records, ingests, shows, exports, serves and replays; analytics, charts and the
PostgreSQL driver come with extras, so a project that only wants the pytest plugin does not install
half a gigabyte. Code that needs an extra imports it through `require`, which turns a missing
module into `MissingExtra`: the CLI prints its message as one line and exits 1.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DISTRIBUTION = "workflow-recorder"

# Which extra brings each optional top-level module (pyproject.toml's optional-dependencies).
EXTRA_OF_MODULE = {
    "duckdb": "analytics",
    "polars": "analytics",
    "pyarrow": "analytics",
    "adbc_driver_sqlite": "analytics",
    "altair": "report",
    "vl_convert": "report",
    "psycopg": "postgres",
    "adbc_driver_postgresql": "postgres",
    "opentelemetry": "otel",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    def __init__(self, module: str, extra: str, purpose: str | None = None) -> None:
        self.module = module
        self.extra = extra
        needed = f"{purpose} needs {module}" if purpose else f"{module} is not installed"
        super().__init__(f"{needed}: pip install '{DISTRIBUTION}[{extra}]'", name=module)


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(module: str, purpose: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # the module is there but something it imports is broken: not ours to hide
        raise MissingExtra(top, EXTRA_OF_MODULE.get(top, "all"), purpose) from exc


def missing_extra_of(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The MissingExtra that explains `exc`, when the absent module is one of our optional ones."""
    top = (exc.name or "").partition(".")[0]
    if top in EXTRA_OF_MODULE:
        return MissingExtra(top, EXTRA_OF_MODULE[top])
    return None
