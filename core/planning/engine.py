"""The segmentation and planning engine: canonical frames in, segments and parameters out.

`run_engine(frames, policy, options)` is pure (no store, no HTTP): demand history -> product and
customer classes -> governance (hysteresis, overrides) -> policy match -> inventory parameters and
routing flags -> optional simulation check. The store adapter lives outside the planning room:
`core.planning_store.segment_from_store(db, ...)` reads the canonical tables, runs the engine
and saves a Run with its assignments, parameters and one audit event per change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from basics.errors import ConfigError, DataError
from core.planning.cleaning import clean_frames, note_abc_basis
from core.planning.daily import daily_demand, daily_stats, day_window
from core.planning.demand import (
    PERIOD_DAYS,
    DemandHistory,
    DemandOptions,
    aggregate_by_product,
    bucket_demand,
    demand_lines,
    lead_times,
)
from core.planning.governance import (
    active_overrides,
    apply_hysteresis,
    apply_parameter_overrides,
    ruleset_hash,
)
from core.planning.parameters import DailyInputs, compute_parameters
from core.planning.policy import Policy, load_policy, match_customers, match_products
from core.planning.segmentation import (
    classify_customers,
    classify_demand_pattern,
    classify_lifecycle,
    classify_xyz,
    cumulative_share,
    customer_metrics,
)
from core.planning.segmentation.abc import classes_from_share
from core.planning.service_check import check_service

MEASURE = {"value": "value", "volume": "quantity", "picks": "picks", "margin": "margin"}
PL_PARAMS_NUM = ["safety_stock", "reorder_point", "min_qty", "max_qty", "order_quantity", "order_multiple", "moq",
                 "service_level", "min_order_value"]
PL_PARAMS_TEXT = ["abc", "segment", "mrp_type", "lot_sizing", "transport_mode", "carrier_class",
                  "expedite_allowed", "picking_priority", "cross_dock", "velocity_class"]
# What a planner reviews beside the values (not written to any system): the rule and method behind a
# value and the service the daily replay achieved with it.
PL_REVIEW_TEXT = {"rule": "rule", "ss_method": "ss_method_used", "service_type": "service_type"}
PL_REVIEW_NUM = ["achieved_service", "achieved_fill_rate", "achieved_cycle_service"]
# Customer values are business values from the customer rules of the policy (mapping files translate them
# to each system's codes); the routing profile repeats the product-location routing names per customer.
CUST_PARAMS = ["customer_segment", "customer_abc", "service_level_class", "delivery_priority", "transport_class",
               "transport_mode", "carrier_class", "expedite_allowed", "cross_dock"]
SEG_COLS = ["entity", "entity_key", "dimension", "value", "metric", "source"]
PAR_COLS = ["entity", "entity_key", "name", "value_num", "value_text"]


@dataclass
class EngineOptions:
    """Run options. `history`: previous runs' segment frames (long, most recent first)."""

    end_date: date | None = None
    today: date | None = None
    history: list[pd.DataFrame] = field(default_factory=list)
    overrides: pd.DataFrame | None = None
    simulate: bool = True
    simulate_periods: int | None = None  # None: replay the window's days; else bootstrap this many days
    seed: int = 0


@dataclass
class EngineResult:
    segments: pd.DataFrame
    parameters: pd.DataFrame
    product_locations: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame | None
    unmatched: pd.DataFrame
    service: pd.DataFrame | None
    demand: DemandHistory
    ruleset_hash: str
    warnings: list[str] = field(default_factory=list)
    # {case: {"count": n, "examples": [...]}}: what core.planning.cleaning set aside or changed
    data_quality: dict = field(default_factory=dict)


def _as_policy(policy) -> Policy:
    if policy is None or isinstance(policy, (str, Path)):
        return load_policy(policy)
    if not isinstance(policy, Policy):
        raise ConfigError(f"policy must be a Policy or a YAML path, got {type(policy).__name__}")
    return policy


