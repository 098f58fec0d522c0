"""The one data generator behind every sandbox and the demo: realistic supply-chain data from a seed.

Demand per product-location follows one of four patterns, so segmentation has something to find:
smooth (seasonal), trending, intermittent (rare, regular sizes) and lumpy (rare, erratic sizes);
promotions lift some weeks and flag their lines. Receipts carry lead-time noise; shipments carry
freight by mode. Everything is vectorised numpy, so a million order lines take a few seconds,
and the same seed always gives the same data. Columns use the canonical model's names.

Example:
    >>> ds = generate(seed=1, products=20, locations=2, customers=10, weeks=26)
    >>> set(ds.order_lines.columns) >= {"order_id", "line_no", "product_id", "quantity"}
    True
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date

import numpy as np
import pandas as pd

PATTERNS = np.array(["smooth", "trending", "intermittent", "lumpy"])
PATTERN_SHARE = [0.45, 0.2, 0.2, 0.15]
CATEGORIES = np.array(["FERT", "HAWA", "ROH", "HALB"])
GROUPS = np.array(["PUMPS", "VALVES", "FILTERS", "SEALS", "MOTORS", "SENSORS", "FITTINGS", "TOOLS"])
COUNTRIES = np.array(["DE", "FR", "NL", "US", "GB", "PL", "IT", "ES"])
INDUSTRIES = np.array(["RETAIL", "WHOLESALE", "INDUSTRY", "UTILITIES", "AUTOMOTIVE"])
MODES = np.array(["PARCEL", "LTL", "TL", "AIR", "OCEAN", "RAIL"])
CARRIERS = {"PARCEL": ["DHL", "UPS", "FEDEX"], "LTL": ["DSV", "DBSCHENKER"], "TL": ["KUEHNE", "GEODIS"],
            "AIR": ["DHLAIR", "FEDEXAIR"], "OCEAN": ["MAERSK", "MSC"], "RAIL": ["DBCARGO"]}
# Freight: fixed charge + per-kg rate, transit days (mean), by mode.
FREIGHT = {"PARCEL": (8.0, 0.90, 2), "LTL": (60.0, 0.18, 3), "TL": (450.0, 0.05, 2),
           "AIR": (120.0, 2.50, 1), "OCEAN": (300.0, 0.02, 25), "RAIL": (250.0, 0.04, 6)}


@dataclass
class Dataset:
    """Canonical-shaped frames of one generated world (see `core.model` for the columns)."""

    products: pd.DataFrame
    locations: pd.DataFrame
    product_locations: pd.DataFrame
    customers: pd.DataFrame
    customer_sales_areas: pd.DataFrame
    suppliers: pd.DataFrame
    order_lines: pd.DataFrame
    shipments: pd.DataFrame
    receipts: pd.DataFrame
    seed: int = 0
    start: date | None = None

    def frames(self) -> dict[str, pd.DataFrame]:
        """Entity name -> frame (the canonical entity names of `core.model.CANONICAL_ENTITIES`)."""
        names = {"products": "product", "locations": "location", "product_locations": "product_location",
                 "customers": "customer", "customer_sales_areas": "customer_sales_area",
                 "suppliers": "supplier", "order_lines": "order_line", "shipments": "shipment",
                 "receipts": "receipt"}
        return {names[f.name]: getattr(self, f.name) for f in fields(self) if f.name in names}

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames().items()}


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _default_start(weeks: int) -> date:
    """A Monday `weeks` weeks before a fixed date, so data is stable across days."""
    end = date(2025, 12, 29)
    return date.fromordinal(end.toordinal() - 7 * weeks)


def _master(rng: np.random.Generator, products: int, locations: int, customers: int, suppliers: int,
            numeric_customers: bool = False):
    pid = _ids("P", products, 6)
    cost = np.round(rng.lognormal(3.0, 1.0, products), 2)
    prod = pd.DataFrame({
        "id": pid, "name": np.char.add("Product ", pid), "category": rng.choice(CATEGORIES, products),
        "product_group": rng.choice(GROUPS, products), "base_uom": "EA", "unit_cost": cost,
        "unit_price": np.round(cost * rng.uniform(1.2, 2.5, products), 2),
        "weight_kg": np.round(rng.lognormal(0.5, 1.0, products), 3),
        "created_on": [date(2018, 1, 1) + pd.Timedelta(days=int(d)) for d in rng.integers(0, 2500, products)],
        "status": rng.choice(np.array(["ACTIVE", "ACTIVE", "ACTIVE", "PHASEOUT"]), products)})
    lid = _ids("DC", locations, 2)
    loc = pd.DataFrame({"id": lid, "name": np.char.add("Distribution centre ", lid), "kind": "dc",
                        "country": COUNTRIES[np.arange(locations) % len(COUNTRIES)],
                        "region": np.where(np.arange(locations) % 2 == 0, "NORTH", "SOUTH")})
    cid = _ids("C", customers, 5)
    if numeric_customers:  # every second customer gets an SAP-style numeric number (100002, 100004, ...)
        cid = cid.astype(object)
        cid[1::2] = [str(100000 + i) for i in range(2, customers + 1, 2)]
        cid = cid.astype(str)
    cust = pd.DataFrame({
        "id": cid, "name": np.char.add("Customer ", cid), "country": rng.choice(COUNTRIES, customers),
        "region": rng.choice(np.array(["NORTH", "SOUTH", "EAST", "WEST"]), customers),
        "industry": rng.choice(INDUSTRIES, customers), "external_id": np.char.add("CRM-", cid),
        "current_classification": rng.choice(np.array(["A", "B", "C"]), customers),
        "current_segment": None, "current_service_level": None})
    sid = _ids("S", suppliers, 4)
    supp = pd.DataFrame({"id": sid, "name": np.char.add("Supplier ", sid), "country": rng.choice(COUNTRIES, suppliers)})
    return prod, loc, cust, supp


def _sales_areas(rng: np.random.Generator, cust: pd.DataFrame) -> pd.DataFrame:
    n = len(cust)
    return pd.DataFrame({
        "customer_id": cust["id"].to_numpy(), "sales_org": "1010", "distribution_channel": "10", "division": "00",
        "customer_group": rng.choice(np.array(["01", "02", "03"]), n), "currency": "EUR",
        "current_abc": cust["current_classification"].to_numpy(),
        "current_delivery_priority": rng.choice(np.array(["01", "02", "03"]), n),
        "current_shipping_condition": rng.choice(np.array(["01", "02", "10"]), n),
        "current_customer_group_1": None, "current_customer_group_2": None})


def _product_locations(rng: np.random.Generator, prod: pd.DataFrame, loc: pd.DataFrame,
                       supp: pd.DataFrame) -> pd.DataFrame:
    """Every product at every location (simple and dense), with planning master data and current values."""
    n_p, n_l = len(prod), len(loc)
    n = n_p * n_l
    lt = rng.choice(np.array([3, 5, 7, 10, 14, 21, 28, 42]), n).astype(float)
    cost = np.repeat(prod["unit_cost"].to_numpy(), n_l)
    return pd.DataFrame({
        "product_id": np.repeat(prod["id"].to_numpy(), n_l), "location_id": np.tile(loc["id"].to_numpy(), n_p),
        "lead_time_days": lt, "lead_time_std_days": np.round(lt * rng.uniform(0.05, 0.35, n), 2),
        "moq": rng.choice(np.array([1, 5, 10, 20, 50, 100]), n).astype(float),
        "order_multiple": rng.choice(np.array([1, 1, 5, 10, 12, 24]), n).astype(float),
        "unit_cost": cost, "supplier_id": rng.choice(supp["id"].to_numpy(), n),
        "current_abc": rng.choice(np.array(["A", "B", "C"]), n, p=[0.2, 0.3, 0.5]),
        "current_segment": None,
        "current_safety_stock": np.round(rng.uniform(0, 200, n), 0),
        "current_reorder_point": np.round(rng.uniform(10, 400, n), 0),
        "current_min_qty": None, "current_max_qty": np.round(rng.uniform(400, 1200, n), 0),
        "current_mrp_type": rng.choice(np.array(["PD", "VB", "ND"]), n, p=[0.6, 0.3, 0.1]),
        "current_lot_sizing": rng.choice(np.array(["EX", "FX", "HB"]), n),
        "current_service_level": rng.choice(np.array([90.0, 95.0, 97.5, 99.0]), n),
        "current_picking_priority": rng.choice(np.array(["1", "2", "3"]), n),
        "current_velocity_class": rng.choice(np.array(["A", "B", "C"]), n, p=[0.2, 0.3, 0.5])})


def _weekly_rates(rng: np.random.Generator, n: int, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected order lines per (product-location, week), line-size mean and cv, promotion flags."""
    pattern = rng.choice(len(PATTERNS), n, p=PATTERN_SHARE)
    base = rng.lognormal(-0.2, 0.9, n)  # lines per week for smooth items
    t = np.arange(weeks)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    season = 1 + rng.uniform(0.1, 0.5, n)[:, None] * np.sin(2 * np.pi * t / 52 + phase)
    slope = np.where(pattern == 1, rng.uniform(-0.6, 1.5, n), 0.0)[:, None] * t / max(weeks, 1)
    rate = base[:, None] * np.clip(season + slope, 0.05, None)
    sparse = (pattern >= 2)[:, None]
    rate = np.where(sparse, rng.uniform(0.05, 0.3, n)[:, None], rate)
    promo = (rng.random((n, weeks)) < 0.03) & ~sparse
    rate = rate * np.where(promo, rng.uniform(1.8, 3.5), 1.0)
    size_mean = rng.lognormal(2.0, 0.8, n)
    size_cv = np.where(pattern == 3, 1.5, np.where(pattern == 2, 0.15, 0.5))
    return rate, np.stack([size_mean, size_cv]), promo


