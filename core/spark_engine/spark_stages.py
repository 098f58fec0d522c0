"""The per-partition stages of the Spark backend: pandas in, pandas out, no Spark.

Each stage gets the whole of some series (a product bucket, a calibration chunk or a replay block;
core.spark_engine.spark_backend groups them so) and calls the same pure functions as
core.planning.engine. What needs every series (the window's last day, ABC cumulative shares, the pooled
size CV^2, the calibration chunks, the replay blocks) is computed between the stages in Spark and handed
in as columns, so each series gets the numbers the one-machine engine gives it.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from basics.errors import DataError
from core.planning import engine as eng
from core.planning.calibration import DailyModel, size_cv2_weights
from core.planning.cleaning import clean_frames, clean_order_lines
from core.planning.daily import daily_demand
from core.planning.demand import (
    PERIOD_DAYS,
    DemandHistory,
    DemandOptions,
    aggregate_by_product,
    bucket_demand,
    demand_lines,
    lead_times,
    period_index,
    period_start,
)
from core.planning.parameters import CALIBRATED, CURRENT, MASTER, DailyInputs, compute_parameters, methods_of
from core.planning.policy import Policy, match_products
from core.planning.service_check import check_service

STATS = ["mean", "std", "cv", "nonzero", "periods", "adi", "cv2", "quantity", "first_idx", "last_idx",
         "picks", "value", "margin"]
LT = ["lead_time_days", "lead_time_std_days", "lead_time_source", "lead_time", "lead_time_std"]
DAILY = ["events", "p", "size_mean", "size_var", "daily_mean", "integer"]
SIDE = ("products", "product_locations", "receipts")
SHARES = ["abc_value", "abc_basis", "abc_share", "velocity_share"]
MASTER_COLS = [*MASTER, *CURRENT]


def demand_options(pol: Policy, end_date: date | None) -> DemandOptions:
    cls = pol.classification
    return DemandOptions(period=cls.period, window=cls.window, end_date=end_date,
                         exclude_promotions=cls.exclude_promotions, outliers=cls.outliers,
                         default_lead_time_days=cls.default_lead_time_days)


def last_demand_day(lines: pd.DataFrame, pol: Policy) -> pd.DataFrame:
    """The last order day of the lines that count as demand once cleaned (one batch; the global
    maximum of these is the day the one-machine engine ends its window on)."""
    try:
        clean, _ = clean_order_lines(lines, pol.classification.returns)
    except DataError:  # no usable line in this batch; another batch has some, or the run says so
        return pd.DataFrame({"last_day": pd.Series([], dtype="datetime64[ns]")})
    used = demand_lines(clean, demand_options(pol, None))
    last = pd.to_datetime(used["order_date"]).max() if len(used) else pd.NaT
    return pd.DataFrame({"last_day": pd.Series([last], dtype="datetime64[ns]").dropna()})


def split_side(side: pd.DataFrame, columns: dict[str, list[str]]) -> dict[str, pd.DataFrame | None]:
    """The master frames of one bucket from the tagged union the backend cogroups with the lines."""
    out = {}
    for name in SIDE:
        part = side[side["_table"] == name] if len(side) else side
        out[name] = part[columns[name]].reset_index(drop=True) if name in columns else None
    return out


def series_stage(lines: pd.DataFrame, side: dict, pol: Policy, last_day: date) -> pd.DataFrame:
    """Bucketing, per-series statistics, lead times and daily statistics of one product bucket's series;
    product rows (across locations) ride along with `_kind` = "product"."""
    cls = pol.classification
    frames, _ = clean_frames({"order_lines": lines, **side}, cls.returns)
    clean = eng._priced_lines(frames["order_lines"], frames.get("products"))
    dopts = demand_options(pol, last_day)
    pls = frames.get("product_locations")
    hist = bucket_demand(clean, dopts, universe=pls if pls is not None and not pls.empty else None)
    lt = lead_times(hist.keys, frames.get("receipts"), pls, cls.period, cls.default_lead_time_days)
    dd, daily = eng._daily(clean, hist, dopts)
    pl = pd.concat([hist.keys, hist.stats[STATS], lt[LT], daily.stats[DAILY]], axis=1)
    pl["_kind"] = "pl"
    if needs_matrix(pol):
        pl["matrix"] = list(hist.matrix)
    prods = frames.get("products")
    cat = prods.set_index("id")["category"] if prods is not None and "category" in prods else None
    pl["category"] = pl["product_id"].map(cat).fillna("") if cat is not None else ""
    _master_columns(pl, pls, frames.get("products"))
    prod_hist = aggregate_by_product(hist)
    prod = pd.concat([prod_hist.keys, prod_hist.stats[STATS]], axis=1).assign(_kind="product")
    out = pd.concat([pl, prod], ignore_index=True)
    out["valued"] = valued_flag(out, eng.MEASURE[cls.abc_measure])
    return out


def needs_matrix(pol: Policy) -> bool:
    """Whether a rule (or the default) asks for `ss_method: empirical`, the only user of the period
    matrix after bucketing (core.planning.parameters._safety_stock): without one the series' 104
    numbers never leave the series stage."""
    return any(s.ss_method == "empirical" for s in [pol.default, *pol.rules])


def _matrix(pl: pd.DataFrame) -> np.ndarray:
    """The period matrix of a chunk's rows: each row's series where it was kept (the rows whose
    ss_method is empirical), zeros elsewhere (never read there)."""
    if "matrix" not in pl or not len(pl):
        return np.zeros((len(pl), 0))
    rows = [v if isinstance(v, (list, np.ndarray)) else None for v in pl["matrix"]]
    width = next((len(v) for v in rows if v is not None), 0)
    return np.vstack([np.zeros(width) if v is None else np.asarray(v, dtype="float64") for v in rows])


def _master_columns(pl: pd.DataFrame, pls: pd.DataFrame | None, products: pd.DataFrame | None) -> None:
    """The cleaned master data compute_parameters reads, carried per series (prefix m_ from
    product_locations, p_unit_cost from products), so a later stage can rebuild those frames."""
    pl["m_present"], pl["p_present"], pl["p_unit_cost"] = False, False, np.nan
    if pls is not None and not pls.empty:
        m = pls.copy()
        m["location_id"] = m["location_id"].fillna("-")
        m = m.drop_duplicates(["product_id", "location_id"])
        keep = [c for c in MASTER_COLS if c in m]
        merged = pl[["product_id", "location_id"]].merge(m[["product_id", "location_id", *keep]].assign(_hit=True),
                                                         how="left", on=["product_id", "location_id"])
        pl["m_present"] = merged["_hit"].fillna(False).astype(bool).to_numpy()
        for c in keep:
            pl[f"m_{c}"] = merged[c].to_numpy()
    if products is not None and not products.empty and "unit_cost" in products and "id" in products:
        cost = pd.to_numeric(products.drop_duplicates("id").set_index("id")["unit_cost"], errors="coerce")
        pl["p_present"] = pl["product_id"].isin(cost.index).to_numpy()
        pl["p_unit_cost"] = pl["product_id"].map(cost).astype("float64").to_numpy()


def master_frames(rows: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(product_locations, products) as compute_parameters needs them, from `_master_columns`."""
    cols = [c for c in rows if c.startswith("m_") and c != "m_present"]
    pl = rows[rows["m_present"].fillna(False).astype(bool)]
    pls = pl[["product_id", "location_id", *cols]].rename(columns={c: c[2:] for c in cols}) if len(pl) else None
    pr = rows[rows["p_present"].fillna(False).astype(bool)]
    products = pd.DataFrame({"id": pr["product_id"].to_numpy(), "unit_cost": pr["p_unit_cost"].to_numpy()}) \
        if len(pr) else None
    return pls, products


