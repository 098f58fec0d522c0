"""`segbridge schedule list`: the jobs as a table that fits 80 columns, or --json / --csv for scripts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit

CONFIG = """database: {url: "sqlite:///store.db"}
systems:
  files: {kind: csv_folder, mapping: canonical_csv.yaml, options: {path: data}}
schedules:
  timezone: Europe/Berlin
  steps:
    pull: {cron: "0 */4 * * *"}
    segment: {depends_on: [pull]}
"""


def _list(tmp_path, *args: str) -> str:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "segbridge.yaml").write_text(CONFIG)
    res = CliRunner().invoke(build_app(), ["-c", str(tmp_path / "segbridge.yaml"), "schedule", "list", *args],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0 and res.exception is None, f"{res.output}\n{res.exception!r}"
    return res.output


def test_json_lists_every_job_with_stable_keys(tmp_path):
    jobs = json.loads(_list(tmp_path, "--json"))
    assert [j["job"] for j in jobs] == ["pull:files", "segment"]
    assert set(jobs[0]) == {"job", "trigger", "timezone", "next_fire", "depends_on", "last_run_id", "last_status"}
    assert jobs[1]["depends_on"] == "pull:files" and jobs[1]["next_fire"] is None
    assert jobs[0]["timezone"] == "Europe/Berlin" and jobs[0]["next_fire"]


def test_csv_has_a_row_per_job(tmp_path):
    rows = list(csv.DictReader(io.StringIO(_list(tmp_path, "--csv"))))
    assert [r["job"] for r in rows] == ["pull:files", "segment"]


def test_the_table_fits_80_columns(tmp_path):
    text = _list(tmp_path)
    assert "pull:files" in text and "segment" in text
    assert max(len(line) for line in text.splitlines()) <= 80
