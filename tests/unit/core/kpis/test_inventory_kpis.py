"""Turns, days of supply, excess and stockout from on-hand snapshots, against hand-computed answers;
without snapshots every inventory KPI is stored as unavailable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.kpis.inventory_kpis import INVENTORY_KPIS, NO_ON_HAND, inventory_kpis
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit
W1, W2 = "2026-01-05", "2026-01-12"


@pytest.fixture
def pls():
    """P0 (AX) costs 2 with order-up-to 10; P1 (CZ) costs 5 with order-up-to 5."""
    return pd.DataFrame({"segment": ["AX", "CZ"], "unit_cost": [2.0, 5.0], "max_qty": [10.0, 5.0]})


@pytest.fixture
def snapshots():
    """Snapshots on 01-05 and 01-09 (week 1) and 01-12 (week 2).
    P0: 20, 10, 0 -> values 40, 20, 0. P1: 0, 6, 3 -> values 0, 30, 15."""
    return pd.DataFrame({"pl": [0, 1, 0, 1, 0, 1],
                         "snapshot_date": pd.to_datetime(["2026-01-05"] * 2 + ["2026-01-09"] * 2 + ["2026-01-12"] * 2),
                         "on_hand": [20.0, 0.0, 10.0, 6.0, 0.0, 3.0]})


@pytest.fixture
def lines():
    """P0 week 1: 7 shipped of 7 at cost 2 (COGS 14). P1 week 1: 4 ordered, none shipped, price 10.
    P0 week 2: 1 shipped of 3 at cost 2, price 20 (COGS 2, 2 units unfilled)."""
    return pd.DataFrame({"pl": [0, 1, 0], "segment": ["AX", "CZ", "AX"],
                         "order_date": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-01-12"]),
                         "requested_date": pd.to_datetime(["2026-01-06", "2026-01-06", "2026-01-13"]),
                         "quantity": [7.0, 4.0, 3.0], "shipped_quantity": [7.0, 0.0, 1.0],
                         "delivered_on": pd.to_datetime(["2026-01-06", None, "2026-01-13"]),
                         "unit_cost": [2.0, 5.0, 2.0], "unit_price": [4.0, 10.0, 20.0]})


def test_average_inventory_is_over_the_snapshot_days_of_the_period(pls, snapshots, lines):
    rows = inventory_kpis(pls, snapshots, lines)
    assert kpi(rows, "inventory_value_avg", "AX", W1).value == 30.0  # (40 + 20) / 2 days
    assert kpi(rows, "inventory_value_avg", "CZ", W1).value == 15.0  # (0 + 30) / 2
    assert kpi(rows, "inventory_value_avg", "all", "all").value == 15.0  # a stock: the last week's 0 + 15


def test_turns_and_days_of_supply(pls, snapshots, lines):
    rows = inventory_kpis(pls, snapshots, lines)
    # AX week 1: COGS 14 over 7 days, annualised 730, on an average of 30
    assert kpi(rows, "inventory_turns", "AX", W1).value == pytest.approx(14 * 365 / 7 / 30)
    # closing value (01-09) 20 over a daily COGS of 2
    assert kpi(rows, "days_of_supply", "AX", W1).value == pytest.approx(10.0)
    assert kpi(rows, "inventory_turns", "CZ", W1).value == 0.0  # nothing shipped
    no_sales = rows[(rows["kpi"] == "days_of_supply") & (rows["segment"] == "CZ") & (rows["period"] == W1)]
    assert no_sales.empty  # no COGS: days of supply has no finite value, the cell is left out
    assert kpi(rows, "days_of_supply", "AX", W2).value == 0.0  # nothing left on 01-12


def test_excess_over_the_order_up_to_level_at_the_closing_snapshot(pls, snapshots, lines):
    rows = inventory_kpis(pls, snapshots, lines)
    assert kpi(rows, "excess_value", "AX", W1).value == 0.0  # 10 on hand, max 10
    assert kpi(rows, "excess_value", "CZ", W1).value == 5.0  # (6 - 5) x 5
    assert kpi(rows, "excess_value", "CZ", W2).value == 0.0


def test_stockouts_rate_and_value_of_unfilled_demand_while_out_of_stock(pls, snapshots, lines):
    rows = inventory_kpis(pls, snapshots, lines)
    assert kpi(rows, "stockout_rate", "CZ", W1).value == 0.5  # 0 on 01-05, 6 on 01-09
    assert kpi(rows, "stockout_rate", "AX", W2).value == 1.0
    assert kpi(rows, "stockout_value", "CZ", W1).value == 40.0  # 4 unfilled x 10
    assert kpi(rows, "stockout_value", "AX", W2).value == 40.0  # 2 unfilled x 20
    assert kpi(rows, "stockout_value", "AX", W1).value == 0.0  # in stock, all filled
    assert kpi(rows, "stockout_value").value == 80.0


def test_a_snapshot_cost_overrides_the_product_location_cost(pls, snapshots, lines):
    rows = inventory_kpis(pls, snapshots.assign(unit_cost=[3.0, np.nan, 3.0, np.nan, 3.0, np.nan]), lines)
    assert kpi(rows, "inventory_value_avg", "AX", W1).value == 45.0  # (60 + 30) / 2


@pytest.mark.parametrize("snaps", [None, pd.DataFrame(columns=["pl", "snapshot_date", "on_hand"])])
def test_without_on_hand_every_inventory_kpi_is_unavailable(pls, lines, snaps):
    rows = inventory_kpis(pls, snaps, lines)
    assert set(rows["kpi"]) == set(INVENTORY_KPIS) and set(rows["segment"]) == {"AX", "CZ", "all"}
    assert rows["value"].isna().all() and set(rows["note"]) == {NO_ON_HAND}


def test_chunked_passes_give_the_same_answers(pls, snapshots, lines, monkeypatch):
    from core.kpis import inventory_kpis as module

    whole = inventory_kpis(pls, snapshots, lines)
    monkeypatch.setattr(module, "_CHUNK", 2)  # three passes over the six snapshots
    pd.testing.assert_frame_equal(inventory_kpis(pls, snapshots, lines), whole)


def test_turns_and_days_of_supply_count_sales_only_in_periods_with_a_stock_count(pls, snapshots, lines):
    """Only week 2 (01-12) counted: AX holds 0 (value 0), CZ 3 (value 15). AX's week-1 COGS of 14 has no
    stock count beside it, so the `all` period sets week 2's COGS (2) against week 2's stock alone."""
    rows = inventory_kpis(pls, snapshots[snapshots["snapshot_date"] == "2026-01-12"], lines)
    assert kpi(rows, "days_of_supply", "AX").value == 0.0  # 0 on hand / (2 / 7), not diluted by week 1
    assert kpi(rows, "days_of_supply", "all").value == pytest.approx(15 / (2 / 7))
    assert kpi(rows, "inventory_turns", "all").value == pytest.approx(2 * 365 / 7 / 15)
    week1 = rows[(rows["kpi"].isin(["days_of_supply", "inventory_turns"])) & (rows["period"] == W1)]
    assert week1.empty  # no on-hand in week 1: nothing to set its sales against


def test_a_product_location_without_on_hand_leaves_its_sales_out_of_turns_and_days_of_supply(snapshots, lines):
    """P0 and P1 both AX, only P0 counted: week 1 closing value 20 (P0 on 01-09) over P0's COGS 14 / 7
    days; P1's unfilled line adds no COGS either way, so give P1 a shipped line of cost 5 x 4 = 20."""
    pls = pd.DataFrame({"segment": ["AX", "AX"], "unit_cost": [2.0, 5.0], "max_qty": [10.0, 5.0]})
    shipped = lines.assign(segment="AX", shipped_quantity=[7.0, 4.0, 1.0])
    rows = inventory_kpis(pls, snapshots[snapshots["pl"] == 0], shipped)
    assert kpi(rows, "days_of_supply", "AX", W1).value == pytest.approx(20 / (14 / 7))  # not 20 / (34 / 7)
    assert kpi(rows, "inventory_turns", "AX", W1).value == pytest.approx(14 * 365 / 7 / 30)
