"""Inventory parameters per product-location: order quantity, safety stock, reorder point, min/max.

Two routes to the reorder level, chosen per row by the policy's `ss_method`:
- `auto` (the shipped default): the level is calibrated on the series' own daily demand so that a
  daily replay as an ERP runs it delivers the target (`core.planning.calibration`). Where no daily
  view is given (a caller with weekly buckets only), `auto` falls back to the textbook method for
  the demand pattern: normal for smooth and erratic, negative binomial for intermittent and lumpy.
- `normal` (cycle or fill rate), `poisson`, `negative_binomial`, `empirical`: the closed forms of
  `core.planning.inventory` on bucketed demand.

What the ERP does with the numbers (docs/engine.md, "the truth criterion"): continuous review
orders `order_quantity` while the position is at or below `reorder_point`; periodic review orders
up to `max_qty` every review period (for those rows `reorder_point` = `min_qty` = `max_qty` = the
order-up-to level S, and `order_quantity` is the expected order per review). Order quantity, min
and max are whole base units, rounded up to the order multiple and lifted to the MOQ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.planning import inventory as inv
from core.planning.calibration import DailyModel, calibrate_levels, pooled_size_var, shrunk_size_var
from core.planning.demand import PERIOD_DAYS, PERIODS_PER_YEAR, DemandHistory

MASTER = ["moq", "order_multiple", "unit_cost"]
CURRENT = ["current_safety_stock", "current_reorder_point", "current_min_qty", "current_max_qty",
           "current_mrp_type", "current_lot_sizing", "current_service_level", "current_abc", "current_segment"]
CALIBRATED = "calibrated"
_CHUNK = 2_000  # rows of similar expected demand days per calibration block (the mixture fits the busiest)


@dataclass
class DailyInputs:
    """The daily statistics the calibration needs, aligned with the product-location rows."""

    stats: pd.DataFrame  # core.planning.daily.daily_stats
    days: int  # days of history they were measured over
    # Given by a caller that holds part of the series (Spark): each row's pattern's pooled size CV^2
    # over all series (else pooled over the rows given); the rows given then form one calibration chunk.
    pooled_cv2: np.ndarray | None = None


def compute_parameters(pl: pd.DataFrame, lt: pd.DataFrame, hist: DemandHistory, pls: pd.DataFrame | None,
                       period: str, products: pd.DataFrame | None = None,
                       daily: DailyInputs | None = None) -> pd.DataFrame:
    """Safety stock, reorder point, order quantity, min/max and rounding per product-location."""
    out = pl.copy()
    out["lead_time"] = lt["lead_time"].to_numpy(float)  # float columns (pandas 2 kept a mixed block object)
    out["lead_time_std"] = lt["lead_time_std"].to_numpy(float)
    out["lead_time_source"] = lt["lead_time_source"].to_numpy()
    out["lead_time_days"] = lt["lead_time"].to_numpy(float) * PERIOD_DAYS[period]
    master = _master(out, pls, products)
    for c in CURRENT:
        if c in master:
            out[c] = master[c].to_numpy()
    d, L = out["mean"].to_numpy(float), out["lead_time"].to_numpy(float)
    R = out["review_period_days"].to_numpy(float) / PERIOD_DAYS[period]
    q, mult, moq = _order_quantity(out, master, d, R, period)
    method = methods_of(out, daily is not None)
    ss = np.ceil(np.round(_safety_stock(out, hist, method, d, L, R, q), 6))
    level = np.ceil(np.round(d * (L + R) + ss, 6))
    if daily is not None and (method == CALIBRATED).any():
        level, method = _calibrated(out, daily, method, level, q, period)
        ss = np.maximum(level - d * (L + R), 0.0)
    mto = (out["replenishment"] == "make_to_order").to_numpy() | (out["abc"] == "none").to_numpy()
    periodic = R > 0
    out["ss_method_used"] = np.where(mto, "none", method)
    out["safety_stock"] = np.where(mto, 0.0, np.ceil(np.round(ss, 6)))
    out["reorder_point"] = rop = np.where(mto, 0.0, level)
    out["order_quantity"] = np.where(mto, 0.0, q)
    out["min_qty"] = rop
    out["max_qty"] = np.where(mto, 0.0, np.where(periodic, rop, rop + q))
    out["order_multiple"] = master["order_multiple"].fillna(1.0).to_numpy()
    master_moq = np.nan_to_num(master["moq"].to_numpy(float))
    out["moq"] = np.where(out["apply_moq"].to_numpy(bool) & (master_moq > 0),
                          inv.round_to_multiple_moq(master_moq, mult), np.nan)
    out["unit_cost"] = master["unit_cost"].to_numpy(float)
    out["ss_value"] = out["safety_stock"].to_numpy(float) * np.nan_to_num(out["unit_cost"].to_numpy(float))
    return out


def _order_quantity(out, master, d, R, period):
    """EOQ for continuous review, the demand of one review period for periodic review; whole units,
    rounded up to the order multiple (1 where none is given) and lifted to the MOQ."""
    unit_cost = master["unit_cost"].to_numpy(float)
    q = inv.eoq(d * PERIODS_PER_YEAR[period], out["order_cost"].to_numpy(float),
                out["holding_rate"].to_numpy(float), unit_cost)
    q = np.where(R > 0, d * R, q)
    q = np.where(np.isfinite(q) & (q > 0), q, d * np.maximum(R, 1.0))
    use_mult = out["round_to_order_multiple"].to_numpy(bool)
    m = master["order_multiple"].to_numpy(float)
    mult = np.where(use_mult & np.isfinite(m) & (m > 0), m, 1.0)
    moq = np.where(out["apply_moq"].to_numpy(bool), master["moq"].to_numpy(float), np.nan)
    q = inv.round_to_multiple_moq(np.maximum(np.nan_to_num(q), 1.0), mult, moq)
    return q, mult, moq


def _master(out: pd.DataFrame, pls: pd.DataFrame | None, products: pd.DataFrame | None) -> pd.DataFrame:
    """MOQ, order multiple, unit cost and the source's current values per row. A unit cost missing
    on the product-location is taken from the product (products.csv / the product table)."""
    cols = MASTER + CURRENT
    if pls is None or pls.empty:
        merged = pd.DataFrame(np.nan, index=out.index, columns=MASTER)
    else:
        m = pls.copy()
        m["location_id"] = m["location_id"].fillna("-")
        m = m.drop_duplicates(["product_id", "location_id"])
        keep = [c for c in cols if c in m]
        merged = out[["product_id", "location_id"]].merge(m[["product_id", "location_id", *keep]], how="left",
                                                          on=["product_id", "location_id"])
        merged.index = out.index
        for c in MASTER:
            if c not in merged:
                merged[c] = np.nan
    for c in MASTER:
        merged[c] = pd.to_numeric(merged[c], errors="coerce").astype("float64")
    if products is not None and not products.empty and "unit_cost" in products and "id" in products:
        cost = pd.to_numeric(products.drop_duplicates("id").set_index("id")["unit_cost"], errors="coerce")
        merged["unit_cost"] = merged["unit_cost"].fillna(out["product_id"].map(cost)).astype("float64")
    return merged


def methods_of(out: pd.DataFrame, have_daily: bool) -> np.ndarray:
    """The method each row uses: the policy's, with `auto` resolved (see module doc)."""
    m = out["ss_method"].astype(str).to_numpy()
    m = np.where(m == "normal", out["service_type"].astype(str).to_numpy(), m)
    if have_daily:
        return np.where(m == "auto", CALIBRATED, m)
    sparse = out["pattern"].isin(["intermittent", "lumpy"]).to_numpy()
    fallback = np.where(sparse, inv.NEGBIN, out["service_type"].astype(str).to_numpy())
    return np.where(m == "auto", fallback, m)


