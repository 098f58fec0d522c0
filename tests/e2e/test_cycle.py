"""The whole cycle against the SAP and WMS sandboxes over real HTTP on 127.0.0.1.

pull -> segment -> plan -> apply -> reconcile ends with zero exceptions; a second plan right
after the apply has zero changes; a value changed in SAP by hand (as an ERP user would) is
exactly one exception carrying the intended and the actual value.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from core.cycle import run_cycle
from core.reconcile import list_exceptions, run_reconcile
from core.settings import load_config
from core.writeback.intended import intended_values
from core.writeback.plan import make_plan
from sandbox.generator import generate
from segbridge.commands.common import store_of
from segbridge.demo_world import hand_edit_sap, start_world, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def world(tmp_path):
    dataset = generate(seed=11, products=40, locations=2, customers=20, weeks=52, order_rate=0.3)
    with ExitStack() as stack:
        w = start_world(stack, dataset, only=["sap", "wms"])
        assert {s.name for s in w.systems} == {"sap", "wms"}, w.skipped
        config = load_config(write_config(tmp_path, w))
        db = store_of(config)
        yield w, config, db
        db.dispose()


def test_cycle_is_clean_then_a_hand_edit_is_one_exception(world):
    w, config, db = world
    result = run_cycle(config, db, trigger="manual")
    statuses = {name: step.status for name, step in result.steps.items()}
    assert statuses == {"pull": "ok", "segment": "ok", "plan": "ok", "apply": "ok", "reconcile": "ok"}, result
    assert result.status == "ok"
    assert result.steps["apply"].counts["applied"] == result.steps["plan"].counts["changes"] > 0
    assert result.steps["reconcile"].counts["exceptions"] == 0
    assert list_exceptions(db, status=["open", "acknowledged"]) == []

    second = make_plan(config, db)
    assert json.loads(second.summary)["changes"] == 0

    edit = hand_edit_sap(w, intended_values(config, db, ["sap"]))
    assert edit is not None and edit.after != edit.intended
    summary = run_reconcile(config, db)
    assert (summary.new, summary.remaining, summary.exit_code) == (1, 1, 3)
    [exc] = list_exceptions(db, status=["open"])
    assert (exc.kind, exc.system, exc.entity, json.loads(exc.entity_key), exc.field) == (
        "value_mismatch", "sap", edit.entity, edit.key, edit.field)
    assert (exc.expected, exc.actual, exc.owner) == (edit.intended, edit.after, "sap-master-data@example.com")
