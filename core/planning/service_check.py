"""The engine's simulation check: replay each product-location's parameters on its daily demand from
the order lines (the window's own days, or bootstrapped days) and report achieved against target.

Why daily and from order lines: an ERP checks its reorder point after every day's demand. Replayed
on weekly buckets, a continuous-review reorder point looked fine while a daily replay of the same
numbers gave 0.62 for 0.95 (issue 15). Rows are replayed in blocks so the dense daily matrix of a
million series is never built at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.planning.daily import DailyDemand, dense
from core.planning.simulation import achieved, bootstrap, service_summary, simulate

_BLOCK = 20_000
PER_SERIES = ["achieved_fill_rate", "achieved_cycle_service", "achieved_service", "replenishment_cycles",
              "avg_on_hand", "holding_cost"]


def check_service(pl: pd.DataFrame, dd: DailyDemand, bootstrap_days: int | None = None,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(per-series results aligned with `pl`, NaN where not replayed; summary per segment and per
    pattern, None when nothing is replenished to stock)."""
    per = pd.DataFrame(np.nan, index=pl.index, columns=PER_SERIES)
    live = np.flatnonzero((pl["abc"] != "none").to_numpy() & (pl["replenishment"] == "make_to_stock").to_numpy())
    if not len(live):
        return per, None
    res = pd.concat([_replay_block(pl, dd, live[i:i + _BLOCK], bootstrap_days, seed + i)
                     for i in range(0, len(live), _BLOCK)])
    p = pl.iloc[live]
    ttype = p["service_type"].astype(str).to_numpy()
    cost = np.nan_to_num(p["unit_cost"].to_numpy(float)) * p["holding_rate"].to_numpy(float)
    per.iloc[live] = np.column_stack([res["fill_rate"], res["cycle_service_level"], achieved(res, ttype),
                                      res["cycles"], res["avg_on_hand"], res["avg_on_hand"].to_numpy() * cost])
    frame = pd.DataFrame({"segment": p["segment"].to_numpy(), "pattern": p["pattern"].to_numpy(),
                          "target": p["service_level"].to_numpy(float), "target_type": ttype,
                          "fill_rate": res["fill_rate"].to_numpy(), "achieved": achieved(res, ttype),
                          "cycle_service_level": res["cycle_service_level"].to_numpy(),
                          "cycles": res["cycles"].to_numpy(), "avg_on_hand": res["avg_on_hand"].to_numpy(),
                          "holding_cost": res["avg_on_hand"].to_numpy() * cost,
                          "method": p["ss_method_used"].to_numpy()})
    summary = pd.concat([service_summary(frame, "segment"), service_summary(frame, "pattern")], ignore_index=True)
    return per, summary


def _replay_block(pl: pd.DataFrame, dd: DailyDemand, rows: np.ndarray, bootstrap_days, seed) -> pd.DataFrame:
    """Replay one block of rows, continuous-review and periodic rows apart."""
    m = dense(dd, rows)
    if bootstrap_days:
        m = bootstrap(m, bootstrap_days, seed)
    p = pl.iloc[rows]
    review = np.rint(p["review_period_days"].to_numpy(float)).astype(int)
    lead = p["lead_time_days"].to_numpy(float)
    level = p["reorder_point"].to_numpy(float)
    out = []
    for kind, sel in (("RS", np.flatnonzero(review > 0)), ("sQ", np.flatnonzero(review <= 0))):
        if len(sel):
            q = np.maximum(p["order_quantity"].to_numpy(float)[sel], 1.0)
            r = simulate(m[sel], lead[sel], kind, level[sel], q, np.maximum(review[sel], 1))
            out.append(r.set_index(sel))
    return pd.concat(out).sort_index()
