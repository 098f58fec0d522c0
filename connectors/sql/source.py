"""A SQLAlchemy source for ERP databases and read replicas (Oracle EBS tables, or any URL).

Keyset paging on (cursor, key): each page is `WHERE (cursor, key) > (:c, :k) ORDER BY cursor, key
LIMIT :n`, so a page costs the same at row 10 and row 10 million and rows inserted meanwhile are
neither skipped nor repeated. Incremental reads start after the saved (cursor, key). Table and
column names come from configuration and are checked against the database's reflected schema
before any SQL is built; values are always bound parameters. Read-only unless `writable: true`.

No configured text ever becomes SQL (a stream option `query` is refused). A line table is read
with its header through the stream option `join` (a mapping's `source.options`), built with
SQLAlchemy Core from reflected names only: a LEFT OUTER JOIN on the header's whole configured key
(so each line meets at most one header and keyset paging on the line's key stays exact; a line
without a header keeps null header fields, which the mapping then quarantines rather than drops):

    join: {table: Orders, by: {OrderID: OrderID}, fields: [OrderDate, CustomerID]}   # local: remote

(`by`, not `on`: YAML 1.1 reads a bare `on:` key as the boolean true.) When the header table has a
`cursor`, each read also re-reads the lines of headers changed since the last read: a header-only
change (a new customer on the order) does not touch its lines' own change column.

Example options:
    url: oracle+oracledb://apps@ebs-replica:1521/?service_name=EBSPRD
    password: ${EBS_DB_PASSWORD}
    tables:
      MTL_SYSTEM_ITEMS_B: {key: [INVENTORY_ITEM_ID, ORGANIZATION_ID], cursor: LAST_UPDATE_DATE}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import Field, field_validator
from sqlalchemy.engine import make_url

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.base import CheckResult, Connector, ItemOutcome, RecordBatch, StreamSpec, WriteBatch
from connectors.connector_errors import FatalError, RetriableError
from connectors.incremental import Checkpoint, IncrementalOptions, PageGuard


class SqlTable(StrictModel):
    key: list[str] = Field(min_length=1, description="Unique key columns (the keyset tie-breaker)")
    cursor: str | None = Field(None, description="Change column (e.g. LAST_UPDATE_DATE) for increments")
    columns: list[str] = Field(default_factory=list, description="Columns to read; empty = all")
    schema_: str | None = Field(None, alias="schema")


class SqlJoin(StrictModel):
    """A header table joined to the stream's table (stream option `join`)."""

    table: str = Field(description="Configured table (in `tables`) whose key the join covers")
    by: dict[str, str] | list[str] = Field(min_length=1, description="local column -> header column (or same names)")
    fields: list[str] = Field(min_length=1, description="Header columns to add to each record")

    @property
    def pairs(self) -> dict[str, str]:
        return dict(self.by) if isinstance(self.by, dict) else {c: c for c in self.by}


