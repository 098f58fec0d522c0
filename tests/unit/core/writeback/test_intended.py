"""Which records a system holds and what it holds now: crosswalk ownership, per-system current values,
no-demand classes left alone, SAP customer groups, base units across systems."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from core.mapping import load_mapping
from core.mapping.ingest import load_batch
from core.model import (
    Customer,
    CustomerSalesArea,
    Location,
    OrderLine,
    PlannedChange,
    Product,
    ProductLocation,
    Quarantine,
)
from core.paths import shipped_mapping
from core.store import read_frame, upsert
from core.sync import base_units
from core.writeback.apply import apply_plan
from core.writeback.intended import intended_values
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit
COLS = ["system", "entity", "target_key", "field", "intended_value", "stored_value"]


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nulls as None (pandas reads them back as NaN in object columns)."""
    return frame.astype(object).where(frame.notna(), None)


def rows_of(frame: pd.DataFrame) -> list[list]:
    return plain(frame.sort_values(["system", "entity", "target_key", "field"])[COLS]).values.tolist()


def changes_of(db, plan_id: int) -> list[list]:
    pc = PlannedChange.__table__
    frame = read_frame(db, select(pc).where(pc.c.plan_id == plan_id).order_by(pc.c.id))
    return sorted(plain(frame[["system", "field", "current_value", "intended_value"]]).values.tolist(),
                  key=lambda r: [str(v) for v in r])


def test_two_systems_holding_one_product_location_each_get_their_values(store, tmp_path):
    """SAP and the WMS hold P1 at 1010; the WMS loaded the row last. Both get their intended values,
    each compared with what it reported itself (SAP: safety stock, WMS: velocity / segment)."""
    s.link(store, "sap", "product", {"000000000000100234": "100234"})
    s.link(store, "wms", "product", {"100234": "100234"})
    upsert(store, Location, [{"id": "1010", "kind": "plant", "source_system": "sap"}])
    upsert(store, ProductLocation, [{"product_id": "100234", "location_id": "1010", "source_system": "wms",
                                     "current_safety_stock": 10.0, "current_abc": "B", "etag": "W/\"wms-7\"",
                                     "current_velocity_class": "B", "current_segment": "B-Y"}])
    s.segment_run(store, [("product_location", "100234|1010", "safety_stock", 12.0),
                          ("product_location", "100234|1010", "velocity_class", "A")],
                  [("product_location", "100234|1010", "abc", "A"), ("product_location", "100234|1010", "segment", "A-X")])
    cfg = s.multi_config(tmp_path, {"sap": shipped_mapping("sap_s4.yaml"), "wms": shipped_mapping("wms.yaml")})
    frame = intended_values(cfg, store)
    sap_key = json.dumps({"Plant": "1010", "Product": "000000000000100234"}, sort_keys=True)
    wms_key = json.dumps({"code": "100234", "facility_id__code": "1010"}, sort_keys=True)
    assert rows_of(frame) == [
        ["sap", "A_ProductSupplyPlanning", sap_key, "ABCIndicator", "A", "B"],
        ["sap", "A_ProductSupplyPlanning", sap_key, "SafetyStockQuantity", "12.000", "10.000"],
        ["wms", "item", wms_key, "cust_field_1", "A", "B"],
        ["wms", "item", wms_key, "cust_field_3", "A-X", "B-Y"],
        ["wms", "item", wms_key, "cust_field_4", "GOLDEN", None]]
    # the ETag is the WMS's (it loaded the row last), never sent to SAP
    assert dict(zip(frame["system"], plain(frame)["etag"], strict=True)) == {"sap": None, "wms": "W/\"wms-7\""}


def test_a_system_without_the_product_link_does_not_hold_the_row(store, tmp_path):
    s.link(store, "wms", "product", {"P1": "P1"})
    s.link(store, "sap", "product", {"P2": "P2"})
    upsert(store, ProductLocation, [{"product_id": "P1", "location_id": "1010", "source_system": "sap"}])
    s.segment_run(store, [("product_location", "P1|1010", "safety_stock", 5.0)],
                  [("product_location", "P1|1010", "segment", "A-X")])
    cfg = s.multi_config(tmp_path, {"sap": shipped_mapping("sap_s4.yaml"), "wms": shipped_mapping("wms.yaml")})
    frame = intended_values(cfg, store)
    assert sorted(set(zip(frame["system"], frame["field"], strict=True))) == [("wms", "cust_field_3")]


