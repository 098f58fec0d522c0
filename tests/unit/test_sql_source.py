"""sql source on a small SQLite table: keyset paging, increments, validation, read-only by default."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.errors import FatalError
from connectors.sql.source import SqlSource

pytestmark = pytest.mark.unit


@pytest.fixture
def engine(tmp_path):
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, changed TEXT)"))
        conn.execute(sa.text("INSERT INTO items VALUES (:i, :c, :t)"),
                     [{"i": i, "c": f"X{i}", "t": f"2024-01-0{1 + i % 3}"} for i in range(1, 11)])
    yield eng
    eng.dispose()


def source(engine, **extra) -> SqlSource:
    return SqlSource({"url": "sqlite://", "page_size": 4,
                      "tables": {"items": {"key": ["id"], "cursor": "changed"}}, **extra}, engine=engine)


def test_keyset_pages_in_cursor_then_key_order(engine):
    batches = list(source(engine).read(StreamSpec("items"), None))
    assert [[r["id"] for r in b.records] for b in batches] == [[3, 6, 9, 1], [4, 7, 10, 2], [5, 8]]
    assert batches[0].checkpoint == {"after": ["2024-01-02", 1]}


def test_increment_resumes_after_checkpoint_including_ties(engine):
    rows = [r["id"] for b in source(engine).read(StreamSpec("items"), {"after": ["2024-01-02", 4]}) for r in b.records]
    assert rows == [7, 10, 2, 5, 8]


def test_hostile_names_are_rejected_before_any_sql(engine):
    bad = SqlSource({"url": "sqlite://", "tables": {"items; DROP TABLE items": {"key": ["id"]}}}, engine=engine)
    with pytest.raises(FatalError, match="not found"):
        list(bad.read(StreamSpec("items; DROP TABLE items"), None))
    bad_col = SqlSource({"url": "sqlite://", "tables": {"items": {"key": ["id) OR 1=1 --"]}}}, engine=engine)
    with pytest.raises(FatalError, match="no column"):
        list(bad_col.read(StreamSpec("items"), None))


def test_writes_refused_unless_writable(engine):
    item = WriteItem("r", "items", {"id": 1}, {"code": "Y1"})
    [refused] = source(engine).write(WriteBatch([item]))
    assert (refused.status, refused.message) == ("rejected", "sql source is read-only (set writable: true to allow "
                                                             "updates)")
    [done] = source(engine, writable=True).write(WriteBatch([item]))
    assert done.status == "applied"
    assert source(engine).read_back("items", [{"id": 1}])[0]["code"] == "Y1"


def test_literal_password_refused():
    with pytest.raises(ValueError, match="ENV_VAR"):
        SqlSource({"url": "postgresql://erp@db/erp", "password": "hunter2"})


@pytest.fixture
def lines(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hdr (id INTEGER PRIMARY KEY, cust TEXT, day TEXT)"))
        conn.execute(sa.text('CREATE TABLE "line items" (hdr_id INTEGER, pos INTEGER, qty INTEGER, '
                             "PRIMARY KEY (hdr_id, pos))"))
        conn.execute(sa.text("INSERT INTO hdr VALUES (:i, :c, :d)"), [{"i": i, "c": f"C{i}", "d": f"2024-02-0{i}"}
                                                                      for i in (1, 2)])
        conn.execute(sa.text('INSERT INTO "line items" VALUES (:h, :p, :q)'),
                     [{"h": h, "p": p, "q": h * 10 + p} for h in (1, 2, 3) for p in (1, 2)])
    return SqlSource({"url": "sqlite://", "page_size": 4, "tables": {
        "line items": {"key": ["hdr_id", "pos"]}, "hdr": {"key": ["id"]}}}, engine=engine)


def test_join_adds_header_fields_and_keeps_keyset_pages(lines):
    join = {"table": "hdr", "by": {"hdr_id": "id"}, "fields": ["cust", "day"]}
    batches = list(lines.read(StreamSpec("line items", options={"join": join}), None))
    assert [b.records for b in batches] == [
        [{"hdr_id": 1, "pos": 1, "qty": 11, "cust": "C1", "day": "2024-02-01"},
         {"hdr_id": 1, "pos": 2, "qty": 12, "cust": "C1", "day": "2024-02-01"},
         {"hdr_id": 2, "pos": 1, "qty": 21, "cust": "C2", "day": "2024-02-02"},
         {"hdr_id": 2, "pos": 2, "qty": 22, "cust": "C2", "day": "2024-02-02"}],
        # lines without a header stay (LEFT OUTER JOIN): the mapping quarantines them, nothing is dropped
        [{"hdr_id": 3, "pos": 1, "qty": 31, "cust": None, "day": None},
         {"hdr_id": 3, "pos": 2, "qty": 32, "cust": None, "day": None}]]
    assert batches[0].checkpoint == {"after": [2, 2]}
    again = list(lines.read(StreamSpec("line items", options={"join": join}), batches[0].checkpoint))
    assert [r["qty"] for b in again for r in b.records] == [31, 32]


@pytest.mark.parametrize(("join", "message"), [
    ({"table": "hdr; DROP TABLE hdr", "by": {"hdr_id": "id"}, "fields": ["cust"]}, "no table 'hdr; DROP TABLE hdr'"),
    ({"table": "hdr", "by": {"hdr_id": "id) OR (1=1"}, "fields": ["cust"]}, r"no column\(s\) hdr.id\) OR \(1=1"),
    ({"table": "hdr", "by": {"hdr_id": "id"}, "fields": ["cust || 'x'"]}, r"no column\(s\) hdr.cust \|\| 'x'"),
    ({"table": "hdr", "by": {"hdr_id": "cust"}, "fields": ["day"]}, r"`by` must cover hdr's key \['id'\]"),
    ({"table": "hdr", "by": {"hdr_id": "id"}, "fields": ["id", "qty"]}, r"no column\(s\) hdr.qty"),
    ({"table": "hdr", True: {"hdr_id": "id"}, "fields": ["cust"]}, "YAML reads as true; write `by:`"),
])
def test_join_names_are_checked_against_reflection_before_any_sql(lines, join, message):
    with pytest.raises(FatalError, match=message):
        list(lines.read(StreamSpec("line items", options={"join": join}), None))


def test_configured_query_text_is_refused(lines):
    with pytest.raises(FatalError, match="option `query` is not supported"):
        list(lines.read(StreamSpec("line items", options={"query": "SELECT * FROM hdr"}), None))
