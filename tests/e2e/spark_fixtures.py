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
