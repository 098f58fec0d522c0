"""`segbridge runs list`: a table that reads at 80 columns, JSON and CSV for scripts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "runs", "list", *args])


def test_json_lists_runs_newest_first_with_counts_as_an_object(site):
    result = _invoke(site, "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["id"], r["kind"], r["status"]) for r in runs] == [(3, "pull", "ok"), (2, "segment", "ok"),
                                                                (1, "segment", "ok")]
    assert set(runs[0]) >= {"id", "kind", "system", "status", "trigger", "started_at", "finished_at", "seconds",
                            "counts", "message"}
    assert runs[0]["counts"] == {} and runs[0]["started_at"].startswith("20")


def test_csv_has_a_header_and_a_row_per_run(site):
    result = _invoke(site, "--csv", "--kind", "segment")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == ["2", "1"] and rows[0]["counts"] == "{}"


def test_table_fits_80_columns(site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = _invoke(site)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[1].split()[:5] == ["id", "kind", "system", "status", "started"]