def _order_lines(rng: np.random.Generator, pl: pd.DataFrame, prod: pd.DataFrame, cust: pd.DataFrame,
                 weeks: int, start: date, order_rate: float) -> pd.DataFrame:
    n = len(pl)
    rate, size, promo = _weekly_rates(rng, n, weeks)
    counts = rng.poisson(rate * order_rate)
    pl_idx = np.repeat(np.repeat(np.arange(n), weeks), counts.ravel())
    week = np.repeat(np.tile(np.arange(weeks), n), counts.ravel())
    m = len(pl_idx)
    mean, cv = size[0][pl_idx], size[1][pl_idx]
    shape = 1 / np.square(cv)
    qty = np.maximum(1, np.round(rng.gamma(shape, mean / shape)))
    is_promo = promo[pl_idx, week]
    qty = np.where(is_promo, np.round(qty * 1.3), qty)
    day = week * 7 + rng.integers(0, 5, m)
    order_date = np.datetime64(start) + day.astype("timedelta64[D]")
    weights = 1 / np.arange(1, len(cust) + 1) ** 0.8  # a few large customers, a long tail
    cust_idx = rng.choice(len(cust), m, p=weights / weights.sum())
    loc = pl["location_id"].to_numpy()[pl_idx]
    # Lines of one customer, location and day form one order.
    order_key = (cust_idx.astype(np.int64) * 100_000 + day) * 64 + pd.factorize(loc)[0]
    codes, _ = pd.factorize(order_key, sort=True)
    frame = pd.DataFrame({"order_no": codes, "pl": pl_idx, "cust": cust_idx, "day": order_date,
                          "qty": qty, "promo": is_promo, "loc": loc})
    frame = frame.sort_values(["order_no", "pl"], kind="stable").reset_index(drop=True)
    line_no = frame.groupby("order_no").cumcount().to_numpy() + 1
    price = prod.set_index("id")["unit_price"]
    pids = pl["product_id"].to_numpy()[frame["pl"].to_numpy()]
    unit_price = price.reindex(pids).to_numpy()
    unit_cost = pl["unit_cost"].to_numpy()[frame["pl"].to_numpy()]
    q = frame["qty"].to_numpy()
    od = frame["day"].to_numpy().astype("datetime64[D]")
    return pd.DataFrame({
        "order_id": np.char.add("SO", np.char.zfill((frame["order_no"].to_numpy() + 1).astype(str), 8)),
        "line_no": (line_no * 10).astype(str), "customer_id": cust["id"].to_numpy()[frame["cust"].to_numpy()],
        "product_id": pids, "location_id": frame["loc"].to_numpy(), "order_date": od,
        "requested_date": od + rng.integers(1, 15, len(frame)).astype("timedelta64[D]"),
        "quantity": q, "uom": "EA", "net_value": np.round(q * unit_price * np.where(frame["promo"], 0.85, 1.0), 2),
        "cost": np.round(q * unit_cost, 2), "currency": "EUR", "rejected": rng.random(len(frame)) < 0.02,
        "promotion": frame["promo"].to_numpy(), "sales_org": "1010",
        "changed_at": od.astype("datetime64[s]") + rng.integers(8 * 3600, 18 * 3600, len(frame)).astype(
            "timedelta64[s]")})


