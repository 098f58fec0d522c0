"""`segbridge pull`: read the configured systems into the store through their mapping files."""

from __future__ import annotations

import typer

from basics.errors import EXIT_FAILED
from segbridge.commands.common import config_of, long_running, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(ctx: typer.Context,
         systems: list[str] = typer.Argument(None, help="Systems to pull (default: every enabled one)"),
         full: bool = typer.Option(False, "--full", help="Ignore saved watermarks and re-read everything"),
         entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these mapping entities"),
         no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars (logs only)")) -> None:
    """Read systems incrementally into the store through their mapping files."""
    from core.statuses import RunStatus
    from core.sync import pull as run_pull

    config = config_of(ctx)
    db = store_of(config)
    with long_running(not no_progress) as (progress, stop):
        results = run_pull(config, db, systems=systems or None, full=full, progress=progress,
                           stop_event=stop, entities=entity or None)
    rows = [[s.system, s.entity, s.stream, s.read, s.loaded, s.quarantined,
             "" if s.source_count is None else s.source_count, f"{s.seconds:.1f}", s.error or ""]
            for r in results for s in r.streams]
    table("Pull summary", ["system", "entity", "stream", "read", "loaded", "quarantined", "source count",
                           "seconds", "error"], rows)
    for r in results:
        note = " (suspect: quarantine above threshold, write-back blocked)" if r.suspect else ""
        out.print(f"{r.system}: run {r.run_id} {r.status}{note}" + (f" - {r.message}" if r.message else ""))
    if any(r.status == RunStatus.FAILED for r in results):
        raise typer.Exit(EXIT_FAILED)
