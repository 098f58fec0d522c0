"""Replay parameters the way an ERP runs them, day by day: achieved fill rate, cycle service and
stock on hand per series, then per segment and per demand pattern. How planners learn to trust the
numbers, and the check the calibration is measured by (it shares none of its maths).

The truth criterion (docs/engine.md), vectorised over series with one loop over days:
- backorders allowed; an order placed after day t's demand arrives before day t + L + 1's demand
  (it protects L days);
- continuous review (`policy='sQ'`, level = reorder point s, quantity = Q): after each day's demand,
  while the inventory position is at or below s, order Q;
- periodic review (`policy='RS'`, level = order-up-to S): every R days order S minus the position;
- fill rate = demand served from stock on the day / demand; cycle service = share of replenishment
  arrivals before which net stock was not negative; on hand = mean of max(net stock, 0) at the end
  of each day. The first L + R days are warm-up and not counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GAP_TOLERANCE = 0.02  # gaps within this many points of target are not explained
FEW_CYCLES = 8  # fewer replenishment arrivals than this per series: cycle service is noisy


def bootstrap(matrix: np.ndarray, periods: int, seed: int = 0) -> np.ndarray:
    """Resample each row's own periods with replacement (stationary bootstrap of the history)."""
    rng = np.random.default_rng(seed)
    m = np.asarray(matrix, dtype="float64")
    idx = rng.integers(0, m.shape[1], size=(m.shape[0], periods))
    return np.take_along_axis(m, idx, axis=1)


def simulate(demand: np.ndarray, lead_time, policy: str, level, quantity=None, review_period=1,
             warmup: int | None = None) -> pd.DataFrame:
    """Replay (s, Q) (`policy='sQ'`) or (R, S) (`policy='RS'`) for every row of `demand` (one column
    per day, or per period). Returns fill_rate, cycle_service_level, cycles and avg_on_hand per row."""
    d = np.asarray(demand, dtype="float64")
    n, t = d.shape
    lt = np.rint(np.broadcast_to(np.asarray(lead_time, float), (n,))).astype(int).clip(0)
    lvl = np.broadcast_to(np.asarray(level, float), (n,))
    q = np.broadcast_to(np.asarray(1.0 if quantity is None else quantity, float), (n,))
    r = np.broadcast_to(np.asarray(review_period, int), (n,)).clip(1)
    if policy not in ("sQ", "RS"):
        raise ValueError(f"policy must be 'sQ' or 'RS', got {policy!r}")
    if policy == "sQ" and not np.all(q[np.isfinite(lvl)] > 0):
        raise ValueError("(s, Q) simulation needs a positive order quantity Q for every series")
    warm = int(lt.max() + r.max()) if warmup is None else warmup
    ring = int(lt.max()) + 2
    pipe = np.zeros((n, ring))
    ni = np.nan_to_num(np.where(policy == "RS", lvl, lvl + q).astype(float))
    served = demanded = cycles = good = on_hand = np.zeros(n)
    rows = np.arange(n)
    for p in range(t):
        arr = pipe[:, p % ring].copy()
        pipe[:, p % ring] = 0.0
        counted = p >= warm
        if counted:
            arrived = arr > 0
            cycles = cycles + arrived
            good = good + (arrived & (ni >= -1e-9))
        ni = ni + arr
        dem = d[:, p]
        if counted:
            served = served + np.minimum(dem, np.maximum(ni, 0.0))
            demanded = demanded + dem
        ni = ni - dem
        if counted:
            on_hand = on_hand + np.maximum(ni, 0.0)
        ip = ni + pipe.sum(axis=1)
        order = _order(policy, ip, lvl, q, r, p)
        pipe[rows, (p + lt + 1) % ring] += order
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(demanded > 0, served / demanded, np.nan)
        csl = np.where(cycles > 0, good / cycles, np.nan)
    days = max(t - warm, 1)
    return pd.DataFrame({"fill_rate": fill, "cycle_service_level": csl, "cycles": cycles,
                         "avg_on_hand": on_hand / days})


def _order(policy: str, ip, lvl, q, r, p) -> np.ndarray:
    if policy == "RS":
        return np.where((p % r == 0) & np.isfinite(lvl), np.maximum(lvl - ip, 0.0), 0.0)
    with np.errstate(invalid="ignore"):
        need = np.where(np.isfinite(lvl) & (ip <= lvl), np.floor((lvl - ip) / q) + 1, 0.0)
    return need * q


def achieved(per_series: pd.DataFrame, target_type) -> np.ndarray:
    """Each series' achieved service in its own target's terms (fill rate or cycle service)."""
    fill = np.asarray(target_type) == "fill_rate"
    return np.where(fill, per_series["fill_rate"].to_numpy(float),
                    per_series["cycle_service_level"].to_numpy(float))


def service_summary(per_series: pd.DataFrame, by: str) -> pd.DataFrame:
    """Achieved against target per value of column `by` (segment or pattern) of `per_series`, which
    holds target, target_type, fill_rate, cycle_service_level, achieved, cycles, avg_on_hand,
    holding_cost and method per series. One row per group (`by`, `group`); `note` says why a gap beyond 2 points remains."""
    f = per_series.assign(group=per_series[by].astype(str))
    g = f.groupby("group", sort=True)
    out = g.agg(series=("achieved", "size"), target=("target", "mean"), achieved=("achieved", "mean"),
                fill_rate=("fill_rate", "mean"), cycle_service_level=("cycle_service_level", "mean"),
                avg_on_hand=("avg_on_hand", "sum"), holding_cost=("holding_cost", "sum"),
                median_cycles=("cycles", "median"))
    out["target_type"] = g["target_type"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    out["gap"] = out["achieved"] - out["target"]
    out["note"] = [_why(part, gap) for (_, part), gap in zip(g, out["gap"], strict=True)]
    out = out.reset_index().assign(by=by)
    return out[["by", "group", *[c for c in out if c not in ("by", "group")]]]


def _why(part: pd.DataFrame, gap: float) -> str:
    """Plain reasons for a gap beyond the tolerance, from what the replay saw."""
    if not np.isfinite(gap) or abs(gap) <= GAP_TOLERANCE:
        return ""
    reasons = []
    if part["cycles"].median() < FEW_CYCLES:
        reasons.append(f"few replenishment cycles replayed (median {part['cycles'].median():.0f} per series): "
                       "the figure is noisy; replay more days with --bootstrap")
    textbook = part["method"].astype(str) != "calibrated"
    if textbook.any():
        reasons.append(f"{int(textbook.sum())} series use a textbook method ({', '.join(sorted(set(part.loc[textbook, 'method'].astype(str))))}) "
                       "that assumes normal or Poisson demand per period")
    if gap > 0 and part["cycles"].median() >= FEW_CYCLES:
        reasons.append("above target: order quantities or MOQs cover more than the safety stock needs")
    if not reasons:
        reasons.append("the replayed days differ from the history the levels were fitted to")
    return "; ".join(reasons)
