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
