"""core.quarantine: reading quarantined records with filters, counts per reason, examples, export."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from core.mapping import load_mapping
from core.mapping.ingest import load_batch
from core.paths import shipped_mapping
from core.quarantine import Filters, export, get_record, list_records, reason_counts, top_reasons, where
from core.store import upsert

pytestmark = pytest.mark.unit


def _q(id_, run, system, entity, key, code, record, reason="why"):
    return {"id": id_, "run_id": run, "system": system, "entity": entity, "source_key": key,
            "reason_code": code, "reason": reason, "record": json.dumps(record)}


@pytest.fixture
def filled(store):
    from core.model import Quarantine

    upsert(store, Quarantine, [
        _q(1, 1, "erp", "products", "P1", "bad_type", {"id": "P1", "__file": "products.csv", "__row": 2}),
        _q(2, 1, "erp", "products", "P2", "bad_type", {"id": "P2", "__file": "products.csv", "__row": 3}),
        _q(3, 1, "erp", "products", None, "missing_key", {"name": "x"}),
        _q(4, 2, "erp", "order_lines", "O1|1", "negative", {"order_id": "O1"}),
        _q(5, 2, "sap", "products", "=cmd|' /C calc'!A0", "bad_type", {"id": "=cmd|' /C calc'!A0"}, reason="=HYPERLINK(1)")])
    return store


def test_where_names_file_and_row_when_the_record_carries_them_else_system_entity_key():
    assert where({"__file": "a.csv", "__row": 7}, "erp", "products", "P1") == "a.csv row 7"
    assert where({"__file": "a.csv"}, "erp", "products", "P1") == "a.csv"
    assert where({"id": "P1"}, "erp", "products", "P1") == "erp products key P1"
    assert where({"name": "x", "n": None}, "erp", "products", None) == 'erp products record {"name": "x"}'


def test_filters_narrow_and_newest_come_first(filled):
    assert [r["id"] for r in list_records(filled)] == [5, 4, 3, 2, 1]
    assert [r["id"] for r in list_records(filled, Filters(system="erp", entity="products"))] == [3, 2, 1]
    assert [r["id"] for r in list_records(filled, Filters(reason="bad_type"))] == [5, 2, 1]
    assert [r["id"] for r in list_records(filled, Filters(run_id=2))] == [5, 4]
    assert [r["id"] for r in list_records(filled, limit=2)] == [5, 4]
    assert list_records(filled, Filters(system="nosuch")) == []


def test_counts_per_reason_largest_first(filled):
    got = [(c.system, c.entity, c.reason_code, c.count) for c in reason_counts(filled)]
    assert got[0] == ("erp", "products", "bad_type", 2)
    assert sorted(got[1:]) == [("erp", "order_lines", "negative", 1), ("erp", "products", "missing_key", 1),
                               ("sap", "products", "bad_type", 1)]


def test_top_reasons_carry_examples_in_file_order(filled):
    [first, *_] = top_reasons(filled, Filters(run_id=1), top=3, examples=3)
    assert (first.reason_code, first.count) == ("bad_type", 2)
    assert [e["where"] for e in first.examples] == ["products.csv row 2", "products.csv row 3"]
    assert len(top_reasons(filled, Filters(), top=1)) == 1


def test_get_record_returns_the_raw_record_or_names_the_missing_id(filled):
    r = get_record(filled, 1)
    assert r["record"] == {"id": "P1", "__file": "products.csv", "__row": 2} and r["row"] == 2
    from basics.errors import SegbridgeError

    with pytest.raises(SegbridgeError, match="quarantined record 99 not found"):
        get_record(filled, 99)


def test_export_neutralises_formula_cells_and_is_private(filled, tmp_path):
    path = tmp_path / "q.csv"
    assert export(filled, path, Filters(system="sap")) == (1, "csv")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with path.open(encoding="utf-8", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["source_key"] == "'=cmd|' /C calc'!A0" and row["reason"] == "'=HYPERLINK(1)"
    assert json.loads(row["record"]) == {"id": "=cmd|' /C calc'!A0"}  # the JSON text starts with {: inert


def test_a_source_position_in_the_raw_record_does_not_disturb_the_mapping(store):
    """The optional `__file`/`__row` keys ride along: the good row loads, the bad one is found by file and row."""
    em = load_mapping(shipped_mapping("canonical_csv.yaml")).entities["products"]
    records = [{"id": "P1", "name": "Bolt", "__file": "products.csv", "__row": 2},
               {"id": None, "name": "Nut", "__file": "products.csv", "__row": 3}]
    with store.begin() as conn:
        counts = load_batch(conn, "erp", em, records, run_id=7)
    assert (counts.loaded, counts.quarantined) == (1, 1)
    [rc] = top_reasons(store, Filters(run_id=7))
    assert [e["where"] for e in rc.examples] == ["products.csv row 3"]


def test_released_records_leave_the_quarantine_whole_into_the_audit_log(store):
    import json as _json

    from sqlalchemy import select as _select

    from basics.errors import ConfigError as _ConfigError
    from core.model import AuditEvent, Quarantine
    from core.quarantine import list_records, release_records
    from core.store import upsert as _upsert

    _upsert(store, Quarantine, [{"id": i, "system": "sap", "entity": "product", "source_key": f"K{i}",
                                 "reason_code": "bad_type", "reason": "x", "record": _json.dumps({"k": i})}
                                for i in (1, 2)])
    with pytest.raises(_ConfigError, match="needs a reason"):
        release_records(store, [1], "stu", " ")
    with pytest.raises(Exception, match="3 not found"):
        release_records(store, [1, 3], "stu", "fixed at source")
    assert release_records(store, [1], "stu", "fixed at source") == 1
    assert [r["id"] for r in list_records(store)] == [2]
    with store.connect() as conn:
        event = conn.execute(_select(AuditEvent.__table__)).one()
    assert (event.actor, event.action, event.reason) == ("stu", "quarantine_released", "fixed at source")
    assert _json.loads(_json.loads(event.before)["record"]) == {"k": 1}
