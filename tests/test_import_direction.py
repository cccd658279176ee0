"""The import direction of the package, checked from the source: cli -> api -> analytics, replay,
report, demo -> stream -> store -> model.

A module may import a package of a lower layer, never one of its own layer or above, except the
sideways edges ALLOWED_SIDEWAYS names with their reasons. cache_dir, extras, lazy and version are leaves anyone may use. Every
import counts, including those inside functions and under TYPE_CHECKING: an import deferred for
start-up time is still a dependency a reader must follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recorder"

# Higher numbers sit above lower ones.
LAYERS = {
    "cli": 6,
    "recorder": 5,  # the package's own __init__: the API's names, re-exported
    "api": 4,
    "analytics": 3,
    "replay": 3,
    "report": 3,
    "demo": 3,
    "otel": 3,
    "stream": 2,
    "store": 1,
    "model": 0,
}
LEAVES = {"cache_dir", "extras", "lazy", "version"}
# Same-layer edges that are part of the design, each with its reason.
ALLOWED_SIDEWAYS = {
    ("replay", "stream"),  # capture records cassettes through stream's tee
    ("report", "analytics"),  # the charts draw analytics' results (timelines, lineage, latency)
}


def unit_of(module: str) -> str:
    """`recorder.store.writer` -> `store`; `recorder.api` -> `api`; `recorder` -> `recorder`."""
    parts = module.removesuffix(".__init__").split(".")
    return parts[1] if len(parts) > 1 else "recorder"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a recorder module in the file."""
    found = []
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "recorder"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "recorder":
                if module == "recorder":
                    found += [(node.lineno, f"recorder.{alias.name}") for alias in node.names]
                else:
                    found.append((node.lineno, module))
    return found


def wrong_way_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if source not in LAYERS:
            continue
        for line, module in imports_of(path):
            target = unit_of(module)
            if target == source or target in LEAVES:
                continue
            if target not in LAYERS:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}, which belongs to no layer")
            elif LAYERS[target] > LAYERS[source] or (LAYERS[target] == LAYERS[source] and (source, target) not in ALLOWED_SIDEWAYS):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}) imports {module} ({target})")
    return problems


def test_every_package_imports_only_downwards() -> None:
    assert wrong_way_imports() == []


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {unit_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in PACKAGE.rglob("*.py")}
    assert units - set(LAYERS) - LEAVES == set()


@pytest.mark.parametrize("package", sorted(name for name in LAYERS if (PACKAGE / name).is_dir()))
def test_every_package_says_what_it_owns_and_may_import(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert "Owns" in docstring and "May import" in docstring, f"recorder/{package}/__init__.py"
