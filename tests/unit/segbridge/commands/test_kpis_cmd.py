"""`segbridge kpis`: compute, filter, table / JSON / CSV, the dashboard, and clear refusals."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "kpis", *args])


def test_compute_then_json_carries_every_field(site):
    """Runs 1 and 2 of the site: P1|DC1 moved from B-Y to A-X; no order lines, no on-hand."""
    result = _invoke(site, "--compute", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert set(rows[0]) == {"run_id", "segment", "kpi", "period", "scope", "value", "numerator", "denominator",
                            "note"}
    assert {r["run_id"] for r in rows} == {2}
    moved = [r for r in rows if r["kpi"] == "migration_count"]
    assert sorted((r["segment"], r["scope"], r["value"]) for r in moved) == [
        ("B-Y", "product.segment->A-X", 1.0), ("B-Y", "segment->A-X", 1.0)]
    turns = [r for r in rows if r["kpi"] == "inventory_turns" and r["segment"] == "A-X"]
    assert turns[0]["value"] is None and turns[0]["note"].startswith("unavailable")


def test_filters_and_csv(site):
    assert _invoke(site, "--compute").exit_code == 0
    result = _invoke(site, "--csv", "--segment", "all", "--kpi", "churn_rate")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["scope"], r["value"]) for r in rows] == [("product.segment", "1.0"), ("segment", "1.0")]


def test_table_reads_at_80_columns_and_names_the_run(site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = _invoke(site, "--compute", "--period", "all")
    assert result.exit_code == 0, result.output
    assert "computed" in result.output and "segment run 2" in result.output
    assert max(map(len, result.output.splitlines())) <= 80
    assert "churn_rate" in result.output


def test_report_writes_the_dashboard(site, tmp_path):
    result = _invoke(site, "--compute", "--report", str(tmp_path / "kpis.html"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "kpis.html").read_text(encoding="utf-8")
    assert "Segment run 2" in page and "<svg" in page  # the migration heat map


def test_nothing_computed_says_how(site):
    result = _invoke(site)
    assert result.exit_code == 0 and "segbridge kpis --compute" in result.output


def test_bad_period_kind_and_unknown_run_exit_2(site):
    from basics.errors import ConfigError

    result = _invoke(site, "--compute", "--by", "day")
    assert isinstance(result.exception, ConfigError) and "week, month" in result.exception.message
    result = _invoke(site, "--compute", "--run", "3")
    assert isinstance(result.exception, ConfigError) and "not a successful segment run" in result.exception.message
