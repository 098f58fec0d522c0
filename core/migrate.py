"""Schema migrations with Alembic: `segbridge db upgrade` is idempotent.

The revisions live in `core/migrations/versions`. A second `upgrade` on an up-to-date
database does nothing and says so.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Engine) -> str | None:
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema; returns (revision before, revision after)."""
    before = current_revision(db)
    cfg = alembic_config()
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(db)


def ensure_schema(db: Engine) -> None:
    """Bring the database to head when it is behind (used by every command that touches the store)."""
    if current_revision(db) != head_revision():
        upgrade(db)
