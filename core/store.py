"""The store: one engine from a URL, set-based upserts, frames in and out.

SQLite is the default (a file `segbridge.db` in the working directory); PostgreSQL is
used in production with the `postgres` extra (psycopg 3). Bulk loads go through
`upsert`, one INSERT ... ON CONFLICT DO UPDATE per chunk of rows, never one ORM object per row.

Example:
    >>> db = open_store("sqlite://")
    >>> create_all(db)
    >>> upsert(db, Product, [{"id": "P1", "name": "Bolt"}])
    1
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from basics.errors import ConfigError, SegbridgeError
from basics.json_text import dumps_rows
from core import model as _model  # noqa: F401 - registers the tables on SQLModel.metadata
from core.model import Product  # noqa: F401 - used in the docstring example

DEFAULT_URL = "sqlite:///segbridge.db"
CHUNK_ROWS = 5000


def normalise_url(url: str | None) -> str:
    """Default to SQLite in the working directory; `postgresql://` means psycopg 3."""
    url = (url or DEFAULT_URL).strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def open_store(url: str | None = None, **kwargs: Any) -> Engine:
    """An Engine for `url` (secrets in the URL must come from `${ENV_VAR}` and be resolved by the caller)."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            _private_sqlite_file(url)
            _wal_once(sqlite_path(url))
            db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
            event.listen(db, "connect", _sqlite_pragmas)
        else:
            db = create_engine(url, pool_pre_ping=True, **kwargs)
    except ArgumentError as exc:
        raise ConfigError(f"database url is not valid: {exc}", hint="e.g. sqlite:///segbridge.db or "
                          "postgresql://user@host:5432/db") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(f"database driver missing: {exc.name}",
                          hint="install the postgres extra: pip install 'segbridge[postgres]'") from None
    return db


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_lock_path(database: Path) -> Path:
    """The lock file next to a SQLite database: `<database>.migrate-lock` (mode 0600)."""
    return database.with_name(database.name + ".migrate-lock")


