"""core.reconcile.completeness: did every record of the latest pull arrive (or land in quarantine)?"""

from __future__ import annotations

import pytest

from core.model import EntityCount
from core.reconcile.completeness import completeness_observations, count_breaches, latest_counts
from core.reconcile.reconcile_settings import ReconcileConfig
from core.store import upsert

pytestmark = pytest.mark.unit


def _row(read, loaded, quarantined, source=None):
    return {"read": read, "loaded": loaded, "quarantined": quarantined, "source_count": source}


def test_a_complete_pull_has_no_breach():
    assert count_breaches(_row(10, 9, 1, source=10), max_share=0.2) == []
    assert count_breaches(_row(0, 0, 0), max_share=0.0) == []


def test_each_kind_of_breach():
    assert count_breaches(_row(9, 9, 0, source=10), 0.5) == [
        ("read", "10", "9", "1 record(s) the source reported were not read")]
    assert count_breaches(_row(10, 7, 1), 0.5) == [("loaded", "10", "8", "read 10 but loaded 7 + quarantined 1")]
    assert count_breaches(_row(10, 7, 3), 0.25) == [("quarantined", "<= 25.0% of the pull", "3 of 10 (30.0%)",
                                                     "3 of the 10 record(s) read by this pull quarantined")]
    assert count_breaches({"read": None, "loaded": None, "quarantined": None}, 0.1) == []


def test_latest_counts_takes_each_entitys_latest_run(store):
    upsert(store, EntityCount, [
        {"run_id": 1, "system": "sap", "entity": "product", "read": 5, "loaded": 5},
        {"run_id": 3, "system": "sap", "entity": "product", "read": 6, "loaded": 6},
        {"run_id": 3, "system": "sap", "entity": "customer", "read": 2, "loaded": 2},
        {"run_id": 2, "system": "wms", "entity": "location", "read": 1, "loaded": 1}])
    got = [(r["system"], r["entity"], r["run_id"], r["read"]) for r in latest_counts(store)]
    assert got == [("sap", "customer", 3, 2), ("sap", "product", 3, 6), ("wms", "location", 2, 1)]
    assert [r["system"] for r in latest_counts(store, ["wms"])] == ["wms"]


def test_observations_use_the_section_share_else_the_default(store):
    upsert(store, EntityCount, [
        {"run_id": 4, "system": "sap", "entity": "product", "source_count": 12, "read": 10, "loaded": 8,
         "quarantined": 2}])
    rc = ReconcileConfig.model_validate({"stewards": {"sap": {"*": "mdm"}}})
    obs = completeness_observations(rc, store, default_share=0.1)
    assert [(o.kind, o.system, o.entity, o.entity_key, o.field, o.expected, o.actual, o.severity, o.owner)
            for o in obs] == [("completeness", "sap", "product", "product", "read", "12", "10", "high", "mdm"),
                              ("completeness", "sap", "product", "product", "quarantined", "<= 10.0% of the pull",
                               "2 of 10 (20.0%)",
                               "high", "mdm")]
    assert obs[0].reason == "pull run 4: 2 record(s) the source reported were not read"
    lenient = ReconcileConfig.model_validate({"completeness": {"max_quarantine_share": 0.5}})
    assert [o.field for o in completeness_observations(lenient, store, default_share=0.1)] == ["read"]
    off = ReconcileConfig.model_validate({"completeness": {"enabled": False}})
    assert completeness_observations(off, store, default_share=0.1) == []
    assert completeness_observations(rc, store, 0.1, systems=["wms"]) == []


def test_an_incremental_pull_of_one_bad_record_is_1_of_1_not_the_whole_entity(store):
    """8,707 records loaded by a full pull, then an incremental pull reads 1 and quarantines it: the
    denominator is the 1 record that pull read, and the reason says so (not "100 % of the entity")."""
    upsert(store, EntityCount, [
        {"run_id": 1, "system": "sap", "entity": "product", "read": 8707, "loaded": 8707, "quarantined": 0},
        {"run_id": 2, "system": "sap", "entity": "product", "read": 1, "loaded": 0, "quarantined": 1}])
    [obs] = completeness_observations(ReconcileConfig(), store, default_share=0.02)
    assert (obs.field, obs.expected, obs.actual) == ("quarantined", "<= 2.0% of the pull", "1 of 1 (100.0%)")
    assert obs.reason == "pull run 2: 1 of the 1 record(s) read by this pull quarantined"


def test_a_pull_of_another_entity_does_not_hide_an_entitys_latest_counts(store):
    upsert(store, EntityCount, [
        {"run_id": 1, "system": "sap", "entity": "product", "read": 10, "loaded": 5, "quarantined": 5},
        {"run_id": 2, "system": "sap", "entity": "customer", "read": 3, "loaded": 3,
         "quarantined": 0}])  # pull --entity customer
    got = [(o.entity, o.field) for o in completeness_observations(ReconcileConfig(), store, default_share=0.02)]
    assert got == [("product", "quarantined")]


def test_per_entity_thresholds_are_honoured(store):
    upsert(store, EntityCount, [
        {"run_id": 1, "system": "sap", "entity": "product", "read": 10, "loaded": 7, "quarantined": 3},
        {"run_id": 1, "system": "sap", "entity": "customer", "read": 10, "loaded": 7, "quarantined": 3}])
    rc = ReconcileConfig()
    both = completeness_observations(rc, store, default_share=0.02)
    assert sorted(o.entity for o in both) == ["customer", "product"]
    lenient = completeness_observations(rc, store, 0.02, per_entity={"product": 0.5})
    assert [o.entity for o in lenient] == ["customer"]
    by_system = completeness_observations(rc, store, 0.02, per_entity={"sap.customer": 0.4, "product": 0.01})
    assert [(o.entity, o.expected) for o in by_system] == [("product", "<= 1.0% of the pull")]
