"""One name, one meaning: no two modules (or packages) of the project share a base name.

`from x import engine` should never leave a reader wondering which of three engines it is. The
allowed repeats are Python's own file names, which say the same thing wherever they appear.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.architecture.floors import PACKAGES

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"__init__", "__main__"}
SKIP = {"versions"}  # Alembic revision files are named by number, and never imported by name


def base_names(root: Path) -> dict[str, list[str]]:
    """Each base name -> the modules and packages that carry it."""
    names: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        top = root / package
        names[package].append(package + "/")
        for path in sorted(top.rglob("*.py")):
            rel = path.relative_to(root)
            if SKIP & set(rel.parts):
                continue
            names[path.stem].append(str(rel))
        for folder in sorted(p for p in top.rglob("*") if p.is_dir() and (p / "__init__.py").exists()):
            names[folder.name].append(str(folder.relative_to(root)) + "/")
    return names


def clashes(root: Path) -> dict[str, list[str]]:
    return {n: sorted(where) for n, where in base_names(root).items() if len(where) > 1 and n not in ALLOWED}


def test_no_two_modules_share_a_base_name():
    found = clashes(ROOT)
    assert not found, "base names used more than once:\n" + "\n".join(
        f"  {n}: {', '.join(w)}" for n, w in sorted(found.items()))


def test_a_clash_is_found(tmp_path):
    for rel in ["core/engine.py", "core/mapping/__init__.py", "core/mapping/engine.py",
                "connectors/__init__.py", "connectors/sap/__init__.py", "sandbox/sap.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert clashes(tmp_path) == {"engine": ["core/engine.py", "core/mapping/engine.py"],
                                 "sap": ["connectors/sap/", "sandbox/sap.py"]}
