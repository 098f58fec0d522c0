"""core.reconcile.cross_system: one customer or product should carry the same class in every system."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.reconcile.compare import MISSING, RESULT_COLUMNS
from core.reconcile.cross_system import check_values, cross_system_observations, reference
from core.reconcile.reconcile_settings import CrossSystemCheck, ReconcileConfig

pytestmark = pytest.mark.unit

CHECK = {"name": "customer_segment", "entity": "customer",
         "systems": {"sap": {"entity": "Cust", "field": "Group", "code_map": {"01": "A", "02": "B"}},
                     "crm": {"entity": "Account", "field": "Segment__c"},
                     "wms": {"entity": "customer", "field": "segment"}}}


def _results(rows: list[tuple]) -> pd.DataFrame:
    """rows: (system, entity, field, actual, canonical_entity, canonical_key)."""
    out = [{c: None for c in RESULT_COLUMNS} | {"system": s, "entity": e, "field": f, "actual": a,
                                                 "canonical_entity": ce, "canonical_key": ck, "status": "match"}
           for s, e, f, a, ce, ck in rows]
    return pd.DataFrame(out, columns=RESULT_COLUMNS)


def _area(customer: str) -> str:
    return json.dumps({"customer_id": customer, "sales_org": "1010", "distribution_channel": "10", "division": "00"})


def test_check_values_groups_by_canonical_customer_through_code_maps():
    check = CrossSystemCheck.model_validate(CHECK)
    results = _results([
        ("sap", "Cust", "Group", "01", "customer_sales_area", _area("C1")),
        ("crm", "Account", "Segment__c", " A ", "customer", json.dumps({"id": "C1"})),
        ("wms", "customer", "segment", "B", "customer", "C1"),
        ("crm", "Account", "Segment__c", MISSING, "customer", json.dumps({"id": "C2"})),
        ("crm", "Account", "Other", "Z", "customer", json.dumps({"id": "C1"})),
    ])
    assert check_values(check, results) == {"C1": {"sap": "A", "crm": "A", "wms": "B"}}


def test_reference_is_the_most_common_value_then_the_first_listed_system():
    check = CrossSystemCheck.model_validate(CHECK)
    assert reference(check, {"sap": "A", "crm": "B", "wms": "B"}) == "B"
    assert reference(check, {"crm": "B", "sap": "A"}) == "A"  # tie: sap is listed first
    assert reference(check, {"crm": "b", "wms": "B", "sap": "A"}) == "b"  # ignore_case counts b and B together


def test_each_disagreeing_system_gets_one_observation():
    rc = ReconcileConfig.model_validate({"cross_system": [CHECK], "stewards": {"*": {"*": "steward"}}})
    results = _results([
        ("sap", "Cust", "Group", "01", "customer_sales_area", _area("C1")),
        ("crm", "Account", "Segment__c", "A", "customer", json.dumps({"id": "C1"})),
        ("wms", "customer", "segment", "C", "customer", "C1"),
        ("sap", "Cust", "Group", "02", "customer_sales_area", _area("C2")),
        ("crm", "Account", "Segment__c", "b", "customer", json.dumps({"id": "C2"})),  # same, ignoring case
    ])
    obs = cross_system_observations(rc, results)
    assert [(o.kind, o.system, o.entity, o.entity_key, o.field, o.expected, o.actual, o.severity, o.owner)
            for o in obs] == [("cross_system", "wms", "customer", "C1", "customer_segment", "A", "C", "medium",
                               "steward")]
    assert obs[0].reason == "customer_segment: crm=A, sap=A, wms=C"


def test_severity_of_the_check_and_nothing_to_compare():
    rc = ReconcileConfig.model_validate({"cross_system": [CHECK | {"severity": "critical", "ignore_case": False}]})
    results = _results([("crm", "Account", "Segment__c", "a", "customer", "C1"),
                        ("wms", "customer", "segment", "A", "customer", "C1")])
    assert [(o.system, o.actual, o.severity) for o in cross_system_observations(rc, results)] == [
        ("wms", "A", "critical")]  # tie: crm is listed before wms
    assert cross_system_observations(rc, _results([])) == []
    single = _results([("crm", "Account", "Segment__c", "A", "customer", "C1")])
    assert cross_system_observations(rc, single) == []
