"""Plans: intended values through the reverse map, real changes only, guardrails, blocking, exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select, update

from basics.errors import BlockedError, ConfigError
from core.model import AuditEvent, Plan, PlannedChange, ProductLocation, Run
from core.store import read_frame
from core.writeback.approve import approve
from core.writeback.intended import INTENDED_COLUMNS, intended_values
from core.writeback.plan import CHANGE_COLUMNS, export_plan, make_plan
from core.writeback.values import same
from core.writeback.writeback_settings import Tolerance
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


def changes_of(db, plan_id: int) -> pd.DataFrame:
    pc = PlannedChange.__table__
    return read_frame(db, select(pc).where(pc.c.plan_id == plan_id).order_by(pc.c.id))


def test_intended_values_formats_for_the_target(store, tmp_path):
    its = s.items(2)
    s.seed(store, its)
    frame = intended_values(s.make_config(tmp_path, "w"), store)
    assert set(INTENDED_COLUMNS) <= set(frame.columns)
    row = frame[(frame["field"] == "SafetyStockQuantity") & (frame["target_key"] == s.key_json("P0001", "1010"))]
    assert row[["intended_value", "stored_value", "source", "canonical_entity"]].values.tolist() == [
        ["12.000", "11.000", "safety_stock", "product_location"]]
    assert json.loads(row["canonical_key"].iloc[0]) == {"product_id": "P0001", "location_id": "1010"}
    assert len(frame) == 2 * 3


def test_plan_keeps_only_real_changes_and_summarises(store, tmp_path):
    its = s.items(5, changed=2)
    run_id = s.seed(store, its)
    plan = make_plan(s.make_config(tmp_path, "w"), store)
    assert (plan.status, plan.run_id, plan.kind) == ("ready", run_id, "normal")
    changes = changes_of(store, plan.id)
    assert sorted(changes["field"].unique()) == ["ReorderThresholdQuantity", "SafetyStockQuantity"]
    assert len(changes) == 4 and set(changes["state"]) == {"pending"}
    ss = changes[changes["field"] == "SafetyStockQuantity"].sort_values("target_key")
    assert ss[["current_value", "intended_value", "value_impact"]].values.tolist() == [
        ["10.000", "11.000", 2.0], ["11.000", "12.000", 2.0]]
    summary = json.loads(plan.summary)
    assert summary["rows"] == [
        {"system": "sap", "entity": s.ENTITY, "field": "ReorderThresholdQuantity", "changes": 2, "increases": 2,
         "decreases": 0, "value_impact": None},
        {"system": "sap", "entity": s.ENTITY, "field": "SafetyStockQuantity", "changes": 2, "increases": 2,
         "decreases": 0, "value_impact": 4.0}]
    exported = pd.read_csv(summary["files"]["csv"])
    assert len(exported) == 4
    assert json.loads(open(summary["files"]["json"]).read())["changes"][0]["system"] == "sap"


def test_tolerance_suppresses_rounding_noise(store, tmp_path):
    its = [{"product": "P1", "plant": "1010", "cur_ss": 10.0, "ss": 10.4, "cur_rop": 20.0, "rop": 20.1,
            "abc": "A", "cur_abc": "A", "cost": 1.0}]
    s.seed(store, its)
    cfg = s.make_config(tmp_path, "w", writeback={"tolerances": {"safety_stock": {"absolute": 0.5},
                                                                 "ReorderThresholdQuantity": {"relative": 0.001}}})
    plan = make_plan(cfg, store)
    assert changes_of(store, plan.id)[["field", "intended_value"]].values.tolist() == [
        ["ReorderThresholdQuantity", "20.100"]]


def test_values_compare_numbers_and_text():
    assert same("120.5", "120.500") and not same("120.5", "120.6")
    assert same("10", "10.4", Tolerance(absolute=0.5)) and not same("10", "10.6", Tolerance(absolute=0.5))
    assert same("1.04", "1.0", Tolerance(decimals=1))
    assert same(None, None) and not same(None, "A") and not same("A", "B")


def test_class_change_guardrail_needs_approval_then_approve(store, tmp_path):
    its = s.items(4, changed=0)
    for i in its[:2]:
        i["abc"] = "B"
    s.seed(store, its)
    plan = make_plan(s.make_config(tmp_path, "w", writeback={"guardrails": {"max_class_change_share": 0.25}}), store)
    assert plan.status == "needs_approval"
    assert plan.reason == "2 of 4 items change class (50.0% > 25.0%)"
    with pytest.raises(ConfigError):
        approve(store, plan.id, " ", actor="ana")
    approved = approve(store, plan.id, "reviewed the reclassification", actor="ana")  # not the planner (OS user)
    assert (approved.status, approved.approved_by) == ("approved", "ana")
    with store.connect() as conn:
        ev = conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "approve")).one()
    assert (ev.actor, ev.entity_key, ev.reason) == ("ana", str(plan.id), "reviewed the reclassification")


def test_safety_stock_value_guardrail(store, tmp_path):
    its = [{"product": "P1", "plant": "1010", "cur_ss": 100.0, "ss": 150.0, "cur_rop": 1.0, "rop": 1.0,
            "abc": "A", "cur_abc": "A", "cost": 3.0}]
    s.seed(store, its)
    plan = make_plan(s.make_config(tmp_path, "w"), store)
    assert plan.status == "needs_approval"
    assert plan.reason == "safety-stock value rises 50.0% (300.00 -> 450.00; limit 10%)"


def test_suspect_run_blocks_the_plan_and_approval(store, tmp_path):
    run_id = s.seed(store, s.items(2), run_kwargs={"suspect": True})
    plan = make_plan(s.make_config(tmp_path, "w"), store)
    assert plan.status == "blocked" and f"segment run {run_id}" in plan.reason
    with pytest.raises(BlockedError):
        approve(store, plan.id, "looks fine", actor="ana")
    with store.begin() as conn:
        conn.execute(update(Run.__table__).where(Run.__table__.c.id == run_id).values(released_by="steward"))
    assert make_plan(s.make_config(tmp_path, "w"), store).status == "ready"


def test_approval_required_always(store, tmp_path):
    s.seed(store, s.items(1))
    cfg = s.make_config(tmp_path, "w", writeback={"guardrails": {"approval_required": True}})
    assert make_plan(cfg, store).status == "needs_approval"


def test_live_plan_reads_current_values_from_the_system(store, tmp_path):
    its = s.items(3, changed=0)
    s.seed(store, its)
    world = s.world_from_store("live1", its)
    world.records[s.ENTITY][s.key_json("P0002", "1010")]["SafetyStockQuantity"] = "99.000"
    plan = make_plan(s.make_config(tmp_path, "live1"), store, live=True)
    assert changes_of(store, plan.id)[["target_key", "field", "current_value", "intended_value"]].values.tolist() == [
        [s.key_json("P0002", "1010"), "SafetyStockQuantity", "99.000", "12.000"]]


def test_second_plan_after_apply_has_zero_changes(store, tmp_path):
    from core.writeback.apply import apply_plan

    its = s.items(6, changed=4)
    s.seed(store, its)
    s.world_from_store("again", its)
    cfg = s.make_config(tmp_path, "again")
    first = make_plan(cfg, store)
    assert json.loads(first.summary)["changes"] == 8
    assert apply_plan(cfg, store, first.id).ok
    second = make_plan(cfg, store)
    assert json.loads(second.summary)["changes"] == 0
    pl = read_frame(store, select(ProductLocation.__table__).where(ProductLocation.product_id == "P0000"))
    assert pl["current_safety_stock"].tolist() == [11.0]
    with store.connect() as conn:
        assert conn.execute(select(Plan.__table__.c.status).where(Plan.id == first.id)).scalar() == "applied"


def test_plan_files_are_private_and_the_csv_neutralises_source_text(tmp_path):
    import csv

    hostile = '=HYPERLINK("http://x",A1)'
    changes = pd.DataFrame([{"system": "sap", "entity": "A_Product", "target_key": hostile, "field": "+1",
                             "current_value": "-2+3", "intended_value": "@SUM(A1)", "value_impact": -4.5,
                             "source": "safety_stock", "canonical_entity": "product_location",
                             "canonical_key": hostile}], columns=CHANGE_COLUMNS)
    files = export_plan(7, changes, {"changes": 1}, tmp_path / "plans")
    for path in files.values():
        assert (tmp_path / "plans" / path.rsplit("/", 1)[-1]).stat().st_mode & 0o777 == 0o600
    with open(files["csv"], encoding="utf-8", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["target_key"], row["field"], row["current_value"], row["intended_value"]) == (
        "'" + hostile, "'+1", "'-2+3", "'@SUM(A1)")
    assert row["value_impact"] == "-4.5"  # a number: no apostrophe
    saved = json.loads(open(files["json"], encoding="utf-8").read())
    assert saved["changes"][0]["target_key"] == hostile  # JSON is data, not a sheet: values kept as they are
