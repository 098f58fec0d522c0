"""Replay (or bootstrap) demand against computed parameters: achieved cycle service level and fill
rate per series and per segment. How planners learn to trust the numbers.

Model (backorders, one review per period, vectorised over series, one loop over periods):
- an order placed at the end of period t arrives at the start of period t + L + 1, so it covers
  exactly L periods of lead time (L rounded to whole periods);
- (s, Q): at each review, if inventory position <= s, order the smallest multiple of Q that lifts it
  above s; (R, S): every R periods order S - inventory position;
- fill rate = demand served from stock / demand; cycle service level = share of replenishment
  cycles (arrival to arrival) that end without a stockout, i.e. net stock just before each arrival
  is >= 0. The first L + R periods are warm-up and not counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def bootstrap(matrix: np.ndarray, periods: int, seed: int = 0) -> np.ndarray:
    """Resample each row's own periods with replacement (stationary bootstrap of the history)."""
    rng = np.random.default_rng(seed)
    m = np.asarray(matrix, dtype="float64")
    idx = rng.integers(0, m.shape[1], size=(m.shape[0], periods))
    return np.take_along_axis(m, idx, axis=1)


def simulate(demand: np.ndarray, lead_time, policy: str, level, quantity=None, review_period=1,
             warmup: int | None = None) -> pd.DataFrame:
    """Simulate (s, Q) (`policy='sQ'`, level = s, quantity = Q) or (R, S) (`policy='RS'`, level = S)
    for every row of `demand`. Returns fill_rate and cycle_service_level per row."""
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
    ni = np.where(policy == "RS", lvl, lvl + q).astype(float)
    ni = np.nan_to_num(ni)
    served = demanded = cycles = good = np.zeros(n)
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
        ip = ni + pipe.sum(axis=1)
        order = _order(policy, ip, lvl, q, r, p)
        pipe[rows, (p + lt + 1) % ring] += order
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(demanded > 0, served / demanded, np.nan)
        csl = np.where(cycles > 0, good / cycles, np.nan)
    return pd.DataFrame({"fill_rate": fill, "cycle_service_level": csl, "cycles": cycles})


def _order(policy: str, ip, lvl, q, r, p) -> np.ndarray:
    if policy == "RS":
        return np.where((p % r == 0) & np.isfinite(lvl), np.maximum(lvl - ip, 0.0), 0.0)
    with np.errstate(invalid="ignore"):
        need = np.where(np.isfinite(lvl) & (ip <= lvl), np.floor((lvl - ip) / q) + 1, 0.0)
    return need * q


def service_by_segment(sim: pd.DataFrame, segment: pd.Series, target: pd.Series,
                       target_type: pd.Series) -> pd.DataFrame:
    """Mean achieved service over the series of each segment, with the target beside it."""
    f = pd.DataFrame({"segment": segment.to_numpy(), "fill_rate": sim["fill_rate"].to_numpy(),
                      "cycle_service_level": sim["cycle_service_level"].to_numpy(),
                      "target": target.to_numpy(), "target_type": target_type.to_numpy()})
    g = f.groupby("segment", sort=True)
    out = g.agg(series=("fill_rate", "size"), fill_rate=("fill_rate", "mean"),
                cycle_service_level=("cycle_service_level", "mean"), target=("target", "mean"),
                target_type=("target_type", "first"))
    out["achieved"] = np.where(out["target_type"] == "fill_rate", out["fill_rate"], out["cycle_service_level"])
    out["gap"] = out["achieved"] - out["target"]
    return out.reset_index()
