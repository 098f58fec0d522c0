"""Daily demand per series, straight from the order lines: what an ERP's replenishment run sees.

Why a second view beside the bucketed matrix of `core.planning.demand`: an ERP checks its reorder
point after each day's demand, so the undershoot below the reorder point, the chance that a day has
any demand at all and the size of one day's demand decide the service a parameter delivers. Weekly
buckets hide all three. The daily view is kept sparse (one entry per series and day with demand),
so a million series over a year cost no more than their order lines; `dense` builds the (series x
days) matrix for a block of rows only when a replay needs it.

Daily statistics (the compound model of `core.planning.calibration`): `p` = share of days with
demand, `size_mean` / `size_var` (ddof 1) = mean and variance of a demand day's total, `integer`
= every day's total is a whole number (then the calibration treats demand as counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class DailyDemand:
    """Sparse daily demand: `qty[i]` units of series `rows[i]` on day `days[i]` (0 = `first_day`)."""

    rows: np.ndarray
    days: np.ndarray
    qty: np.ndarray
    n_series: int
    n_days: int
    first_day: np.datetime64


def day_window(period_starts: pd.DatetimeIndex, period_days: float, last_order_day=None) -> tuple:
    """(first day, number of days) of the bucketed window, ending at the last order day when that falls
    inside the last period (the days after it are not known yet, they are not zero demand)."""
    first = np.datetime64(period_starts[0].date(), "D")
    end = np.datetime64(period_starts[-1].date(), "D") + int(round(period_days))
    if last_order_day is not None:
        lod = np.datetime64(pd.Timestamp(last_order_day).date(), "D") + 1
        end = min(end, max(lod, np.datetime64(period_starts[-1].date(), "D") + 1))
    return first, int((end - first).astype(int))


def daily_demand(lines: pd.DataFrame, keys: pd.DataFrame, first_day, n_days: int,
                 default_location: str = "-") -> DailyDemand:
    """Sum order lines per (series of `keys`, day) inside [first_day, first_day + n_days).
    Lines of series not in `keys` or outside the window are left out (they are not demand here)."""
    first_day = np.datetime64(first_day, "D")
    n = len(keys)
    if not len(lines) or not n:
        empty = np.zeros(0, np.int64)
        return DailyDemand(empty, empty, np.zeros(0), n, n_days, first_day)
    loc = lines["location_id"] if "location_id" in lines else pd.Series(default_location, index=lines.index)
    idx = pd.MultiIndex.from_arrays([keys["product_id"].astype(str), keys["location_id"].astype(str)])
    want = pd.MultiIndex.from_arrays([lines["product_id"].astype(str), loc.fillna(default_location).astype(str)])
    row = idx.get_indexer(want)
    dates = pd.to_datetime(lines["order_date"]).to_numpy().astype("datetime64[D]")
    day = (dates - first_day).astype(np.int64)
    qty = pd.to_numeric(lines["quantity"], errors="coerce").to_numpy("float64")
    ok = (row >= 0) & (day >= 0) & (day < n_days) & np.isfinite(qty)
    flat = row[ok].astype(np.int64) * n_days + day[ok]
    uniq, inv = np.unique(flat, return_inverse=True)
    total = np.bincount(inv, weights=qty[ok], minlength=len(uniq))
    pos = total > 0  # a day netted to nothing or less by returns (`returns: net`) has no demand
    return DailyDemand(uniq[pos] // n_days, uniq[pos] % n_days, total[pos], n, n_days, first_day)


def daily_stats(dd: DailyDemand) -> pd.DataFrame:
    """Per series: days with demand, p, size mean and variance (ddof 1, 0 with one day), daily mean
    (zero days included) and whether every day's total is whole."""
    n, days = dd.n_series, max(dd.n_days, 1)
    events = np.bincount(dd.rows, minlength=n).astype("float64")
    s1 = np.bincount(dd.rows, weights=dd.qty, minlength=n)
    s2 = np.bincount(dd.rows, weights=dd.qty * dd.qty, minlength=n)
    frac = np.bincount(dd.rows, weights=(np.abs(dd.qty - np.rint(dd.qty)) > 1e-9).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        size_mean = np.where(events > 0, s1 / events, np.nan)
        size_var = np.where(events > 1, (s2 - events * size_mean ** 2) / (events - 1), 0.0)
        mean = s1 / days
    return pd.DataFrame({"events": events, "p": events / days, "size_mean": size_mean,
                         "size_var": np.maximum(size_var, 0.0), "daily_mean": mean,
                         "integer": frac == 0})


def dense(dd: DailyDemand, rows: np.ndarray, dtype="float64") -> np.ndarray:
    """The (len(rows) x n_days) daily matrix of the given series rows (zeros included)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros((len(rows), dd.n_days), dtype=dtype)
    if not len(rows) or not len(dd.rows):
        return out
    pos = np.full(dd.n_series, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    take = pos[dd.rows] >= 0
    out[pos[dd.rows[take]], dd.days[take]] = dd.qty[take]
    return out