def _shipments(rng: np.random.Generator, lines: pd.DataFrame, prod: pd.DataFrame) -> pd.DataFrame:
    """One shipment per order that was not wholly rejected; mode by weight and urgency."""
    live = lines[~lines["rejected"]]
    weight = live["quantity"].to_numpy() * prod.set_index("id")["weight_kg"].reindex(live["product_id"]).to_numpy()
    per = pd.DataFrame({"order_id": live["order_id"].to_numpy(), "customer_id": live["customer_id"].to_numpy(),
                        "location_id": live["location_id"].to_numpy(), "order_date": live["order_date"].to_numpy(),
                        "requested_date": live["requested_date"].to_numpy(), "weight": weight})
    orders = per.groupby("order_id", sort=True).agg(
        customer_id=("customer_id", "first"), location_id=("location_id", "first"),
        order_date=("order_date", "first"), requested_date=("requested_date", "first"),
        weight_kg=("weight", "sum")).reset_index()
    n = len(orders)
    w = orders["weight_kg"].to_numpy()
    mode = np.where(w < 30, "PARCEL", np.where(w < 1500, "LTL", "TL")).astype(object)
    mode = np.where(rng.random(n) < 0.04, "AIR", mode)
    mode = np.where(rng.random(n) < 0.03, "OCEAN", mode)
    mode = np.where((mode == "TL") & (rng.random(n) < 0.2), "RAIL", mode).astype(str)
    fixed = np.vectorize(lambda m: FREIGHT[m][0])(mode) if n else np.array([])
    per_kg = np.vectorize(lambda m: FREIGHT[m][1])(mode) if n else np.array([])
    transit = np.vectorize(lambda m: FREIGHT[m][2])(mode) if n else np.array([], dtype=int)
    carrier = np.array([CARRIERS[m][i % len(CARRIERS[m])] for m, i in zip(mode, rng.integers(0, 3, n), strict=True)])
    ship = orders["order_date"].to_numpy().astype("datetime64[D]") + rng.integers(0, 4, n).astype("timedelta64[D]")
    delay = np.maximum(0, np.round(rng.normal(transit, np.maximum(1, transit * 0.2)))).astype(int)
    return pd.DataFrame({
        "shipment_id": np.char.add("SH", np.char.zfill(np.arange(1, n + 1).astype(str), 8)),
        "customer_id": orders["customer_id"].to_numpy(), "order_id": orders["order_id"].to_numpy(),
        "location_id": orders["location_id"].to_numpy(), "mode": mode, "carrier": carrier,
        "ship_date": ship, "delivery_date": ship + delay.astype("timedelta64[D]"),
        "freight_cost": np.round((fixed + per_kg * w) * rng.uniform(0.85, 1.2, n), 2), "currency": "EUR",
        "weight_kg": np.round(w, 3)})


