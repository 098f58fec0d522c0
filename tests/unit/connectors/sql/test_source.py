"""sql source on a small SQLite table: keyset paging, increments, validation, read-only by default."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from basics.errors import ConfigError, SegbridgeError
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import FatalError
from connectors.sql.source import SqlSource

pytestmark = pytest.mark.unit


@pytest.fixture
def db(tmp_path):
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, changed TEXT)"))
        conn.execute(sa.text("INSERT INTO items VALUES (:i, :c, :t)"),
                     [{"i": i, "c": f"X{i}", "t": f"2024-01-0{1 + i % 3}"} for i in range(1, 11)])
    yield eng
    eng.dispose()


def source(db, **extra) -> SqlSource:
    return SqlSource({"url": "sqlite://", "page_size": 4,
                      "tables": {"items": {"key": ["id"], "cursor": "changed"}}, **extra}, db=db)


def test_keyset_pages_in_cursor_then_key_order(db):
    batches = list(source(db).read(StreamSpec("items"), None))
    assert [[r["id"] for r in b.records] for b in batches] == [[3, 6, 9, 1], [4, 7, 10, 2], [5, 8]]
    assert batches[0].checkpoint == {"version": 1, "high": "2024-01-02T00:00:00Z", "position": ["2024-01-02", 1]}
    assert batches[-1].checkpoint == {"version": 1, "since": "2024-01-03T00:00:00Z"}


def test_a_legacy_after_checkpoint_resumes_after_it_including_ties(db):
    rows = [r["id"] for b in source(db).read(StreamSpec("items"), {"after": ["2024-01-02", 4]}) for r in b.records]
    assert rows == [7, 10, 2, 5, 8]


def test_an_increment_reads_from_the_mark_minus_the_overlap_so_a_late_commit_is_read(db):
    """A row committed late with the high-water mark's timestamp (and a lower key) is read next time."""
    done = list(source(db).read(StreamSpec("items"), None))[-1].checkpoint
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE items SET changed = '2024-01-03' WHERE id = 1"))
    rows = [r["id"] for b in source(db, overlap_seconds=0).read(StreamSpec("items"), done) for r in b.records]
    assert rows == [1, 2, 5, 8]  # >= the mark: ties re-read, the late one found
    wide = [r["id"] for b in source(db).read(StreamSpec("items"), done) for r in b.records]
    assert wide == [1, 2, 5, 8]  # 300 s before a date-only mark is the same day's rows
    assert [r["id"] for b in source(db, overlap_seconds=86400).read(StreamSpec("items"), done)
            for r in b.records] == [4, 7, 10, 1, 2, 5, 8]


def test_a_future_or_foreign_state_is_refused_with_what_to_do(db):
    with pytest.raises(FatalError, match="in the future") as caught:
        list(source(db).read(StreamSpec("items"), {"since": "2999-01-01T00:00:00Z"}))
    assert "pull --full" in str(caught.value)


def test_a_numeric_cursor_is_a_mark_read_with_greater_or_equal(tmp_path):
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'scn.db'}")
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, scn INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:i, :s)"), [{"i": i, "s": 100 + i} for i in range(1, 6)])
    src = SqlSource({"url": "sqlite://", "page_size": 2, "tables": {"t": {"key": ["id"], "cursor": "scn"}}}, db=eng)
    done = list(src.read(StreamSpec("t"), None))[-1].checkpoint
    assert done == {"version": 1, "extra": {"mark": 105}}
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE t SET scn = 105 WHERE id = 1"))
    assert [r["id"] for b in src.read(StreamSpec("t"), done) for r in b.records] == [1, 5]
    eng.dispose()


def test_hostile_names_are_rejected_before_any_sql(db):
    bad = SqlSource({"url": "sqlite://", "tables": {"items; DROP TABLE items": {"key": ["id"]}}}, db=db)
    with pytest.raises(FatalError, match="not found"):
        list(bad.read(StreamSpec("items; DROP TABLE items"), None))
    bad_col = SqlSource({"url": "sqlite://", "tables": {"items": {"key": ["id) OR 1=1 --"]}}}, db=db)
    with pytest.raises(FatalError, match="no column"):
        list(bad_col.read(StreamSpec("items"), None))


def test_writes_refused_unless_writable(db):
    item = WriteItem("r", "items", {"id": 1}, {"code": "Y1"})
    [refused] = source(db).write(WriteBatch([item]))
    assert (refused.status, refused.message) == ("rejected", "sql source is read-only (set writable: true to allow "
                                                             "updates)")
    [done] = source(db, writable=True).write(WriteBatch([item]))
    assert done.status == "applied"
    assert source(db).read_back("items", [{"id": 1}])[0]["code"] == "Y1"


def test_literal_password_refused():
    with pytest.raises(ValueError, match="ENV_VAR"):
        SqlSource({"url": "postgresql://erp@db/erp", "password": "hunter2"})


