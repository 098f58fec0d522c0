"""`segbridge db upgrade`: create or upgrade the store's schema."""

from __future__ import annotations

import typer

from segbridge.commands.common import config_of, out, store_of

db_app = typer.Typer(help="The store's schema", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the store's schema (idempotent)."""
    from core.migrate import upgrade

    config = config_of(ctx)
    db = store_of(config, upgrade=False)
    before, after = upgrade(db)
    if before == after:
        out.print(f"database is up to date (revision {after})")
    else:
        out.print(f"upgraded database from {before or 'empty'} to revision {after}")