def _receipts(rng: np.random.Generator, pl: pd.DataFrame, weeks: int, start: date) -> pd.DataFrame:
    """Replenishment POs every few weeks per product-location; actual lead time = planned + noise."""
    n = len(pl)
    cycle = rng.integers(2, 9, n)
    per = np.maximum(1, weeks // cycle)
    idx = np.repeat(np.arange(n), per)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(per) - per, per)
    order_day = k * np.repeat(cycle, per) * 7 + rng.integers(0, 5, len(idx))
    lt = pl["lead_time_days"].to_numpy()[idx]
    sd = pl["lead_time_std_days"].to_numpy()[idx]
    noise = np.round(rng.gamma(2.0, np.maximum(sd, 0.1) / 1.4, len(idx)) - sd * 0.6)
    od = np.datetime64(start) + order_day.astype("timedelta64[D]")
    promised = od + lt.astype(int).astype("timedelta64[D]")
    m = len(idx)
    return pd.DataFrame({
        "po_id": np.char.add("PO", np.char.zfill(np.arange(1, m + 1).astype(str), 8)), "line_no": "10",
        "product_id": pl["product_id"].to_numpy()[idx], "location_id": pl["location_id"].to_numpy()[idx],
        "supplier_id": pl["supplier_id"].to_numpy()[idx], "order_date": od, "promised_date": promised,
        "receipt_date": promised + noise.astype(int).astype("timedelta64[D]"),
        "quantity": np.maximum(pl["moq"].to_numpy()[idx], np.round(rng.lognormal(4, 0.7, m)))})


def _as_dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """datetime64 day columns -> python `date` objects (the canonical type)."""
    for col in columns:
        frame[col] = pd.to_datetime(frame[col]).dt.date
    return frame


def generate(seed: int = 0, products: int = 200, locations: int = 3, customers: int = 100, weeks: int = 104,
             start: date | None = None, suppliers: int | None = None, order_rate: float = 1.0,
             numeric_customers: bool = False) -> Dataset:
    """A deterministic world for `seed`. `order_rate` scales the number of order lines (about
    products x locations x weeks x 1.1 x order_rate). `numeric_customers` gives every second customer
    a purely numeric number (as SAP customer numbers usually are) instead of `C00002`-style ids."""
    rng = np.random.default_rng(seed)
    start = start or _default_start(weeks)
    prod, loc, cust, supp = _master(rng, products, locations, customers, suppliers or max(2, products // 25),
                                     numeric_customers)
    pl = _product_locations(rng, prod, loc, supp)
    lines = _order_lines(rng, pl, prod, cust, weeks, start, order_rate)
    ships = _shipments(rng, lines, prod)
    receipts = _receipts(rng, pl, weeks, start)
    _as_dates(lines, ["order_date", "requested_date"])
    lines["changed_at"] = pd.to_datetime(lines["changed_at"]).dt.tz_localize(UTC)
    _as_dates(ships, ["ship_date", "delivery_date"])
    _as_dates(receipts, ["order_date", "promised_date", "receipt_date"])
    return Dataset(prod, loc, pl, cust, _sales_areas(rng, cust), supp, lines, ships, receipts, seed, start)

