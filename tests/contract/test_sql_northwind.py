"""sql source on Northwind playing a legacy ERP, loaded into SQLite and into PostgreSQL."""

from __future__ import annotations

import re
import sqlite3

import pytest
import sqlalchemy as sa

from connectors.base import StreamSpec
from connectors.sql.source import SqlSource

pytestmark = [pytest.mark.contract, pytest.mark.shared]


@pytest.fixture
def sqlite_northwind(shared, tmp_path):
    path = tmp_path / "northwind.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # a test copy: no fsync per INSERT
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.executescript((shared / "datasets/northwind/sqlite_jpwhite3/create.sql").read_text(encoding="utf-8"))
    conn.close()
    db = sa.create_engine(f"sqlite:///{path}")
    yield db
    db.dispose()


def load_pg(db, script: str) -> None:
    statements = [s for s in re.split(r";\s*\n", script) if s.strip()]
    with db.begin() as conn:
        for stmt in statements:
            body = "\n".join(line for line in stmt.splitlines() if not line.strip().startswith("--")).strip()
            if not body or body.upper().startswith(("SET ", "ALTER TABLE")):
                continue
            conn.exec_driver_sql(body)


def read_all(src: SqlSource, stream: str, state=None):
    batches = list(src.read(StreamSpec(stream), state))
    return batches, [r for b in batches for r in b.records]


def test_sqlite_orders_keyset_and_incremental(sqlite_northwind):
    src = SqlSource({"url": "sqlite://", "page_size": 100, "tables": {
        "Orders": {"key": ["OrderID"], "cursor": "OrderDate"},
        "Order Details": {"key": ["OrderID", "ProductID"], "columns": ["Quantity"]}}}, db=sqlite_northwind)
    batches, orders = read_all(src, "Orders")
    assert len(orders) == len({o["OrderID"] for o in orders}) == 830
    assert round(sum(float(o["Freight"]) for o in orders), 2) == 64942.69  # NUMERIC -> decimal text
    _, lines = read_all(src, "Order Details")
    assert len(lines) == 2155 and sum(r["Quantity"] for r in lines) == 51317
    middle = batches[3].checkpoint
    _, rest = read_all(src, "Orders", middle)
    assert len(rest) == 830 - 400 and not {o["OrderID"] for o in rest} & {o["OrderID"] for b in batches[:4]
                                                                            for o in b.records}
    with sqlite_northwind.begin() as conn:
        conn.execute(sa.text("UPDATE Orders SET OrderDate = '1999-01-01 00:00:00.000' WHERE OrderID = 10250"))
    _, changed = read_all(src, "Orders", batches[-1].checkpoint)
    assert [o["OrderID"] for o in changed] == [10250]


@pytest.mark.postgres
def test_postgres_orders_keyset_and_incremental(shared, pg_db):
    load_pg(pg_db, (shared / "datasets/northwind/postgres_pthom/northwind.sql").read_text(encoding="utf-8"))
    src = SqlSource({"url": "postgresql://unused", "page_size": 250, "tables": {
        "orders": {"key": ["order_id"], "cursor": "order_date"},
        "order_details": {"key": ["order_id", "product_id"]}}}, db=pg_db)
    batches, orders = read_all(src, "orders")
    assert len(orders) == len({o["order_id"] for o in orders}) == 830
    assert batches[0].checkpoint["after"][0] == orders[249]["order_date"]
    _, lines = read_all(src, "order_details")
    assert len(lines) == 2155 and sum(r["quantity"] for r in lines) == 51317
    _, rest = read_all(src, "orders", batches[1].checkpoint)
    assert len(rest) == 330
    with pg_db.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET order_date = '1999-01-01' WHERE order_id = 10250"))
    _, changed = read_all(src, "orders", batches[-1].checkpoint)
    assert [o["order_id"] for o in changed] == [10250]
