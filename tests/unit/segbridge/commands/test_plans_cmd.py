"""`segbridge plans list|show`: the plans made so far, for people and scripts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from core.store import open_store
from core.writeback.plan import save_plan
from segbridge.cli import build_app

pytestmark = pytest.mark.unit


@pytest.fixture
def plans_site(site):
    """The segment site with two plans: 1 ready (by ann, 1 change), 2 needs_approval (by bob)."""
    db = open_store(f"sqlite:///{site / 'store.db'}")
    change = pd.DataFrame([{"system": "sap", "entity": "A_ProductPlant", "target_key": '{"Product": "P1"}',
                            "field": "SafetyStockQuantity", "current_value": "10", "intended_value": "15",
                            "value_impact": 50.0}])
    rows = [{"system": "sap", "entity": "A_ProductPlant", "field": "SafetyStockQuantity", "changes": 1,
             "increases": 1, "decreases": 0, "value_impact": 50.0}]
    save_plan(db, 2, "normal", "ready", None, {"changes": 1, "compared": 3, "rows": rows}, change, planned_by="ann")
    save_plan(db, 2, "normal", "needs_approval", "=changes above 20 %", {"changes": 0, "compared": 3, "rows": []},
              change.iloc[0:0], planned_by="bob")
    db.dispose()
    return site


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "plans", *args])


def test_list_json_newest_first_with_who_and_how_many_changes(plans_site):
    result = _invoke(plans_site, "list", "--json")
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)
    assert [(p["id"], p["status"], p["planned_by"], p["changes"]) for p in plans] == [
        (2, "needs_approval", "bob", 0), (1, "ready", "ann", 1)]
    assert plans[0]["reason"] == "=changes above 20 %" and plans[0]["approved_by"] is None


def test_list_csv_neutralises_and_filters_by_status(plans_site):
    result = _invoke(plans_site, "list", "--csv", "--status", "needs_approval")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("2,normal,needs_approval") and "'=changes above 20 %" in lines[1]


def test_list_table_at_80_columns(plans_site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = _invoke(plans_site, "list")
    assert result.exit_code == 0, result.output
    assert max(map(len, result.output.splitlines())) <= 80
    assert result.output.splitlines()[1].split()[:6] == ["id", "kind", "status", "created", "run", "changes"]


def test_an_unknown_status_is_refused_with_the_known_ones(plans_site):
    result = _invoke(plans_site, "list", "--status", "done")
    assert "unknown plan status 'done'" in str(result.exception) and "needs_approval" in result.exception.hint


def test_show_gives_the_plan_and_its_changes(plans_site):
    result = _invoke(plans_site, "show", "1")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "plan 1" in text and "ann" in text and "SafetyStockQuantity" in text
    as_json = json.loads(_invoke(plans_site, "show", "1", "--json").stdout)
    assert as_json["id"] == 1 and as_json["summary"]["rows"][0]["changes"] == 1


def test_no_plans_says_how_to_make_one(site):
    result = _invoke(site, "list")
    assert result.exit_code == 0 and "make one with `segbridge plan`" in result.output
