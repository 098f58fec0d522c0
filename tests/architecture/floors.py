"""The floors of the code and the arrows allowed between them, checked by walking every import.

Floors, top to bottom: the `segbridge` shell (CLI, and the web app `webapp`) -> `scheduler` -> `core` -> `connectors` ->
`basics`. A module may import its own floor and any floor below it, never one above. Two
narrower rules: core reaches connectors only through `connectors.registry` (the factory) and
`connectors.base` (the interface and its errors), and `sandbox` (beside the floors) is imported
only by the shell, benchmarks and tests. Lazy imports inside functions count too.

The planning room (`core.planning`) is pure: it imports only `basics`, itself and `core.paths`
(where the shipped policy lies), and nothing that reaches a store, a terminal or the network, so
the same functions run per partition on Spark.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

FLOORS = ["basics", "connectors", "core", "scheduler", "segbridge"]  # bottom to top
SHELL_PACKAGES = {"webapp": "segbridge"}  # the web app is part of the shell floor, beside the CLI
PACKAGES = [*FLOORS, "sandbox", *SHELL_PACKAGES]
CORE_MAY_USE = ("connectors.registry", "connectors.base")
# What each package may import besides its own floor and those below it.
SANDBOX_MAY_USE = ("basics", "connectors")
PLANNING_MAY_USE = ("basics", "core.planning", "core.paths")
PLANNING_NEVER = ("sqlalchemy", "sqlmodel", "alembic", "rich", "typer", "requests", "zeep", "psycopg", "pyspark")
# Spark is one backend of the engine: only its package imports pyspark (the planning room stays pure and
# runs per partition there; the rest of the project never needs the `spark` extra).
SPARK_PACKAGE = "core.spark_engine"


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported}: {self.why}"


def imported_names(source: str, module: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in `source`, relative imports resolved against `module`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            # `from core import secrets` imports the module core.secrets: judge the full name
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def _top(name: str) -> str:
    top = name.split(".", 1)[0]
    return SHELL_PACKAGES.get(top, top)


def judge(importer: str, imported: str) -> str | None:
    """Why `importer` (a dotted module name) may not import `imported`; None when it may."""
    src, dst = _top(importer), _top(imported)
    if dst == "pyspark" and not (importer == SPARK_PACKAGE or importer.startswith(SPARK_PACKAGE + ".")):
        return f"only {SPARK_PACKAGE} imports pyspark (the Spark backend; docs/spark.md)"
    if importer == "core.planning" or importer.startswith("core.planning."):
        why = _judge_planning(imported)
        if why:
            return why
    if dst not in PACKAGES or src == dst:
        return None
    if dst == "sandbox":
        return None if src == "segbridge" else "only the segbridge shell, benchmarks and tests use sandbox"
    if src == "sandbox":
        return None if dst in SANDBOX_MAY_USE else f"sandbox stands beside the floors and may use only {SANDBOX_MAY_USE}"
    if src not in FLOORS:
        return None
    if FLOORS.index(dst) > FLOORS.index(src):
        return f"{src} is below {dst}: imports run down the floors only"
    if src == "core" and dst == "connectors" and not imported.startswith(CORE_MAY_USE):
        return f"core reaches connectors only through {' and '.join(CORE_MAY_USE)}"
    return None


def _judge_planning(imported: str) -> str | None:
    """The planning room's own rule (None: no objection from it; the floors still apply)."""
    if _top(imported) in PLANNING_NEVER:
        return f"the planning room is pure: no {_top(imported)} (store, terminal or network) in core.planning"
    if _top(imported) in PACKAGES and not any(imported == p or imported.startswith(p + ".")
                                              for p in PLANNING_MAY_USE):
        return f"the planning room is pure: core.planning imports only {', '.join(PLANNING_MAY_USE)}"
    return None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations(root: Path) -> list[Violation]:
    """Every import in the project's packages under `root` that breaks a rule of the floors."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            for line, name in imported_names(path.read_text(encoding="utf-8"), module):
                why = judge(module, name)
                if why:
                    out.append(Violation(str(path.relative_to(root)), line, name, why))
    return out
