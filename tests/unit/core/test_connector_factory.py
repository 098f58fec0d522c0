"""core.connector_factory: one factory for pull, plan --live, apply, reconcile and check, with file
options relative to segbridge.yaml's folder, not the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.connector_factory import connector_for
from core.settings import load_config

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def test_file_options_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "data").mkdir(parents=True)
    (site / "segbridge.yaml").write_text("systems:\n  files:\n    kind: csv_folder\n    mapping: canonical_csv.yaml\n"
                                         "    options: {path: data}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with connector_for(load_config(site / "segbridge.yaml"), "files") as conn:
        assert Path(conn.options.path) == site / "data"


def test_no_code_opens_a_connector_but_through_the_factory():
    """Plan and apply used to call the registry directly and lost the path resolution."""
    callers = [str(p.relative_to(ROOT)) for pkg in ("core", "scheduler", "segbridge") for p in (ROOT / pkg).rglob("*.py")
               if "registry.create(" in p.read_text(encoding="utf-8")]
    assert callers == ["core/connector_factory.py"]