@contextmanager
def sqlite_file_lock(database: Path) -> Iterator[None]:
    """Every other segbridge process setting up or migrating this SQLite file waits (fcntl.flock)."""
    import fcntl  # POSIX; segbridge's SQLite store is for one machine

    fd = os.open(sqlite_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _private_sqlite_file(url: str) -> None:
    """Create a new SQLite store file readable by its owner only (0600; a folder segbridge creates: 0700).

    SQLite gives its `-wal` and `-shm` files the database file's permissions. An existing file
    keeps its mode.
    """
    path = sqlite_path(url)
    if path is None:
        return
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite reports the unusable path itself on the first connection


def _wal_once(path: Path | None) -> None:
    """Switch a SQLite file to WAL once, under the file lock, before any pooled connection opens it.

    The switch writes the file header. Made by several processes' first connections at once it
    can fail with `database is locked` at once: SQLite skips the busy handler where waiting could
    deadlock (seen in CI: four commands opening one fresh store). WAL is then persistent, so the
    per-connection pragma finds it set and writes nothing.
    """
    if path is None:
        return
    try:
        with sqlite_file_lock(path):
            conn = sqlite3.connect(path, timeout=30)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
    except (OSError, sqlite3.Error):
        return  # an unusable path or file: the first real connection reports it with its own error


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")  # already set by `_wal_once` for a file: nothing written
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: bulk upserts into indexed tables
    cur.execute("PRAGMA wal_autocheckpoint=10000")  # checkpoint every ~40 MiB, not every 4 MiB
    cur.close()


def create_all(db: Engine) -> None:
    """Create missing tables directly from the model (tests and in-memory stores; use migrations otherwise)."""
    SQLModel.metadata.create_all(db)


def check_connection(db: Engine) -> None:
    """Raise a clear error when the database cannot be reached."""
    try:
        with db.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        raise SegbridgeError(f"cannot connect to the database: {exc.orig}",
                             hint="check `database.url` in segbridge.yaml and that the server runs") from None


@contextmanager
def session(db: Engine) -> Iterator[Session]:
    """A Session that commits on success and rolls back on error."""
    with Session(db) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def _columns_of(rows: Iterable[dict] | pd.DataFrame, allowed: set[str]) -> tuple[dict[str, list], int]:
    """Column-major plain Python values (None for NaN/NaT), only for the table's columns."""
    if isinstance(rows, pd.DataFrame):
        return {c: _column_values(rows[c]) for c in rows.columns if c in allowed}, len(rows)
    records = rows if isinstance(rows, list) else list(rows)
    names = list(dict.fromkeys(k for r in records for k in r if k in allowed))
    return {c: _cleaned([r.get(c) for r in records]) for c in names}, len(records)


def _cleaned(values: list) -> list:
    """A column of dict values with NaN/NaT as None and numpy scalars unboxed; a column of plain
    values (the usual: text, ints, datetimes, None) is returned as it is, told apart in C."""
    if set(map(type, values)) <= _PLAIN_TYPES:
        return values
    return [_clean(v) for v in values]


def _column_values(series: pd.Series) -> list:
    kind = series.dtype.kind
    if kind in "f":
        values = series.to_numpy(dtype=float)
        out = values.astype(object)  # Python floats
        out[np.isnan(values)] = None
        return out.tolist()
    if kind in "iub":
        return series.tolist()
    missing = series.isna().to_numpy()
    if kind == "M":
        out = np.array(series.array.to_pydatetime(), dtype=object)  # .dt's warns: it will return a Series
        out[missing] = None
        return out.tolist()
    if pd.api.types.infer_dtype(series, skipna=True) in _PLAIN:  # nothing to unbox
        out = series.to_numpy(dtype=object, copy=True)
        out[missing] = None
        return out.tolist()
    values = series.tolist()
    return [None if m else _native(v) for v, m in zip(values, missing.tolist(), strict=True)]


def _processed(values: list, process: Any) -> list:
    """Driver values for a column, converting each distinct value once (dates and batch timestamps
    repeat across many rows); a column of one object (a batch's `loaded_at`) is converted once."""
    if values and values[0] is not None and len(set(map(id, values))) == 1:
        return [process(values[0])] * len(values)
    cache: dict = {}
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        try:
            hit = cache.get(v, _MISSING)
        except TypeError:  # unhashable: convert directly
            out.append(process(v))
            continue
        if hit is _MISSING:
            hit = cache[v] = process(v)
        out.append(hit)
    return out


_MISSING = object()
_PLAIN_TYPES = {str, int, bool, type(None), datetime, date}  # nothing to clean: driver values as they are
_PLAIN = {"string", "date", "datetime", "boolean", "bytes", "empty"}  # infer_dtype kinds of plain Python values


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return _native(value)


def upsert(target: Engine | Connection, model: type[SQLModel], rows: Iterable[dict] | pd.DataFrame,
           update_columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS) -> int:
    """Insert rows, updating existing ones by primary key; returns the number of rows sent.

    Columns missing from the rows take the model's defaults on insert (one value per call, so
    a batch shares its `loaded_at`); on conflict only `update_columns` (default: every non-key
    column given, plus `loaded_at`) change. The statement is compiled once and sent with the
    driver's executemany, values converted column by column: this is the hot path of every pull.
    """
    table = model.__table__
    data, count = _columns_of(rows, set(table.columns.keys()))
    if not count:
        return 0
    keys = [c.name for c in table.primary_key.columns]
    given = list(data)
    for name, make in _python_defaults(model).items():
        if name not in data:
            data[name] = [make()] * count
    updates = update_columns if update_columns is not None else [c for c in given if c not in keys]
    if "loaded_at" in table.columns and "loaded_at" not in updates and update_columns is None:
        updates = updates + ["loaded_at"]

    def run(conn: Connection) -> None:
        _execute_upsert(conn, table, data, count, keys, updates, chunk_rows)

    if isinstance(target, Connection):
        run(target)
    else:
        with target.begin() as conn:
            run(conn)
    return count


def _execute_upsert(conn: Connection, table, data: dict[str, list], count: int, keys: list[str],
                    updates: list[str], chunk_rows: int) -> None:
    dialect = conn.dialect
    names = list(data)
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            data[name] = _processed(data[name], process)
    if dialect.name == "sqlite" and _sqlite_json_upsert(conn, table, data, count, keys, updates, chunk_rows):
        return
    compiled = _upsert_statement(table, dialect, tuple(names), tuple(keys), tuple(updates))
    order = list(compiled.positiontup) if compiled.positiontup else None
    if order:
        params: list = list(zip(*(data[n] for n in order), strict=True))
    else:
        params = [dict(zip(names, row, strict=True)) for row in zip(*(data[n] for n in names), strict=True)]
    for start in range(0, count, chunk_rows):
        conn.exec_driver_sql(str(compiled), params[start:start + chunk_rows])


def _sqlite_json_upsert(conn: Connection, table, data: dict[str, list], count: int, keys: list[str],
                        updates: list[str], chunk_rows: int) -> bool:
    """SQLite: each chunk's rows go as ONE JSON text that `json_each` unpacks inside one statement.

    Why: executemany steps the statement once per row and lets go of the GIL at every step, so a pull
    whose next page is parsed in another thread (`core.prefetch`) waited on the GIL row after row; one
    statement does the whole chunk in C with the GIL released. Floats come back bit for bit. False
    (nothing sent: the caller uses executemany) when a value has no JSON form that SQLite would store
    as the driver does (`basics.json_text.dumps_rows`: NaN, bytes, a text with NUL...)."""
    rows = list(zip(*data.values(), strict=True))
    texts = []
    for start in range(0, count, chunk_rows):
        text = dumps_rows(rows[start:start + chunk_rows])
        if text is None:
            return False
        texts.append(text)
    sql = _json_upsert_sql(table, conn.dialect, tuple(data), tuple(keys), tuple(updates))
    for text in texts:
        conn.exec_driver_sql(sql, (text,))
    return True


@lru_cache(maxsize=256)
def _json_upsert_sql(table, dialect, names: tuple[str, ...], keys: tuple[str, ...], updates: tuple[str, ...]) -> str:
    """INSERT ... SELECT from `json_each(?)` (one array per row, in `names` order) ... ON CONFLICT; the
    `WHERE true` is SQLite's rule for an upsert whose rows come from a SELECT."""
    quote = dialect.identifier_preparer.quote
    values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    conflict = (f"DO UPDATE SET {', '.join(f'{quote(c)} = excluded.{quote(c)}' for c in updates)}"
                if updates else "DO NOTHING")
    return (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) SELECT {values} "
            f"FROM json_each(?) WHERE true ON CONFLICT ({', '.join(map(quote, keys))}) {conflict}")


