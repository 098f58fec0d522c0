"""Every shipped mapping file validates, maps realistic records, and round-trips its reverse maps."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from core.mapping import Conversions, load_mapping, map_records, reverse_map, reverse_target
from core.mapping.load import main, mapping_files
from core.mapping.transforms import parse_step
from core.paths import mappings_dir, shipped_mapping

pytestmark = pytest.mark.unit

SHIPPED = ["sap_s4.yaml", "sap_ecc_rfc.yaml", "oracle_fusion.yaml", "oracle_ebs_sql.yaml", "salesforce.yaml",
           "dynamics365.yaml", "wms.yaml", "tms.yaml", "northwind_sql.yaml", "canonical_csv.yaml"]
# Canonical parameter values a policy would produce, per reverse-map parameter name.
PARAMS = {"abc": "A", "safety_stock": 120.5, "reorder_point": 300.0, "mrp_type": "VB", "lot_sizing": "EX",
          "order_multiple": 10.0, "max_qty": 900.0, "min_qty": 50.0, "moq": 20.0, "classification": "01",
          "delivery_priority": "2", "transport_class": "EXPRESS", "segment": "A-X", "service_level": "GOLD",
          "velocity_class": "B", "picking_priority": "3", "routing_flag": "EXPEDITE",
          "transport_mode": "PARCEL", "carrier_class": "premium", "expedite_allowed": True, "cross_dock": False}


def test_every_shipped_file_is_found_and_valid(capsys):
    assert [p.name for p in mapping_files(mappings_dir())] == sorted(SHIPPED)
    assert main([]) == 0
    assert "10 mapping file(s) checked, 0 with errors" in capsys.readouterr().out


def test_misspelt_transform_exits_2_with_position(tmp_path, capsys):
    text = shipped_mapping("canonical_csv.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "canonical_csv.yaml"
    bad.write_text(text.replace("transforms: [required, date]", "transforms: [required, dat]", 1), encoding="utf-8")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:19:61: unknown transform 'dat'" in err and "did you mean 'date'?" in err


def _reverse_entities():
    for name in SHIPPED:
        mf = load_mapping(shipped_mapping(name))
        for ename, em in mf.entities.items():
            if em.reverse is not None:
                yield pytest.param(em, id=f"{name}:{ename}")


@pytest.mark.parametrize("em", list(_reverse_entities()))
def test_reverse_round_trip(em):
    """canonical -> target -> canonical returns the same values (through each field's read_back)."""
    target = reverse_target(em)
    values = {p: PARAMS[p] for p in target.parameters}
    written = reverse_map(em, values)
    record = {}
    for tfield, canonical in target.read_back.items():
        source = em.fields[canonical].source
        record[source] = written[tfield]
    for rule in em.fields.values():  # keys and required fields: any valid value
        if isinstance(rule.source, str) and rule.source not in record and "/" not in rule.source:
            record[rule.source] = "1"
    for key in em.key:
        record.setdefault(key, "1")
    result = map_records(em, [record])
    assert result.quarantined == [], result.quarantined
    row = result.rows[0]
    for tfield, canonical in target.read_back.items():
        param = next(f.source for t, f in em.reverse.fields.items() if t == tfield)
        assert row[canonical] == values[param], (tfield, written[tfield])


def test_sap_s4_realistic_records():
    mf = load_mapping(shipped_mapping("sap_s4.yaml"))
    products = map_records(mf.entities["product"], [
        {"Product": "000000000000000042", "ProductType": "FERT", "ProductGroup": "L001", "BaseUnit": "EA",
         "NetWeight": "1500.000", "WeightUnit": "G", "CreationDate": "/Date(1709251200000)/", "CrossPlantStatus": ""}])
    assert products.rows == [{"id": "42", "category": "FERT", "product_group": "L001", "base_uom": "EA",
                              "weight_kg": 1.5, "created_on": date(2024, 3, 1), "status": None}]
    planning = map_records(mf.entities["product_supply_planning"], [
        {"Product": "TG11", "Plant": "1010", "ABCIndicator": "B", "MRPType": "VB", "LotSizingProcedure": "EX",
         "SafetyStockQuantity": "12.500", "ReorderThresholdQuantity": "40.000", "MaximumStockQuantity": "0.000",
         "LotSizeRoundingQuantity": "10.000", "MinimumLotSizeQuantity": "5.000",
         "PlannedDeliveryDurationInDays": "7", "SrvcLvl": "95.0"}])
    assert planning.rows[0]["current_safety_stock"] == 12.5 and planning.rows[0]["lead_time_days"] == 7.0
    area = map_records(mf.entities["customer_sales_area"], [
        {"Customer": "17100001", "SalesOrganization": "1710", "DistributionChannel": "10", "Division": "00",
         "CustomerABCClassification": "A", "DeliveryPriority": "02", "ShippingCondition": "01",
         "AdditionalCustomerGroup1": "BY", "Currency": "USD", "CustomerGroup": "01"}])
    assert area.rows[0]["current_shipping_condition"] == "STANDARD"
    assert area.rows[0]["current_customer_group_1"] == "B-Y" and area.rows[0]["current_delivery_priority"] == "2"


def test_ecc_rfc_internal_formats():
    em = load_mapping(shipped_mapping("sap_ecc_rfc.yaml")).entities["vbap"]
    conv = Conversions(per_product={("000000000000000042", "EA"): 1.0})
    rows = map_records(em, [{"VBELN": "0000004711", "POSNR": "000010", "MATNR": "000000000000000042",
                             "WERKS": "1010", "KWMENG": "3.000", "VRKME": "EA", "NETWR": "30.00", "WAERK": "EUR",
                             "ABGRU": "  ", "AUDAT": "20240301", "VDATU": "00000000", "KUNNR": "0000100234",
                             "VKORG": "1010"}], conv).rows
    assert rows == [{"order_id": "4711", "line_no": "10", "customer_id": "100234", "product_id": "42",
                     "location_id": "1010", "order_date": date(2024, 3, 1), "requested_date": None, "quantity": 3.0,
                     "net_value": 30.0, "currency": "EUR", "rejected": False, "sales_org": "1010"}]


def test_northwind_rows_from_the_real_dataset(shared):
    import sqlite3

    sql = (shared / "datasets/northwind/sqlite_jpwhite3/create.sql").read_text(encoding="utf-8")
    con = sqlite3.connect(":memory:")
    con.executescript(sql)
    con.row_factory = sqlite3.Row
    mf = load_mapping(shipped_mapping("northwind_sql.yaml"))
    query = mf.entities["order_details"].source.options["query"]
    records = [dict(r) for r in con.execute(query)]
    result = map_records(mf.entities["order_details"], records)
    assert result.read == 2155 == len(result.rows) + len(result.quarantined)
    assert result.quarantined == []
    first = min(result.rows, key=lambda r: (int(r["order_id"]), int(r["line_no"])))
    assert first["order_id"] == "10248" and first["product_id"] == "11" and first["quantity"] == 12.0
    assert first["customer_id"] == "VINET" and first["order_date"].year in (1996, 2016)


@pytest.mark.shared
def test_sap_s4_properties_exist_in_published_metadata(shared):
    """Every property sap_s4.yaml reads exists in SAP's metadata; every property it writes is updatable."""
    catalogue = {}
    with open(shared / "sap/odata/field-catalog.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            catalogue[(row["entity_set"], row["property"])] = (row["set_updatable"] == "true"
                                                               and row["prop_updatable"] == "true")
    mf = load_mapping(shipped_mapping("sap_s4.yaml"))
    read, written = 0, 0
    for em in mf.entities.values():
        for rule in em.fields.values():
            for src in [rule.source] if isinstance(rule.source, str) else (rule.source or []):
                nav, _, prop = src.partition("/")
                entity, prop = (em.source.expand[nav], prop) if prop else (em.source.name, src)
                assert (entity, prop) in catalogue, f"{entity}.{prop} not in SAP metadata"
                read += 1
        if em.reverse:
            for tfield in list(em.reverse.fields):
                assert catalogue.get((em.reverse.entity, tfield)) is True, f"{em.reverse.entity}.{tfield} not updatable"
                written += 1
            for kfield in em.reverse.key:
                assert (em.reverse.entity, kfield) in catalogue
    assert read >= 50 and written == 12


def test_transform_names_in_shipped_files_are_all_registered():
    for name in SHIPPED:
        mf = load_mapping(shipped_mapping(name))
        for em in mf.entities.values():
            for rule in em.fields.values():
                for step in rule.transforms:
                    parse_step(step)
