"""Customer segmentation: revenue, margin, activity-based cost-to-serve, profitability, rule segments
and optional k-means with labels kept stable across runs.

Cost-to-serve = per_order x orders + per_line x lines + per_shipment x shipments + actual freight
+ surcharges (per line by shipment mode / service flags, as configured). Profit = gross margin -
cost-to-serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.planning.segmentation.abc import classes_from_share, classify_abc

NONE = "none"
FEATURES = ("revenue", "gross_margin", "cost_to_serve", "profit", "orders", "lines_per_order",
            "order_frequency", "lead_time_tolerance_days")


def customer_metrics(order_lines: pd.DataFrame, shipments: pd.DataFrame | None = None,
                     rates: Mapping[str, float] | None = None, periods_per_year: float = 52.0,
                     window_days: float | None = None) -> pd.DataFrame:
    """One row per customer with the measures segments are built from (vectorised groupbys)."""
    rates = dict(rates or {})
    ol = order_lines[order_lines["customer_id"].notna()]
    g = ol.groupby("customer_id", sort=True)
    revenue = g["net_value"].sum(min_count=1).fillna(0.0) if "net_value" in ol else g.size() * 0.0
    cost = g["cost"].sum(min_count=1) if "cost" in ol else revenue * np.nan
    m = pd.DataFrame({"revenue": revenue, "cogs": cost})
    m["gross_margin"] = m["revenue"] - m["cogs"].fillna(0.0)
    # Without order ids (a bare CSV export), one order per customer and order day stands in for them.
    m["orders"] = g["order_id"].nunique() if "order_id" in ol else g["order_date"].nunique()
    m["lines"] = g.size()
    m["lines_per_order"] = m["lines"] / m["orders"]
    span = window_days or max((ol["order_date"].max() - ol["order_date"].min()).days + 1, 1)
    m["order_frequency"] = m["orders"] / (span / 365.25 * periods_per_year)
    if "requested_date" in ol and ol["requested_date"].notna().any():
        tol = (pd.to_datetime(ol["requested_date"]) - pd.to_datetime(ol["order_date"])).dt.days
        m["lead_time_tolerance_days"] = tol.groupby(ol["customer_id"]).mean()
    else:
        m["lead_time_tolerance_days"] = np.nan
    ship_n, freight = _shipment_costs(shipments, m.index)
    m["shipments"] = ship_n
    m["freight"] = freight
    surcharge = _surcharges(shipments, m.index, rates.get("surcharges") or {})
    m["cost_to_serve"] = (rates.get("per_order", 0.0) * m["orders"] + rates.get("per_line", 0.0) * m["lines"]
                          + rates.get("per_shipment", 0.0) * m["shipments"] + m["freight"] + surcharge)
    m["profit"] = m["gross_margin"] - m["cost_to_serve"]
    m.index.name = "customer_id"
    return m


def _shipment_costs(shipments: pd.DataFrame | None, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    if shipments is None or shipments.empty or "customer_id" not in shipments:
        return pd.Series(0, index=index), pd.Series(0.0, index=index)
    g = shipments.groupby("customer_id")
    n = g.size().reindex(index, fill_value=0)
    fr = g["freight_cost"].sum().reindex(index, fill_value=0.0) if "freight_cost" in shipments else n * 0.0
    return n, fr


def _surcharges(shipments: pd.DataFrame | None, index: pd.Index, by_mode: Mapping[str, float]) -> pd.Series:
    """Configured surcharge per shipment by transport mode (e.g. AIR: 25)."""
    if not by_mode or shipments is None or shipments.empty or not {"mode", "customer_id"} <= set(shipments):
        return pd.Series(0.0, index=index)
    s = shipments["mode"].map(dict(by_mode)).fillna(0.0)
    return s.groupby(shipments["customer_id"]).sum().reindex(index, fill_value=0.0)


def rule_segments(metrics: pd.DataFrame, rules: Sequence[Mapping], default: str = "standard") -> pd.Series:
    """First matching rule wins. A rule is {segment, min: {metric: x}, max: {metric: y}, abc: [..]};
    bounds are inclusive."""
    out = pd.Series(np.full(len(metrics), None, dtype=object), index=metrics.index)
    for rule in rules:
        mask = out.isna()
        for col, lo in (rule.get("min") or {}).items():
            mask &= metrics[_col(metrics, col)] >= lo
        for col, hi in (rule.get("max") or {}).items():
            mask &= metrics[_col(metrics, col)] <= hi
        if rule.get("abc"):
            mask &= metrics["customer_abc"].isin(list(rule["abc"]))
        out[mask] = rule["segment"]
    return out.fillna(default)


def _col(metrics: pd.DataFrame, col: str) -> str:
    if col not in metrics:
        raise KeyError(f"customer rule uses unknown metric {col!r}; known: {', '.join(metrics.columns)}")
    return col


def kmeans_segments(metrics: pd.DataFrame, k: int, labels: Sequence[str] | None = None,
                    features: Sequence[str] = ("revenue", "profit", "order_frequency", "lines_per_order"),
                    previous_centroids: np.ndarray | None = None, seed: int = 0):
    """K-means on standardised (signed-log) features. Labels are stable: clusters are matched to the
    previous run's centroids (Hungarian assignment) or else ordered by centroid revenue descending.
    Returns (labels Series, centroids in label order)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    labels = list(labels or [f"K{i + 1}" for i in range(k)])
    if len(labels) != k:
        raise ValueError(f"k-means: {k} clusters but {len(labels)} labels given")
    x = metrics[list(features)].astype("float64").fillna(0.0).to_numpy()
    x = np.sign(x) * np.log1p(np.abs(x))
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    n_clusters = min(k, max(len(z), 1))
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(z)
    cents = km.cluster_centers_
    if previous_centroids is not None and len(previous_centroids) == n_clusters:
        cost = ((cents[:, None, :] - np.asarray(previous_centroids)[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        slot = np.empty(n_clusters, dtype=int)
        slot[rows] = cols
    else:
        slot = np.empty(n_clusters, dtype=int)
        slot[np.argsort(-cents[:, 0], kind="stable")] = np.arange(n_clusters)
    ordered = np.empty_like(cents)
    ordered[slot] = cents
    return pd.Series(np.asarray(labels, dtype=object)[slot[km.labels_]], index=metrics.index), ordered


def classify_customers(metrics: pd.DataFrame, config: Mapping | None = None, abc_share=None) -> pd.DataFrame:
    """customer_abc (by the configured measure), customer_segment (rules, or k-means when enabled).
    `abc_share`: the measure's cumulative share per row when ranked elsewhere over all customers (the
    Spark backend ranks in Spark SQL and classifies a part of the customers at a time)."""
    cfg = dict(config or {})
    out = metrics.copy()
    measure = cfg.get("abc_measure", "revenue")
    thresholds = tuple(cfg.get("abc_thresholds", (0.8, 0.95)))
    out["customer_abc"] = classify_abc(out[_col(out, measure)], thresholds) if abc_share is None \
        else classes_from_share(abc_share, thresholds)
    km = cfg.get("kmeans") or {}
    if km.get("enabled"):
        out["customer_segment"], _ = kmeans_segments(out, int(km.get("k", 4)), km.get("labels"))
    else:
        out["customer_segment"] = rule_segments(out, cfg.get("rules") or [], cfg.get("default_segment", "standard"))
    no_demand = ~(out["revenue"] > 0) & ~(out["lines"] > 0)
    out.loc[no_demand, ["customer_abc", "customer_segment"]] = NONE
    return out