def test_a_shared_current_column_counts_only_for_the_system_that_loaded_it_last(store, tmp_path):
    """Two systems fill the same current_* columns; the row holds sap2's values (loaded last). sap plans
    against what it was last known to hold (nothing yet, then what segbridge applied), never sap2's."""
    its = [{"product": "P0000", "plant": "1010", "ss": 11.0, "cur_ss": 10.0, "rop": 21.0, "cur_rop": 20.0,
            "abc": "A", "cur_abc": "C", "cost": 1.0}]
    s.seed(store, its)
    with store.begin() as conn:
        conn.execute(ProductLocation.__table__.update().values(source_system="sap2"))
    s.link(store, "sap", "product", {"P0000": "P0000"})
    s.link(store, "sap2", "product", {"P0000": "P0000"})
    s.world_from_store("shared", its)
    cfg = s.multi_config(tmp_path, {"sap": "", "sap2": ""}, world="shared",
                         writeback={"guardrails": {"max_class_change_share": 1}})
    frame = intended_values(cfg, store)
    assert sorted(plain(frame[["system", "field", "stored_value"]]).values.tolist(), key=str) == [
        ["sap", "ABCIndicator", None], ["sap", "ReorderThresholdQuantity", None],
        ["sap", "SafetyStockQuantity", None],
        ["sap2", "ABCIndicator", "C"], ["sap2", "ReorderThresholdQuantity", "20.000"],
        ["sap2", "SafetyStockQuantity", "10.000"]]
    plan = make_plan(cfg, store, systems=["sap"])
    assert changes_of(store, plan.id) == [["sap", "ABCIndicator", None, "A"],
                                          ["sap", "ReorderThresholdQuantity", None, "21.000"],
                                          ["sap", "SafetyStockQuantity", None, "11.000"]]
    assert apply_plan(cfg, store, plan.id).ok
    # sap2's pulled values stay in the shared columns; sap's next plan compares with what was applied to it
    pl = read_frame(store, select(ProductLocation.__table__))
    assert pl[["source_system", "current_abc", "current_safety_stock"]].values.tolist() == [["sap2", "C", 10.0]]
    assert json.loads(make_plan(cfg, store, systems=["sap"]).summary)["changes"] == 0
    assert changes_of(store, make_plan(cfg, store, systems=["sap2"]).id) == [
        ["sap2", "ABCIndicator", "C", "A"], ["sap2", "ReorderThresholdQuantity", "20.000", "21.000"],
        ["sap2", "SafetyStockQuantity", "10.000", "11.000"]]


def test_no_demand_class_is_not_written_and_is_counted(store, tmp_path):
    """Product-locations with no demand are `none` in every dimension: the WMS keeps its custom fields."""
    s.link(store, "wms", "product", {f"P{k}": f"P{k}" for k in range(4)})
    upsert(store, ProductLocation, [{"product_id": f"P{k}", "location_id": "DC1", "source_system": "wms",
                                     "current_velocity_class": "C", "current_segment": "C-Z"} for k in range(4)])
    params = [("product_location", f"P{k}|DC1", "velocity_class", "none" if k else "A") for k in range(4)]
    segs = [("product_location", f"P{k}|DC1", "segment", "none" if k else "A-X") for k in range(4)]
    s.segment_run(store, params, segs)
    cfg = s.multi_config(tmp_path, {"wms": shipped_mapping("wms.yaml")})
    plan = make_plan(cfg, store)
    summary = json.loads(plan.summary)
    assert changes_of(store, plan.id) == [["wms", "cust_field_1", "C", "A"], ["wms", "cust_field_3", "C-Z", "A-X"],
                                          ["wms", "cust_field_4", None, "GOLDEN"]]
    assert summary["skipped_counts"] == {"no demand history": 9}
    assert summary["no_demand"] == {"wms.item.cust_field_1": 3, "wms.item.cust_field_3": 3, "wms.item.cust_field_4": 3}
    assert summary["skipped"] == ["no demand history: 9 value(s) left as the systems hold them "
                                  "(wms.item.cust_field_1 3, wms.item.cust_field_3 3, wms.item.cust_field_4 3)"]
    assert summary["compared"] == 3


