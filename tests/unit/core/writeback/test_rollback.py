"""Rollback plans restore the values in place before an apply, and apply like any plan."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from basics.errors import SegbridgeError
from core.model import PlannedChange
from core.store import read_frame
from core.writeback.apply import apply_plan
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


def test_rollback_restores_values_before_the_apply(store, tmp_path):
    its = s.items(3, changed=2)
    segment_run = s.seed(store, its)
    world = s.world_from_store("rb", its)
    cfg = s.make_config(tmp_path, "rb")
    applied = apply_plan(cfg, store, make_plan(cfg, store).id)
    assert world.value("P0000", "1010", "SafetyStockQuantity") == "11.000"

    plan = make_plan(cfg, store, rollback_of=applied.run_id)
    assert (plan.kind, plan.status, plan.run_id) == ("rollback", "ready", segment_run)
    pc = PlannedChange.__table__
    changes = read_frame(store, select(pc).where(pc.c.plan_id == plan.id).order_by(pc.c.id))
    assert sorted(zip(changes["target_key"], changes["field"], changes["current_value"],
                      changes["intended_value"], strict=False)) == [
        (s.key_json("P0000", "1010"), "ReorderThresholdQuantity", "21.000", "20.000"),
        (s.key_json("P0000", "1010"), "SafetyStockQuantity", "11.000", "10.000"),
        (s.key_json("P0001", "1010"), "ReorderThresholdQuantity", "23.000", "22.000"),
        (s.key_json("P0001", "1010"), "SafetyStockQuantity", "12.000", "11.000")]
    assert apply_plan(cfg, store, plan.id).ok
    assert world.value("P0000", "1010", "SafetyStockQuantity") == "10.000"
    assert world.value("P0001", "1010", "ReorderThresholdQuantity") == "22.000"
    # after the rollback the segment run's values are a change again
    assert json.loads(make_plan(cfg, store).summary)["changes"] == 4


def test_rollback_by_segment_run_and_refusals(store, tmp_path):
    its = s.items(2)
    segment_run = s.seed(store, its)
    s.world_from_store("rb2", its)
    cfg = s.make_config(tmp_path, "rb2")
    with pytest.raises(SegbridgeError, match="applied no changes"):
        make_plan(cfg, store, rollback_of=segment_run)
    apply_plan(cfg, store, make_plan(cfg, store).id)
    plan = make_plan(cfg, store, rollback_of=segment_run)
    assert json.loads(plan.summary)["changes"] == 4
    with pytest.raises(SegbridgeError, match="run 999 not found"):
        make_plan(cfg, store, rollback_of=999)
