"""Store round trips on SQLite and PostgreSQL; migrations are idempotent."""

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import inspect

from core.migrate import current_revision, head_revision, upgrade
from core.model import Crosswalk, OrderLine, Product, ProductLocation
from core.store import read_frame, upsert


def test_upsert_inserts_then_updates_by_key(store):
    assert upsert(store, Product, [{"id": "P1", "name": "Bolt", "source_system": "sap"},
                                   {"id": "P2", "name": "Nut", "source_system": "sap"}]) == 2
    upsert(store, Product, [{"id": "P1", "name": "Bolt M8", "source_system": "sap"}])
    frame = read_frame(store, Product).set_index("id")
    assert frame.loc["P1", "name"] == "Bolt M8"
    assert frame.loc["P2", "name"] == "Nut"
    assert len(frame) == 2
    assert frame["loaded_at"].notna().all()


def test_dataframe_upsert_with_composite_key_and_nan(store):
    rows = pd.DataFrame({"order_id": ["SO1", "SO1"], "line_no": ["10", "20"], "product_id": ["P1", "P2"],
                         "order_date": [date(2026, 1, 5), date(2026, 1, 6)], "quantity": [3.0, 4.5],
                         "net_value": [30.0, float("nan")], "rejected": [False, True]})
    upsert(store, OrderLine, rows)
    back = read_frame(store, OrderLine).sort_values("line_no").reset_index(drop=True)
    assert back["quantity"].tolist() == [3.0, 4.5]
    assert back["net_value"].isna().tolist() == [False, True]
    assert [bool(x) for x in back["rejected"]] == [False, True]
    assert pd.to_datetime(back["order_date"]).dt.date.tolist() == [date(2026, 1, 5), date(2026, 1, 6)]


def test_bulk_upsert_ten_thousand_rows(store):
    rows = [{"product_id": f"P{i}", "location_id": "DC1", "lead_time_days": i % 30} for i in range(10_000)]
    assert upsert(store, ProductLocation, rows) == 10_000
    upsert(store, ProductLocation, [{"product_id": "P7", "location_id": "DC1", "lead_time_days": 99}])
    frame = read_frame(store, ProductLocation)
    assert len(frame) == 10_000
    assert frame.set_index("product_id").loc["P7", "lead_time_days"] == 99


def test_crosswalk_keeps_source_keys_exactly(store):
    upsert(store, Crosswalk, [{"system": "sap", "entity": "customer", "source_key": "0000100234",
                               "canonical_id": "C100234", "rule": "exact"}])
    assert read_frame(store, Crosswalk)["source_key"].tolist() == ["0000100234"]


def _assert_upgrade_idempotent(db):
    before, after = upgrade(db)
    assert before is None and after == head_revision()
    tables = set(inspect(db).get_table_names())
    assert {"product", "order_line", "planned_change", "recon_exception", "sync_state"} <= tables
    assert upgrade(db) == (head_revision(), head_revision())
    assert current_revision(db) == head_revision()
    assert set(inspect(db).get_table_names()) == tables


def test_db_upgrade_on_empty_sqlite_is_idempotent(sqlite_db):
    _assert_upgrade_idempotent(sqlite_db)


def test_db_upgrade_on_empty_postgres_is_idempotent(pg_db):
    _assert_upgrade_idempotent(pg_db)


test_db_upgrade_on_empty_postgres_is_idempotent = __import__("pytest").mark.postgres(
    test_db_upgrade_on_empty_postgres_is_idempotent)


