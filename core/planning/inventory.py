"""Inventory parameters as vectorised functions: safety stock, reorder point, EOQ, min/max, rounding.

Conventions (see docs/engine.md):
- demand is in units per period; lead time, its standard deviation and the review period are in
  the same periods. The protection interval is L + R.
- Arrays or Series in, the same shape out (a Series keeps its index).
- Impossible inputs never give a silently huge number: a service level outside (0, 1), a fill
  rate of 1, a negative demand or lead time, or a non-positive holding cost give NaN for that
  element. A bad `method` or a missing `order_quantity` raises ValueError (a usage mistake).
- Safety stock is floored at 0.

Example:
    >>> round(float(safety_stock(100, 20, 4, service_level=0.95)), 2)
    65.79
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

CYCLE = "cycle"
FILL_RATE = "fill_rate"
POISSON = "poisson"
NEGBIN = "negative_binomial"
METHODS = (CYCLE, FILL_RATE, POISSON, NEGBIN)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype="float64")


def _like(template, result: np.ndarray):
    """Return `result` in the shape/type of the first array-like input (Series keeps its index)."""
    if isinstance(template, pd.Series):
        return pd.Series(result, index=template.index)
    if np.ndim(template) == 0 and np.ndim(result) == 0:
        return float(result)
    return result


def normal_loss(k):
    """Standard normal loss function G(k) = phi(k) - k (1 - Phi(k)): expected units short per sigma."""
    k = _arr(k)
    return np.exp(-0.5 * k * k) / np.sqrt(2 * np.pi) - k * special.ndtr(-k)


def inverse_normal_loss(g, iterations: int = 60) -> np.ndarray:
    """k with G(k) = g, vectorised Newton from the left (G is convex and decreasing, so it converges
    monotonically). g <= 0 gives NaN (a fill rate of 1 has no finite answer)."""
    g = _arr(g)
    valid = np.isfinite(g) & (g > 0)
    target = np.where(valid, g, 1.0)
    k = np.minimum(-target - 1.0, -1.0)  # G(k) > k-ish for k << 0, so this starts left of the root
    for _ in range(iterations):
        step = (normal_loss(k) - target) / special.ndtr(-k)
        step = np.where(np.isfinite(step), step, 0.0)
        k = k + step
        if np.all(np.abs(step) < 1e-12):
            break
    return np.where(valid, k, np.nan)


def protection_sigma(demand_std, demand_mean, lead_time, lead_time_std=0, review_period=0) -> np.ndarray:
    """sigma over the protection interval: sqrt((L+R) sd_d^2 + d^2 sd_L^2)."""
    d, sd, lt, slt, r = (_arr(v) for v in (demand_mean, demand_std, lead_time, lead_time_std, review_period))
    return np.sqrt((lt + r) * sd * sd + d * d * slt * slt)


def _invalid(d, sd, lt, slt, r, sl) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (d < 0) | (sd < 0) | (lt < 0) | (slt < 0) | (r < 0) | ~(sl > 0) | ~(sl < 1)


def _discrete_ss(d, sd, lt, slt, r, sl, method) -> np.ndarray:
    """Poisson / negative-binomial quantile of demand over L+R minus its mean (intermittent demand)."""
    mu = d * (lt + r)
    var = (lt + r) * sd * sd + d * d * slt * slt
    q = stats.poisson.ppf(sl, mu)
    if method == NEGBIN:
        over = var > mu
        var_safe = np.where(over, var, mu + 1.0)
        n = mu * mu / (var_safe - mu)
        p = mu / var_safe
        q = np.where(over & (mu > 0), stats.nbinom.ppf(sl, np.where(n > 0, n, 1.0), p), q)
    return np.where(mu > 0, q - mu, 0.0)


def safety_stock(demand_mean, demand_std, lead_time, lead_time_std=0, service_level=0.95,
                 method="cycle", order_quantity=None, review_period=0):
    """Safety stock for a cycle service level (z sigma), a fill rate (k with G(k) sigma = (1-beta) Q),
    or a Poisson / negative-binomial quantile for intermittent demand. Floored at 0; NaN where the
    inputs are impossible (see module doc)."""
    if method not in METHODS:
        raise ValueError(f"unknown safety-stock method {method!r}; use one of {', '.join(METHODS)}")
    d, sd, lt, slt, r, sl = (_arr(v) for v in (demand_mean, demand_std, lead_time, lead_time_std,
                                                  review_period, service_level))
    d, sd, lt, slt, r, sl = np.broadcast_arrays(d, sd, lt, slt, r, sl)
    bad = _invalid(d, sd, lt, slt, r, sl)
    sl_ok = np.where(bad, 0.5, sl)
    sigma = protection_sigma(sd, d, lt, slt, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == CYCLE:
            ss = special.ndtri(sl_ok) * sigma
        elif method == FILL_RATE:
            if order_quantity is None:
                raise ValueError("method='fill_rate' needs order_quantity (units per replenishment cycle)")
            q = np.broadcast_to(_arr(order_quantity), d.shape)
            bad = bad | ~(q > 0)
            k = inverse_normal_loss((1 - sl_ok) * q / sigma)
            ss = np.where(sigma > 0, k * sigma, 0.0)
        else:
            ss = _discrete_ss(d, sd, lt, slt, r, sl_ok, method)
    ss = np.where(bad, np.nan, np.maximum(np.nan_to_num(ss, nan=0.0), 0.0))
    return _like(demand_mean, ss)


def reorder_point(demand_mean, demand_std, lead_time, lead_time_std=0, service_level=0.95,
                  method="cycle", order_quantity=None, review_period=0):
    """Demand over the protection interval (L + R) plus safety stock."""
    ss = _arr(safety_stock(demand_mean, demand_std, lead_time, lead_time_std, service_level, method,
                           order_quantity, review_period))
    rop = _arr(demand_mean) * (_arr(lead_time) + _arr(review_period)) + ss
    return _like(demand_mean, rop)


def eoq(annual_demand, order_cost, holding_rate, unit_cost):
    """Economic order quantity sqrt(2 D S / (h c)). NaN where h c <= 0 or D, S < 0 (never infinite)."""
    dem, s, h, c = np.broadcast_arrays(*(_arr(v) for v in (annual_demand, order_cost, holding_rate, unit_cost)))
    hc = h * c
    with np.errstate(invalid="ignore", divide="ignore"):
        bad = ~(hc > 0) | ~(dem >= 0) | ~(s >= 0)
        q = np.sqrt(2 * dem * s / np.where(bad, 1.0, hc))
    return _like(annual_demand, np.where(bad, np.nan, q))


def round_to_multiple_moq(quantity, multiple=None, moq=None):
    """Round up to the order multiple, then lift to the MOQ (itself rounded up to the multiple).
    A missing or non-positive multiple or MOQ is ignored."""
    q = _arr(quantity)
    m = _arr(1.0 if multiple is None else multiple)
    mo = _arr(0.0 if moq is None else moq)
    q, m, mo = np.broadcast_arrays(q, m, mo)
    m_ok = np.where(np.isfinite(m) & (m > 0), m, np.nan)
    mo_ok = np.where(np.isfinite(mo) & (mo > 0), mo, 0.0)
    with np.errstate(invalid="ignore"):
        lifted = np.maximum(q, mo_ok)
        rounded = np.where(np.isnan(m_ok), lifted, np.ceil(np.round(lifted / m_ok, 9)) * m_ok)
    return _like(quantity, rounded)


def min_max(reorder_point_, order_quantity, multiple=None, moq=None):
    """Min = reorder point, max = reorder point + order quantity (rounded to multiple / MOQ)."""
    q = _arr(round_to_multiple_moq(order_quantity, multiple, moq))
    mn = _arr(reorder_point_)
    return _like(reorder_point_, mn), _like(reorder_point_, mn + q)


def empirical_ltd_quantile(matrix: np.ndarray, lead_time_periods, service_level) -> np.ndarray:
    """Empirical service-level quantile of demand over ceil(L) periods, from each row's own history
    (rolling sums over the bucketed series): for lumpy demand where no parametric law fits."""
    m = np.asarray(matrix, dtype="float64")
    n, t = m.shape
    lt = np.clip(np.ceil(np.broadcast_to(_arr(lead_time_periods), (n,))).astype(int), 1, max(t, 1))
    sl = np.broadcast_to(_arr(service_level), (n,))
    out = np.full(n, np.nan)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(m, axis=1)], axis=1)
    for w in np.unique(lt):  # a handful of distinct lead times, not one loop per row
        rows = np.flatnonzero(lt == w)
        sums = csum[rows, w:] - csum[rows, :-w]
        out[rows] = _row_quantile(sums, sl[rows])
    return out


def _row_quantile(sums: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row quantile (higher value, conservative) with a per-row level."""
    srt = np.sort(sums, axis=1)
    idx = np.clip(np.ceil(q * srt.shape[1]).astype(int) - 1, 0, srt.shape[1] - 1)
    return srt[np.arange(srt.shape[0]), idx]


def achieved_fill_rate_normal(safety_stock_, sigma, order_quantity):
    """Textbook expected fill rate 1 - sigma G(SS/sigma) / Q (for checks and reports)."""
    ss, s, q = (_arr(v) for v in (safety_stock_, sigma, order_quantity))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 1 - s * normal_loss(ss / np.where(s > 0, s, 1)) / q, 1.0)
