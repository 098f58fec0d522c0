"""Fixtures for the Spark parity tests: small canonical frames with the cases that break naive ports
(ties at ABC boundaries, zero series, intermittent series, returns, rejected lines, no-measure series,
overrides and a previous run for hysteresis)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def parity_frames(seed: int = 7, n_products: int = 24, locations: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    start = np.datetime64("2025-01-06")
    for p in range(n_products):
        for loc in range(locations):
            kind = (p + loc) % 5
            if kind == 4 and p % 3 == 0:
                continue  # a zero series: in the master data, no demand
            days = {0: 300, 1: 40, 2: 8, 3: 120, 4: 20}[kind]  # smooth, erratic, intermittent, steady, lumpy
            for _ in range(days):
                d = start + int(rng.integers(0, 364))
                q = float(rng.integers(1, 4 if kind != 4 else 60))
                rows.append((f"P{p:03d}", f"L{loc}", d, q))
    lines = pd.DataFrame(rows, columns=["product_id", "location_id", "order_date", "quantity"])
    lines["order_date"] = pd.to_datetime(lines["order_date"])
    price = {f"P{p:03d}": float(5 + (p % 7) * 3) for p in range(n_products)}
    lines["net_value"] = lines["quantity"] * lines["product_id"].map(price)
    # ties at an ABC boundary: two products with the same value at one location, ranked by product id
    tie = pd.DataFrame({"product_id": ["T001", "T000"], "location_id": ["L0", "L0"],
                        "order_date": pd.to_datetime(["2025-06-02", "2025-06-02"]), "quantity": [50.0, 50.0],
                        "net_value": [500.0, 500.0]})
    extra = pd.DataFrame({"product_id": ["P001", "P002", "NOVAL"], "location_id": ["L1", "L1", "L2"],
                          "order_date": pd.to_datetime(["2025-03-03", "2025-03-04", "2025-05-05"]),
                          "quantity": [-5.0, 7.0, 3.0], "net_value": [-50.0, 70.0, 0.0]})
    lines = pd.concat([lines, tie, extra], ignore_index=True)
    lines["rejected"] = False
    lines.loc[lines.index[::97], "rejected"] = True
    lines["order_id"] = [f"O{i}" for i in range(len(lines))]
    lines["line_no"] = 1
    lines["customer_id"] = None
    products = pd.DataFrame({"id": sorted(set(lines["product_id"]) | {"Z999"})})
    products["category"] = np.where(products["id"].str.startswith("P0"), "core", "other")
    products["unit_cost"] = [3.0 + i % 4 for i in range(len(products))]
    pls = pd.DataFrame([(p, f"L{loc}") for p in products["id"] for loc in range(locations)],
                       columns=["product_id", "location_id"])
    pls["lead_time_days"] = np.where(pls.index % 3 == 0, 7.0, 21.0)
    pls["moq"] = np.where(pls.index % 4 == 0, 10.0, np.nan)
    pls["order_multiple"] = np.where(pls.index % 5 == 0, 6.0, np.nan)
    return {"order_lines": lines, "products": products, "product_locations": pls}


def overrides_frame() -> pd.DataFrame:
    return pd.DataFrame({"entity": ["product_location", "product_location"], "entity_key": ["P003|L1", "P004|L2"],
                         "name": ["abc", "safety_stock"], "value": ["A", "42"], "reason": "test",
                         "requested_by": "a", "approved_by": "b", "expires_on": None, "status": "approved"})


def customer_frames(seed: int = 5) -> dict[str, pd.DataFrame]:
    """A small parity set with customers: a tie at a customer ABC boundary (K0 and K1, equal revenue,
    ranked by customer id), a customer whose lines carry no cost (NOCOST), one with no revenue (ZERO),
    one whose only line is rejected (REJ: no customer row on either engine), shipments with freight and
    surcharged modes, and customer overrides of a class and of a parameter."""
    frames = parity_frames(seed=seed, n_products=6, locations=2)
    lines = frames["order_lines"]
    rng = np.random.default_rng(seed)
    lines["customer_id"] = [f"C{i:02d}" for i in rng.integers(0, 12, len(lines))]
    lines["cost"] = lines["net_value"] * 0.6
    lines["requested_date"] = lines["order_date"] + pd.to_timedelta(rng.integers(1, 9, len(lines)), unit="D")
    extra = pd.DataFrame({"product_id": ["P000", "P000", "Q900", "P002", "P003"],  # Q900: no master data, no cost
                          "location_id": ["L0", "L0", "L1", "L0", "L1"],
                          "order_date": pd.to_datetime(["2025-04-01", "2025-04-02", "2025-04-03", "2025-04-04",
                                                        "2025-04-05"]),
                          "quantity": [10.0, 10.0, 4.0, 2.0, 3.0], "net_value": [4000.0, 4000.0, 80.0, 0.0, 60.0],
                          "cost": [100.0, 100.0, np.nan, np.nan, 10.0], "rejected": [False, False, False, False, True],
                          "order_id": ["X1", "X2", "X3", "X4", "X5"], "line_no": 1,
                          "customer_id": ["K1", "K0", "NOCOST", "ZERO", "REJ"]})
    extra["requested_date"] = extra["order_date"] + pd.Timedelta(days=3)
    frames["order_lines"] = pd.concat([lines, extra], ignore_index=True)
    custs = sorted(set(frames["order_lines"]["customer_id"]))
    frames["shipments"] = pd.DataFrame({"customer_id": [custs[i % len(custs)] for i in range(40)],
                                        "freight_cost": [float(5 + i % 7) for i in range(40)],
                                        "mode": [("AIR", "TRUCK", "EXPRESS")[i % 3] for i in range(40)]})
    return frames


def customer_overrides() -> pd.DataFrame:
    return pd.DataFrame({"entity": ["customer", "customer"], "entity_key": ["C03", "C04"],
                         "name": ["abc", "delivery_priority"], "value": ["A", "LOW"], "reason": "test",
                         "requested_by": "a", "approved_by": "b", "expires_on": None, "status": "approved"})


def messy_frames() -> dict[str, pd.DataFrame]:
    """Order lines as a CSV gives them (`_row`, the file name in attrs) with the cases
    core.planning.cleaning counts: blank quantities, blank product ids and dates, exact duplicates,
    conflicting lines, returns; a repeated product and a negative lead time in the master data."""
    frames = parity_frames(seed=3, n_products=8, locations=2)
    lines = frames["order_lines"]
    bad = pd.DataFrame({"product_id": ["P001", "P002", None, "P003", "P004", "P005", "P005"],
                        "location_id": ["L0", "L1", "L0", "L1", "L0", "L1", "L1"],
                        "order_date": pd.to_datetime(["2025-02-03", "2025-02-04", "2025-02-05", None, "2025-02-06",
                                                      "2025-02-07", "2025-02-07"]),
                        "quantity": [np.nan, np.nan, 3.0, 2.0, -4.0, 5.0, 6.0],
                        "net_value": [10.0, 10.0, 30.0, 20.0, -40.0, 50.0, 60.0], "rejected": False,
                        "order_id": ["B1", "B2", "B3", "B4", "B5", "B6", "B6"], "line_no": 1})
    dups = lines.iloc[[5, 17, 40]].copy()
    lines = pd.concat([lines, bad, dups], ignore_index=True)
    lines["_row"] = np.arange(2, len(lines) + 2)
    lines.attrs["file"] = "order_lines.csv"
    frames["order_lines"] = lines
    products = frames["products"]
    frames["products"] = pd.concat([products, products.iloc[[2]]], ignore_index=True)
    pls = frames["product_locations"]
    pls.loc[3, "lead_time_days"] = -2.0
    return frames