def _safety_stock(out, hist, method, d, L, R, q) -> np.ndarray:
    """Closed-form safety stock per row (0 for `none`; calibrated rows get the normal start value)."""
    sd, sL = out["std"].to_numpy(float), out["lead_time_std"].to_numpy(float)
    sl = out["service_level"].to_numpy(float)
    formula = np.where(method == CALIBRATED, out["service_type"].astype(str).to_numpy(), method)
    ss = np.zeros(len(out))
    for m in np.unique(formula):
        rows = np.flatnonzero(formula == m)
        if m == "none":
            continue
        if m == "empirical":
            qnt = inv.empirical_ltd_quantile(hist.matrix[rows], L[rows] + R[rows], sl[rows])
            ss[rows] = np.maximum(qnt - d[rows] * np.ceil(L[rows] + R[rows]), 0.0)
            continue
        ss[rows] = inv.safety_stock(d[rows], sd[rows], L[rows], sL[rows], sl[rows], m, q[rows], R[rows])
    return np.nan_to_num(ss, nan=0.0)


def _calibrated(out, daily: DailyInputs, method, level, q, period):
    """Calibrated levels for the `calibrated` rows, in chunks of similar expected demand days (the
    mixture's size follows the busiest row of a chunk). Rows the search cannot settle keep the
    closed-form level and are labelled so."""
    rows = np.flatnonzero(method == CALIBRATED)
    st = daily.stats.iloc[rows]
    groups = out["pattern"].to_numpy()[rows]
    if daily.pooled_cv2 is None:
        var = pooled_size_var(st["events"], st["size_mean"], st["size_var"], groups)
    else:
        var = shrunk_size_var(st["events"], st["size_mean"], st["size_var"], np.asarray(daily.pooled_cv2)[rows])
    model = DailyModel.fit(st["p"], st["size_mean"], var, st["integer"], days=daily.days)
    lead = out["lead_time_days"].to_numpy(float)[rows]
    lead_sd = out["lead_time_std"].to_numpy(float)[rows] * PERIOD_DAYS[period]
    review = out["review_period_days"].to_numpy(float)[rows]
    target = out["service_level"].to_numpy(float)[rows]
    kind = out["service_type"].astype(str).to_numpy()[rows]
    found = np.full(len(rows), np.nan)
    order = np.argsort(model.p * (lead + review + 1), kind="stable")
    chunk = len(rows) if daily.pooled_cv2 is not None else _CHUNK  # the caller formed the chunk
    for i in range(0, len(rows), max(chunk, 1)):
        c = order[i:i + max(chunk, 1)]
        found[c] = calibrate_levels(model.take(c), lead[c], lead_sd[c], review[c], q[rows][c], target[c], kind[c])
    level, method = level.copy(), method.copy()
    ok = np.isfinite(found) & (model.p > 0)
    level[rows[ok]] = found[ok]
    method[rows[~ok]] = out["service_type"].astype(str).to_numpy()[rows[~ok]]
    return level, method
