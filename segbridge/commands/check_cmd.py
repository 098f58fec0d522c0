"""`segbridge check`: reach each configured system and try its credentials."""

from __future__ import annotations

import typer

from basics.errors import EXIT_FAILED
from segbridge.commands.common import config_of, table


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(ctx: typer.Context,
          systems: list[str] = typer.Argument(None, help="Systems to check (default: every enabled one)")) -> None:
    """Check that each system is reachable and its credentials work (never prints them).

    A refused connection or an unknown host fails at once, naming the address tried."""
    from basics.secrets import redact
    from connectors.http.client import unreachable_fails_fast
    from core.connector_factory import connector_for

    config = config_of(ctx)
    names = systems or [n for n, s in config.systems.items() if s.enabled]
    rows, failed = [], 0
    for name in names:
        kind = config.system(name).kind
        try:
            with unreachable_fails_fast(), connector_for(config, name) as conn:
                result = conn.check()
            ok, message = result.ok, result.message
        except Exception as exc:  # noqa: BLE001 - one system's failure must not hide the others
            ok, message = False, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        failed += not ok
        rows.append([name, kind, "[green]ok[/]" if ok else "[red]failed[/]", redact(message)])
    table("Systems", ["system", "kind", "status", "message"], rows)
    if failed:
        raise typer.Exit(EXIT_FAILED)
