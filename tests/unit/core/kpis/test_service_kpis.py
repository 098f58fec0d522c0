"""Fill rate (units, complete lines) and OTIF against hand-computed answers, with partial, late and
missing shipments; promised vs achieved vs realised service."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from core.kpis.service_kpis import promised_vs_achieved, service_kpis, shipped_per_line
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit
W1, W2 = "2026-01-05", "2026-01-12"


def test_fill_rate_and_otif_per_segment_and_week(service_lines):
    rows = service_kpis(service_lines, "week")
    # AX week 1: units 10+6+5 of 25; complete lines L1, L3 of 3; OTIF only L1 (L2 partial, L3 late)
    assert kpi(rows, "fill_rate_units", "AX", W1).value == pytest.approx(21 / 25)
    assert kpi(rows, "fill_rate_lines", "AX", W1).value == pytest.approx(2 / 3)
    assert kpi(rows, "otif", "AX", W1).value == pytest.approx(1 / 3)
    # CZ week 1: nothing shipped
    assert kpi(rows, "fill_rate_units", "CZ", W1).value == 0.0
    assert kpi(rows, "otif", "CZ", W1).value == 0.0
    # CZ week 2: the line shipped in full on its requested day
    assert kpi(rows, "otif", "CZ", W2).value == 1.0
    # whole window, all segments: 23 of 31 units, 3 of 5 lines complete, 2 of 5 OTIF
    total = kpi(rows, "fill_rate_units")
    assert (total.numerator, total.denominator) == (23.0, 31.0)
    assert kpi(rows, "fill_rate_lines").value == pytest.approx(3 / 5)
    assert kpi(rows, "otif").value == pytest.approx(2 / 5)


def test_no_shipments_at_all_fill_nothing(service_lines):
    lines = shipped_per_line(service_lines.drop(columns=["shipped_quantity", "delivered_on"]).assign(
        order_id="O1"), pd.DataFrame(columns=["shipment_id", "order_id", "ship_date", "delivery_date"]))
    rows = service_kpis(lines, "week")
    assert kpi(rows, "fill_rate_units").value == 0.0 and kpi(rows, "otif").value == 0.0


def test_lines_without_requested_date_are_left_out_of_otif_only(service_lines):
    lines = service_lines.assign(requested_date=pd.to_datetime([None, "2026-01-07", None, None, None]))
    rows = service_kpis(lines, "week")
    assert kpi(rows, "otif").denominator == 1.0  # only L2 has a due date (and it was partial)
    assert kpi(rows, "fill_rate_lines").denominator == 5.0


def test_line_level_shipments_add_up_partial_deliveries_and_take_the_last_arrival():
    lines = pd.DataFrame({"order_id": ["O1", "O1"], "line_no": ["10", "20"], "quantity": [10.0, 5.0]})
    ships = pd.DataFrame({"shipment_id": ["S1", "S2", "S3"], "order_id": ["O1"] * 3, "line_no": ["10", "10", "20"],
                          "quantity": [3.0, 4.0, 5.0],
                          "ship_date": pd.to_datetime(["2026-01-05", "2026-01-08", "2026-01-05"]),
                          "delivery_date": pd.to_datetime(["2026-01-06", "2026-01-09", None])})
    out = shipped_per_line(lines, ships)
    assert list(out["shipped_quantity"]) == [7.0, 5.0]
    assert list(out["delivered_on"]) == list(pd.to_datetime(["2026-01-09", "2026-01-05"]))  # ship date stands in


def test_order_level_shipments_ship_every_line_of_a_shipped_order_in_full():
    lines = pd.DataFrame({"order_id": ["O1", "O1", "O2"], "line_no": ["10", "20", "10"], "quantity": [10.0, 5.0, 2.0]})
    ships = pd.DataFrame({"shipment_id": ["S1"], "order_id": ["O1"], "ship_date": pd.to_datetime(["2026-01-05"]),
                          "delivery_date": pd.to_datetime(["2026-01-07"])})
    out = shipped_per_line(lines, ships)
    assert list(out["shipped_quantity"]) == [10.0, 5.0, 0.0]
    assert out["delivered_on"].isna().tolist() == [False, False, True]


def test_shipment_lines_rule_their_orders_and_order_level_shipments_the_rest():
    """O1 has shipment lines (line 10: 4 of 10, line 20: none yet), O2 only an order-level shipment,
    O3 nothing: O1's lines are short or unshipped even though an order-level shipment of O1 exists."""
    lines = pd.DataFrame({"order_id": ["O1", "O1", "O2", "O3"], "line_no": ["10", "20", "10", "10"],
                          "quantity": [10.0, 5.0, 2.0, 1.0]})
    ships = pd.DataFrame({"shipment_id": ["S1", "S2"], "order_id": ["O1", "O2"],
                          "ship_date": pd.to_datetime(["2026-01-05", "2026-01-06"]),
                          "delivery_date": pd.to_datetime(["2026-01-07", "2026-01-08"])})
    shipment_lines = pd.DataFrame({"shipment_id": ["S1"], "line_no": ["1"], "order_id": ["O1"],
                                   "order_line_no": ["10"], "quantity": [4.0],
                                   "ship_date": pd.to_datetime(["2026-01-05"]), "delivery_date": [pd.NaT]})
    out = shipped_per_line(lines, ships, shipment_lines)
    assert list(out["shipped_quantity"]) == [4.0, 0.0, 2.0, 0.0]
    assert list(out["delivered_on"].astype(str)) == ["2026-01-05", "NaT", "2026-01-08", "NaT"]
    assert "shipped_quantity" not in lines  # the caller's frame is left as it was


def test_categorical_segments_give_the_rows_of_text_segments_without_a_pandas_warning(service_lines):
    pls = pd.DataFrame({"segment": ["AX", "CZ"], "service_level": [0.98, 0.9], "achieved_service": [0.97, 0.9],
                        "achieved_fill_rate": [0.99, 0.95]})
    as_text = promised_vs_achieved(pls, service_lines)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        as_category = promised_vs_achieved(pls.assign(segment=pls["segment"].astype("category")), service_lines)
    pd.testing.assert_frame_equal(as_category, as_text)


def test_promised_achieved_and_realised_per_segment(service_lines):
    pls = pd.DataFrame({"segment": ["AX", "AX", "CZ"], "service_level": [0.98, 0.96, 0.90],
                        "achieved_service": [0.97, 0.93, np.nan], "achieved_fill_rate": [0.99, 0.97, np.nan]})
    rows = promised_vs_achieved(pls, service_lines)
    assert kpi(rows, "service_promised", "AX").value == pytest.approx(0.97)
    assert kpi(rows, "service_achieved_replay", "AX").value == pytest.approx(0.95)
    assert kpi(rows, "service_realised", "AX").value == pytest.approx(21 / 25)
    cz = kpi(rows, "service_achieved_replay", "CZ")
    assert np.isnan(cz.value) and "no achieved_service" in cz.note
    assert kpi(rows, "service_promised").value == pytest.approx((0.98 + 0.96 + 0.90) / 3)


def test_no_lines_no_rows():
    empty = pd.DataFrame(columns=["segment", "order_date", "requested_date", "quantity", "shipped_quantity",
                                  "delivered_on"])
    assert service_kpis(empty).empty
