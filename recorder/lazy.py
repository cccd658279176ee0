"""Package attributes loaded on first use (PEP 562), so importing a package costs only what is used.

`import recorder.store.urls` (the CLI's `--help`) must not import SQLAlchemy because
`recorder/store/__init__.py` re-exports `Store`; each package lists its public names and the module
that defines each, and this loads a name's module the first time the name is read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, defined_in: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: each name in `defined_in` is imported from its
    module on first use and kept in the package's namespace, so later reads cost nothing."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = defined_in.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(module), name)
        return value

    return __getattr__
