"""Inventory formulas against closed-form textbook values computed here with scipy.stats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from core.planning import inventory as inv

pytestmark = pytest.mark.unit


def loss(k: float) -> float:
    """Standard normal loss G(k), written out independently of the code under test."""
    return stats.norm.pdf(k) - k * stats.norm.sf(k)


def test_cycle_safety_stock_is_z_sigma_sqrt_l():
    expected = stats.norm.ppf(0.95) * 20 * np.sqrt(4)
    assert inv.safety_stock(100, 20, 4, service_level=0.95) == pytest.approx(expected, rel=1e-12)


def test_lead_time_variability_enters_sigma():
    # sigma = sqrt(L sd^2 + d^2 sL^2) = sqrt(4*400 + 10000*1) = sqrt(11600)
    expected = stats.norm.ppf(0.98) * np.sqrt(4 * 20**2 + 100**2 * 1**2)
    assert inv.safety_stock(100, 20, 4, lead_time_std=1, service_level=0.98) == pytest.approx(expected)


def test_review_period_extends_protection_interval():
    expected = stats.norm.ppf(0.9) * 20 * np.sqrt(4 + 2)
    assert inv.safety_stock(100, 20, 4, service_level=0.9, review_period=2) == pytest.approx(expected)


def test_fill_rate_safety_stock_solves_loss_equation():
    # Textbook example: Q = 500, sigma_L = 100, beta = 0.98 -> G(k) = 0.1 -> k ~ 0.90
    sigma, q, beta = 100.0, 500.0, 0.98
    k_ref = optimize.brentq(lambda k: loss(k) * sigma - (1 - beta) * q, -5, 5)
    ss = inv.safety_stock(50, 50, 4, service_level=beta, method="fill_rate", order_quantity=q)
    assert ss == pytest.approx(k_ref * sigma, rel=1e-8)
    assert k_ref == pytest.approx(0.90, abs=0.01)


def test_fill_rate_with_lead_time_variability():
    d, sd, lt, slt, q, beta = 40.0, 12.0, 3.0, 0.5, 200.0, 0.99
    sigma = np.sqrt(lt * sd**2 + d**2 * slt**2)
    k_ref = optimize.brentq(lambda k: loss(k) * sigma - (1 - beta) * q, -8, 8)
    got = inv.safety_stock(d, sd, lt, slt, beta, "fill_rate", q)
    assert got == pytest.approx(max(k_ref, 0) * sigma, rel=1e-8)


def test_normal_loss_matches_scipy_values():
    ks = np.array([-2.0, -0.5, 0.0, 0.9, 2.5])
    np.testing.assert_allclose(inv.normal_loss(ks), [loss(k) for k in ks], rtol=1e-12)
    assert inv.normal_loss(0.0) == pytest.approx(1 / np.sqrt(2 * np.pi))


def test_inverse_normal_loss_round_trips():
    g = np.array([5.0, 1.0, 0.3989, 0.1, 1e-4])
    np.testing.assert_allclose(inv.normal_loss(inv.inverse_normal_loss(g)), g, rtol=1e-9)


@pytest.mark.parametrize("method", ["cycle", "fill_rate"])
def test_zero_demand_gives_zero(method):
    assert inv.safety_stock(0, 0, 4, service_level=0.95, method=method, order_quantity=10) == 0.0


@pytest.mark.parametrize("method", ["cycle", "fill_rate"])
def test_sigma_zero_gives_zero(method):
    assert inv.safety_stock(100, 0, 4, service_level=0.99, method=method, order_quantity=100) == 0.0


def test_lead_time_zero_gives_zero_safety_stock():
    assert inv.safety_stock(100, 30, 0, service_level=0.99) == 0.0
    assert inv.reorder_point(100, 30, 0, service_level=0.99) == 0.0


def test_service_level_half_and_0999():
    assert inv.safety_stock(100, 30, 4, service_level=0.5) == pytest.approx(0.0, abs=1e-12)
    assert inv.safety_stock(100, 30, 4, service_level=0.999) == pytest.approx(stats.norm.ppf(0.999) * 60)


def test_below_half_is_floored_at_zero():
    assert inv.safety_stock(100, 30, 4, service_level=0.3) == 0.0


@pytest.mark.parametrize("level", [1.0, 0.0, 1.2, -0.1, np.nan])
def test_impossible_service_level_is_nan_not_huge(level):
    for method in ("cycle", "fill_rate"):
        assert np.isnan(inv.safety_stock(100, 30, 4, service_level=level, method=method, order_quantity=100))


def test_nan_only_for_the_bad_element():
    out = inv.safety_stock([100, 100, 100], [30, -1, 30], [4, 4, 4], service_level=[0.95, 0.95, 1.0])
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


def test_usage_errors_raise():
    with pytest.raises(ValueError, match="order_quantity"):
        inv.safety_stock(100, 30, 4, service_level=0.95, method="fill_rate")
    with pytest.raises(ValueError, match="unknown safety-stock method"):
        inv.safety_stock(100, 30, 4, method="magic")


def test_series_in_series_out_with_index():
    s = pd.Series([100.0, 50.0], index=["P1|DC", "P2|DC"])
    out = inv.safety_stock(s, s * 0.2, 4)
    assert isinstance(out, pd.Series) and list(out.index) == ["P1|DC", "P2|DC"]
    assert out["P2|DC"] == pytest.approx(stats.norm.ppf(0.95) * 10 * 2)


def test_reorder_point_is_demand_over_protection_plus_ss():
    ss = stats.norm.ppf(0.95) * 20 * np.sqrt(5)
    assert inv.reorder_point(100, 20, 4, service_level=0.95, review_period=1) == pytest.approx(500 + ss)


def test_eoq_closed_form_and_bad_inputs():
    assert inv.eoq(1200, 100, 0.2, 50) == pytest.approx(np.sqrt(2 * 1200 * 100 / (0.2 * 50)))
    assert inv.eoq(0, 100, 0.2, 50) == 0.0
    out = inv.eoq([1200, 1200, -5], [100, 100, 100], [0.0, 0.2, 0.2], [50, 0, 50])
    assert np.isnan(out).all()


def test_rounding_to_multiple_and_moq():
    got = inv.round_to_multiple_moq([23, 23, 23, 20, 0.1], [5, 5, 5, 5, None], [None, 40, 42, 0, None])
    np.testing.assert_allclose(got, [25, 40, 45, 20, 0.1])


def test_min_max():
    mn, mx = inv.min_max(np.array([100.0]), np.array([37.0]), multiple=10, moq=50)
    assert mn[0] == 100 and mx[0] == 150


def test_poisson_quantile_for_intermittent():
    lam = 0.5 * 4
    expected = stats.poisson.ppf(0.95, lam) - lam
    assert inv.safety_stock(0.5, 0.7, 4, service_level=0.95, method="poisson") == pytest.approx(expected)


def test_negative_binomial_quantile_for_lumpy():
    d, sd, lt, sl = 2.0, 5.0, 3.0, 0.9
    mu, var = d * lt, lt * sd**2
    n, p = mu**2 / (var - mu), mu / var
    expected = stats.nbinom.ppf(sl, n, p) - mu
    assert inv.safety_stock(d, sd, lt, service_level=sl, method="negative_binomial") == pytest.approx(expected)


def test_empirical_quantile_one_nonzero_period_in_52():
    series = np.zeros((1, 52))
    series[0, 10] = 10.0
    # 51 rolling 2-period sums: 49 zeros and two 10s
    assert inv.empirical_ltd_quantile(series, 2, 0.95)[0] == 0.0
    assert inv.empirical_ltd_quantile(series, 2, 0.97)[0] == 10.0


def test_achieved_fill_rate_inverts_fill_rate_ss():
    ss = inv.safety_stock(100, 30, 4, service_level=0.97, method="fill_rate", order_quantity=400)
    assert inv.achieved_fill_rate_normal(ss, 60, 400) == pytest.approx(0.97, abs=1e-9)
