"""`segbridge run [SYSTEM...]`: the whole cycle once, pull -> segment -> plan -> apply -> reconcile.

SIGTERM or Ctrl-C ends the cycle cleanly after the batch in hand; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import typer

from segbridge.commands.common import config_of, long_running, out, store_of


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def step_line(name: str, step) -> None:
    """One line per finished cycle step: its status, run id and counts."""
    from core.statuses import RunStatus

    counts = ", ".join(f"{k}={v}" for k, v in step.counts.items() if isinstance(v, int | float))
    colour = {RunStatus.OK: "green", RunStatus.EXCEPTIONS: "yellow", RunStatus.SKIPPED: "yellow"}.get(step.status, "red")
    out.print(f"  [bold]{name:<9}[/] [{colour}]{step.status}[/] run {step.run_id}  {counts}"
              + (f"  ({step.message})" if step.message else ""))


def run(
    ctx: typer.Context,
    systems: list[str] = typer.Argument(None, help="Systems to include (default: every enabled system)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
) -> None:
    """Run the whole cycle once now: pull, segment, plan, apply (if no approval is needed), reconcile."""
    from core.cycle import run_cycle
    from core.statuses import Trigger

    config = config_of(ctx)
    db = store_of(config)
    with long_running(not quiet) as (progress, stop):
        result = run_cycle(config, db, trigger=Trigger.MANUAL, systems=systems or None, stop_event=stop,
                           progress=progress, on_step=step_line)
    out.print(f"cycle run {result.run_id}: [bold]{result.status}[/]")
    raise typer.Exit(result.exit_code)
