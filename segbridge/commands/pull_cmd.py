"""`segbridge pull`: read the configured systems into the store through their mapping files.

Exit codes (the same words as `segbridge run`): 0 every system pulled cleanly (or was stopped
on request / skipped because it is pulled elsewhere); 1 (EXIT_FAILED) a system's pull failed;
3 (EXIT_EXCEPTIONS) every pull finished but at least one is suspect: an entity's quarantined
share passed its threshold (`quality.max_quarantine_share`, `quality.per_entity`, or the
mapping entity's `quality.threshold`), so write-back from it is blocked until a steward
releases it. Failed wins over suspect. A script can therefore never mistake "every row was
quarantined" for success.
"""

from __future__ import annotations

import typer

from basics.errors import EXIT_EXCEPTIONS, EXIT_FAILED, EXIT_OK
from segbridge.commands.common import config_of, long_running, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def exit_code(results) -> int:
    """1 if any pull failed, else 3 if any is suspect, else 0 (see the module docstring)."""
    from core.statuses import RunStatus

    if any(r.status == RunStatus.FAILED for r in results):
        return EXIT_FAILED
    if any(r.suspect for r in results):
        return EXIT_EXCEPTIONS
    return EXIT_OK


def pull(ctx: typer.Context,
         systems: list[str] = typer.Argument(None, help="Systems to pull (default: every enabled one)"),
         full: bool = typer.Option(False, "--full", help="Ignore saved watermarks and re-read everything"),
         entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these mapping entities"),
         no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars (logs only)")) -> None:
    """Read systems incrementally into the store through their mapping files.

    Exits 0 when clean, 1 when a pull failed, 3 when one is suspect (too much quarantined).

    A suspect pull prints its top quarantine reasons with examples; `segbridge quarantine list`.
    """
    from core.sync import pull as run_pull

    config = config_of(ctx)
    db = store_of(config)
    with long_running(not no_progress) as (progress, stop):
        results = run_pull(config, db, systems=systems or None, full=full, progress=progress,
                           stop_event=stop, entities=entity or None)
    # del.: canonical rows removed for deleted source records (tombstones, core.mapping.tombstones)
    # req.: the HTTP requests really sent (Connector.requests_sent), blank where the connector does not count
    rows = [[s.system, s.entity, s.read, s.loaded, s.quarantined, s.deleted,
             "" if s.source_count is None else s.source_count, "" if s.requests is None else s.requests,
             f"{s.seconds:.1f}", s.error or ""]
            for r in results for s in r.streams]
    table("Pull summary", ["system", "entity", "read", "loaded", "quar.", "del.", "source", "req.", "s", "error"], rows)
    for r in results:
        _result_lines(db, r)
    raise typer.Exit(exit_code(results))


def _result_lines(db, r) -> None:
    """The run's status line; for a suspect or failed run that quarantined records, why."""
    from core.statuses import RunStatus

    note = " - SUSPECT: quarantine above threshold, write-back blocked" if r.suspect else ""
    colour = "red" if r.status == RunStatus.FAILED else "yellow" if r.suspect else "green"
    out.print(f"[{colour}]{r.system}: run {r.run_id} {r.status}{note}[/]", highlight=False)
    if r.message:
        out.print(f"  {r.message}", highlight=False, markup=False)
    quarantined = sum(s.quarantined for s in r.streams)
    if r.run_id is not None and quarantined and (r.suspect or r.status == RunStatus.FAILED):
        print_top_reasons(db, r.run_id)


def print_top_reasons(db, run_id: int) -> None:
    """The run's three largest quarantine reasons with counts and three examples each."""
    from core.quarantine import Filters, top_reasons

    out.print("  top quarantine reasons:", highlight=False)
    for rc in top_reasons(db, Filters(run_id=run_id)):
        out.print(f"  {rc.count:>7}  {rc.entity}: {rc.reason_code}", highlight=False, markup=False)
        for ex in rc.examples:
            out.print(f"           {ex['where']}: {ex['reason']}", highlight=False, markup=False,
                      soft_wrap=True)
    out.print(f"  all of them: segbridge quarantine list --run {run_id}", highlight=False, markup=False)
