"""`segbridge analyze` on Northwind and Superstore (../shared/datasets) converted to canonical CSV."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.shared]

SHARED = Path(os.environ.get("SEGBRIDGE_SHARED", Path(__file__).resolve().parents[3] / "shared"))
DATASETS = SHARED / "datasets"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared dataset missing: {path} (set SEGBRIDGE_SHARED to the shared folder)")


def northwind_to_canonical(out: Path) -> None:
    """Orders + Order Details -> order_lines.csv; Products, Customers; Orders -> shipments.csv."""
    src = DATASETS / "northwind" / "sqlite_jpwhite3" / "create.sql"
    con = sqlite3.connect(":memory:")
    con.executescript(src.read_text(encoding="utf-8"))
    q = lambda sql: pd.read_sql_query(sql, con)  # noqa: E731
    lines = q('SELECT d.OrderID, d.ProductID, d.UnitPrice, d.Quantity, d.Discount, o.CustomerID, o.OrderDate, '
              'o.RequiredDate FROM "Order Details" d JOIN Orders o ON o.OrderID = d.OrderID')
    pd.DataFrame({"order_id": lines["OrderID"], "line_no": lines["ProductID"], "customer_id": lines["CustomerID"],
                  "product_id": lines["ProductID"], "location_id": "NW",
                  "order_date": pd.to_datetime(lines["OrderDate"]).dt.date,
                  "requested_date": pd.to_datetime(lines["RequiredDate"]).dt.date,
                  "quantity": lines["Quantity"],
                  "net_value": lines["UnitPrice"] * lines["Quantity"] * (1 - lines["Discount"])}
                 ).to_csv(out / "order_lines.csv", index=False)
    p = q("SELECT ProductID, ProductName, CategoryID, UnitPrice, ReorderLevel FROM Products")
    pd.DataFrame({"id": p["ProductID"], "name": p["ProductName"], "category": p["CategoryID"],
                  "unit_price": p["UnitPrice"]}).to_csv(out / "products.csv", index=False)
    pd.DataFrame({"product_id": p["ProductID"], "location_id": "NW", "lead_time_days": 14,
                  "current_reorder_point": p["ReorderLevel"]}).to_csv(out / "product_locations.csv", index=False)
    o = q("SELECT OrderID, CustomerID, ShipVia, ShippedDate, Freight FROM Orders")
    pd.DataFrame({"shipment_id": o["OrderID"], "customer_id": o["CustomerID"], "order_id": o["OrderID"],
                  "carrier": o["ShipVia"], "ship_date": pd.to_datetime(o["ShippedDate"]).dt.date,
                  "freight_cost": o["Freight"]}).to_csv(out / "shipments.csv", index=False)


def superstore_to_canonical(out: Path) -> None:
    """The flat Superstore table -> order lines (region as location), products, shipments by ship mode."""
    s = pd.read_csv(DATASETS / "superstore" / "Sample - Superstore.csv", encoding="utf-8-sig")
    date = lambda c: pd.to_datetime(s[c], format="%m/%d/%Y").dt.date  # noqa: E731
    pd.DataFrame({"order_id": s["Order ID"], "line_no": s["Row ID"], "customer_id": s["Customer ID"],
                  "product_id": s["Product ID"], "location_id": s["Region"], "order_date": date("Order Date"),
                  "quantity": s["Quantity"], "net_value": s["Sales"], "cost": s["Sales"] - s["Profit"]}
                 ).to_csv(out / "order_lines.csv", index=False)
    pd.DataFrame({"id": s["Product ID"], "category": s["Sub-Category"]}).drop_duplicates("id").to_csv(
        out / "products.csv", index=False)
    sh = s.drop_duplicates("Order ID")
    mode = sh["Ship Mode"].map({"Same Day": "EXPRESS", "First Class": "AIR"}).fillna("LTL")
    pd.DataFrame({"shipment_id": sh["Order ID"], "customer_id": sh["Customer ID"], "order_id": sh["Order ID"],
                  "mode": mode, "ship_date": pd.to_datetime(sh["Ship Date"], format="%m/%d/%Y").dt.date}
                 ).to_csv(out / "shipments.csv", index=False)


def _policy(tmp: Path, window: int) -> Path:
    from core.paths import mappings_dir

    text = (mappings_dir() / "policy.yaml").read_text(encoding="utf-8")
    text = text.replace("period: W ", "period: M ").replace("window: 52 ", f"window: {window} ")
    path = tmp / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _analyze(folder: Path, out: Path, policy: Path) -> None:
    from segbridge.cli import main

    main(["analyze", str(folder), "--out", str(out), "--policy", str(policy)])


def _top80_products(lines: pd.DataFrame) -> tuple[set, set]:
    """Independently: products whose cumulative value share (ranked by value, then id) is <= 80 %."""
    v = lines.groupby(lines["product_id"].astype(str))["net_value"].sum()
    v = v[v > 0]
    ranked = v.reset_index().sort_values(["net_value", "product_id"], ascending=[False, True])
    share = ranked["net_value"].cumsum() / ranked["net_value"].sum()
    top = set(ranked.loc[share <= 0.8 + 1e-9, "product_id"])
    return top, set(ranked["product_id"]) - top


def _check(out: Path, lines: pd.DataFrame) -> pd.DataFrame:
    assert {"segments.csv", "parameters.csv", "report.html"} <= {p.name for p in out.iterdir()}
    seg = pd.read_csv(out / "segments.csv", dtype={"entity_key": str})
    prod_abc = seg[(seg["entity"] == "product") & (seg["dimension"] == "abc")].set_index("entity_key")["value"]
    top, rest = _top80_products(lines)
    assert top and set(prod_abc[list(top)]) == {"A"}
    assert "A" not in set(prod_abc[list(rest)])
    par = pd.read_csv(out / "parameters.csv", dtype={"entity_key": str})
    ss = par.loc[par["name"] == "safety_stock", "value_num"]
    assert ss.notna().all() and (ss >= 0).all() and np.isfinite(ss).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 3
    return seg


def test_analyze_northwind(tmp_path):
    _need(DATASETS / "northwind" / "sqlite_jpwhite3" / "create.sql")
    src = tmp_path / "nw"
    src.mkdir()
    northwind_to_canonical(src)
    _analyze(src, tmp_path / "out", _policy(tmp_path, 24))
    lines = pd.read_csv(src / "order_lines.csv")
    seg = _check(tmp_path / "out", lines)
    cust = seg[(seg["entity"] == "customer") & (seg["dimension"] == "segment")]
    assert len(cust) == lines["customer_id"].nunique()


def test_analyze_superstore(tmp_path):
    _need(DATASETS / "superstore" / "Sample - Superstore.csv")
    src = tmp_path / "ss"
    src.mkdir()
    superstore_to_canonical(src)
    _analyze(src, tmp_path / "out", _policy(tmp_path, 48))
    seg = _check(tmp_path / "out", pd.read_csv(src / "order_lines.csv"))
    patterns = seg[(seg["entity"] == "product_location") & (seg["dimension"] == "pattern")]["value"]
    # about 5 lines per product over 4 years: intermittent/lumpy dominate
    assert patterns.isin(["intermittent", "lumpy"]).mean() > 0.5
    cust = seg[(seg["entity"] == "customer") & (seg["dimension"] == "segment")]["value"]
    assert {"strategic", "unprofitable"} <= set(cust)
