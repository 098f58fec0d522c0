"""Dynamics 365 and Oracle Fusion write the engine's customer segment through their own code lists, and
their sandboxes accept exactly those codes."""

from __future__ import annotations

import pytest
import yaml

from core.mapping import load_mapping, map_records, reverse_map
from core.paths import shipped_mapping
from core.planning.policy import load_policy

pytestmark = pytest.mark.unit
SEGMENTS = ["strategic", "growth", "standard", "unprofitable"]


def test_policy_customer_segments_are_the_four_the_code_lists_cover():
    pol = load_policy()
    assert sorted({r.segment for r in pol.customers.rules} | {pol.customers.default_segment}) == sorted(SEGMENTS)


def test_dynamics_writes_customer_segments_as_custom_option_values_and_reads_them_back():
    em = load_mapping(shipped_mapping("dynamics365.yaml")).entities["account"]
    guid = "00000000-0000-0000-0000-000000000001"
    written = [reverse_map(em, {"source_key": guid, "segment": s}) for s in SEGMENTS]
    assert written == [{"accountid": guid, "accountclassificationcode": v}
                       for v in (100000009, 100000010, 100000011, 100000012)]
    back = map_records(em, [{"accountid": f"00000000-0000-0000-0000-00000000000{i}", "accountnumber": f"10023{i}",
                             "accountclassificationcode": v} for i, v in enumerate((100000009, 100000012, 1))])
    assert back.quarantined == []
    assert [r["current_segment"] for r in back.rows] == ["strategic", "unprofitable", "A-X"]


def test_fusion_writes_customer_segments_as_class_codes_and_reads_them_back():
    em = load_mapping(shipped_mapping("oracle_fusion_crm.yaml")).entities["sales_account"]
    written = [reverse_map(em, {"source_key": "300000001001", "segment": s}) for s in SEGMENTS]
    assert written == [{"PartyId": 300000001001, "ClassCategory": "SEGBRIDGE_SEGMENT", "ClassCode": c}
                       for c in ("STRATEGIC", "GROWTH", "STANDARD", "UNPROFITABLE")]
    back = map_records(em, [{"PartyId": f"30000000100{i}", "PartyNumber": f"CDRM_{i}", "ClassCode": c}
                            for i, c in enumerate(("GROWTH", "BZ"))])
    assert back.quarantined == []
    assert [r["current_segment"] for r in back.rows] == ["growth", "B-Z"]


def test_sandboxes_accept_every_code_of_the_code_lists():
    from sandbox.dynamics_standin import CLASSIFICATION
    from sandbox.oracle_soap import OracleSoapState, load_schema

    dyn = load_mapping(shipped_mapping("dynamics365.yaml")).codelists["account_classification"]
    fusion = load_mapping(shipped_mapping("oracle_fusion_crm.yaml")).codelists["segment_class_code"]
    assert isinstance(dyn, str) and isinstance(fusion, str)  # files under mappings/codelists

    def codes(path: str) -> set[str]:
        return set(yaml.safe_load(shipped_mapping(path).read_text(encoding="utf-8"))["values"])

    assert {int(c) for c in codes(dyn)} <= CLASSIFICATION
    assert codes(fusion) <= OracleSoapState([], load_schema(None), None).valid_codes