def abc_values(rows: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The ABC measure and its basis per row given each row's group's `group_valued` flag (Spark
    computes the flag over the whole group) - the engine's own rule (core.planning.engine._abc_input)."""
    v, basis = eng._abc_input(rows, measure, group_valued=rows["group_valued"].to_numpy(bool))
    return rows.assign(abc_value=v, abc_basis=basis)


def valued_flag(rows: pd.DataFrame, measure: str) -> np.ndarray:
    """Demand and a positive measure: a group holding one such row ranks by the measure."""
    v = rows[measure].to_numpy("float64")
    return (rows["quantity"].to_numpy("float64") > 0) & np.isfinite(v) & (v > 0)


def _hist(rows: pd.DataFrame, keys: list[str], period: str) -> DemandHistory:
    stats = rows[STATS].reset_index(drop=True)
    return DemandHistory(rows[keys].reset_index(drop=True), np.zeros((len(rows), 0)), pd.DatetimeIndex([]),
                         period, stats)


def with_shares(rows: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """A bucket's rows with the global shares Spark computed for them (matched on kind and key;
    product rows have no location)."""
    keys, none = ["_kind", "product_id", "location_id"], "\x01no location"  # numpy strips a trailing NUL
    left = rows.drop(columns=[c for c in SHARES if c in rows]).assign(location_id=rows["location_id"].fillna(none))
    right = shares[[*keys, *SHARES]].assign(location_id=shares["location_id"].fillna(none))
    out = left.merge(right, on=keys, how="left", validate="one_to_one")
    return out.assign(location_id=out["location_id"].where(out["location_id"] != none, None))


def classes_stage(rows: pd.DataFrame, pol: Policy, opts: eng.EngineOptions, overrides: pd.DataFrame) -> pd.DataFrame:
    """Classes from the global shares, hysteresis and overrides, the policy match, and the
    calibration sort key of one product bucket."""
    period = pol.classification.period
    plr = rows[rows["_kind"] == "pl"].sort_values(["product_id", "location_id"]).reset_index(drop=True)
    prr = rows[rows["_kind"] == "product"].sort_values("product_id").reset_index(drop=True)
    shares = {"abc": (plr["abc_share"].to_numpy(float), plr["abc_basis"].to_numpy(object)),
              "velocity": plr["velocity_share"].to_numpy(float)}
    pl = eng.classify_product_locations(_hist(plr, ["product_id", "location_id"], period), pol, None, shares)
    pl["category"] = plr["category"].to_numpy()
    prod = eng.classify_products(_hist(prr, ["product_id"], period), pol,
                                 (prr["abc_share"].to_numpy(float), prr["abc_basis"].to_numpy(object)))
    pl["product_abc"] = pl["product_id"].map(prod.set_index("product_id")["abc"]).fillna("none")
    keys = set(pl["entity_key"]) | set(prod["entity_key"])
    hist = [h[h["entity_key"].isin(keys)] for h in opts.history]
    ov = overrides[overrides["entity_key"].isin(keys)]
    pl, prod, src = eng._govern(pl, prod, pol, eng.EngineOptions(history=hist), ov)
    match = match_products(pl, pol)
    pl["rule"] = match.rule
    pl = pd.concat([pl, match.settings], axis=1)
    for c in src:
        pl[f"src_{c}"] = src[c].to_numpy()
    extra = plr[[*LT, *DAILY, *[c for c in plr if c == "matrix" or c.startswith(("m_", "p_"))]]]
    pl = pd.concat([pl, extra], axis=1)
    if "matrix" in pl:  # only empirical rows read their series: the others drop it here
        pl["matrix"] = pl["matrix"].where(pl["ss_method"].astype(str).to_numpy() == "empirical", None)
    method = methods_of(pl, True)
    p = DailyModel.fit(pl["p"], pl["size_mean"], pl["size_var"], pl["integer"]).p
    lead = pl["lead_time"].to_numpy(float) * PERIOD_DAYS[period]
    pl["calibrated"] = method == CALIBRATED
    pl["cal_key"] = p * (lead + pl["review_period_days"].to_numpy(float) + 1)
    pl["cv2_wt"], pl["cv2_size"] = size_cv2_weights(pl["events"], pl["size_mean"], pl["size_var"])
    return pd.concat([pl.assign(_kind="pl"), prod.assign(_kind="product")], ignore_index=True)


def parameters_stage(rows: pd.DataFrame, pol: Policy, days: int) -> pd.DataFrame:
    """Order quantity, safety stock, levels (calibrated over one chunk), min/max and rounding."""
    period = pol.classification.period
    pl = rows.sort_values(["product_id", "location_id"]).reset_index(drop=True)
    pls, products = master_frames(pl)
    lt = pl[["product_id", "location_id", *LT]]
    hist = DemandHistory(pl[["product_id", "location_id"]], _matrix(pl), pd.DatetimeIndex([]), period)
    daily = DailyInputs(pl[DAILY], days, pl["pooled_cv2"].to_numpy(float))
    base = pl.drop(columns=[*LT[:1], *LT[3:], "lead_time_source", "matrix"], errors="ignore")
    return compute_parameters(base, lt, hist, pls, period, products, daily)


def replay_stage(rows: pd.DataFrame, lines: pd.DataFrame, pol: Policy, opts: eng.EngineOptions,
                 first_day, n_days: int) -> pd.DataFrame:
    """The daily replay of one block of series (the seed follows the block's first row, as on one machine)."""
    pl = rows.sort_values(["product_id", "location_id"]).reset_index(drop=True)
    if not opts.simulate or not len(pl):
        return pl
    frames, _ = clean_frames({"order_lines": lines}, pol.classification.returns)
    used = demand_lines(frames["order_lines"], demand_options(pol, None))
    dd = daily_demand(used, pl[["product_id", "location_id"]], first_day, n_days, "-")
    start = int(pl["block_start"].iloc[0]) if "block_start" in pl and pl["block_start"].iloc[0] >= 0 else 0
    per, _ = check_service(pl, dd, opts.simulate_periods, opts.seed + start)
    return pd.concat([pl, per], axis=1)


def long_stage(pl: pd.DataFrame, prod: pd.DataFrame, overrides: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segments and parameters (long) of one partition's rows, overrides of their keys applied."""
    src = pd.DataFrame({c[4:]: pl[c].to_numpy() for c in pl if c.startswith("src_")}, index=pl.index)
    seg = eng._segments_long(pl, prod, None, src)
    keys = set(pl["entity_key"])
    par = eng.apply_parameter_overrides(eng._parameters_long(pl, None), overrides[overrides["entity_key"].isin(keys)])
    return seg, par


def window_days(pol: Policy, last_day: date) -> tuple[np.datetime64, int, pd.DatetimeIndex]:
    """(first day, days, period starts) of the window ending on `last_day` (core.planning.daily.day_window)."""
    from core.planning.daily import day_window

    cls = pol.classification
    last = int(period_index(np.array([last_day], dtype="datetime64[D]"), cls.period)[0])
    starts = period_start(np.arange(last - cls.window + 1, last + 1), cls.period)
    first, n = day_window(starts, PERIOD_DAYS[cls.period], last_day)
    return first, n, starts
