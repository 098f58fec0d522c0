"""Counts per run and entity, the suspect threshold, and the audited release (SQLite via core.store)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from basics.errors import ConfigError, SegbridgeError
from core.mapping import Conversions, load_mapping
from core.mapping.ingest import load_batch
from core.model import AuditEvent, EntityCount, OrderLine, Quarantine, Run
from core.paths import shipped_mapping
from core.quality import finish_run_quality, is_blocked, release_run

pytestmark = pytest.mark.unit


@pytest.fixture
def db(sqlite_db):
    """A SQLite store with the schema created."""
    from core.store import create_all

    create_all(sqlite_db)
    return sqlite_db

CONV = Conversions.from_product_units([
    {"Product": "TG11", "AlternativeUnit": "EA", "QuantityNumerator": "1", "QuantityDenominator": "1"}])


def item(order, qty="5.000", unit="EA", day="/Date(1709251200000)/", line="10"):
    return {"SalesOrder": order, "SalesOrderItem": line, "Material": "TG11", "RequestedQuantity": qty,
            "RequestedQuantityUnit": unit, "NetAmount": "50.00", "TransactionCurrency": "EUR",
            "to_SalesOrder": {"SoldToParty": "0017100001", "SalesOrderDate": day, "SalesOrganization": "1710"}}


@pytest.fixture
def mapping():
    return load_mapping(shipped_mapping("sap_s4.yaml")).entities["sales_order_item"]


def new_run(db, parent=None) -> int:
    with db.begin() as conn:
        return conn.execute(Run.__table__.insert().values(kind="pull", parent_run_id=parent)).inserted_primary_key[0]


def test_defects_are_counted_and_block_write_back_until_released(db, mapping):
    run = new_run(db)
    good = [item(str(1000 + i)) for i in range(95)]
    bad = [item("9001", qty="x"), item("9002", qty="-1"), item("9003", unit="PAL"), item("9004", day=None),
           item(None)]
    with db.begin() as conn:
        counts = load_batch(conn, "sap_s4", mapping, good[:50], run, CONV)
        counts += load_batch(conn, "sap_s4", mapping, good[50:] + bad, run, CONV, source_count=100)
    assert (counts.read, counts.loaded, counts.quarantined) == (100, 95, 5)
    report = finish_run_quality(db, run)
    assert [(q.entity, q.read, q.quarantined, q.share, q.breached) for q in report] == [
        ("sales_order_item", 100, 5, 0.05, True)]
    with db.connect() as conn:
        ec = conn.execute(select(EntityCount.__table__)).one()
        reasons = sorted(r.reason_code for r in conn.execute(select(Quarantine.__table__)))
        loaded = conn.execute(select(OrderLine.__table__)).fetchall()
        row = conn.execute(select(Run.__table__).where(Run.__table__.c.id == run)).one()
    assert (ec.source_count, ec.read, ec.loaded, ec.quarantined) == (100, 100, 95, 5)
    assert reasons == ["bad_type", "missing_key", "missing_required", "negative", "no_conversion"]
    assert len(loaded) == 95 and {r.source_system for r in loaded} == {"sap_s4"}
    assert row.suspect is True and "5/100 quarantined (5.0% > 2.0%)" in row.message

    derived = new_run(db, parent=run)
    assert is_blocked(db, run) and is_blocked(db, derived)
    with pytest.raises(ConfigError):
        release_run(db, run, "anna", " ")
    release_run(db, run, "anna", "PAL unit is a known test material; data checked")
    assert not is_blocked(db, run) and not is_blocked(db, derived)
    with db.connect() as conn:
        audit = conn.execute(select(AuditEvent.__table__).where(AuditEvent.__table__.c.action == "release")).one()
    assert (audit.actor, audit.entity_key, audit.reason) == ("anna", str(run),
                                                              "PAL unit is a known test material; data checked")
    assert json.loads(audit.after) == {"suspect": True, "released_by": "anna"}
    with pytest.raises(SegbridgeError, match="already released"):
        release_run(db, run, "bob", "again")


def test_under_threshold_is_not_suspect(db, mapping):
    run = new_run(db)
    with db.begin() as conn:
        load_batch(conn, "sap_s4", mapping, [item(str(i)) for i in range(99)] + [item("x", qty="-3")], run, CONV)
    report = finish_run_quality(db, run, {"sales_order_item": 0.05})
    assert report[0].share == 0.01 and report[0].threshold == 0.05 and not report[0].breached
    assert not is_blocked(db, run)
    with pytest.raises(SegbridgeError, match="not suspect"):
        release_run(db, run, "anna", "nothing to release")


def test_batch_rolls_back_with_the_callers_transaction(db, mapping):
    run = new_run(db)
    with pytest.raises(RuntimeError), db.begin() as conn:
        load_batch(conn, "sap_s4", mapping, [item("1"), item("2", qty="bad")], run, CONV)
        raise RuntimeError("connector failed before saving its watermark")
    with db.connect() as conn:
        assert conn.execute(select(OrderLine.__table__)).fetchall() == []
        assert conn.execute(select(Quarantine.__table__)).fetchall() == []
        assert conn.execute(select(EntityCount.__table__)).fetchall() == []