def run_engine(frames: dict[str, pd.DataFrame], policy=None, options: EngineOptions | None = None) -> EngineResult:
    """The whole engine on canonical frames (order_lines required; products, product_locations,
    customers, shipments, receipts optional)."""
    pol, opts = _as_policy(policy), options or EngineOptions()
    if frames.get("order_lines") is None:
        raise DataError("no order_lines frame given", hint="order lines are the demand history; see docs/engine.md")
    cls = pol.classification
    frames, dq = clean_frames(frames, cls.returns)  # messy rows: set aside or fixed, and counted
    lines = _priced_lines(frames["order_lines"], frames.get("products"))
    dopts = DemandOptions(period=cls.period, window=cls.window, end_date=opts.end_date,
                          exclude_promotions=cls.exclude_promotions, outliers=cls.outliers,
                          default_lead_time_days=cls.default_lead_time_days)
    pls = frames.get("product_locations")
    hist = bucket_demand(lines, dopts, universe=pls if pls is not None and not pls.empty else None)
    pl = classify_product_locations(hist, pol, frames.get("products"))
    prod = classify_products(aggregate_by_product(hist), pol)
    pl["product_abc"] = pl["product_id"].map(prod.set_index("product_id")["abc"]).fillna("none")
    overrides = active_overrides(opts.overrides, opts.today)
    pl, prod, pl_src = _govern(pl, prod, pol, opts, overrides)
    match = match_products(pl, pol)
    pl["rule"] = match.rule
    pl = pd.concat([pl, match.settings], axis=1)
    lt = lead_times(hist.keys, frames.get("receipts"), pls, cls.period, cls.default_lead_time_days)
    dd, daily = _daily(lines, hist, dopts)
    pl = compute_parameters(pl, lt, hist, pls, cls.period, frames.get("products"), daily)
    service = None
    if opts.simulate and len(pl):
        pl, service = _simulate(pl, dd, opts)
    cust = _customers(lines, frames, pol, overrides)
    segments = _segments_long(pl, prod, cust, pl_src)
    params = apply_parameter_overrides(_parameters_long(pl, cust), overrides)
    note_abc_basis(dq, pl)
    warnings = _warnings(match.unmatched, lt) + dq.warnings()
    return EngineResult(segments, params, pl, prod, cust, match.unmatched, service, hist, ruleset_hash(pol),
                        warnings, dq.as_dict())