def test_migrations_match_the_model(sqlite_db):
    """A new column in core/model.py without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    upgrade(sqlite_db)
    with sqlite_db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_current_code_columns_hold_business_values(store):
    """Code lists read SAP codes back as business values (STR -> 'unprofitable'): PostgreSQL enforces widths."""
    from core.model import CustomerSalesArea

    upsert(store, CustomerSalesArea, [{"customer_id": "C1", "sales_org": "1010", "distribution_channel": "10",
                                        "division": "00", "current_customer_group_1": "unprofitable",
                                        "current_shipping_condition": "STANDARD"}])
    frame = read_frame(store, CustomerSalesArea)
    assert frame["current_customer_group_1"].tolist() == ["unprofitable"]


def test_a_fresh_sqlite_file_is_switched_to_wal_before_the_engine_connects(tmp_path):
    """The WAL switch writes the header; made under the file lock at open, not by racing first connections."""
    from core.store import open_store, sqlite_lock_path

    path = tmp_path / "fresh.db"
    db = open_store(f"sqlite:///{path}")
    assert db.pool.checkedin() == 0  # no connection of the engine yet
    header = path.read_bytes()[:20]
    assert header[:16] == b"SQLite format 3\x00"
    assert header[18:20] == b"\x02\x02"  # file format read/write version 2: WAL
    assert sqlite_lock_path(path).exists()
    db.dispose()


def test_dict_rows_with_nan_nat_and_numpy_values_store_nulls_and_plain_numbers(store):
    import numpy as np

    rows = [{"product_id": "P1", "location_id": "DC1", "lead_time_days": float("nan"), "moq": np.float64(2.5)},
            {"product_id": "P2", "location_id": "DC1", "lead_time_days": 4.0, "moq": None},
            {"product_id": "P3", "location_id": "DC1", "lead_time_days": np.int64(6), "moq": pd.NaT}]
    upsert(store, ProductLocation, rows)
    back = read_frame(store, ProductLocation).set_index("product_id").sort_index()
    assert back["lead_time_days"].isna().tolist() == [True, False, False]
    assert back.loc["P3", "lead_time_days"] == 6 and back.loc["P1", "moq"] == 2.5
    assert back["moq"].isna().tolist() == [False, True, True]


def _stored(engine, table) -> list[tuple]:
    """Rows as SQLite holds them (raw values and their storage classes), in key order."""
    with engine.connect() as conn:
        cols = ", ".join(f"{c.name}, typeof({c.name})" for c in table.columns if c.name != "loaded_at")
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM {table.name} ORDER BY 1, 2, 3")]


def test_sqlite_upserts_store_exactly_what_a_plain_insert_stores(tmp_path):
    """The rows go as one JSON text per chunk (core.store._sqlite_json_upsert): every value must come back
    as SQLAlchemy's own insert stores it: texts with quotes and emoji, floats to the last bit, flags,
    dates and datetimes, nulls, NaN (null) and infinity, a text holding NUL."""
    from datetime import UTC, datetime

    from sqlalchemy import event

    from core.store import create_all, open_store

    rows = [{"order_id": f"O{i}", "line_no": str(i), "product_id": 'P"1\\ü 😀', "location_id": "L1",
             "customer_id": None if i % 2 else "C'1", "order_date": date(2024, 1, 1 + i), "quantity": q,
             "net_value": 1 / 3 if i else None, "rejected": bool(i % 2), "changed_at": datetime(2024, 5, 1, 10, i, 7, 123456, tzinfo=UTC)}
            for i, q in enumerate([0.1, 1e-320, 12345678901234.567, 3.0, 2.5e300])]
    odd = [dict(rows[0], order_id="N1", net_value=float("nan")), dict(rows[0], order_id="N2", quantity=float("inf")),
           dict(rows[0], order_id="N3", product_id="a\x00b")]
    table = OrderLine.__table__
    ours, plain = (open_store(f"sqlite:///{tmp_path}/{n}.db") for n in ("ours", "plain"))
    for db in (ours, plain):
        create_all(db)
    statements = []
    event.listen(ours, "before_cursor_execute", lambda *a: statements.append(a[2]))
    upsert(ours, OrderLine, rows)
    assert len(statements) == 1 and "json_each" in statements[0]  # one statement for the chunk
    upsert(ours, OrderLine, odd)  # no JSON form SQLite would store alike: the rows are bound one by one
    with plain.begin() as conn:
        conn.execute(table.insert(), [dict(r, loaded_at=datetime(2024, 1, 1, tzinfo=UTC)) for r in rows + odd])
    assert _stored(ours, table) == _stored(plain, table)
    assert any("a\x00b" in r for r in _stored(ours, table))  # the NUL text whole, not cut


def test_a_key_met_twice_in_one_sqlite_upsert_keeps_its_last_row(store):
    upsert(store, Product, [{"id": "P1", "name": "old"}, {"id": "P2", "name": "two"}, {"id": "P1", "name": "new"}])
    assert read_frame(store, Product).set_index("id")["name"].to_dict() == {"P1": "new", "P2": "two"}


def test_row_by_key_finds_the_row_or_raises_the_callers_error(store):
    from basics.errors import ConfigError
    from core.store import row_by_key

    upsert(store, Product, [{"id": "P1", "name": "Bolt"}])
    assert row_by_key(store, Product.__table__, "P1", ConfigError("unused")).name == "Bolt"
    with store.connect() as conn:  # on the caller's connection too
        assert row_by_key(conn, Product.__table__, "P1", ConfigError("unused")).id == "P1"
    with pytest.raises(ConfigError, match="no product 'P9'") as err:
        row_by_key(store, Product.__table__, "P9", ConfigError("no product 'P9'", hint="see `segbridge products`"))
    assert err.value.hint == "see `segbridge products`"
