"""Policy table validation and matching; overrides, hysteresis, rule-set hash, audit, what-if, store run."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from basics.errors import ConfigError
from core.planning.engine import EngineOptions, run_engine
from core.planning.governance import active_overrides, apply_hysteresis, audit_events, ruleset_hash
from core.planning.policy import Policy, Rule, load_policy, match_customers, match_products
from core.planning.whatif import compare

pytestmark = pytest.mark.unit


def test_shipped_policy_loads_and_hash_is_stable():
    p = load_policy()
    assert p.rules and ruleset_hash(p) == ruleset_hash(load_policy())
    changed = p.model_copy(deep=True)
    changed.rules[0].service_level = 0.91
    assert ruleset_hash(changed) != ruleset_hash(p)


def test_policy_typo_reports_line_and_suggestion(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("version: 1\nrules:\n  - name: r\n    servce_level: 0.9\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_policy(f)
    assert "p.yaml:4" in str(exc.value) and "service_level" in str(exc.value)


def test_policy_rejects_fill_rate_of_one(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("rules:\n  - name: r\n    service_level: 1.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        load_policy(f)


def test_first_match_wins_and_unmatched_reported():
    pol = Policy(rules=[Rule(name="ax", match={"abc": "A", "xyz": "X"}, service_level=0.99),
                        Rule(name="a", match={"abc": "A"}, service_level=0.97, transport_mode="TL")])
    f = pd.DataFrame({"abc": ["A", "A", "C"], "xyz": ["X", "Z", "Z"], "pattern": "smooth", "lifecycle": "active"})
    m = match_products(f, pol)
    assert m.rule.tolist() == ["ax", "a", "default"]
    assert m.settings["service_level"].tolist() == [0.99, 0.97, pol.default.service_level]
    assert m.settings["transport_mode"].tolist() == [pol.default.transport_mode, "TL", pol.default.transport_mode]
    assert m.unmatched.to_dict("records") == [{"abc": "C", "xyz": "Z", "pattern": "smooth", "lifecycle": "active",
                                               "count": 1}]


def test_active_overrides_filters_unapproved_and_expired():
    o = pd.DataFrame({"entity": "product_location", "entity_key": ["P1|DC", "P2|DC", "P3|DC"], "name": "abc",
                      "value": "A", "reason": "r", "requested_by": "ann", "approved_by": ["bob", None, "bob"],
                      "expires_on": [None, None, date(2020, 1, 1)], "active": True})
    assert active_overrides(o, date(2024, 1, 1))["entity_key"].tolist() == ["P1|DC"]


def _long(values, metrics, dim="abc"):
    keys = [f"P{i}" for i in range(len(values))]
    return pd.DataFrame({"entity": "product", "entity_key": keys, "dimension": dim, "value": values,
                         "metric": metrics})


def test_hysteresis_margin_and_persistence():
    th, margin = {"abc": (0.8, 0.95)}, {"abc": 0.02}
    prev = _long(["B", "B", "A"], [0.85, 0.85, 0.5])
    new = _long(["A", "A", "A"], [0.79, 0.75, 0.5])  # P0 clears 0.80 by 0.01 only; P1 by 0.05
    out = apply_hysteresis(new, [prev], th, margin, persist_runs=3)
    assert out["value"].tolist() == ["B", "A", "A"]
    assert out["source"].tolist() == ["hysteresis", "rule", "rule"]
    # the new class already held in the two previous runs (metric 0.79 there too): it persists
    held_before = _long(["B", "B", "A"], [0.79, 0.85, 0.5])
    out = apply_hysteresis(new, [held_before, held_before], th, margin, persist_runs=3)
    assert out["value"].tolist() == ["A", "A", "A"]


def test_audit_events_only_for_changes():
    before = pd.DataFrame({"entity": "p", "entity_key": ["K1", "K2"], "name": "safety_stock",
                           "value_num": [10.0, 5.0], "value_text": None})
    after = pd.DataFrame({"entity": "p", "entity_key": ["K1", "K2", "K3"], "name": "safety_stock",
                          "value_num": [10.0, 7.0, 1.0], "value_text": None})
    ev = audit_events(before, after, ["entity", "entity_key", "name"], ["value_num", "value_text"], "parameter_change",
                      1, "why")
    assert ev["entity_key"].tolist() == ["K2", "K3"]
    assert ev.loc[0, "before"] == '{"safety_stock": 5}' and ev.loc[0, "after"] == '{"safety_stock": 7}'
    assert pd.isna(ev.loc[1, "before"]) and ev["reason"].eq("why").all()


def _frames(n_weeks=52, seed=3):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=n_weeks * 7, freq="D")
    rows = []
    for p, (rate, size) in {"P1": (1.0, 50), "P2": (1.0, 20), "P3": (0.2, 5), "P4": (0.05, 3)}.items():
        hit = rng.random(len(days)) < rate
        for i, d in enumerate(days[hit]):
            rows.append((f"{p}-{i}", "1", "C1" if p != "P4" else "C2", p, "DC", d, float(rng.poisson(size) + 1)))
    ol = pd.DataFrame(rows, columns=["order_id", "line_no", "customer_id", "product_id", "location_id",
                                     "order_date", "quantity"])
    products = pd.DataFrame({"id": ["P1", "P2", "P3", "P4", "P5"], "unit_price": 10.0, "unit_cost": 6.0,
                             "category": "c"})
    pls = pd.DataFrame({"product_id": ["P1", "P2", "P3", "P4", "P5"], "location_id": "DC",
                        "lead_time_days": 14.0, "lead_time_std_days": 0.0, "moq": 0.0, "order_multiple": 1.0,
                        "unit_cost": 6.0})
    return {"order_lines": ol, "products": products, "product_locations": pls}


def _flat_policy(level=0.95, method="auto") -> Policy:
    return Policy(default={**load_policy().default.model_dump(), "service_level": level, "review_period_days": 0,
                           "ss_method": method})


def test_engine_parameters_follow_formulas_and_none_class():
    res = run_engine(_frames(), _flat_policy(0.95, "normal"), EngineOptions(simulate=False))
    pl = res.product_locations.set_index("product_id")
    p1 = pl.loc["P1"]
    expected = np.ceil(stats.norm.ppf(0.95) * p1["std"] * np.sqrt(2.0))  # 14 days = 2 weekly periods
    assert p1["safety_stock"] == expected
    assert p1["reorder_point"] == np.ceil(p1["mean"] * 2 + expected)
    assert pl.loc["P5", ["abc", "xyz", "pattern", "lifecycle", "segment"]].tolist() == ["none"] * 5
    assert pl.loc["P5", "safety_stock"] == 0
    seg = res.segments.set_index(["entity", "entity_key", "dimension"])["value"]
    assert seg[("product", "P1", "abc")] == "A"
    names = set(res.parameters["name"])
    assert {"safety_stock", "reorder_point", "min_qty", "max_qty", "order_multiple", "service_level", "abc",
            "segment", "mrp_type", "lot_sizing", "transport_mode", "carrier_class", "expedite_allowed",
            "picking_priority", "cross_dock", "velocity_class", "customer_segment", "customer_abc",
            "service_level_class", "delivery_priority", "transport_class"} <= names
    assert "shipping_condition" not in names  # business values only; mappings translate to SAP codes


def test_engine_applies_overrides():
    o = pd.DataFrame({"entity": ["product_location", "product_location"], "entity_key": ["P3|DC", "P3|DC"],
                      "name": ["abc", "safety_stock"], "value": ["A", "123"], "reason": "launch",
                      "requested_by": "ann", "approved_by": "bob", "expires_on": None, "active": True})
    res = run_engine(_frames(), None, EngineOptions(simulate=False, overrides=o))
    seg = res.segments.set_index(["entity", "entity_key", "dimension"])
    assert seg.loc[("product_location", "P3|DC", "abc"), ["value", "source"]].tolist() == ["A", "override"]
    par = res.parameters.set_index(["entity_key", "name"])
    assert par.loc[("P3|DC", "safety_stock"), "value_num"] == 123.0


def test_what_if_reports_migration_changes_and_investment():
    cur, cand = _flat_policy(0.9), _flat_policy(0.99)
    w = compare(_frames(), cur, cand)
    assert np.trace(w.migration.to_numpy()) == w.migration.to_numpy().sum()  # segments did not move
    ss = w.parameter_changes.set_index("name").loc["safety_stock", "changed"]
    assert ss >= 1
    total = w.investment.set_index("segment").loc["TOTAL"]
    assert total["change"] > 0 and total["change"] == pytest.approx(total["candidate"] - total["current"])


def test_segment_from_store_saves_run_and_audits_changes(sqlite_db, tmp_path):
    from core.model import (
        AuditEvent,
        OrderLine,
        ParameterValue,
        Product,
        ProductLocation,
        Run,
        SegmentAssignment,
    )
    from core.planning_store import segment_from_store
    from core.store import create_all, read_frame, upsert

    create_all(sqlite_db)
    f = _frames()
    ol = f["order_lines"].assign(order_date=lambda x: x["order_date"].dt.date)
    upsert(sqlite_db, OrderLine, ol)
    upsert(sqlite_db, Product, f["products"])
    upsert(sqlite_db, ProductLocation, f["product_locations"])
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\n", encoding="utf-8")
    r1 = segment_from_store(sqlite_db, pol)
    runs = read_frame(sqlite_db, Run)
    assert runs.loc[runs["id"] == r1, "ruleset_hash"].iloc[0] == ruleset_hash(load_policy(pol))
    n_seg = len(read_frame(sqlite_db, SegmentAssignment))
    n_par = len(read_frame(sqlite_db, ParameterValue))
    par = read_frame(sqlite_db, ParameterValue)
    n_replay = int(par["name"].str.startswith("achieved_").sum())  # replay figures: stored, not audited
    assert len(read_frame(sqlite_db, AuditEvent)) == n_seg + n_par - n_replay  # everything else is new
    r2 = segment_from_store(sqlite_db, pol)
    audit = read_frame(sqlite_db, AuditEvent)
    assert r2 > r1 and (audit["run_id"] == r2).sum() == 0  # same data, same rules: no change


def test_customer_rules_give_business_values_and_routing_profile_per_segment():
    c = pd.DataFrame({"customer_segment": ["strategic", "growth", "unprofitable", "standard", "none"],
                      "customer_abc": ["A", "B", "C", "C", "none"]}, index=["C1", "C2", "C3", "C4", "C5"])
    m = match_customers(c, load_policy())
    assert m.rule.tolist() == ["strategic", "growth", "unprofitable", "default", "default"]
    cols = ["service_level_class", "delivery_priority", "transport_class", "transport_mode", "carrier_class",
            "expedite_allowed", "cross_dock"]
    assert m.settings[cols].values.tolist() == [
        ["PLATINUM", "HIGH", "EXPRESS", "TL", "premium", True, True],
        ["GOLD", "NORMAL", "STANDARD", "LTL", "standard", True, False],
        ["BRONZE", "LOW", "ECONOMY", "LTL", "economy", False, False],
        ["SILVER", "NORMAL", "STANDARD", "LTL", "standard", False, False],
        ["SILVER", "NORMAL", "STANDARD", "LTL", "standard", False, False]]


def test_customer_policy_refuses_codes_field_names_and_incomplete_default():
    base = load_policy().model_dump()
    with pytest.raises(ValueError, match="shipping_condition"):
        Policy(**{**base, "customer_default": {**base["customer_default"], "shipping_condition": "01"}})
    with pytest.raises(ValueError, match="customer_default must set every field; missing: transport_mode"):
        Policy(**{**base, "customer_default": {**base["customer_default"], "transport_mode": None}})
    with pytest.raises(ValueError, match=r"unknown match dimension\(s\) \['segment'\]"):
        Policy(**{**base, "customer_rules": [{"name": "x", "match": {"segment": "strategic"}}]})


def test_engine_moq_is_the_moq_planned_with():
    frames = _frames()
    pls = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "location_id": ["DC", "DC", "DC"],
                        "moq": [25.0, None, 7.0], "order_multiple": [10.0, 5.0, None]})
    res = run_engine({**frames, "product_locations": pls}, _flat_policy(0.95), EngineOptions(simulate=False))
    par = res.parameters[res.parameters["name"] == "moq"].set_index("entity_key")["value_num"]
    # 25 up to the multiple 10; 7 with no multiple; P2 has no MOQ, so no parameter row
    assert par.to_dict() == {"P1|DC": 30.0, "P3|DC": 7.0}