@lru_cache(maxsize=256)
def _upsert_statement(table, dialect, names: tuple[str, ...], keys: tuple[str, ...], updates: tuple[str, ...]):
    """The compiled INSERT ... ON CONFLICT for a table and its columns, built once: a pull upserts the
    same columns batch after batch, and building the statement (its `excluded` alias) and compiling
    it cost more than a batch's conversions."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    if updates:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in updates})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.compile(dialect=dialect, column_keys=list(names))


def _python_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Field defaults as zero-arg callables, for rows that leave a column out."""
    out = {}
    for name, field in model.model_fields.items():
        if name not in model.__table__.columns:
            continue
        if field.default_factory is not None:
            out[name] = field.default_factory
        elif field.default is not None and not callable(field.default) and repr(field.default) != "PydanticUndefined":
            out[name] = (lambda v=field.default: v)
    return out


def row_by_key(target: Engine | Connection, table: Any, key: Any, missing: SegbridgeError) -> Any:
    """The row of `table` whose one-column primary key is `key`; `missing` is raised when there is none.

    One way for every "show me N" (a run, an exception, a user, an override, a quarantined record):
    each says in `missing` what was not found and where to look."""
    [column] = table.primary_key.columns
    stmt = select(table).where(column == key)
    if isinstance(target, Connection):
        row = target.execute(stmt).first()
    else:
        with target.connect() as conn:
            row = conn.execute(stmt).first()
    if row is None:
        raise missing
    return row


def read_frame(target: Engine | Connection, source: type[SQLModel] | Any, **params: Any) -> pd.DataFrame:
    """A table, a select() or SQL text as a DataFrame, with the model's columns even when empty."""
    stmt = select(source.__table__) if isinstance(source, type) and hasattr(source, "__table__") else source
    if isinstance(target, Connection):
        return _frame(target.execute(stmt, params))
    with target.connect() as conn:
        return _frame(conn.execute(stmt, params))


def _frame(result: Any) -> pd.DataFrame:
    """Rows as plain tuples: given SQLAlchemy Rows, pandas probes each for `.dtype`, and every miss
    raises and catches an AttributeError inside SQLAlchemy (about half of read_frame's time)."""
    return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))
