"""The store: one engine from a URL, set-based upserts, frames in and out.

SQLite is the default (a file `segbridge.db` in the working directory); PostgreSQL is
used in production with the `postgres` extra (psycopg 3). Bulk loads go through
`upsert`, one INSERT ... ON CONFLICT DO UPDATE per chunk of rows, never one ORM object per row.

Example:
    >>> engine = engine_for("sqlite://")
    >>> create_all(engine)
    >>> upsert(engine, Product, [{"id": "P1", "name": "Bolt"}])
    1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from core import model as _model  # noqa: F401 - registers the tables on SQLModel.metadata
from core.errors import ConfigError, SegbridgeError
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


def engine_for(url: str | None = None, **kwargs: Any) -> Engine:
    """An Engine for `url` (secrets in the URL must come from `${ENV_VAR}` and be resolved by the caller)."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
    except ArgumentError as exc:
        raise ConfigError(f"database url is not valid: {exc}", hint="e.g. sqlite:///segbridge.db or "
                          "postgresql://user@host:5432/db") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(f"database driver missing: {exc.name}",
                          hint="install the postgres extra: pip install 'segbridge[postgres]'") from None
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_all(engine: Engine) -> None:
    """Create missing tables directly from the model (tests and in-memory stores; use migrations otherwise)."""
    SQLModel.metadata.create_all(engine)


def check_connection(engine: Engine) -> None:
    """Raise a clear error when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        raise SegbridgeError(f"cannot connect to the database: {exc.orig}",
                             hint="check `database.url` in segbridge.yaml and that the server runs") from None


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """A Session that commits on success and rolls back on error."""
    with Session(engine) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def _records(rows: Iterable[dict] | pd.DataFrame) -> list[dict]:
    if isinstance(rows, pd.DataFrame):
        frame = rows.astype(object).where(pd.notna(rows), None)
        return frame.to_dict("records")
    return [dict(r) for r in rows]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def upsert(target: Engine | Connection, model: type[SQLModel], rows: Iterable[dict] | pd.DataFrame,
           update_columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS) -> int:
    """Insert rows, updating existing ones by primary key; returns the number of rows sent.

    Columns missing from a row take the model's defaults on insert (lineage timestamps
    included); on conflict only `update_columns` (default: every non-key column given) change.
    """
    table = model.__table__
    records = _records(rows)
    if not records:
        return 0
    defaults = _python_defaults(model)
    columns = set(table.columns.keys())
    given = [c for c in records[0] if c in columns]
    full = [{**{k: f() for k, f in defaults.items() if k not in r},
             **{k: _clean(v) for k, v in r.items() if k in columns}} for r in records]
    keys = [c.name for c in table.primary_key.columns]
    updates = update_columns if update_columns is not None else [c for c in given if c not in keys]
    if "loaded_at" in columns and "loaded_at" not in updates and update_columns is None:
        updates = updates + ["loaded_at"]

    names = list(dict.fromkeys(k for row in full[:1] for k in row))
    full = [{k: row.get(k) for k in names} for row in full]

    def run(conn: Connection) -> None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(table)
        if updates:
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in updates})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        for start in range(0, len(full), chunk_rows):
            conn.execute(stmt, full[start:start + chunk_rows])  # executemany: compiled once

    if isinstance(target, Connection):
        run(target)
    else:
        with target.begin() as conn:
            run(conn)
    return len(full)


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


def read_frame(target: Engine | Connection, source: type[SQLModel] | Any, **params: Any) -> pd.DataFrame:
    """A table, a select() or SQL text as a DataFrame, with the model's columns even when empty."""
    stmt = select(source.__table__) if isinstance(source, type) and hasattr(source, "__table__") else source
    if isinstance(target, Connection):
        result = target.execute(stmt, params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    with target.connect() as conn:
        result = conn.execute(stmt, params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
