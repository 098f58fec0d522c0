"""Demand history: order lines bucketed per product-location into periods, with per-series stats.

Why a dense matrix: every later step (XYZ, Syntetos-Boylan, simulation, empirical quantiles) needs
the per-period series *including zero periods*; a (series x periods) float array built with one
`np.bincount` gives that for 20M lines in seconds, with no per-row Python.

Conventions (docs/engine.md): weeks start on Monday; the window is the `window` periods ending with
the period holding `end_date` (default: the last order date); rejected lines are always dropped,
promotion lines optionally; per-period std uses ddof=1 (sample), CV^2 of non-zero sizes uses ddof=0
(so one non-zero period gives 0, not NaN); ADI = periods / non-zero periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from basics.errors import DataError

PERIOD_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
PERIODS_PER_YEAR = {"D": 365.25, "W": 365.25 / 7, "M": 12.0}
_CHUNK = 100_000


@dataclass
class DemandOptions:
    """How demand is bucketed. `window` counts periods (52 weeks by default)."""

    period: str = "W"
    window: int = 52
    end_date: date | None = None
    exclude_promotions: bool = False
    outliers: str | None = None  # None | "hampel"
    hampel_half_window: int = 3
    hampel_threshold: float = 3.0
    default_location: str = "-"
    default_lead_time_days: float = 14.0

    def __post_init__(self) -> None:
        if self.period not in PERIOD_DAYS:
            raise ValueError(f"period must be one of D, W, M; got {self.period!r}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1 period; got {self.window}")
        if self.outliers not in (None, "hampel"):
            raise ValueError(f"outliers must be None or 'hampel'; got {self.outliers!r}")


@dataclass
class DemandHistory:
    """Row i of `matrix` is the series of `keys.iloc[i]`; `stats` is aligned with `keys`."""

    keys: pd.DataFrame
    matrix: np.ndarray
    period_starts: pd.DatetimeIndex
    period: str
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)


def period_index(dates, period: str) -> np.ndarray:
    """Integer period number of each date (days, Monday weeks or months since 1970)."""
    d = np.asarray(dates, dtype="datetime64[D]")
    if period == "M":
        return d.astype("datetime64[M]").astype(np.int64)
    days = d.astype(np.int64)
    return (days + 3) // 7 if period == "W" else days


def period_start(idx, period: str) -> pd.DatetimeIndex:
    """First day of each period number (inverse of `period_index`)."""
    idx = np.asarray(idx, dtype=np.int64)
    if period == "M":
        return pd.DatetimeIndex(idx.astype("datetime64[M]").astype("datetime64[ns]"))
    days = idx * 7 - 3 if period == "W" else idx
    return pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))


def _dates(col: pd.Series) -> np.ndarray:
    if np.issubdtype(col.dtype, np.datetime64):
        return col.to_numpy().astype("datetime64[D]")
    return pd.to_datetime(col).to_numpy().astype("datetime64[D]")


def _filter_lines(lines: pd.DataFrame, opts: DemandOptions) -> pd.DataFrame:
    missing = {"product_id", "order_date", "quantity"} - set(lines.columns)
    if missing:
        raise DataError(f"order lines lack column(s) {', '.join(sorted(missing))}",
                        hint="order_lines needs product_id, order_date, quantity (see docs/engine.md)")
    keep = np.ones(len(lines), dtype=bool)
    if "rejected" in lines:
        keep &= ~lines["rejected"].fillna(False).astype(bool).to_numpy()
    if opts.exclude_promotions and "promotion" in lines:
        keep &= ~lines["promotion"].fillna(False).astype(bool).to_numpy()
    return lines if keep.all() else lines[keep]


def demand_lines(lines: pd.DataFrame, options: DemandOptions | None = None) -> pd.DataFrame:
    """The order lines that count as demand (rejected lines out, promotion lines when excluded)."""
    return _filter_lines(lines, options or DemandOptions())


def _series_codes(lines: pd.DataFrame, default_location: str):
    """Dense series code per line, sorted by (product, location), and the key frame."""
    pc, pu = pd.factorize(lines["product_id"], sort=True)
    loc = lines["location_id"] if "location_id" in lines else pd.Series(default_location, index=lines.index)
    if isinstance(loc.dtype, pd.CategoricalDtype) and default_location not in loc.cat.categories:
        loc = loc.cat.add_categories([default_location])  # categorical ids (Parquet, the benches) take the default too
    lc, lu = pd.factorize(loc.fillna(default_location), sort=True)
    combined = pc.astype(np.int64) * max(len(lu), 1) + lc
    sc, su = pd.factorize(combined, sort=True)
    keys = pd.DataFrame({"product_id": np.asarray(pu)[su // max(len(lu), 1)],
                         "location_id": np.asarray(lu)[su % max(len(lu), 1)]})
    return sc, keys


def bucket_demand(order_lines: pd.DataFrame, options: DemandOptions | None = None,
                  universe: pd.DataFrame | None = None) -> DemandHistory:
    """Bucket order lines into a (series x periods) matrix over the rolling window, zeros included.
    `universe` (product_id, location_id) adds series with no demand in the window (as zero rows)."""
    opts = options or DemandOptions()
    lines = _filter_lines(order_lines, opts)
    pidx = period_index(_dates(lines["order_date"]), opts.period) if len(lines) else np.zeros(0, np.int64)
    if opts.end_date is not None:
        last = int(period_index(np.array([opts.end_date], dtype="datetime64[D]"), opts.period)[0])
    elif len(pidx):
        last = int(pidx.max())
    else:
        raise DataError("no order lines left to bucket (all rejected, or none given)",
                        hint="check the order_lines input and the rejected/promotion flags")
    first = last - opts.window + 1
    inwin = (pidx >= first) & (pidx <= last)
    lines, pidx = (lines[inwin], pidx[inwin]) if not inwin.all() else (lines, pidx)
    sc, keys = _series_codes(lines, opts.default_location)
    n, t = len(keys), opts.window
    flat = sc.astype(np.int64) * t + (pidx - first)
    qty = lines["quantity"].to_numpy(dtype="float64")
    matrix = np.bincount(flat, weights=qty, minlength=n * t).reshape(n, t) if n else np.zeros((0, t))
    extra = _line_totals(lines, sc, n)
    hist = DemandHistory(keys, matrix, period_start(np.arange(first, last + 1), opts.period), opts.period)
    if universe is not None:
        hist, extra = _add_universe(hist, extra, universe, opts.default_location)
    if opts.outliers == "hampel":
        hist.matrix = hampel(hist.matrix, opts.hampel_half_window, opts.hampel_threshold)
    hist.stats = pd.concat([series_stats(hist.matrix), extra], axis=1)
    return hist


def _line_totals(lines: pd.DataFrame, sc: np.ndarray, n: int) -> pd.DataFrame:
    """Picks (order lines), value and margin per series."""
    picks = np.bincount(sc, minlength=n).astype("float64")
    value = np.bincount(sc, weights=lines["net_value"].fillna(0.0).to_numpy("float64"), minlength=n) \
        if "net_value" in lines else np.zeros(n)
    if "cost" in lines:
        c = lines["cost"].to_numpy("float64")
        cost = np.bincount(sc, weights=np.nan_to_num(c), minlength=n)
        known = np.bincount(sc, weights=np.isfinite(c).astype(float), minlength=n) > 0
        margin = np.where(known, value - cost, np.nan)
    else:
        margin = np.full(n, np.nan)
    return pd.DataFrame({"picks": picks, "value": value, "margin": margin})


def _add_universe(hist: DemandHistory, extra: pd.DataFrame, universe: pd.DataFrame, default_location: str):
    u = universe[["product_id", "location_id"]].copy()
    u["location_id"] = u["location_id"].fillna(default_location)
    known = pd.MultiIndex.from_frame(hist.keys)
    new = u[~pd.MultiIndex.from_frame(u).isin(known)].drop_duplicates()
    if new.empty:
        return hist, extra
    keys = pd.concat([hist.keys, new], ignore_index=True)
    order = np.lexsort((keys["location_id"].astype(str), keys["product_id"].astype(str)))
    matrix = np.vstack([hist.matrix, np.zeros((len(new), hist.matrix.shape[1]))])[order]
    pad = pd.DataFrame({"picks": 0.0, "value": 0.0, "margin": np.nan}, index=range(len(new)))
    extra = pd.concat([extra, pad], ignore_index=True).iloc[order].reset_index(drop=True)
    return DemandHistory(keys.iloc[order].reset_index(drop=True), matrix, hist.period_starts, hist.period), extra


def series_stats(matrix: np.ndarray) -> pd.DataFrame:
    """Per-row mean, std (ddof=1), cv, non-zero periods, ADI, CV^2 of non-zero sizes (ddof=0),
    total quantity and first/last non-zero period (-1 when none). Chunked to bound memory."""
    n, t = matrix.shape
    parts = [_stats_chunk(matrix[i:i + _CHUNK]) for i in range(0, n, _CHUNK)] or [_stats_chunk(matrix)]
    return pd.concat(parts, ignore_index=True)


def _stats_chunk(m: np.ndarray) -> pd.DataFrame:
    t = m.shape[1]
    pos = m > 0
    nz = pos.sum(axis=1)
    mean = m.mean(axis=1) if t else np.zeros(len(m))
    std = m.std(axis=1, ddof=1) if t > 1 else np.zeros(len(m))
    mp = np.where(pos, m, 0.0)
    s1, s2 = mp.sum(axis=1), (mp * mp).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        size_mean = s1 / nz
        cv2 = np.maximum(s2 / nz - size_mean ** 2, 0.0) / size_mean ** 2
        cv = np.where(mean > 0, std / mean, np.nan)
        adi = np.where(nz > 0, t / nz, np.nan)
    first = np.where(nz > 0, pos.argmax(axis=1), -1)
    last = np.where(nz > 0, t - 1 - pos[:, ::-1].argmax(axis=1), -1)
    return pd.DataFrame({"mean": mean, "std": std, "cv": cv, "nonzero": nz, "periods": t, "adi": adi,
                         "cv2": np.where(nz > 0, cv2, np.nan), "quantity": m.sum(axis=1),
                         "first_idx": first, "last_idx": last})


def hampel(matrix: np.ndarray, half_window: int = 3, threshold: float = 3.0) -> np.ndarray:
    """Replace points further than threshold x 1.4826 x MAD from the rolling median by that median.
    Points whose window has MAD 0 are kept (else every spike of an intermittent series would go)."""
    from numpy.lib.stride_tricks import sliding_window_view

    out = np.array(matrix, dtype="float64", copy=True)
    w = 2 * half_window + 1
    for i in range(0, len(out), _CHUNK // 4):
        block = out[i:i + _CHUNK // 4]
        padded = np.pad(block, ((0, 0), (half_window, half_window)), mode="edge")
        win = sliding_window_view(padded, w, axis=1)
        med = np.median(win, axis=2)
        mad = 1.4826 * np.median(np.abs(win - med[..., None]), axis=2)
        bad = (mad > 0) & (np.abs(block - med) > threshold * mad)
        block[bad] = med[bad]
    return out


def aggregate_by_product(hist: DemandHistory) -> DemandHistory:
    """Per-product series across locations (keys are sorted by product, so one np.add.reduceat)."""
    prod = hist.keys["product_id"].to_numpy()
    if len(prod) == 0:
        return DemandHistory(pd.DataFrame({"product_id": []}), hist.matrix[:0], hist.period_starts, hist.period)
    starts = np.flatnonzero(np.r_[True, prod[1:] != prod[:-1]])
    matrix = np.add.reduceat(hist.matrix, starts, axis=0)
    keys = pd.DataFrame({"product_id": prod[starts]})
    extra = hist.stats[["picks", "value", "margin"]].groupby(np.repeat(np.arange(len(starts)),
                                                                        np.diff(np.r_[starts, len(prod)])))
    totals = extra.sum(min_count=1).reset_index(drop=True)
    return DemandHistory(keys, matrix, hist.period_starts, hist.period,
                         pd.concat([series_stats(matrix), totals], axis=1))


def lead_times(keys: pd.DataFrame, receipts: pd.DataFrame | None, product_locations: pd.DataFrame | None,
               period: str, default_days: float, default_location: str = "-") -> pd.DataFrame:
    """Lead-time mean/std (days and periods) per key: receipts (receipt - order date, std ddof=1,
    0 with one receipt) where present, else master data, else the default. `source` says which."""
    out = keys[["product_id", "location_id"]].copy()
    out["lead_time_days"], out["lead_time_std_days"], out["lead_time_source"] = np.nan, np.nan, None
    if product_locations is not None and not product_locations.empty and "lead_time_days" in product_locations:
        out = _fill_lt(out, product_locations, "master", default_location)
    if receipts is not None and not receipts.empty and {"order_date", "receipt_date"} <= set(receipts.columns):
        r = receipts.dropna(subset=["order_date", "receipt_date"]).copy()
        r["lt"] = (pd.to_datetime(r["receipt_date"]) - pd.to_datetime(r["order_date"])).dt.days.astype(float)
        loc = r["location_id"] if "location_id" in r else pd.Series(default_location, index=r.index)
        r["location_id"] = loc.fillna(default_location)
        g = r.groupby(["product_id", "location_id"])["lt"]
        agg = pd.DataFrame({"lead_time_days": g.mean(), "lead_time_std_days": g.std(ddof=1).fillna(0.0)})
        out = _fill_lt(out, agg.reset_index(), "receipts", default_location, prefer=True)
    none = out["lead_time_days"].isna()
    out.loc[none, ["lead_time_days", "lead_time_std_days", "lead_time_source"]] = [default_days, 0.0, "default"]
    out["lead_time_std_days"] = out["lead_time_std_days"].fillna(0.0)
    out["lead_time"] = out["lead_time_days"] / PERIOD_DAYS[period]
    out["lead_time_std"] = out["lead_time_std_days"] / PERIOD_DAYS[period]
    return out


def _fill_lt(out: pd.DataFrame, src: pd.DataFrame, label: str, default_location: str,
             prefer: bool = False) -> pd.DataFrame:
    s = src[["product_id", "location_id", "lead_time_days"]
            + (["lead_time_std_days"] if "lead_time_std_days" in src else [])].copy()
    s["location_id"] = s["location_id"].fillna(default_location)
    for c in ("lead_time_days", "lead_time_std_days"):
        if c in s:
            s[c] = pd.to_numeric(s[c], errors="coerce").astype("float64")
    s = s.drop_duplicates(["product_id", "location_id"])
    m = out[["product_id", "location_id"]].merge(s, how="left", on=["product_id", "location_id"])
    take = m["lead_time_days"].notna().to_numpy() & (prefer | out["lead_time_days"].isna().to_numpy())
    out.loc[take, "lead_time_days"] = m.loc[take, "lead_time_days"].to_numpy()
    std = m["lead_time_std_days"].fillna(0.0) if "lead_time_std_days" in m else pd.Series(0.0, index=m.index)
    out.loc[take, "lead_time_std_days"] = std[take].to_numpy()
    out.loc[take, "lead_time_source"] = label
    return out
