"""core.plan_review: per-line review with four eyes and versions, overrides, parameters old -> new."""

from __future__ import annotations

import pandas as pd
import pytest

from basics.errors import BlockedError, ConfigError, StaleError
from core import plan_review as pr
from core.model import ParameterValue, SegmentAssignment
from core.runs import finish_run, start_run
from core.store import upsert
from core.writeback.plan import save_plan

pytestmark = pytest.mark.unit


@pytest.fixture
def plan(store):
    changes = pd.DataFrame([{"system": "sap", "entity": "A_ProductPlant", "target_key": f'{{"P": "{i}"}}',
                             "field": "SafetyStock", "current_value": i, "intended_value": i + 1,
                             "value_impact": 1.0} for i in range(3)])
    return store, save_plan(store, None, "normal", "needs_approval", "big change", {}, changes, planned_by="pia")


def test_lines_are_approved_or_rejected_with_four_eyes_and_versions(plan):
    db, plan_id = plan
    with pytest.raises(BlockedError, match="second person"):
        pr.review_lines(db, plan_id, [1], "approved", "pia")
    assert pr.review_lines(db, plan_id, [1], "approved", "alma", versions={1: 1}) == 1
    with pytest.raises(StaleError):
        pr.review_lines(db, plan_id, [2, 1], "rejected", "ada", "no", versions={1: 1, 2: 1})
    with pytest.raises(ConfigError, match="needs a reason"):
        pr.review_lines(db, plan_id, [2], "rejected", "ada")
    assert pr.reject_plan(db, plan_id, "ada", "wrong") == 3  # every pending line (line 1 too: still pending)
    lines, total = pr.plan_lines(db, plan_id)
    assert total == 3 and {li.state for li in lines} == {"rejected"}
    with pytest.raises(Exception, match="no longer pending"):
        pr.review_lines(db, plan_id, [1], "approved", "alma")


def test_an_override_is_inactive_until_someone_else_approves(store):
    ov = pr.request_override(store, "product", "P1", "segment", "A", "launch", "pia")
    assert ov.active is False
    with pytest.raises(BlockedError):
        pr.approve_override(store, ov.id, "pia")
    assert pr.approve_override(store, ov.id, "alma").active is True
    with pytest.raises(Exception, match="already approved"):
        pr.approve_override(store, ov.id, "ada")


def test_parameters_with_old_values_and_segment_migration(store):
    for value, seg in ((1.0, "B"), (2.0, "A")):
        run_id = start_run(store, "segment")
        upsert(store, ParameterValue, [{"run_id": run_id, "entity": "product", "entity_key": k, "name": "ss",
                                        "value_num": value} for k in ("P1", "P2")])
        upsert(store, SegmentAssignment, [{"run_id": run_id, "entity": "product", "entity_key": k,
                                           "dimension": "segment", "value": seg} for k in ("P1", "P2")])
        finish_run(store, run_id, "ok")
    rows = pr.run_parameters(store, 2)
    assert [(r["entity_key"], r["old_num"], r["value_num"]) for r in rows] == [("P1", 1.0, 2.0), ("P2", 1.0, 2.0)]
    assert pr.segment_migration(store, 2) == [{"before": "B", "after": "A", "n": 2}]
    assert pr.run_parameters(store, 2, key="P2", size=1)[0]["entity_key"] == "P2"
