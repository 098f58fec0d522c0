"""mappings/sap_ecc_rfc.yaml: KNVV LPRIO through S/4's delivery-priority code list; LIKP VSBED (a shipping
condition) is not a shipment's transport mode."""

from __future__ import annotations

from datetime import date

import pytest

from core.mapping import load_mapping, map_records
from core.paths import shipped_mapping

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ecc():
    return load_mapping(shipped_mapping("sap_ecc_rfc.yaml"))


def test_knvv_delivery_priority_and_shipping_condition_read_as_business_values(ecc):
    area = {"KUNNR": "0000100234", "VKORG": "1010", "VTWEG": "10", "SPART": "00", "KDGRP": "01", "WAERS": "EUR",
            "KLABC": "A", "VSBED": "03", "KVGR1": "STR", "KVGR2": ""}
    result = map_records(ecc.entities["knvv"], [{**area, "KUNNR": f"000010023{i}", "LPRIO": p}
                                                for i, p in enumerate(["01", "2", "03", "09", ""])])
    assert result.quarantined == []
    assert [(r["current_delivery_priority"], r["current_shipping_condition"]) for r in result.rows] == [
        ("HIGH", "EXPRESS"), ("NORMAL", "EXPRESS"), ("LOW", "EXPRESS"), ("09", "EXPRESS"), (None, "EXPRESS")]


def test_s4_and_ecc_share_the_delivery_priority_code_list(ecc):
    s4 = load_mapping(shipped_mapping("sap_s4.yaml"))
    assert ecc.codelists["delivery_priority"] == s4.codelists["delivery_priority"] == \
        "codelists/sap_delivery_priority.yaml"


def test_lips_does_not_load_the_shipping_condition_as_the_mode(ecc):
    em = ecc.entities["lips"]
    assert "mode" not in em.fields
    assert em.source.options["join"] == {"table": "LIKP", "by": ["VBELN"],
                                         "fields": ["KUNNR", "WADAT_IST", "LFDAT", "BTGEW", "GEWEI"]}
    result = map_records(em, [{"VBELN": "0080000001", "POSNR": "000010", "MATNR": "000000000000000042",
                               "WERKS": "1010", "VGBEL": "0000004711", "KUNNR": "0000100234",
                               "WADAT_IST": "20240301", "LFDAT": "20240302", "BTGEW": "12.500", "GEWEI": "KG"}])
    assert result.rows == [{"shipment_id": "80000001", "customer_id": "100234", "order_id": "4711",
                            "location_id": "1010", "ship_date": date(2024, 3, 1), "delivery_date": date(2024, 3, 2),
                            "weight_kg": 12.5}]