def _priced_lines(lines: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Fill a missing line value/cost from the product's list price/standard cost."""
    need_v = "net_value" not in lines or lines["net_value"].isna().any()
    need_c = "cost" not in lines or lines["cost"].isna().any()
    if products is None or products.empty or not (need_v or need_c):
        return lines
    out = lines.copy()
    p = products.set_index("id")
    for col, src, need in (("net_value", "unit_price", need_v), ("cost", "unit_cost", need_c)):
        if need and src in p:
            est = out["product_id"].map(p[src]).astype("float64") * out["quantity"]
            out[col] = out[col].astype("float64").fillna(est) if col in out else est  # None -> NaN first
    return out


def _abc_input(stats: pd.DataFrame, measure: str, groups=None,
               group_valued: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ABC measure per series and its basis. Why: with no price and no cost every value is 0, and
    ranking by 0 made a steady seller `none` with all-zero parameters. So an ABC group (a location, or
    the network) in which no series with demand has a positive value/margin is ranked by volume
    (basis "volume"); in a group that has values, a series with demand but none is ranked last
    (basis "no_measure", class C) instead of dropping out as if it had no demand."""
    v = stats[measure].to_numpy("float64")
    basis = np.full(len(v), measure, dtype=object)
    if measure not in ("value", "margin") or not len(v):
        return v, basis
    qty = stats["quantity"].to_numpy("float64")
    demand, valued = qty > 0, np.isfinite(v) & (v > 0)
    if group_valued is None:  # else given per row by a caller that sees only part of each group (Spark)
        g = np.zeros(len(v), np.int64) if groups is None else pd.factorize(np.asarray(groups))[0]
        group_valued = (np.bincount(g, weights=(demand & valued).astype(float)) > 0)[g]
    group_valued = np.asarray(group_valued, dtype=bool)
    by_volume = demand & ~group_valued
    basis[by_volume] = "volume"
    basis[demand & group_valued & ~valued] = "no_measure"
    return np.where(by_volume, qty, v), basis


def _classify(stats: pd.DataFrame, pol: Policy, measure: str, groups=None, ids=None,
              shares: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """ABC/XYZ/pattern/lifecycle for one set of series (stats aligned with ids). `shares`: the ABC
    (share, basis) when computed elsewhere over all series (the Spark backend's global step)."""
    cls = pol.classification
    if shares is None:
        values, basis = _abc_input(stats, measure, groups)
        share = cumulative_share(values, ids=ids, groups=groups)
    else:
        share, basis = (np.asarray(x) for x in shares)
    share = np.where(basis == "no_measure", 1.0, share)  # ranked last: the whole total lies before it
    out = pd.DataFrame({"abc": classes_from_share(share, cls.abc_thresholds), "abc_metric": share,
                        "abc_basis": basis}, index=stats.index)
    out["xyz"] = classify_xyz(stats["cv"].to_numpy(), cls.xyz_thresholds)
    out["pattern"] = classify_demand_pattern(stats["adi"].to_numpy(), stats["cv2"].to_numpy(), cls.adi_cut,
                                             cls.cv2_cut)
    out["lifecycle"] = classify_lifecycle(stats["first_idx"].to_numpy(), stats["last_idx"].to_numpy(),
                                          int(stats["periods"].iloc[0]) if len(stats) else 0, cls.new_periods,
                                          cls.phase_out_periods, cls.obsolete_periods)
    nodemand = ~(stats["quantity"].to_numpy() > 0)
    out.loc[nodemand, ["abc", "xyz", "pattern", "lifecycle"]] = "none"
    return out


def classify_product_locations(hist: DemandHistory, pol: Policy, products: pd.DataFrame | None,
                               shares: dict | None = None) -> pd.DataFrame:
    """Wide frame per product-location: keys, stats, classes (ABC within location unless scope is network).
    `shares` ({"abc": (share, basis), "velocity": share}): computed elsewhere over all series (Spark)."""
    cls = pol.classification
    stats = hist.stats
    groups = hist.keys["location_id"].to_numpy() if cls.abc_scope == "location" else None
    ids = hist.keys["product_id"].to_numpy()
    out = pd.concat([hist.keys, stats, _classify(stats, pol, MEASURE[cls.abc_measure], groups, ids,
                                                 shares and shares["abc"])], axis=1)
    out["entity_key"] = out["product_id"].astype(str) + "|" + out["location_id"].astype(str)
    share = cumulative_share(stats["picks"].to_numpy(), ids=ids, groups=groups) if shares is None \
        else np.asarray(shares["velocity"], dtype="float64")
    out["velocity_class"] = classes_from_share(share, cls.velocity_thresholds)
    out["velocity_metric"] = share
    cat = products.set_index("id")["category"] if products is not None and "category" in products else None
    out["category"] = out["product_id"].map(cat).fillna("") if cat is not None else ""
    return out


def classify_products(hist: DemandHistory, pol: Policy, shares: tuple | None = None) -> pd.DataFrame:
    """Wide frame per product across locations (network ABC, ties by product id)."""
    ids = hist.keys["product_id"].to_numpy()
    out = pd.concat([hist.keys, hist.stats, _classify(hist.stats, pol, MEASURE[pol.classification.abc_measure],
                                                      None, ids, shares)], axis=1)
    out["entity_key"] = out["product_id"].astype(str)
    return out


def _govern(pl, prod, pol, opts, overrides):
    """Hysteresis against previous runs, then overrides of dimensions; rebuild the 'segment' label."""
    src = pd.DataFrame("rule", index=pl.index, columns=["abc", "xyz", "pattern", "lifecycle"])
    for frame, entity in ((pl, "product_location"), (prod, "product")):
        metric = {"abc": frame["abc_metric"], "xyz": frame["cv"]}
        if opts.history:
            long = pd.concat([pd.DataFrame({"entity": entity, "entity_key": frame["entity_key"], "dimension": d,
                                            "value": frame[d], "metric": metric[d]}) for d in ("abc", "xyz")],
                             ignore_index=True)
            th = {"abc": pol.classification.abc_thresholds, "xyz": pol.classification.xyz_thresholds}
            hist = [h[h["entity"] == entity] for h in opts.history]
            held = apply_hysteresis(long, hist, th, pol.governance.hysteresis_margin, pol.governance.persist_runs)
            for d in ("abc", "xyz"):
                part = held[held["dimension"] == d]
                frame[d] = part["value"].to_numpy()
                if entity == "product_location":
                    src[d] = part["source"].to_numpy()
        o = overrides[(overrides["entity"] == entity) & overrides["name"].isin(["abc", "xyz", "pattern",
                                                                                "lifecycle"])]
        pos = pd.Series(np.arange(len(frame)), index=frame["entity_key"].to_numpy())
        for name, grp in o.groupby("name"):
            rows = pos.reindex(grp["entity_key"]).dropna().astype(int).to_numpy()
            vals = grp.set_index("entity_key")["value"].reindex(frame["entity_key"].iloc[rows]).to_numpy()
            frame.loc[frame.index[rows], name] = vals
            if entity == "product_location":
                src.loc[src.index[rows], name] = "override"
        frame["segment"] = np.where((frame["abc"] == "none") | (frame["xyz"] == "none"), "none",
                                    frame["abc"].astype(str) + "-" + frame["xyz"].astype(str))
    return pl, prod, src


def _daily(lines: pd.DataFrame, hist: DemandHistory, dopts: DemandOptions):
    """The window's daily demand per series (for the calibration and the replay) and its statistics."""
    used = demand_lines(lines, dopts)
    last = dopts.end_date or (pd.to_datetime(used["order_date"]).max() if len(used) else None)
    first, n_days = day_window(hist.period_starts, PERIOD_DAYS[hist.period], last)
    dd = daily_demand(used, hist.keys, first, n_days, dopts.default_location)
    return dd, DailyInputs(daily_stats(dd), n_days)


def _simulate(pl: pd.DataFrame, dd, opts: EngineOptions):
    """Daily replay of the parameters; per-series results join the product-location frame."""
    per, summary = check_service(pl, dd, opts.simulate_periods, opts.seed)
    return pd.concat([pl, per], axis=1), summary


def _customers(lines, frames, pol: Policy, overrides) -> pd.DataFrame | None:
    if "customer_id" not in lines or lines["customer_id"].isna().all():
        return None
    m = customer_metrics(customer_lines(lines), frames.get("shipments"), pol.customers.cost_rates.model_dump())
    return classify_customer_rows(m, pol, overrides)


def customer_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """The cleaned, priced order lines customer metrics count: rejected lines left out."""
    ol = lines[~lines["rejected"].fillna(False).astype(bool)] if "rejected" in lines else lines
    return ol.assign(order_date=pd.to_datetime(ol["order_date"]))


def classify_customer_rows(m: pd.DataFrame, pol: Policy, overrides: pd.DataFrame,
                           abc_share: np.ndarray | None = None) -> pd.DataFrame:
    """Customer metrics (one row per customer) -> classes, overrides, the customer policy match.
    `abc_share`: the ABC cumulative share when computed elsewhere over all customers (Spark)."""
    c = classify_customers(m, pol.customers.model_dump(), abc_share)
    o = overrides[(overrides["entity"] == "customer")]
    for name, dim in (("abc", "customer_abc"), ("segment", "customer_segment")):
        pins = o[o["name"] == name].set_index("entity_key")["value"]
        hit = pins[pins.index.isin(c.index)]
        c.loc[hit.index, dim] = hit.to_numpy()
    match = match_customers(c, pol)
    c = pd.concat([c, match.settings.drop(columns=[x for x in match.settings if x in c])], axis=1)
    c["rule"] = match.rule
    c["abc_metric"] = cumulative_share(c[pol.customers.abc_measure].to_numpy(), ids=c.index.to_numpy()) \
        if abc_share is None else np.asarray(abc_share, dtype="float64")
    return c


def _segments_long(pl, prod, cust, pl_src) -> pd.DataFrame:
    parts = []
    specs = [("abc", "abc_metric"), ("xyz", "cv"), ("pattern", "adi"), ("lifecycle", "last_idx"), ("segment", None)]
    for frame, entity, src in ((pl, "product_location", pl_src), (prod, "product", None)):
        for dim, met in specs:
            parts.append(pd.DataFrame({"entity": entity, "entity_key": frame["entity_key"].to_numpy(),
                                       "dimension": dim, "value": frame[dim].to_numpy(),
                                       "metric": frame[met].to_numpy(float) if met else np.nan,
                                       "source": src[dim].to_numpy() if src is not None and dim in src else "rule"}))
    parts.append(pd.DataFrame({"entity": "product_location", "entity_key": pl["entity_key"].to_numpy(),
                               "dimension": "velocity", "value": pl["velocity_class"].to_numpy(),
                               "metric": pl["velocity_metric"].to_numpy(float), "source": "rule"}))
    if cust is not None:
        keys = cust.index.astype(str).to_numpy()
        parts.append(pd.DataFrame({"entity": "customer", "entity_key": keys, "dimension": "abc",
                                   "value": cust["customer_abc"].to_numpy(), "metric": cust["abc_metric"].to_numpy(),
                                   "source": "rule"}))
        parts.append(pd.DataFrame({"entity": "customer", "entity_key": keys, "dimension": "segment",
                                   "value": cust["customer_segment"].to_numpy(), "metric": cust["profit"].to_numpy(),
                                   "source": "rule"}))
    return pd.concat(parts, ignore_index=True)[SEG_COLS]


def _parameters_long(pl: pd.DataFrame, cust: pd.DataFrame | None) -> pd.DataFrame:
    keys = pl["entity_key"].to_numpy()
    parts = [pd.DataFrame({"entity": "product_location", "entity_key": keys, "name": name,
                           "value_num": pl[name].to_numpy(float), "value_text": None}) for name in PL_PARAMS_NUM]
    parts[PL_PARAMS_NUM.index("moq")] = parts[PL_PARAMS_NUM.index("moq")].dropna(subset=["value_num"])  # no MOQ
    parts += [_text_param("product_location", keys, name, pl[name]) for name in PL_PARAMS_TEXT]
    parts += [_text_param("product_location", keys, name, pl[col]) for name, col in PL_REVIEW_TEXT.items()]
    parts += [pd.DataFrame({"entity": "product_location", "entity_key": keys, "name": name,
                            "value_num": pl[name].to_numpy(float), "value_text": None}).dropna(subset=["value_num"])
              for name in PL_REVIEW_NUM if name in pl]
    if cust is not None:
        ck = cust.index.astype(str).to_numpy()
        parts += [_text_param("customer", ck, name, cust[name]) for name in CUST_PARAMS]
    return pd.concat(parts, ignore_index=True)[PAR_COLS]


def _text_param(entity: str, keys: np.ndarray, name: str, v: pd.Series) -> pd.DataFrame:
    """A text parameter; booleans as value_text "true"/"false" and value_num 1/0."""
    is_bool = pd.api.types.is_bool_dtype(v) or (len(v) > 0 and v.isin([True, False]).all())
    txt = np.where(v.astype(bool), "true", "false") if is_bool else v.astype(str).to_numpy()
    return pd.DataFrame({"entity": entity, "entity_key": keys, "name": name,
                         "value_num": v.astype(float).to_numpy() if is_bool else np.nan, "value_text": txt})


def _warnings(unmatched: pd.DataFrame, lt: pd.DataFrame) -> list[str]:
    w = []
    if len(unmatched):
        w.append(f"{int(unmatched['count'].sum())} product-locations matched no policy rule and took the default "
                 f"({len(unmatched)} combinations; see the report)")
    n_def = int((lt["lead_time_source"] == "default").sum())
    if n_def:
        w.append(f"{n_def} product-locations have no lead time in receipts or master data: the default was used")
    return w


def result_summary(res: EngineResult) -> dict:
    """Counts for Run.counts and the CLI summary."""
    pl = res.product_locations
    return {"product_locations": int(len(pl)), "products": int(len(res.products)),
            "customers": 0 if res.customers is None else int(len(res.customers)),
            "segments": {k: int(v) for k, v in pl["segment"].value_counts().items()},
            "unmatched": int(res.unmatched["count"].sum()) if len(res.unmatched) else 0,
            "safety_stock_value": float(np.nansum(pl["ss_value"])), "warnings": res.warnings,
            "data_quality": {case: int(round(d["count"])) for case, d in res.data_quality.items()}}


def to_json(obj) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


__all__ = ["run_engine", "EngineOptions", "EngineResult"]
