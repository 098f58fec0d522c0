"""Compare with tolerances, read back through a connector, and file exceptions from a reconcile run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from connectors.base import CheckResult, Connector
from core.model import EntityCount, ReconException, Run
from core.reconcile.compare import compare_group, equal, index_records, read_back_group
from core.reconcile.reconcile_settings import FieldTolerance, ReconcileConfig, Tolerances
from core.reconcile.reconciler import run_reconcile
from core.settings import SegbridgeConfig
from core.store import upsert

pytestmark = pytest.mark.unit


class MemoryConnector(Connector):
    """A target system held in a dict: (entity, key tuple) -> record. Records read-back calls."""

    kind = "memory"

    def __init__(self, records: dict[str, list[dict]], key_fields: dict[str, list[str]], fail: bool = False):
        super().__init__({}, name="memory")
        self.records, self.key_fields, self.fail, self.calls = records, key_fields, fail, []
        self.bad: set[tuple] = set()  # keys whose read-back raises (e.g. a 404 from the system)

    def check(self):
        return CheckResult(True, "ok")

    def discover(self):
        return []

    def read(self, stream, state):
        return iter(())

    def read_back(self, target, keys):
        if self.fail:
            raise ConnectionError("connection refused")
        self.calls.append((target, len(keys)))
        fields = self.key_fields[target]
        wanted = {tuple(str(k[f]) for f in fields) for k in keys}
        if wanted & self.bad:
            raise LookupError(f"HTTP 404: {sorted(wanted & self.bad)[0]} not found")
        return [dict(r) for r in self.records.get(target, []) if tuple(str(r[f]) for f in fields) in wanted]


def tk(**key) -> str:
    return json.dumps(key, sort_keys=True)


@pytest.mark.parametrize("expected, actual, rule, result", [
    ("120.500", "120.5", FieldTolerance(), True),
    ("120.500", 120.5, FieldTolerance(), True),
    ("10", "10.0005", FieldTolerance(), True),
    ("10", "10.01", FieldTolerance(), False),
    ("10", "10.4", FieldTolerance(abs=0.5), True),
    ("100", "101", FieldTolerance(rel=0.02), True),
    ("100", "103", FieldTolerance(rel=0.02), False),
    ("Gold", "GOLD", FieldTolerance(), False),
    ("Gold", "GOLD", FieldTolerance(ignore_case=True), True),
    ("A  B", " A B ", FieldTolerance(), True),
    ("A  B", " A B ", FieldTolerance(ignore_whitespace=False), False),
    ("A", "01", FieldTolerance(type="code", code_map={"01": "A"}), True),
    ("01", "1", FieldTolerance(type="code", code_map={"1": "01"}), True),
    ("01", "1", FieldTolerance(type="text"), False),
    ("01", "1", FieldTolerance(), True),
    ("abc", "abd", FieldTolerance(type="number"), False),
    (None, "", FieldTolerance(), True),
    (None, "5", FieldTolerance(), False),
    ("1234.5", "1,234.5", FieldTolerance(), True),  # read by the mapping's number parser
    ("15", "1,5", FieldTolerance(), False),  # an ambiguous comma is not stripped (it was 15)
    ("15", "1,5", FieldTolerance(type="number"), False),
    ("1e308", "inf", FieldTolerance(type="number"), False),  # not a finite number
])
def test_equal_tolerances(expected, actual, rule, result):
    assert equal(expected, actual, rule, Tolerances()) is result


def test_type_defaults_come_from_the_config():
    tol = Tolerances.model_validate({"number": {"abs": 1}, "text": {"ignore_case": True},
                                     "fields": {"sap.E.F": {"abs": 0}, "E.G": {"type": "text"}}})
    assert equal("10", "10.9", tol.rule("sap", "E", "X"), tol)
    assert not equal("10", "10.9", tol.rule("sap", "E", "F"), tol)
    assert equal("gold", "GOLD", tol.rule("wms", "E", "X"), tol)
    assert tol.rule("wms", "E", "G").type == "text"


def test_index_records_by_key_or_position():
    keys = [{"Product": "P1", "Plant": "1010"}, {"Product": "P2", "Plant": "1010"}]
    by_key = index_records([{"Product": "P2", "Plant": "1010", "X": 2}], keys)
    assert list(by_key) == [("P2", "1010")]
    positional = index_records([{"X": 1}, {"X": 2}], keys)
    assert positional[("P2", "1010")] == {"X": 2}


def test_read_back_group_and_compare():
    conn = MemoryConnector({"Plan": [{"Product": "P1", "Plant": "1010", "SS": "10.000", "ABC": "A"}]},
                           {"Plan": ["Product", "Plant"]})
    intended = pd.DataFrame([
        ["sap", "Plan", tk(Product="P1", Plant="1010"), "SS", "10.000", "product_location", "P1|1010"],
        ["sap", "Plan", tk(Product="P1", Plant="1010"), "ABC", "B", "product_location", "P1|1010"],
        ["sap", "Plan", tk(Product="P9", Plant="1010"), "SS", "1.000", "product_location", "P9|1010"],
    ], columns=["system", "entity", "target_key", "field", "intended_value", "canonical_entity", "canonical_key"])
    held = read_back_group(conn, "Plan", sorted(intended["target_key"].unique()))
    assert conn.calls == [("Plan", 2)]
    out = compare_group(intended, held, Tolerances())
    assert out[["field", "expected", "actual", "status"]].values.tolist() == [
        ["SS", "10.000", "10.000", "match"], ["ABC", "B", "A", "mismatch"], ["SS", "1.000", "(missing)", "missing"]]


def _config(**reconcile) -> SegbridgeConfig:
    return SegbridgeConfig.model_validate({"systems": {"sap": {"kind": "memory"}, "crm": {"kind": "memory"}},
                                           "reconcile": reconcile})


def _world():
    sap = MemoryConnector({"Plan": [{"Product": "P1", "Plant": "1010", "SS": "10.000", "ABC": "A"},
                                    {"Product": "P2", "Plant": "1010", "SS": "4.000", "ABC": "B"}],
                           "Cust": [{"Customer": "0000000001", "Group": "01"}]},
                          {"Plan": ["Product", "Plant"], "Cust": ["Customer"]})
    crm = MemoryConnector({"Account": [{"Id": "001A", "Segment__c": "B"}]}, {"Account": ["Id"]})
    rows = [["sap", "Plan", tk(Product="P1", Plant="1010"), "SS", "10.000", "product_location", "P1|1010"],
            ["sap", "Plan", tk(Product="P2", Plant="1010"), "SS", "5.000", "product_location", "P2|1010"],
            ["sap", "Plan", tk(Product="P2", Plant="1010"), "ABC", "B", "product_location", "P2|1010"],
            ["sap", "Cust", tk(Customer="0000000001"), "Group", "01", "customer_sales_area",
             tk(customer_id="1", sales_org="1010", distribution_channel="10", division="00")],
            ["crm", "Account", tk(Id="001A"), "Segment__c", "A", "customer", tk(id="1")]]
    intended = pd.DataFrame(rows, columns=["system", "entity", "target_key", "field", "intended_value",
                                           "canonical_entity", "canonical_key"])
    return {"sap": sap, "crm": crm}, intended


def _open(db):
    with db.connect() as conn:
        t = ReconException.__table__
        return [dict(r._mapping) for r in conn.execute(select(t).where(t.c.status == "open").order_by(t.c.kind, t.c.id))]


def test_run_reconcile_files_value_cross_system_and_completeness(store):
    conns, intended = _world()
    cfg = _config(stewards={"sap": {"*": "sap-mdm"}, "*": {"*": "steward"}},
                  severity=[{"kind": "value_mismatch", "field": "SS", "severity": "high"}],
                  cross_system=[{"name": "customer_segment", "entity": "customer",
                                 "systems": {"sap": {"entity": "Cust", "field": "Group", "code_map": {"01": "A"}},
                                             "crm": {"entity": "Account", "field": "Segment__c"}}}])
    upsert(store, EntityCount, [{"run_id": 7, "system": "sap", "entity": "product", "source_count": 10, "read": 9,
                                 "loaded": 9, "quarantined": 0}])
    summary = run_reconcile(cfg, store, connector_for=conns.__getitem__, intended=intended)
    got = [(r["kind"], r["system"], r["entity_key"], r["field"], r["expected"], r["actual"], r["owner"],
            r["severity"]) for r in _open(store)]
    assert got == [
        ("completeness", "sap", "product", "read", "10", "9", "sap-mdm", "high"),
        ("cross_system", "crm", "1", "customer_segment", "A", "B", "steward", "medium"),
        ("value_mismatch", "crm", tk(Id="001A"), "Segment__c", "A", "B", "steward", "medium"),
        ("value_mismatch", "sap", tk(Product="P2", Plant="1010"), "SS", "5.000", "4.000", "sap-mdm", "high"),
    ]
    assert (summary.compared, summary.matched, summary.new, summary.remaining) == (5, 3, 4, 4)
    assert summary.exit_code == 3
    assert summary.by_kind == {"completeness": 1, "cross_system": 1, "value_mismatch": 2}
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__).where(Run.__table__.c.id == summary.run_id)).one()
    assert (run.kind, run.status, json.loads(run.counts)["exceptions"]) == ("reconcile", "exceptions", 4)


def test_fixed_target_auto_resolves_and_rerun_counts(store):
    conns, intended = _world()
    cfg = _config()
    run_reconcile(cfg, store, connector_for=conns.__getitem__, intended=intended)
    conns["sap"].records["Plan"][1]["SS"] = "5.0"
    second = run_reconcile(cfg, store, connector_for=conns.__getitem__, intended=intended)
    assert (second.new, second.recurring, second.auto_resolved, second.remaining) == (0, 1, 1, 1)
    [left] = _open(store)
    assert (left["system"], left["field"], left["count"]) == ("crm", "Segment__c", 2)


def test_missing_record_is_one_orphan_and_unreadable_system_is_reported(store):
    conns, intended = _world()
    conns["sap"].records["Plan"] = [r for r in conns["sap"].records["Plan"] if r["Product"] != "P2"]
    conns["crm"].fail = True
    summary = run_reconcile(_config(), store, connector_for=conns.__getitem__, intended=intended)
    got = [(r["kind"], r["system"], r["entity_key"], r["field"]) for r in _open(store)]
    assert got == [("completeness", "crm", "read_back", "read_back"),
                   ("orphan", "sap", tk(Product="P2", Plant="1010"), "*")]
    assert summary.unreadable == {"crm": "ConnectionError: connection refused"}


def test_one_unreadable_key_is_an_orphan_with_the_reason(store):
    conns, intended = _world()
    conns["sap"].bad = {("P2", "1010")}
    summary = run_reconcile(_config(), store, systems=["sap"], connector_for=conns.__getitem__,
                            intended=intended)
    got = [(r["kind"], r["entity_key"], r["reason"]) for r in _open(store)]
    assert got == [("orphan", tk(Product="P2", Plant="1010"), "LookupError: HTTP 404: ('P2', '1010') not found")]
    assert summary.unreadable == {} and summary.matched == 2


def test_read_back_gives_up_when_the_first_keys_all_fail():
    conn = MemoryConnector({"Plan": []}, {"Plan": ["Product"]})
    conn.bad = {("P1",), ("P2",), ("P3",)}
    with pytest.raises(LookupError):
        read_back_group(conn, "Plan", [tk(Product=p) for p in ("P1", "P2", "P3", "P4")])
    conn.bad = {("P2",)}
    conn.records["Plan"] = [{"Product": "P1"}, {"Product": "P3"}]
    held = read_back_group(conn, "Plan", [tk(Product=p) for p in ("P1", "P2", "P3")])
    assert held == {tk(Product="P1"): {"Product": "P1"}, tk(Product="P3"): {"Product": "P3"},
                    tk(Product="P2"): {"__read_back_error__": "LookupError: HTTP 404: ('P2',) not found"}}


def test_clean_targets_exit_zero(store):
    conns, intended = _world()
    clean = intended[intended["field"] == "SS"].iloc[:1]
    summary = run_reconcile(_config(), store, systems=["sap"], connector_for=conns.__getitem__,
                            intended=clean)
    assert (summary.compared, summary.matched, summary.remaining, summary.exit_code) == (1, 1, 0, 0)


def test_reconcile_section_typo_is_a_config_error_with_a_suggestion(tmp_path):
    from basics.errors import ConfigError
    from core.reconcile.reconcile_settings import reconcile_config
    from core.settings import load_config

    path = tmp_path / "segbridge.yaml"
    path.write_text("reconcile:\n  stewardz: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        reconcile_config(load_config(path))
    assert "segbridge.yaml:2:3: reconcile.stewardz: unknown key" in err.value.message
    assert err.value.hint == "did you mean 'stewards'?"


def test_config_helpers():
    rc = ReconcileConfig.model_validate({"stewards": {"sap": {"A_Customer": "sales", "*": "mdm"},
                                                      "*": {"*": "anyone"}},
                                         "severity": [{"system": "sap", "severity": "critical"}]})
    assert (rc.owner("sap", "A_Customer"), rc.owner("sap", "X"), rc.owner("wms", "X")) == ("sales", "mdm", "anyone")
    assert rc.severity_for("orphan", "sap", "E", "F") == "critical"
    assert rc.severity_for("orphan", "wms", "E", "F") == "medium"
    assert rc.severity_for("completeness", "wms", "E", "F") == "high"


def test_run_reconcile_reports_read_back_progress(store):
    conns, intended = _world()
    events = []
    run_reconcile(_config(), store, progress=events.append, connector_for=conns.__getitem__, intended=intended)
    assert {e.label for e in events} == {"reconcile: read back"}
    assert events[0].total == len(intended)
    assert events[-1].finished and events[-1].done == len(intended)
