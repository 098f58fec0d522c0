"""Customer segments: revenue, margin, cost-to-serve, profit per week and their trend."""

from __future__ import annotations

import pandas as pd
import pytest

from core.kpis.customer_kpis import customer_kpis, trends
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit
W1, W2 = "2026-01-05", "2026-01-12"
RATES = {"per_order": 1.0, "per_line": 0.5, "per_shipment": 2.0, "surcharges": {"AIR": 25.0}}


@pytest.fixture
def lines():
    """gold: order O1 (2 lines, 100 + 80, cost 20 + 20) in week 1; bronze: O2 (60, cost 12) in week 1,
    O3 (30, cost 15) in week 2."""
    return pd.DataFrame({"customer_segment": ["gold", "gold", "bronze", "bronze"],
                         "order_id": ["O1", "O1", "O2", "O3"],
                         "order_date": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-01-06", "2026-01-12"]),
                         "net_value": [100.0, 80.0, 60.0, 30.0], "cost": [20.0, 20.0, 12.0, 15.0]})


@pytest.fixture
def shipments():
    """gold: one AIR shipment, freight 10; bronze: one PARCEL shipment, freight 5 (both week 1)."""
    return pd.DataFrame({"customer_segment": ["gold", "bronze"], "ship_date": pd.to_datetime(["2026-01-06",
                                                                                               "2026-01-08"]),
                         "freight_cost": [10.0, 5.0], "mode": ["AIR", "PARCEL"]})


def test_revenue_margin_cost_to_serve_and_profit(lines, shipments):
    rows = customer_kpis(lines, shipments, RATES)
    g = "customer:gold"
    assert kpi(rows, "revenue", g, W1).value == 180.0
    assert kpi(rows, "gross_margin", g, W1).value == 140.0
    # 1 order x 1 + 2 lines x 0.5 + 1 shipment x 2 + freight 10 + AIR surcharge 25
    assert kpi(rows, "cost_to_serve", g, W1).value == 39.0
    assert kpi(rows, "profit", g, W1).value == 101.0
    assert kpi(rows, "cost_to_serve", "customer:bronze", W1).value == 8.5
    assert kpi(rows, "profit", "customer:bronze", W2).value == 13.5  # 15 margin - 1 order - 0.5 line
    assert kpi(rows, "revenue").value == 270.0


def test_trend_is_the_slope_per_period(lines, shipments):
    rows = customer_kpis(lines, shipments, RATES)
    assert kpi(rows, "revenue_trend", "customer:bronze").value == pytest.approx(-30.0)
    assert kpi(rows, "profit_trend", "customer:bronze").value == pytest.approx(13.5 - 39.5)
    assert rows[(rows["kpi"] == "revenue_trend") & (rows["segment"] == "customer:gold")].empty  # one week only


def test_without_shipments_or_rates_cost_to_serve_is_zero(lines):
    rows = customer_kpis(lines, None)
    assert kpi(rows, "cost_to_serve").value == 0.0 and kpi(rows, "profit").value == kpi(rows, "gross_margin").value


def test_no_lines_no_rows():
    assert customer_kpis(pd.DataFrame(columns=["customer_segment", "order_date", "net_value", "cost"]), None).empty
    assert trends(pd.DataFrame(columns=["segment", "kpi", "period", "value"])).empty
