"""core.migrate: concurrent upgrades of one fresh store are serialised; the SQLite file is private.

Several separate processes (spawned, so nothing is shared but the database) start the migration
on the same fresh store at the same moment, released together by a barrier. Without the lock the
later ones fail with `table ... already exists`; with it they wait, find the schema current and
do nothing.
"""

from __future__ import annotations

import multiprocessing
import stat
from datetime import date

import pytest
from alembic import command
from sqlalchemy import inspect

from core.migrate import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    sqlite_lock_path,
    upgrade,
)
from core.model import ShipmentLine
from core.store import open_store, read_frame, upsert
from tests.conftest import drop_pg_schema, pg_schema_url

PROCESSES = 4
ROUNDS = 5


def _migrate(url: str, connect_args: dict, use_upgrade: bool, barrier, results) -> None:
    """One process: wait for the others, then migrate; report "ok" or the error."""
    try:
        barrier.wait(timeout=60)
        db = open_store(url, connect_args=connect_args) if connect_args else open_store(url)
        (upgrade if use_upgrade else ensure_schema)(db)
        db.dispose()
        results.put("ok")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}"[:500])


def _race(url: str, connect_args: dict | None = None) -> list[str]:
    """PROCESSES processes migrate `url` at once (half by `upgrade`, half by `ensure_schema`)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [ctx.Process(target=_migrate, args=(url, connect_args or {}, n % 2 == 0, barrier, results))
             for n in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def _assert_at_head(db) -> None:
    assert current_revision(db) == head_revision()
    assert {"audit_event", "order_line", "product"} <= set(inspect(db).get_table_names())


@pytest.mark.parametrize("attempt", range(ROUNDS))
def test_concurrent_migrations_of_a_fresh_sqlite_store_all_succeed(tmp_path, attempt):
    path = tmp_path / f"fresh{attempt}" / "store.db"
    url = f"sqlite:///{path}"
    assert _race(url) == ["ok"] * PROCESSES
    db = open_store(url)
    _assert_at_head(db)
    db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(ROUNDS))
def test_concurrent_migrations_of_a_fresh_postgres_schema_all_succeed(attempt):
    schema, url = pg_schema_url()
    args = {"options": f"-csearch_path={schema}"}
    try:
        assert _race(url, args) == ["ok"] * PROCESSES
        db = open_store(url, connect_args=args)
        _assert_at_head(db)
        db.dispose()
    finally:
        drop_pg_schema(schema)


def test_the_sqlite_store_and_the_folder_it_creates_are_private(tmp_path):
    path = tmp_path / "new_folder" / "segbridge.db"
    db = open_store(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lock = sqlite_lock_path(db)
    assert lock == path.with_name("segbridge.db.migrate-lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path):
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    open_store(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_in_memory_sqlite_needs_no_lock_and_migrates():
    db = open_store("sqlite://")
    assert sqlite_lock_path(db) is None
    ensure_schema(db)
    ensure_schema(db)
    assert current_revision(db) == head_revision()


# ------------------------------------------------------------------ 0008: shipment_line


def _downgrade(db, revision: str) -> None:
    with db.connect() as conn, conn.begin():
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _assert_0008_round_trip(db) -> None:
    """0007 has no shipment_line; 0008 adds it (keyed by shipment and line) and takes it away again."""
    assert upgrade(db, "0007")[1] == "0007"
    assert "shipment_line" not in inspect(db).get_table_names()
    assert upgrade(db) == ("0007", "0008")
    assert inspect(db).get_pk_constraint("shipment_line")["constrained_columns"] == ["shipment_id", "line_no"]
    upsert(db, ShipmentLine, [{"shipment_id": "D1", "line_no": "1", "order_id": "SO1", "order_line_no": "10",
                               "quantity": 4.0, "ship_date": date(2026, 1, 5)},
                              {"shipment_id": "D2", "line_no": "1", "order_id": "SO1", "order_line_no": "10",
                               "quantity": 6.0, "delivery_date": date(2026, 1, 9)}])
    frame = read_frame(db, ShipmentLine)
    assert sorted(frame["quantity"]) == [4.0, 6.0] and set(frame["order_line_no"]) == {"10"}
    _downgrade(db, "0007")
    assert current_revision(db) == "0007"
    assert "shipment_line" not in inspect(db).get_table_names() and "kpi_value" in inspect(db).get_table_names()
    assert upgrade(db)[1] == head_revision()


def test_0008_adds_and_removes_shipment_line_on_sqlite(sqlite_db):
    _assert_0008_round_trip(sqlite_db)


@pytest.mark.postgres
def test_0008_adds_and_removes_shipment_line_on_postgres(pg_db):
    _assert_0008_round_trip(pg_db)