class SqlStreamOptions(StrictModel):
    """A mapping's `source.options` for a sql stream."""

    join: SqlJoin | None = Field(None, description="A header table joined to each line (LEFT OUTER JOIN on its key)")
    query: str | None = Field(None, description="Refused: no configured text becomes SQL; read a view instead")

    @field_validator("query")
    @classmethod
    def _no_sql_text(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError("`query` is not supported (no configured text becomes SQL): create a view with "
                             "that SELECT, configure it in `tables` and read it by name, adding a header with `join`")
        return None

    @field_validator("join", mode="before")
    @classmethod
    def _by_not_on(cls, value: Any) -> Any:
        if isinstance(value, dict) and True in value:
            raise ValueError("join has a key `on`, which YAML reads as true; write `by:`")
        return value


class SqlOptions(IncrementalOptions):
    url: str = Field(description="SQLAlchemy URL without the password")
    password: str | None = Field(None, description="${ENV_VAR} reference")
    tables: dict[str, SqlTable] = Field(default_factory=dict)
    page_size: int = Field(1000, ge=1, le=100_000)
    writable: bool = Field(False, description="Writes are refused unless this is true")
    connect_args: dict[str, Any] = Field(default_factory=dict)

    _v = field_validator("password")(lambda v, info: secrets.check_no_literal(v, "sql.password"))


class SqlSource(Connector):
    kind = "sql"
    Options = SqlOptions
    StreamOptions = SqlStreamOptions
    description = "Any SQLAlchemy database: keyset-paged, incremental, read-only by default"

    def __init__(self, options, name=None, db: sa.Engine | None = None):
        super().__init__(options, name)
        self._db = db
        self._tables: dict[str, sa.Table] = {}

    @property
    def db(self) -> sa.Engine:
        if self._db is None:
            url = make_url(self.options.url)
            if self.options.password:
                url = url.set(password=secrets.resolve(self.options.password, what="sql.password"))
            self._db = sa.create_engine(url, connect_args=self.options.connect_args, pool_pre_ping=True)
        return self._db

    def table(self, name: str) -> sa.Table:
        """The reflected table; an unknown table or column is a clear error, never SQL text."""
        if name not in self._tables:
            cfg = self._cfg(name)
            inspector = sa.inspect(self.db)
            if name not in inspector.get_table_names(schema=cfg.schema_) + inspector.get_view_names(schema=cfg.schema_):
                raise FatalError(f"sql: table {name!r} not found in the database")
            table = sa.Table(name, sa.MetaData(), schema=cfg.schema_, autoload_with=self.db)
            wanted = cfg.key + ([cfg.cursor] if cfg.cursor else []) + cfg.columns
            missing = [c for c in wanted if c not in table.c]
            if missing:
                raise FatalError(f"sql: {name} has no column(s) {', '.join(missing)}",
                                 hint=f"columns are: {', '.join(table.c.keys())}")
            self._tables[name] = table
        return self._tables[name]

    def check(self) -> CheckResult:
        try:
            with self.db.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            for name in self.options.tables:
                self.table(name)
        except (sa.exc.SQLAlchemyError, FatalError) as exc:
            return CheckResult(False, secrets.redact(f"{type(exc).__name__}: {exc}"[:300]))
        return CheckResult(True, f"connected; {len(self.options.tables)} table(s) found")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(n, list(t.key), t.cursor, writable=self.options.writable)
                for n, t in self.options.tables.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """Keyset pages from the lower bound (`cursor >= high-water mark - overlap`), each batch with a
        `connectors.incremental.Checkpoint` whose `position` is the last row's keyset."""
        where = f"{self.name}.{stream.name}"
        opts = self.stream_options(stream)
        cp = Checkpoint.load(state, where=where)
        cfg, table = self._cfg(stream.name), self.table(stream.name)
        cols = [table.c[c] for c in cfg.columns] if cfg.columns else list(table.c)
        source: sa.FromClause = table
        header = None
        if opts.join is not None:
            source, extra, header = self._join(stream.name, table, cols, opts.join)
            cols = cols + extra
        cursor = self._key_expr(table.c[cfg.cursor]) if cfg.cursor else None
        line_keys = [self._key_expr(table.c[c]) for c in ([cfg.cursor] if cfg.cursor else []) + cfg.key]
        lower = self._lower_bound(cursor, cp)
        if header is None or header[1].cursor is None:  # one keyset pass over the lines
            pages = self._pages(stream.name, cols, source, line_keys, cp.position, lower)
            read_any = False
            for (records, position, cursors), last in _with_last(pages):
                cp, read_any = _observe(cp, cursors if cursor is not None else []), True
                yield RecordBatch(records, (_done(cp) if last else cp.at(position)).dump())
            if not read_any and state:  # nothing (more) to read: the read is complete, the mark stays
                yield RecordBatch([], _done(cp).dump())
            return
        header_keys = [self._key_expr(table.c[k]) for k in cfg.key]
        yield from self._read_with_header(stream.name, cols, source, line_keys, header, header_keys, cp, lower)

    def _lower_bound(self, cursor: sa.ColumnElement | None, cp: Checkpoint) -> sa.ColumnElement | None:
        """`cursor >= since - overlap` (a datetime cursor) or `cursor >= mark` (a number, an SCN)."""
        if cursor is None:
            return None
        if cp.since is not None:
            return cursor >= _bound(cursor, cp.lower_bound(self.options.overlap))
        if "mark" in cp.extra:
            return cursor >= sa.bindparam(None, cp.extra["mark"], type_=cursor.type)
        return None

    def _read_with_header(self, name: str, cols: list, source: sa.FromClause, line_keys: list,
                          header: tuple[sa.Alias, SqlTable], line_key: list, cp: Checkpoint,
                          lower: sa.ColumnElement | None) -> Iterator[RecordBatch]:
        """Lines changed since the lower bound; then the lines of headers changed since `headers.since`
        (a header-only change leaves its lines' cursor as it was). Re-reading a line is harmless (the
        load is an upsert); the checkpoint (`extra.headers`) keeps the header pass's position, so a
        read resumes in the pass it was in."""
        alias, header_cfg = header
        seen = cp.extra.get("headers") or {}
        h_cursor = self._key_expr(alias.c[header_cfg.cursor])
        since = seen["since"] if "headers" in cp.extra else self._max(h_cursor)  # first read: from now on
        if seen.get("after") is None:  # the header pass had not started: lines first
            for records, position, cursors in self._pages(name, cols, source, line_keys, cp.position, lower):
                cp = _observe(cp, cursors).at(position)
                cp.extra["headers"] = {"since": since, "after": None}
                yield RecordBatch(records, cp.dump())
        mark = self._max(h_cursor)  # the next read looks for header changes after this
        keys = [h_cursor, *(alias.c[k] for k in header_cfg.key), *line_key]
        changed = (h_cursor.is_not(None) if since is None
                   else h_cursor > sa.bindparam(None, _restore(h_cursor, since), type_=h_cursor.type))
        for records, position, _ in self._pages(name, cols, source, keys, seen.get("after"), changed):
            cp = cp.model_copy(update={"extra": {**cp.extra, "headers": {"since": since, "after": position}}})
            yield RecordBatch(records, cp.dump())
        done = _done(cp)
        done.extra["headers"] = {"since": since if mark is None else mark, "after": None}
        yield RecordBatch([], done.dump())

    def _pages(self, name: str, cols: list, source: sa.FromClause, keys: list, after: list | None,
               where: sa.ColumnElement | None = None) -> Iterator[tuple[list[dict], list, list]]:
        """Keyset pages of `source` in `keys` order after `after`: (records, the last row's keyset, the
        rows' first keyset values, i.e. their cursor when the keys start with it)."""
        labels = [f"__keyset_{i}" for i in range(len(keys))]
        guard = PageGuard(f"{self.name}.{name}")
        while True:
            guard.see(after)
            query = (sa.select(*cols, *(k.label(n) for k, n in zip(keys, labels, strict=True)))
                     .select_from(source).order_by(*keys).limit(self.options.page_size))
            if where is not None:
                query = query.where(where)
            if after is not None:
                query = query.where(_after(keys, after))
            rows = self._fetch(name, query)
            if not rows:
                return
            after = [_jsonable(rows[-1][n]) for n in labels]
            yield ([{k: _jsonable(v) for k, v in r.items() if k not in labels} for r in rows], after,
                   [r[labels[0]] for r in rows])
            if len(rows) < self.options.page_size:
                return

    def _fetch(self, name: str, query: sa.Select) -> list[dict]:
        try:
            with self.db.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(query)]
        except sa.exc.OperationalError as exc:
            raise RetriableError(f"sql: reading {name}: {type(exc.orig).__name__}") from None

    def _max(self, expr: sa.ColumnElement) -> Any:
        """The largest value of a header's change column now (checkpoint-safe)."""
        rows = self._fetch("header cursor", sa.select(sa.func.max(expr).label("mark")))
        return _jsonable(rows[0]["mark"]) if rows else None

    def _join(self, name: str, table: sa.Table, cols: list[sa.ColumnElement],
              join: SqlJoin) -> tuple[sa.FromClause, list[sa.ColumnElement], tuple[sa.Alias, SqlTable]]:
        """`table` LEFT OUTER JOIN the header on its whole key; every name checked against reflection."""
        header_cfg, header = self._cfg(join.table), self.table(join.table).alias("header")
        pairs = join.pairs
        bad_local = [c for c in pairs if c not in table.c]
        bad_remote = [c for c in [*pairs.values(), *join.fields] if c not in header.c]
        if bad_local or bad_remote:
            raise FatalError(f"sql: {name} join {join.table}: no column(s) "
                             f"{', '.join([f'{name}.{c}' for c in bad_local] + [f'{join.table}.{c}' for c in bad_remote])}",
                             hint=f"{join.table} columns are: {', '.join(header.c.keys())}")
        if set(header_cfg.key) - set(pairs.values()):
            raise FatalError(f"sql: {name} join {join.table}: `by` must cover {join.table}'s key "
                             f"{header_cfg.key}, or a line could meet several header rows")
        taken = {c.name for c in cols}
        clash = [f for f in join.fields if f in taken]
        if clash:
            raise FatalError(f"sql: {name} join {join.table}: field(s) {', '.join(clash)} already come from {name}",
                             hint="drop them from the join's fields")
        on = sa.and_(*(table.c[local] == header.c[remote] for local, remote in pairs.items()))
        return table.outerjoin(header, on), [header.c[f] for f in join.fields], (header, header_cfg)

    def _key_expr(self, col: sa.Column) -> sa.ColumnElement:
        """SQLite stores dates as text in whatever format the ERP wrote: page on the text itself."""
        if self.db.dialect.name == "sqlite" and isinstance(col.type, sa.Date | sa.DateTime):
            return sa.type_coerce(col, sa.String)
        return col

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        if not self.options.writable:
            return [ItemOutcome(i.ref, "rejected", "sql source is read-only (set writable: true to allow updates)")
                    for i in batch.items]
        return [self._update(item) for item in batch.items]

    def _update(self, item) -> ItemOutcome:
        table = self.table(item.target)
        bad = [c for c in [*item.key, *item.values] if c not in table.c]
        if bad:
            return ItemOutcome(item.ref, "rejected", f"{item.target} has no column(s) {', '.join(bad)}")
        stmt = sa.update(table).where(*(table.c[k] == v for k, v in item.key.items())).values(**item.values)
        try:
            with self.db.begin() as conn:
                count = conn.execute(stmt).rowcount
        except sa.exc.SQLAlchemyError as exc:
            return ItemOutcome(item.ref, "rejected", f"{type(exc).__name__}: {str(exc.orig)[:200]}")
        if count != 1:
            return ItemOutcome(item.ref, "rejected", f"{count} rows match {item.key} in {item.target}")
        return ItemOutcome(item.ref, "applied")

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        table = self.table(target)
        out = []
        with self.db.connect() as conn:
            for key in keys:
                query = sa.select(table).where(*(table.c[k] == v for k, v in key.items()))
                out.extend({k: _jsonable(v) for k, v in r._mapping.items()} for r in conn.execute(query))
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()

    def _cfg(self, name: str) -> SqlTable:
        if name not in self.options.tables:
            raise FatalError(f"sql: no table {name!r} configured; configured: {', '.join(self.options.tables)}")
        return self.options.tables[name]


