"""The store adapter: a segment run and the canonical tables in, rows in `kpi_value` out, replaced
on recompute, read back with filters."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from basics.errors import ConfigError
from core.kpis.kpi_store import compute_and_save, read_kpis, resolve_run
from core.model import (
    InventorySnapshot,
    KpiValue,
    OrderLine,
    ParameterValue,
    Product,
    ProductLocation,
    SegmentAssignment,
    Shipment,
    ShipmentLine,
)
from core.runs import finish_run, start_run
from core.store import read_frame, upsert
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit


def _segment_run(db, segments: dict[str, str]) -> int:
    rid = start_run(db, "segment")
    upsert(db, SegmentAssignment, [{"run_id": rid, "entity": "product_location", "entity_key": k,
                                    "dimension": "segment", "value": v, "source": "rule"} for k, v in segments.items()])
    upsert(db, ParameterValue, [{"run_id": rid, "entity": "product_location", "entity_key": k, "name": "max_qty",
                                 "value_num": 10.0} for k in segments])
    finish_run(db, rid, "ok")
    return rid


@pytest.fixture
def filled(store):
    """P1|DC (cost 2) and P2|DC (product cost 3); O1 ships (both lines, late for P2), O2 (P1, 5 units)
    not; runs 1 (both B-Y) and 2 (P1 A-X, P2 B-Y); P1 holds 15 on 2026-01-05."""
    upsert(store, Product, [{"id": "P1"}, {"id": "P2", "unit_cost": 3.0}])
    upsert(store, ProductLocation, [{"product_id": "P1", "location_id": "DC", "unit_cost": 2.0},
                                    {"product_id": "P2", "location_id": "DC"}])
    upsert(store, OrderLine, [
        {"order_id": "O1", "line_no": "10", "product_id": "P1", "location_id": "DC", "order_date": date(2026, 1, 5),
         "requested_date": date(2026, 1, 8), "quantity": 10.0, "net_value": 50.0},
        {"order_id": "O1", "line_no": "20", "product_id": "P2", "location_id": "DC", "order_date": date(2026, 1, 5),
         "requested_date": date(2026, 1, 6), "quantity": 2.0, "net_value": 20.0},
        {"order_id": "O2", "line_no": "10", "product_id": "P1", "location_id": "DC", "order_date": date(2026, 1, 5),
         "requested_date": date(2026, 1, 8), "quantity": 5.0, "net_value": 25.0}])
    upsert(store, Shipment, [{"shipment_id": "S1", "order_id": "O1", "ship_date": date(2026, 1, 6),
                              "delivery_date": date(2026, 1, 7)}])
    upsert(store, InventorySnapshot, [{"product_id": "P1", "location_id": "DC", "snapshot_date": date(2026, 1, 5),
                                       "on_hand": 15.0}])
    assert _segment_run(store, {"P1|DC": "B-Y", "P2|DC": "B-Y"}) == 1
    assert _segment_run(store, {"P1|DC": "A-X", "P2|DC": "B-Y"}) == 2
    return store


def test_compute_saves_the_latest_runs_kpis(filled):
    assert compute_and_save(filled)[0] == 2
    rows = read_kpis(filled)
    assert set(rows["run_id"]) == {2}
    assert kpi(rows, "fill_rate_units", "A-X").value == pytest.approx(10 / 15)  # O2 not shipped
    assert kpi(rows, "otif", "B-Y").value == 0.0  # P2 arrived a day after its requested date
    assert kpi(rows, "excess_value", "A-X").value == pytest.approx((15 - 10) * 2.0)
    inv = rows[(rows["kpi"] == "inventory_value_avg") & (rows["period"] == "2026-01-05")]
    assert inv.set_index("segment")["value"].to_dict() == {"A-X": 30.0, "all": 30.0}  # P2 (B-Y) has no snapshot
    assert kpi(rows, "migration_count", "B-Y", scope="segment->A-X").value == 1.0
    assert kpi(rows, "churn_rate", scope="segment").value == 0.5
    assert kpi(rows, "gross_margin").value == pytest.approx(95.0 - 15 * 2.0 - 2 * 3.0)  # costs from master data


def test_recompute_replaces_the_runs_rows_and_keeps_other_runs(filled):
    _, first = compute_and_save(filled, run_id=1)
    _, n = compute_and_save(filled)
    assert compute_and_save(filled)[1] == n
    saved = read_frame(filled, KpiValue)
    assert (saved["run_id"] == 2).sum() == n and (saved["run_id"] == 1).sum() == first
    assert len(read_kpis(filled, all_runs=True)) == n + first


def test_filters_by_segment_period_and_kpi(filled):
    compute_and_save(filled)
    rows = read_kpis(filled, segment="A-X", period="all", kpi="fill_rate_lines")
    assert len(rows) == 1 and rows.iloc[0]["value"] == pytest.approx(0.5)
    assert read_kpis(filled, run_id=1).empty


def test_without_a_segment_run_it_says_what_to_run(store):
    with pytest.raises(ConfigError, match="no successful segment run") as err:
        compute_and_save(store)
    assert "segbridge segment" in err.value.hint


def test_an_unknown_run_is_refused_with_the_runs_there_are(filled):
    with pytest.raises(ConfigError, match="run 7 is not a successful segment run") as err:
        resolve_run(filled, 7)
    assert "1, 2" in err.value.hint
    assert resolve_run(filled, 1) == (1, None)


def test_no_on_hand_rows_are_stored_as_unavailable(filled):
    with filled.begin() as conn:
        conn.execute(InventorySnapshot.__table__.delete())
    compute_and_save(filled)
    turns = kpi(read_kpis(filled), "inventory_turns", "A-X")
    assert pd.isna(turns["value"]) and turns["note"].startswith("unavailable: no on-hand")


def test_shipment_lines_in_the_store_show_a_partial_delivery(filled):
    """O1 line 10 (P1, 10 ordered) left in two picks of 3 and 4, the last arriving 2026-01-09 (after the
    8th requested); line 20 (P2, 2) in full on the 6th: O1's order-level shipment no longer fills line 10."""
    upsert(filled, ShipmentLine, [
        {"shipment_id": "D1", "line_no": "1", "order_id": "O1", "order_line_no": "10", "quantity": 3.0,
         "ship_date": date(2026, 1, 6), "delivery_date": date(2026, 1, 7)},
        {"shipment_id": "D2", "line_no": "1", "order_id": "O1", "order_line_no": "10", "quantity": 4.0,
         "ship_date": date(2026, 1, 8), "delivery_date": date(2026, 1, 9)},
        {"shipment_id": "D1", "line_no": "2", "order_id": "O1", "order_line_no": "20", "quantity": 2.0,
         "ship_date": date(2026, 1, 6)}])
    compute_and_save(filled)
    rows = read_kpis(filled)
    assert kpi(rows, "fill_rate_units", "A-X").value == pytest.approx(7 / 15)  # P1: 7 of O1's 10, none of O2's 5
    assert kpi(rows, "fill_rate_lines", "A-X").value == 0.0
    assert kpi(rows, "otif", "B-Y").value == 1.0  # P2 shipped in full on the 6th, its requested day
    assert kpi(rows, "otif").value == pytest.approx(1 / 3)
