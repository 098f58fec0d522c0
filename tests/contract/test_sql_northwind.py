"""sql source on Northwind playing a legacy ERP, loaded into SQLite and into PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import StreamSpec
from connectors.sql.source import SqlSource
from connectors.testing.suite import ConnectorContract

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


def northwind_source(db) -> SqlSource:
    return SqlSource({"url": "sqlite://", "page_size": 100, "tables": {
        "Orders": {"key": ["OrderID"], "cursor": "OrderDate"},
        "Order Details": {"key": ["OrderID", "ProductID"]}}}, db=db)


def _orders_by_date(db, n: int) -> list[int]:
    with db.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(f"SELECT OrderID FROM Orders ORDER BY OrderDate, OrderID LIMIT {n}"))]


class TestSqlNorthwindContract(ConnectorContract):
    """The shipped contract scenarios on Northwind in SQLite (keyset pages of 100 rows)."""

    streams = ["Orders", "Order Details"]
    incremental_stream = "Orders"

    @pytest.fixture
    def server_app(self, sqlite_northwind):
        return sqlite_northwind

    @pytest.fixture
    def connector(self, server_app):
        src = northwind_source(server_app)
        yield src
        src.close()

    def change_records(self, db, stream):
        ids = _orders_by_date(db, 3)
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE Orders SET OrderDate = '1999-01-01 00:00:00.000' WHERE OrderID IN "
                                 f"({', '.join(map(str, ids))})"))
        return ids

    def commit_late(self, db, stream):
        """The oldest order committed late, carrying the newest OrderDate there is."""
        [oldest] = _orders_by_date(db, 1)
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE Orders SET OrderDate = (SELECT MAX(OrderDate) FROM Orders) "
                                 "WHERE OrderID = :id"), {"id": oldest})
        return oldest

    def edit_during_paging(self, db, stream):
        """Two orders of the first page get a new OrderDate: they move behind every unread one."""
        return self.change_records(db, stream)[:2]


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
    last_day = max(o["OrderDate"] for o in orders)  # orders at the high-water mark are read again (>=)
    assert [o["OrderID"] for o in changed] == sorted(o["OrderID"] for o in orders if o["OrderDate"] == last_day) + [10250]


@pytest.mark.postgres
def test_postgres_orders_keyset_and_incremental(shared, pg_db):
    load_pg(pg_db, (shared / "datasets/northwind/postgres_pthom/northwind.sql").read_text(encoding="utf-8"))
    src = SqlSource({"url": "postgresql://unused", "page_size": 250, "tables": {
        "orders": {"key": ["order_id"], "cursor": "order_date"},
        "order_details": {"key": ["order_id", "product_id"]}}}, db=pg_db)
    batches, orders = read_all(src, "orders")
    assert len(orders) == len({o["order_id"] for o in orders}) == 830
    assert batches[0].checkpoint["position"][0] == orders[249]["order_date"]
    _, lines = read_all(src, "order_details")
    assert len(lines) == 2155 and sum(r["quantity"] for r in lines) == 51317
    _, rest = read_all(src, "orders", batches[1].checkpoint)
    assert len(rest) == 330
    with pg_db.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET order_date = '1999-01-01' WHERE order_id = 10250"))
    _, changed = read_all(src, "orders", batches[-1].checkpoint)
    # a DATE cursor: 300 s before the mark reaches back into the day before, read whole
    last_day = date.fromisoformat(max(o["order_date"] for o in orders))
    window = {str(last_day), str(last_day - timedelta(days=1))}
    assert [o["order_id"] for o in changed] == sorted(o["order_id"] for o in orders if o["order_date"] in window) + [10250]


EBS_VIEWS = {"XX_SEGBRIDGE_ITEMS_V": {"key": ["SEGMENT1"]},
             "XX_SEGBRIDGE_ITEM_ORGS_V": {"key": ["SEGMENT1", "ORGANIZATION_CODE"]},
             "XX_SEGBRIDGE_CUSTOMERS_V": {"key": ["ACCOUNT_NUMBER"]},
             "XX_SEGBRIDGE_ORDER_LINES_V": {"key": ["ORDER_NUMBER", "LINE_NO"], "cursor": "LAST_UPDATE_DATE"}}


def _ebs_value(column: str, row: int) -> str:
    if "DATE" in column:
        return f"2024-01-0{row + 1}"
    if column.endswith(("QUANTITY", "PRICE_PER_UNIT", "VALUE", "MULTIPLIER", "LEAD_TIME", "_CODE_NUM")):
        return str(5 + row)
    if column.endswith("FLAG"):
        return "N"
    return "M1" if column == "ORGANIZATION_CODE" else f"V{row}"


def test_the_shipped_ebs_mapping_pulls_as_written_from_its_views(tmp_path):
    """mappings/oracle_ebs_sql.yaml reads views by name (no SQL text): with views of those names and
    columns (tables here, in SQLite) it pulls every entity without quarantine."""
    from core.mapping import load_mapping
    from core.settings import SegbridgeConfig
    from core.store import create_all, open_store
    from core.sync import pull

    mapping = load_mapping(Path(__file__).resolve().parents[2] / "mappings" / "oracle_ebs_sql.yaml")
    columns: dict[str, set[str]] = {}
    for entity in mapping.entities.values():
        assert set(entity.source.options) <= {"join"}, f"{entity.source.name}: {entity.source.options}"
        names = columns.setdefault(entity.source.name, set(entity.key))
        for rule in entity.fields.values():
            names |= {rule.source} if isinstance(rule.source, str) else set(rule.source or [])
    erp = sa.create_engine(f"sqlite:///{tmp_path / 'ebs.db'}")
    with erp.begin() as conn:
        for view, cols in columns.items():
            ordered = sorted(cols)
            conn.execute(sa.text(f'CREATE TABLE {view} ({", ".join(f"{c} TEXT" for c in ordered)})'))
            conn.execute(sa.text(f'INSERT INTO {view} VALUES ({", ".join(":" + c for c in ordered)})'),
                         [{c: _ebs_value(c, row) for c in ordered} for row in range(2)])
    erp.dispose()
    assert set(columns) == set(EBS_VIEWS)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    create_all(store)
    config = SegbridgeConfig.model_validate({"systems": {"oracle_ebs": {
        "kind": "sql", "mapping": "oracle_ebs_sql.yaml",
        "options": {"url": f"sqlite:///{tmp_path / 'ebs.db'}", "tables": EBS_VIEWS}}}})
    [result] = pull(config, store)
    assert result.status == "ok", result.message
    assert {s.entity: (s.read, s.quarantined) for s in result.streams} == {
        name: (2, 0) for name in mapping.entities}