def _with_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each item with whether it is the last one (so the last batch carries the completed checkpoint)."""
    pending, held = None, False
    for item in items:
        if held:
            yield pending, False
        pending, held = item, True
    if held:
        yield pending, True


def _observe(cp: Checkpoint, cursors: list[Any]) -> Checkpoint:
    """Raise the read's high-water mark: an instant for date/time cursors, `extra.high_mark` otherwise."""
    values = [v for v in cursors if v is not None]
    if not values:
        return cp
    if all(isinstance(v, datetime | date | str) for v in values):
        return cp.observe(values)
    high = max([*values, *([cp.extra["high_mark"]] if "high_mark" in cp.extra else [])])
    return cp.model_copy(update={"extra": {**cp.extra, "high_mark": high}})


def _done(cp: Checkpoint) -> Checkpoint:
    extra = {k: v for k, v in cp.extra.items() if k != "high_mark"}
    if "high_mark" in cp.extra:
        extra["mark"] = cp.extra["high_mark"]
    return cp.done().model_copy(update={"extra": extra})


time_zero = time(0)


def _bound(col: sa.ColumnElement, instant: datetime) -> sa.BindParameter:
    """An instant bound as the column compares: naive UTC for DATE/TIMESTAMP columns, the text of the
    SQL literal for a column SQLite holds as text."""
    naive = instant.astimezone(UTC).replace(tzinfo=None)
    try:
        kind = col.type.python_type
    except NotImplementedError:
        kind = str
    if kind is datetime:
        return sa.bindparam(None, naive, type_=col.type)
    if kind is date:
        return sa.bindparam(None, naive.date(), type_=col.type)
    return sa.bindparam(None, naive.strftime("%Y-%m-%d %H:%M:%S") if naive.time() != time_zero else
                        naive.strftime("%Y-%m-%d"), type_=col.type)


def _after(cols: list[sa.ColumnElement], values: list[Any]) -> sa.ColumnElement:
    """(c1, c2, ...) > (v1, v2, ...) spelled out (Oracle has no row-value comparison), values bound
    with the column's type so ISO text in a checkpoint compares as a date."""
    bound = [sa.bindparam(None, _restore(c, v), type_=c.type) for c, v in zip(cols, values, strict=True)]
    terms = []
    for i, col in enumerate(cols):
        terms.append(sa.and_(*(cols[j] == bound[j] for j in range(i)), col > bound[i]))
    return sa.or_(*terms)


def _restore(col: sa.ColumnElement, value: Any) -> Any:
    try:
        kind = col.type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str) and kind is datetime:
        return datetime.fromisoformat(value)
    if isinstance(value, str) and kind is date:
        return date.fromisoformat(value[:10])
    if isinstance(value, str) and kind is Decimal:
        return Decimal(value)
    return value


def _jsonable(value: Any) -> Any:
    """Checkpoint- and record-safe values (dates as ISO text, decimals as strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    return value
