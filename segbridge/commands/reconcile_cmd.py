"""`segbridge reconcile [SYSTEM...]`: read back what the systems hold and file exceptions for stewards.

Exit codes: 3 while exceptions remain open or acknowledged in the systems it reconciled, 0 when
none do.
"""

from __future__ import annotations

import typer

from segbridge.commands.common import config_of, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)


def reconcile(
    ctx: typer.Context,
    systems: list[str] = typer.Argument(None, help="Systems to reconcile (default: every enabled system)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
) -> None:
    """Read back the targets, compare with the intended values, file exceptions for stewards (exit 3 if any)."""
    from core.reconcile import run_reconcile
    from segbridge.progress_view import bars

    config = config_of(ctx)
    db = store_of(config)
    # run_reconcile takes no stop event (yet): Ctrl-C interrupts it at once, as before.
    with bars(not quiet) as progress:
        summary = run_reconcile(config, db, systems or None, progress=progress)
    print_summary(summary)
    raise typer.Exit(summary.exit_code)


def print_summary(summary) -> None:
    """The reconcile summary table and what to do next."""
    rows = [["compared", summary.compared], ["matched", summary.matched], ["new exceptions", summary.new],
            ["seen again", summary.recurring], ["reopened", summary.reopened],
            ["auto-resolved", summary.auto_resolved], ["remaining (open or acknowledged)", summary.remaining]]
    rows += [[f"  {kind}", n] for kind, n in sorted(summary.by_kind.items())]
    table(f"reconcile run {summary.run_id}: {', '.join(summary.systems) or 'no systems'}", ["", "count"], rows)
    for system, why in summary.unreadable.items():
        out.print(f"[red]not read back:[/] {system}: {why}")
    for note in summary.skipped:
        out.print(f"[yellow]skipped:[/] {note}")
    for alert in summary.alerts:
        out.print(f"[bold red]alert:[/] {alert}")
    if summary.remaining:
        out.print("next: `segbridge exceptions list --status open`, or `segbridge exceptions report`")
