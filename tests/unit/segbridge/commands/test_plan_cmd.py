"""`segbridge plan`: a plan with nothing to write says so and suggests no apply."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def test_a_plan_with_nothing_to_write_says_so_and_does_not_suggest_apply(demand_site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()
    assert runner.invoke(build_app(), ["-c", str(demand_site / "segbridge.yaml"), "segment"]).exit_code == 0
    result = runner.invoke(build_app(), ["-c", str(demand_site / "segbridge.yaml"), "plan",
                                         "--out", str(demand_site / "plans")])
    assert result.exit_code == 0, result.output
    assert "nothing to write: every system already holds the planned values" in result.output
    assert "segbridge apply" not in result.output and "0 change(s)" in result.output
