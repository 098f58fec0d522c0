"""Schema migrations with Alembic: `segbridge db upgrade` is idempotent.

The revisions live in `core/migrations/versions`. A second `upgrade` on an up-to-date
database does nothing and says so.

Check-and-upgrade runs under a lock, so commands started at the same moment on a fresh store
do not race to create the same tables: the second waits, then finds the schema current and
does nothing. PostgreSQL: a session advisory lock (`pg_advisory_lock(MIGRATION_LOCK_KEY)`) held
on the migration connection. SQLite: an exclusive `fcntl.flock` on `<database>.migrate-lock`
next to the database file (kept there, mode 0600; an in-memory database needs no lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from core.store import sqlite_file_lock, sqlite_path
from core.store import sqlite_lock_path as store_lock_path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x5E6B_0017  # fixed key of segbridge's migration advisory lock (PostgreSQL)


def alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Engine) -> str | None:
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _revision_on(conn: Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    conn.commit()  # end the read's implicit transaction; the upgrade opens its own
    return revision


def sqlite_lock_path(db: Engine) -> Path | None:
    """The lock file next to a SQLite database file (None for other databases and in-memory SQLite)."""
    database = sqlite_path(db.url.render_as_string(hide_password=False))
    return None if database is None else store_lock_path(database)


@contextmanager
def migration_lock(db: Engine) -> Iterator[Connection]:
    """A connection to migrate on, with every other segbridge migration of this store waiting."""
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            conn.commit()
            try:
                yield conn
            finally:
                try:
                    conn.rollback()
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                    conn.commit()
                except Exception:
                    conn.invalidate()  # never hand a connection still holding the lock back to the pool
                    raise
        return
    database = sqlite_path(db.url.render_as_string(hide_password=False))
    if database is None:
        with db.connect() as conn:
            yield conn
        return
    with sqlite_file_lock(database):  # blocks until the other process's upgrade is done
        with db.connect() as conn:
            yield conn


def upgrade(db: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema under the migration lock; returns (revision before, revision after)."""
    with migration_lock(db) as conn:
        return _upgrade_on(conn, revision)


def _upgrade_on(conn: Connection, revision: str) -> tuple[str | None, str | None]:
    before = _revision_on(conn)
    cfg = alembic_config()
    with conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, _revision_on(conn)


def ensure_schema(db: Engine) -> None:
    """Bring the database to head when it is behind (used by every command that touches the store).

    The first look is without the lock (the usual case: nothing to do); when behind, the look is
    repeated under the lock, so a process that waited for another's upgrade does nothing.
    """
    head = head_revision()
    if current_revision(db) == head:
        return
    with migration_lock(db) as conn:
        if _revision_on(conn) != head:
            _upgrade_on(conn, "head")
