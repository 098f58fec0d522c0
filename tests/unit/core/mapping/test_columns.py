"""Reading a batch into columns, per-value work and lazy keys: the fast paths give the same answers
as the plain ones, for the record shapes connectors really hand over."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.mapping import Conversions, load_mapping, map_records
from core.mapping.columns import records_frame, source_series
from core.mapping.transforms import StepContext, apply_step

pytestmark = pytest.mark.unit

MAPPING = """\
system: sap_s4
entities:
  items:
    source: {kind: odata_entity_set, name: A_SalesOrderItem, expand: {to_SalesOrder: A_SalesOrder}}
    target: order_line
    key: [SalesOrder, SalesOrderItem]
    fields:
      order_id: {from: SalesOrder, transforms: [required, alpha_strip]}
      line_no: {from: SalesOrderItem, transforms: [required, alpha_strip]}
      product_id: {from: Material, transforms: [required, strip]}
      customer_id: {from: to_SalesOrder/SoldToParty, transforms: [strip, alpha_strip]}
      order_date: {from: to_SalesOrder/SalesOrderDate, transforms: [required, odata_date]}
      quantity: {from: RequestedQuantity, transforms: [required, {decimal: 3}, {uom: {unit_field: Unit, product_field: Material}}]}
"""

CONV = Conversions.from_product_units([
    {"Product": "P1", "AlternativeUnit": "EA", "QuantityNumerator": "1", "QuantityDenominator": "1"},
    {"Product": "P1", "AlternativeUnit": "CS", "QuantityNumerator": "12", "QuantityDenominator": "1"},
])


def item(order: str, line: str = "10", sold_to: str | None = "0000100234", qty: str = "1.000", unit: str = "EA",
         material: str = "P1") -> dict:
    return {"SalesOrder": order, "SalesOrderItem": line, "Material": material, "RequestedQuantity": qty,
            "Unit": unit, "Ignored": {"big": "payload"},
            "to_SalesOrder": {"SoldToParty": sold_to, "SalesOrderDate": "/Date(1709251200000)/"}}


@pytest.fixture
def mapping(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return load_mapping(path).entities["items"]


def test_only_the_named_fields_are_read_and_text_stays_plain_str():
    records = [{"A": "x", "N": 1, "B": True, "to_H": {"C": "c1"}}, {"A": "y", "N": 2, "B": False, "to_H": {"C": "c2"}}]
    frame = records_frame(records, ["A", "N", "B", "to_H/C"])
    assert list(frame.columns) == ["A", "N", "B", "to_H/C"]
    assert frame["A"].dtype == object and frame["to_H/C"].tolist() == ["c1", "c2"]
    assert frame["N"].dtype == np.int64 and frame["B"].dtype == bool


def test_missing_fields_and_navigations_read_as_null():
    records = [{"A": "x", "to_H": {"C": "c1"}}, {"to_H": None}, {"A": "z"}]
    frame = records_frame(records, ["A", "to_H/C", "Nowhere"])
    assert frame["A"].isna().tolist() == [False, True, False]
    assert frame["to_H/C"].isna().tolist() == [False, True, True]
    assert frame["Nowhere"].isna().all()


def test_a_path_may_arrive_flattened_in_some_records():
    records = [{"to_H": {"C": "nested"}}, {"to_H/C": "flat"}, {"to_H": None, "to_H/C": "flat too"}]
    assert records_frame(records, ["to_H/C"])["to_H/C"].tolist() == ["nested", "flat", "flat too"]


def test_dict_subclasses_and_list_values_are_read_one_by_one():
    records = [OrderedDict(A="x", L=[1, 2], to_H=OrderedDict(C="c")), {"A": "y", "L": [3, 4], "to_H": {"C": "d"}}]
    frame = records_frame(records, ["A", "L", "to_H/C"])
    assert frame.to_dict("list") == {"A": ["x", "y"], "L": [[1, 2], [3, 4]], "to_H/C": ["c", "d"]}


def test_all_fields_when_none_are_named():
    frame = records_frame([{"A": 1, "B": "b"}, {"C": "c", "A": 2}])
    assert list(frame.columns) == ["A", "B", "C"]


def test_batch_maps_like_record_by_record(mapping):
    """The per-value path (shared codes, distinct values) equals mapping each record on its own."""
    records = [item(f"{1000 + i % 7:010d}", str(10 * (i // 7 + 1)), sold_to=f"{i % 3:010d}" if i % 5 else None,
                    qty=f"{i}.000", unit="CS" if i % 2 else "EA") for i in range(40)]
    batch = map_records(mapping, records, CONV)
    one_by_one = [map_records(mapping, [r], CONV).rows[0] for r in records]
    assert batch.quarantined == []
    assert batch.rows == one_by_one
    assert batch.rows[3] == {"order_id": "1003", "line_no": "10", "product_id": "P1", "customer_id": "0",
                             "order_date": date(2024, 3, 1), "quantity": 36.0}


def test_keys_are_joined_for_the_rows_that_loaded_and_the_quarantined(mapping):
    records = [item("0000001000"), item("0000001001", qty="-"), item("   "), item("0000001002", unit="KG")]
    result = map_records(mapping, records, CONV)
    assert result.source_keys.tolist() == ["0000001000|10"]
    assert [(q.source_key, q.reason_code) for q in result.quarantined] == [
        ("0000001001|10", "bad_type"), (None, "missing_key"), ("0000001002|10", "no_conversion")]
    assert result.quarantined[0].record["RequestedQuantity"] == "-"


def test_duplicate_keys_merge_when_identical_and_quarantine_when_not(mapping):
    same = [item("0000001000"), item("1000")]  # ALPHA forms of one order: one canonical key
    merged = map_records(mapping, same, CONV)
    assert len(merged.rows) == 1 and merged.duplicates_merged == 1 and merged.quarantined == []
    differing = map_records(mapping, [item("0000001000"), item("1000", qty="2.000")], CONV)
    assert differing.rows == [] and [q.reason_code for q in differing.quarantined] == ["duplicate", "duplicate"]


def test_unit_tables_follow_changes_to_the_conversions():
    conv = Conversions.from_product_units([{"Product": "P", "AlternativeUnit": "CS", "QuantityNumerator": "6",
                                            "QuantityDenominator": "1"}])
    frame = pd.DataFrame({"q": ["1"], "u": ["PAL"], "p": ["P"]})
    step = {"uom": {"unit_field": "u", "product_field": "p"}}
    ctx = StepContext(frame, "quantity", conv)
    assert apply_step(frame["q"], step, ctx).isna().all() and ctx.errors.tolist() == ["no_conversion"]
    conv.per_product[("P", "PAL")] = 240.0
    ctx = StepContext(frame, "quantity", conv)
    assert apply_step(frame["q"], step, ctx).tolist() == [240.0] and ctx.errors is None


def test_source_series_reads_a_navigation_path_and_a_missing_field():
    frame = pd.DataFrame({"to_H": [{"C": "c1", "D": {"E": 1}}, None]})
    assert source_series(frame, "to_H/C").tolist() == ["c1", None]
    assert source_series(frame, "to_H/D/E").tolist()[0] == 1
    assert source_series(frame, "Nowhere").isna().all()
