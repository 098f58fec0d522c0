"""Customer segments per period: revenue, gross margin, cost-to-serve and profit, and their trend.

Cost-to-serve uses the policy's cost rates as the engine's customer segmentation does
(core.planning.segmentation.customers): per order, per line, per shipment, plus freight and
surcharges by transport mode. Lines count in the period of their order date, shipments in that
of their ship date. Segments appear as `customer:<segment>`.

Inputs: `lines` (`customer_segment`, `order_id`, `order_date`, `net_value`, `cost`), `shipments`
(`customer_segment`, `ship_date`, `freight_cost`, `mode`), `rates` (per_order, per_line,
per_shipment, surcharges).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import (
    ALL,
    KPI_COLUMNS,
    Grid,
    empty_rows,
    frame_of,
    labels,
    one_row,
    period_index,
    sum_rows,
)

PREFIX = "customer:"
CUSTOMER_KPIS = ("revenue", "gross_margin", "cost_to_serve", "profit")
TRENDS = ("revenue", "profit")


def customer_kpis(lines: pd.DataFrame, shipments: pd.DataFrame | None, rates: Mapping | None = None,
                  period: str = "week") -> pd.DataFrame:
    """Sums per customer segment and period, their `all` totals, and a trend per segment."""
    if lines.empty:
        return empty_rows()
    rates = dict(rates or {})
    ships = shipments if shipments is not None else pd.DataFrame(columns=["customer_segment", "ship_date"])
    lper = period_index(pd.to_datetime(lines["order_date"]).to_numpy(), period)
    sper = period_index(pd.to_datetime(ships["ship_date"]).to_numpy(), period) if len(ships) else \
        np.array([], dtype=np.int64)
    lab = labels(lines["customer_segment"], PREFIX)
    slab = labels(ships["customer_segment"], PREFIX) if len(ships) else pd.Series([], dtype="category")
    names = [*lab.cat.categories, *slab.cat.categories] if len(slab) else list(lab.cat.categories)
    grid = Grid.of(names, np.concatenate([lper, sper]), period)
    lc = grid.codes(grid.segment_codes(lab), lper)
    sc = grid.codes(grid.segment_codes(slab), sper) if len(slab) else np.array([], dtype=np.int64)
    revenue = grid.sum(lc, lines["net_value"].to_numpy(float))
    margin = revenue - grid.sum(lc, lines["cost"].to_numpy(float))
    first_line = ~lines.duplicated("order_id").to_numpy() if "order_id" in lines else np.ones(len(lines), bool)
    serve = (rates.get("per_order", 0.0) * grid.sum(lc, first_line) + rates.get("per_line", 0.0) * grid.sum(lc)
             + rates.get("per_shipment", 0.0) * grid.sum(sc) + grid.sum(sc, _freight(ships, rates)))
    present = grid.sum(lc) + grid.sum(sc)
    parts = [sum_rows(grid, k, v, present) for k, v in
             (("revenue", revenue), ("gross_margin", margin), ("cost_to_serve", serve), ("profit", margin - serve))]
    out = pd.concat(parts, ignore_index=True)
    slopes = trends(out)
    return pd.concat([out, slopes], ignore_index=True) if len(slopes) else out


def _freight(ships: pd.DataFrame, rates: Mapping) -> np.ndarray:
    if not len(ships):
        return np.zeros(0)
    freight = np.nan_to_num(ships["freight_cost"].to_numpy(float)) if "freight_cost" in ships else 0.0
    by_mode = dict(rates.get("surcharges") or {})
    extra = ships["mode"].map(by_mode).fillna(0.0).to_numpy(float) if by_mode and "mode" in ships else 0.0
    return np.zeros(len(ships)) + freight + extra


def trends(rows: pd.DataFrame, kpis=TRENDS) -> pd.DataFrame:
    """`<kpi>_trend`: the least-squares slope of the KPI per period (currency per period) over the
    segment's periods, period `all`; needs two periods."""
    out = []
    per = rows[(rows["period"] != ALL) & rows["kpi"].isin(kpis)]
    for (seg, kpi), g in per.groupby(["segment", "kpi"], sort=True):
        g = g.sort_values("period")
        if len(g) < 2:
            continue
        x = np.arange(len(g), dtype=float)
        slope = float(np.polyfit(x, g["value"].to_numpy(float), 1)[0])
        out.append(one_row(seg, f"{kpi}_trend", slope, note=f"slope per period over {len(g)} periods"))
    return frame_of(out) if out else pd.DataFrame(columns=KPI_COLUMNS)
