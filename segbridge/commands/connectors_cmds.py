"""`segbridge check` and `segbridge pull`: reach the configured systems and read them into the store."""

from __future__ import annotations

import typer

from basics.errors import EXIT_FAILED
from segbridge.commands.common import config_of, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("pull")(pull)


def check(ctx: typer.Context,
          systems: list[str] = typer.Argument(None, help="Systems to check (default: every enabled one)")) -> None:
    """Check that each system is reachable and its credentials work (never prints them)."""
    from basics.secrets import redact
    from core.sync import connector_for

    config = config_of(ctx)
    names = systems or [n for n, s in config.systems.items() if s.enabled]
    rows, failed = [], 0
    for name in names:
        kind = config.system(name).kind
        try:
            with connector_for(config, name) as conn:
                result = conn.check()
            ok, message = result.ok, result.message
        except Exception as exc:  # noqa: BLE001 - one system's failure must not hide the others
            ok, message = False, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        failed += not ok
        rows.append([name, kind, "[green]ok[/]" if ok else "[red]failed[/]", redact(message)])
    table("Systems", ["system", "kind", "status", "message"], rows)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def pull(ctx: typer.Context,
         systems: list[str] = typer.Argument(None, help="Systems to pull (default: every enabled one)"),
         full: bool = typer.Option(False, "--full", help="Ignore saved watermarks and re-read everything"),
         entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these mapping entities"),
         no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars (logs only)")) -> None:
    """Read systems incrementally into the store through their mapping files."""
    from core.sync import pull as run_pull

    config = config_of(ctx)
    engine = store_of(config)
    results = run_pull(config, engine, systems=systems or None, full=full, progress=not no_progress,
                       entities=entity or None)
    rows = [[s.system, s.entity, s.stream, s.read, s.loaded, s.quarantined,
             "" if s.source_count is None else s.source_count, f"{s.seconds:.1f}", s.error or ""]
            for r in results for s in r.streams]
    table("Pull summary", ["system", "entity", "stream", "read", "loaded", "quarantined", "source count",
                           "seconds", "error"], rows)
    for r in results:
        note = " (suspect: quarantine above threshold, write-back blocked)" if r.suspect else ""
        out.print(f"{r.system}: run {r.run_id} {r.status}{note}" + (f" - {r.message}" if r.message else ""))
    if any(r.status == "failed" for r in results):
        raise typer.Exit(EXIT_FAILED)
