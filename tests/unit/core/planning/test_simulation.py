"""Simulation check: the computed parameters deliver their targets on stationary normal demand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.planning import inventory as inv
from core.planning.simulation import bootstrap, service_summary, simulate

pytestmark = pytest.mark.unit

D, SD, L = 100.0, 30.0, 4


def _demand(n=100, t=2000, seed=11):
    return np.clip(np.random.default_rng(seed).normal(D, SD, (n, t)), 0, None)


@pytest.mark.parametrize("beta", [0.95, 0.98])
def test_fill_rate_within_1_5_points_of_target(beta):
    # (R, S) with R = 1: the order quantity per cycle is the demand of one period
    ss = inv.safety_stock(D, SD, L, service_level=beta, method="fill_rate", order_quantity=D, review_period=1)
    order_up_to = D * (L + 1) + ss
    sim = simulate(_demand(), L, "RS", order_up_to, review_period=1)
    assert abs(sim["fill_rate"].mean() - beta) <= 0.015


def test_cycle_service_level_within_1_5_points_of_target():
    csl = 0.9
    ss = inv.safety_stock(D, SD, L, service_level=csl, review_period=1)
    assert ss == pytest.approx(stats.norm.ppf(csl) * SD * np.sqrt(L + 1))
    sim = simulate(_demand(), L, "RS", D * (L + 1) + ss, review_period=1)
    assert abs(sim["cycle_service_level"].mean() - csl) <= 0.015


def test_sq_reaches_fill_rate_when_reviewed_each_period():
    q = 400.0
    s = inv.reorder_point(D, SD, L, service_level=0.97, method="fill_rate", order_quantity=q, review_period=1)
    sim = simulate(_demand(50, 3000), L, "sQ", s, q)
    assert sim["fill_rate"].mean() >= 0.97 - 0.015


def test_no_stock_no_service_and_zero_demand_nan():
    d = np.ones((2, 50))
    d[1] = 0
    sim = simulate(d, 2, "RS", [0.0, 0.0], review_period=1)
    assert sim.loc[0, "fill_rate"] == 0.0 and np.isnan(sim.loc[1, "fill_rate"])


def test_bad_policy_and_missing_q():
    with pytest.raises(ValueError, match="sQ"):
        simulate(np.ones((1, 5)), 1, "xx", 1.0)
    with pytest.raises(ValueError, match="order quantity"):
        simulate(np.ones((1, 5)), 1, "sQ", 1.0, 0.0)


def test_bootstrap_draws_from_own_row():
    m = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    b = bootstrap(m, 500, seed=1)
    assert b.shape == (2, 500)
    assert set(np.unique(b[0])) <= {1.0, 2.0, 3.0} and set(np.unique(b[1])) <= {10.0, 20.0, 30.0}


def _per_series(**cols):
    import pandas as pd

    base = {"segment": ["A-X", "A-X", "C-Z"], "pattern": ["smooth", "smooth", "lumpy"],
            "target": [0.95, 0.95, 0.9], "target_type": ["fill_rate", "fill_rate", "cycle"],
            "fill_rate": [0.9, 1.0, 0.5], "cycle_service_level": [0.8, 1.0, 0.4], "achieved": [0.9, 1.0, 0.4],
            "cycles": [20, 20, 3], "avg_on_hand": [5.0, 7.0, 1.0], "holding_cost": [1.0, 2.0, 0.5],
            "method": ["calibrated", "calibrated", "poisson"]}
    return pd.DataFrame({**base, **cols})


def test_service_summary_reports_gap_and_cost_per_group():
    out = service_summary(_per_series(), "segment").set_index("group")
    ax = out.loc["A-X"]
    assert ax["achieved"] == pytest.approx(0.95) and ax["gap"] == pytest.approx(0.0)
    assert ax["holding_cost"] == pytest.approx(3.0) and ax["series"] == 2 and ax["note"] == ""
    assert out.loc["C-Z", "achieved"] == pytest.approx(0.4) and out["by"].unique().tolist() == ["segment"]


def test_service_summary_says_why_a_gap_remains():
    out = service_summary(_per_series(), "pattern").set_index("group")
    note = out.loc["lumpy", "note"]
    assert "few replenishment cycles" in note and "textbook method (poisson)" in note


def test_simulate_counts_on_hand_after_the_days_demand():
    # level 10, Q 10, no lead time, demand 1 a day: stock cycles 20 -> 11, order arrives next morning
    sim = simulate(np.ones((1, 40)), 0, "sQ", 10.0, 10.0, warmup=0)
    assert sim.loc[0, "fill_rate"] == 1.0 and 10 <= sim.loc[0, "avg_on_hand"] <= 20


def test_continuous_review_orders_after_each_day_not_each_week():
    # 10 units on day 0 only, then nothing: a daily replay orders on day 0 (position 20 - 10 <= 10)
    d = np.zeros((1, 30))
    d[0, 0] = 10
    d[0, 5] = 15
    sim = simulate(d, 2, "sQ", 10.0, 10.0, warmup=0)
    # day 0: 20 -> 10 -> order (arrives day 3); day 5: 20 on hand serves 15 fully
    assert sim.loc[0, "fill_rate"] == 1.0 and sim.loc[0, "cycles"] >= 1
