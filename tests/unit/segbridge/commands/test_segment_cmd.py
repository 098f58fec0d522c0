"""`segbridge segment`: a summary table and the next step for people, the counts as JSON for scripts,
and a start and an end event per run in `--json-logs`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), *args])


def test_segment_ends_with_a_summary_and_the_next_step(demand_site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    first = _invoke(demand_site, "segment")
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())
    assert "segment run 1" in text and "product-locations" in text
    assert "│ total │ 5 │" in text and "parameter changes" in text and "safety-stock investment" in text
    assert "next: `segbridge plan`" in text and "{" not in first.output  # no JSON dict for people
    second = " ".join(_invoke(demand_site, "segment").output.split())
    assert "│ class changes │ 0 │" in second and "vs run 1)" in second  # same data: nothing moved


def test_segment_json_prints_the_counts(demand_site):
    result = _invoke(demand_site, "segment", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["run_id"] == 1 and counts["product_locations"] == 5 and sum(counts["segments"].values()) == 5


def test_json_logs_carry_a_start_and_an_end_event_with_counts(demand_site, restore_logging):
    result = CliRunner().invoke(build_app(), ["-c", str(demand_site / "segbridge.yaml"), "--json-logs",
                                              "segment", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    runs = [e for e in events if e.get("logger") == "segbridge.runs"]
    assert [(e["event"], e["run_id"], e["kind"], e["status"]) for e in runs] == [
        ("run_started", 1, "segment", "running"), ("run_finished", 1, "segment", "ok")]
    assert runs[1]["counts"]["product_locations"] == 5 and runs[0]["level"] == "info"


def test_the_console_log_stays_quiet_about_runs(demand_site, restore_logging):
    result = CliRunner().invoke(build_app(), ["-c", str(demand_site / "segbridge.yaml"), "segment", "--json"])
    assert result.exit_code == 0 and "run_started" not in result.stderr and "started" not in result.stderr


def test_an_unknown_engine_is_refused_with_the_choices(demand_site):
    result = _invoke(demand_site, "segment", "--engine", "dask")
    assert result.exit_code != 0 and "unknown engine" in str(result.exception)
    assert "--engine pandas or --engine spark" in result.exception.hint


def test_engine_pandas_runs_the_one_machine_engine(demand_site):
    result = _invoke(demand_site, "segment", "--engine", "pandas", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["product_locations"] == 5


@pytest.mark.spark
def test_engine_spark_saves_the_same_segments(demand_site, spark):
    first = json.loads(_invoke(demand_site, "segment", "--json").stdout)
    result = _invoke(demand_site, "segment", "--engine", "spark", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["run_id"] == 2 and counts["segments"] == first["segments"] and counts["audit_events"] == 0
    same = ("data_quality", "unmatched", "customers", "products", "product_locations")
    assert {k: counts[k] for k in same} == {k: first[k] for k in same}  # what pandas shows, Spark shows
