"""The generic top-level names (core, connectors, scheduler) must resolve to this project."""

import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]


@pytest.mark.parametrize("name", [p for p in PACKAGES if p != "segbridge.mappings"])
def test_each_listed_package_imports_from_this_project(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), module.__file__


def test_every_python_package_dir_is_listed():
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".") for p in ROOT.glob("*/**/__init__.py")
             if not str(p).startswith(str(ROOT / ".venv")) and "tests" not in p.parts and "bench" not in p.parts}
    missing = found - set(PACKAGES)
    assert not missing, f"packages not listed in pyproject.toml: {sorted(missing)}"


def test_mappings_folder_holds_yaml_only():
    files = [p for p in (ROOT / "mappings").rglob("*") if p.is_file()]
    assert all(p.suffix in (".yaml", ".yml") for p in files), [p.name for p in files if p.suffix != ".yaml"]


def test_pyrfc_is_never_required():
    deps = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "pyrfc" not in deps
    assert extras["rfc"] == []
    assert any(d.startswith("psycopg") for d in extras["postgres"])


def test_console_script_points_at_cli():
    assert PYPROJECT["project"]["scripts"]["segbridge"] == "segbridge.cli:main"