@pytest.fixture
def lines(db):
    with db.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hdr (id INTEGER PRIMARY KEY, cust TEXT, day TEXT)"))
        conn.execute(sa.text('CREATE TABLE "line items" (hdr_id INTEGER, pos INTEGER, qty INTEGER, '
                             "PRIMARY KEY (hdr_id, pos))"))
        conn.execute(sa.text("INSERT INTO hdr VALUES (:i, :c, :d)"), [{"i": i, "c": f"C{i}", "d": f"2024-02-0{i}"}
                                                                      for i in (1, 2)])
        conn.execute(sa.text('INSERT INTO "line items" VALUES (:h, :p, :q)'),
                     [{"h": h, "p": p, "q": h * 10 + p} for h in (1, 2, 3) for p in (1, 2)])
    return SqlSource({"url": "sqlite://", "page_size": 4, "tables": {
        "line items": {"key": ["hdr_id", "pos"]}, "hdr": {"key": ["id"]}}}, db=db)


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
    assert batches[0].checkpoint == {"version": 1, "position": [2, 2]}
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
    with pytest.raises(SegbridgeError, match=message):
        list(lines.read(StreamSpec("line items", options={"join": join}), None))


def test_configured_query_text_and_unknown_options_are_refused(lines):
    with pytest.raises(ConfigError, match="`query` is not supported .*create a view"):
        list(lines.read(StreamSpec("line items", options={"query": "SELECT * FROM hdr"}), None))
    with pytest.raises(ConfigError, match="option jion"):
        list(lines.read(StreamSpec("line items", options={"jion": {}}), None))


@pytest.fixture(params=["sqlite", "postgresql"])
def orders_db(request, tmp_path):
    """Order headers with a change timestamp and their lines (whose own timestamp a header edit leaves)."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    else:
        eng = request.getfixturevalue("pg_db")
    meta = sa.MetaData()
    hdr = sa.Table("hdr", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("cust", sa.String(8)),
                   sa.Column("changed", sa.DateTime))
    lines = sa.Table("lines", meta, sa.Column("hdr_id", sa.Integer, primary_key=True),
                     sa.Column("pos", sa.Integer, primary_key=True), sa.Column("qty", sa.Integer),
                     sa.Column("changed", sa.DateTime))
    meta.create_all(eng)
    with eng.begin() as conn:
        conn.execute(hdr.insert(), [{"id": i, "cust": f"C{i}", "changed": datetime(2024, 1, i)} for i in (1, 2, 3)])
        conn.execute(lines.insert(), [{"hdr_id": h, "pos": p, "qty": h * 10 + p, "changed": datetime(2024, 1, h)}
                                      for h in (1, 2, 3) for p in (1, 2)])
    yield eng, hdr
    if request.param == "sqlite":
        eng.dispose()


ORDERS_JOIN = {"table": "hdr", "by": {"hdr_id": "id"}, "fields": ["cust"]}


def orders_source(eng, page_size: int) -> SqlSource:
    return SqlSource({"url": "sqlite://", "page_size": page_size, "tables": {
        "lines": {"key": ["hdr_id", "pos"], "cursor": "changed"}, "hdr": {"key": ["id"], "cursor": "changed"}}},
        db=eng)


def read_all(src, state):
    batches = list(src.read(StreamSpec("lines", options={"join": ORDERS_JOIN}), state))
    records = [(r["hdr_id"], r["pos"], r["cust"]) for b in batches for r in b.records]
    return records, batches[-1].checkpoint if batches else state


def test_a_header_only_change_rereads_that_headers_lines(orders_db):
    eng, hdr = orders_db
    src = orders_source(eng, page_size=2)
    first, state = read_all(src, None)
    assert first == [(h, p, f"C{h}") for h in (1, 2, 3) for p in (1, 2)]  # each line once
    at_mark = [(3, 1, "C3"), (3, 2, "C3")]  # lines changed at the high-water mark are read again (>=)
    assert read_all(src, state)[0] == at_mark
    with eng.begin() as conn:  # the header changes, its lines do not
        conn.execute(hdr.update().where(hdr.c.id == 1).values(cust="NEW", changed=datetime(2024, 2, 1)))
    changed, state = read_all(src, state)
    assert changed == [*at_mark, (1, 1, "NEW"), (1, 2, "NEW")]
    assert read_all(src, state)[0] == at_mark


def test_an_interrupted_header_pass_resumes_where_it_stopped(orders_db):
    eng, hdr = orders_db
    src = orders_source(eng, page_size=1)
    _, state = read_all(src, None)
    with eng.begin() as conn:
        conn.execute(hdr.update().where(hdr.c.id.in_([1, 3])).values(cust="X", changed=datetime(2024, 2, 1)))
    reader = src.read(StreamSpec("lines", options={"join": ORDERS_JOIN}), state)
    batches = [next(reader) for _ in range(3)]  # the lines at the mark, one line of header 1, then the pull stops
    assert [(r["hdr_id"], r["pos"]) for b in batches for r in b.records] == [(3, 1), (3, 2), (1, 1)]
    rest, _ = read_all(src, batches[-1].checkpoint)
    assert rest == [(1, 2, "X"), (3, 1, "X"), (3, 2, "X")]
