"""core.reconcile.reconciler: observations from compare results, alerts, run counts, remaining exceptions,
and run_reconcile's scope and skips (the compare-heavy cases live in test_compare.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from basics.errors import ConfigError
from connectors.base import CheckResult, Connector
from core.model import ReconException, Run
from core.reconcile.compare import RESULT_COLUMNS
from core.reconcile.discrepancies import Observation, upsert_observations
from core.reconcile.reconcile_settings import ReconcileConfig
from core.reconcile.reconciler import (
    ReconcileSummary,
    alerts_for,
    load_intended,
    remaining_counts,
    run_counts,
    run_reconcile,
    value_observations,
)
from core.settings import SegbridgeConfig

pytestmark = pytest.mark.unit


class Held(Connector):
    """A target holding fixed records keyed by `Id`; counts closes."""

    kind = "held"

    def __init__(self, records: list[dict]):
        super().__init__({}, name="held")
        self.records, self.closed = records, 0

    def check(self):
        return CheckResult(True, "ok")

    def discover(self):
        return []

    def read(self, stream, state):
        return iter(())

    def read_back(self, target, keys):
        wanted = {str(k["Id"]) for k in keys}
        return [dict(r) for r in self.records if str(r["Id"]) in wanted]

    def close(self):
        self.closed += 1


def _result(system, entity, key, field, expected, actual, status, note=None):
    return {"system": system, "entity": entity, "target_key": key, "field": field, "expected": expected,
            "actual": actual, "canonical_entity": None, "canonical_key": None, "status": status, "note": note}


def test_value_observations_file_mismatches_and_one_orphan_per_record():
    rc = ReconcileConfig.model_validate({"stewards": {"sap": {"*": "mdm"}},
                                         "severity": [{"kind": "orphan", "severity": "low"}]})
    results = pd.DataFrame([
        _result("sap", "Plan", "k1", "SS", "5", "4", "mismatch"),
        _result("sap", "Plan", "k1", "ROP", "9", "9", "match"),
        _result("sap", "Plan", "k2", "SS", "1", "(missing)", "missing"),
        _result("sap", "Plan", "k2", "ROP", "2", "(missing)", "missing", note="HTTP 404"),
    ], columns=RESULT_COLUMNS)
    obs = value_observations(rc, results)
    assert [(o.kind, o.entity_key, o.field, o.expected, o.actual, o.severity, o.owner) for o in obs] == [
        ("value_mismatch", "k1", "SS", "5", "4", "medium", "mdm"),
        ("orphan", "k2", "*", None, "(missing)", "low", "mdm")]
    assert obs[1].reason == "HTTP 404"  # the last field's note wins for the one orphan


def test_alerts_for_each_threshold():
    rc = ReconcileConfig.model_validate({"alerts": {"max_open": 2, "max_new": 1, "min_severity": "high"}})
    summary = ReconcileSummary(run_id=7, systems=["sap"], new=2, remaining=3)
    assert alerts_for(rc, summary, ["low", "high", "critical"]) == [
        "3 exceptions remain open (threshold 2)", "2 new exceptions in run 7 (threshold 1)",
        "2 new exception(s) of severity high or higher"]
    assert alerts_for(ReconcileConfig(), ReconcileSummary(run_id=1, systems=[], new=50, remaining=50),
                      ["medium"]) == []


def test_summary_exit_code_and_run_counts():
    summary = ReconcileSummary(run_id=1, systems=["sap"], compared=10, matched=8, observed=2, new=1, recurring=1,
                               remaining=2, by_kind={"value_mismatch": 2}, unreadable={"crm": "down"})
    assert summary.exit_code == 3 and ReconcileSummary(run_id=2, systems=[]).exit_code == 0
    assert run_counts(summary) == {"exceptions": 2, "compared": 10, "matched": 8, "observed": 2, "new": 1,
                                   "recurring": 1, "reopened": 0, "auto_resolved": 0, "unreadable": 1,
                                   "open_value_mismatch": 2}
    assert summary.as_dict()["unreadable"] == {"crm": "down"}


def test_remaining_counts_open_and_acknowledged_in_scope(store):
    upsert_observations(store, [Observation("value_mismatch", "sap", "Plan", "k1", "SS"),
                                Observation("orphan", "sap", "Plan", "k2", "*"),
                                Observation("orphan", "crm", "Account", "a1", "*"),
                                Observation("conflict", None, "customer", "c1", "id")], run_id=None)
    t = ReconException.__table__
    with store.begin() as conn:
        conn.execute(t.update().where(t.c.entity_key == "k2").values(status="acknowledged"))
        conn.execute(t.update().where(t.c.entity_key == "a1").values(status="resolved"))
    assert remaining_counts(store, ["sap"]) == (2, {"value_mismatch": 1, "orphan": 1}, {"sap": 2})
    assert remaining_counts(store, None) == (3, {"value_mismatch": 1, "orphan": 1, "conflict": 1},
                                             {"sap": 2, "-": 1})


def test_load_intended_without_a_segment_run_is_empty_and_says_why(store):
    cfg = SegbridgeConfig.model_validate({"systems": {"crm": {"kind": "held"}}})
    summary = ReconcileSummary(run_id=0, systems=["crm"])
    frame = load_intended(cfg, store, ["crm"], summary)
    assert frame.empty and list(frame.columns) == ["system", "entity", "target_key", "field", "intended_value"]


def test_run_reconcile_scope_closes_connectors_and_records_the_run(store):
    cfg = SegbridgeConfig.model_validate({"systems": {"crm": {"kind": "held"}, "old": {"kind": "held",
                                                                                      "enabled": False}}})
    intended = pd.DataFrame([["crm", "Account", json.dumps({"Id": "1"}), "Segment__c", "A", "customer", "1"],
                             ["old", "Account", json.dumps({"Id": "1"}), "Segment__c", "A", "customer", "1"]],
                            columns=["system", "entity", "target_key", "field", "intended_value",
                                     "canonical_entity", "canonical_key"])
    crm = Held([{"Id": "1", "Segment__c": "A"}])
    opened = []
    summary = run_reconcile(cfg, store, intended=intended,
                            connector_for=lambda name: opened.append(name) or crm)
    assert summary.systems == ["crm"] and opened == ["crm"] and crm.closed == 1
    assert (summary.compared, summary.matched, summary.remaining, summary.exit_code) == (1, 1, 0, 0)
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__).where(Run.__table__.c.id == summary.run_id)).one()
    assert (run.kind, run.status, json.loads(run.counts)["compared"]) == ("reconcile", "ok", 1)
    with pytest.raises(ConfigError):
        run_reconcile(cfg, store, systems=["crn"], intended=intended, connector_for=lambda n: crm)


def test_nothing_to_compare_is_reported_as_skipped(store):
    cfg = SegbridgeConfig.model_validate({"systems": {"crm": {"kind": "held"}}})
    empty = pd.DataFrame(columns=["system", "entity", "target_key", "field", "intended_value"])
    summary = run_reconcile(cfg, store, intended=empty, connector_for=lambda n: Held([]))
    assert summary.skipped == ["value comparison: no intended values for these systems"]
    assert (summary.compared, summary.remaining) == (0, 0)