def test_sap_customer_group_is_written_from_the_engine_segment(store, tmp_path):
    """Engine segments strategic/growth/standard/unprofitable become SAP customer groups STR/GRO/STD/UNP,
    addressed by the customer number as SAP writes it; `none` customers are left alone."""
    names = ["strategic", "growth", "standard", "unprofitable", "none"]
    ids = [f"10023{k}" for k in range(5)]
    s.link(store, "sap", "customer", {f"0000{i}": i for i in ids})
    upsert(store, Customer, [{"id": i, "source_system": "salesforce"} for i in ids])
    upsert(store, CustomerSalesArea, [{"customer_id": i, "sales_org": "1710", "distribution_channel": "10",
                                       "division": "00", "source_system": "sap", "current_customer_group_1": "growth"}
                                      for i in ids])
    s.segment_run(store, [("customer", i, "customer_segment", n) for i, n in zip(ids, names, strict=True)],
                  [("customer", i, "segment", n) for i, n in zip(ids, names, strict=True)])
    cfg = s.multi_config(tmp_path, {"sap": shipped_mapping("sap_s4.yaml")})
    frame = intended_values(cfg, store)
    groups = frame[frame["field"] == "AdditionalCustomerGroup1"]
    assert sorted((json.loads(k)["Customer"], v, c) for k, v, c in zip(
        groups["target_key"], groups["intended_value"], groups["stored_value"], strict=True)) == [
        ("0000100230", "STR", "GRO"), ("0000100231", "GRO", "GRO"), ("0000100232", "STD", "GRO"),
        ("0000100233", "UNP", "GRO")]
    plan = make_plan(cfg, store)
    assert [c for c in changes_of(store, plan.id) if c[1] == "AdditionalCustomerGroup1"] == [
        ["sap", "AdditionalCustomerGroup1", "GRO", "STD"], ["sap", "AdditionalCustomerGroup1", "GRO", "STR"],
        ["sap", "AdditionalCustomerGroup1", "GRO", "UNP"]]
    assert not [n for n in json.loads(plan.summary)["skipped"] if "AdditionalCustomerGroup1" in n
                and "cannot be formatted" in n]


def _pull(store, system: str, mapping: str, entity: str, records: list[dict]) -> None:
    em = load_mapping(shipped_mapping(mapping)).entities[entity]
    with store.begin() as conn:
        conv = base_units(conn, system) if entity == "sales_order_item" else None
        load_batch(conn, system, em, records, None, conversions=conv)


def _order(number: str, material: str, unit: str = "EA") -> dict:
    return {"SalesOrder": number, "SalesOrderItem": "10", "Material": material, "RequestedQuantity": "4.000",
            "RequestedQuantityUnit": unit, "ProductionPlant": "1010",
            "to_SalesOrder": {"SalesOrderDate": "/Date(1709251200000)/", "SoldToParty": "0000100234"}}


def test_base_units_are_found_after_another_system_reloaded_the_product(store):
    _pull(store, "sap", "sap_s4.yaml", "product", [{"Product": "TG01", "BaseUnit": "EA"}])
    _pull(store, "wms", "wms.yaml", "item", [{"code": "TG01", "description": "Widget"}])
    _pull(store, "wms", "wms.yaml", "item", [{"code": "TG02", "description": "Only in the WMS"}])
    with store.begin() as conn:
        conn.execute(Product.__table__.update().where(Product.id == "TG02").values(base_uom="PC"))
    product = read_frame(store, select(Product.__table__).order_by(Product.id))
    assert product[["id", "source_system", "base_uom"]].values.tolist() == [["TG01", "wms", "EA"], ["TG02", "wms", "PC"]]
    # an incremental re-read of SAP order items: TG01 by SAP's own link, TG02 known only to the WMS
    _pull(store, "sap", "sap_s4.yaml", "sales_order_item", [_order("1", "TG01"), _order("2", "TG02", "PC")])
    lines = read_frame(store, select(OrderLine.__table__).order_by(OrderLine.order_id))
    assert lines[["order_id", "product_id", "quantity"]].values.tolist() == [["1", "TG01", 4.0], ["2", "TG02", 4.0]]
    assert read_frame(store, select(Quarantine.__table__)).empty
    with store.connect() as conn:
        assert base_units(conn, "sap").base_units == {"TG01": "EA", "TG02": "PC"}
