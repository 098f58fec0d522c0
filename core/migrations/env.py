"""Alembic environment: runs on the connection segbridge hands it (see core/migrate.py)."""

from alembic import context
from sqlmodel import SQLModel

from core import model  # noqa: F401 - registers the tables

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from core.store import open_store

        with open_store(config.get_main_option("sqlalchemy.url")).connect() as conn:
            _run(conn)
            conn.commit()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
