"""`segbridge schedule start|list|run-now JOB`: the cycle on a timetable."""

from __future__ import annotations

from pathlib import Path

import typer

from basics.errors import EXIT_EXCEPTIONS, EXIT_FAILED
from segbridge.commands.common import (
    CSV_OPTION,
    JSON_OPTION,
    OUT_OPTION,
    Col,
    config_of,
    out,
    show_rows,
    store_of,
)

schedule_app = typer.Typer(help="Run the cycle on a timetable", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")


def _app(ctx: typer.Context):
    from scheduler.app import SchedulerApp

    config = config_of(ctx)
    return SchedulerApp(config, store_of(config))


@schedule_app.command("start")
def start(ctx: typer.Context) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C (then it stops gracefully)."""
    app = _app(ctx)
    if not app.specs:
        out.print("no jobs: add steps under `schedules.steps` in segbridge.yaml")
        raise typer.Exit(EXIT_FAILED)
    out.print(f"scheduler {app.ctx.owner}: {len(app.specs)} job(s); Ctrl-C or SIGTERM stops it gracefully")
    app.start()
    out.print("scheduler stopped")


@schedule_app.command("list")
def list_jobs(ctx: typer.Context, as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION,
              out_file: Path = OUT_OPTION) -> None:
    """The jobs from segbridge.yaml with their next fire times and last runs (or --json / --csv)."""
    from core import runs

    app = _app(ctx)
    rows = []
    for spec, when in app.next_fire_times():
        last = runs.last_run(app.db, spec.step, spec.system, include_skipped=True)
        rows.append({"job": spec.id, "trigger": spec.describe_trigger(), "timezone": spec.timezone,
                     "next_fire": f"{when:%Y-%m-%d %H:%M:%S %Z}" if when else (
                         None if spec.trigger is None else "never"),
                     "depends_on": ", ".join(spec.depends_on) or None,
                     "last_run_id": last.id if last else None, "last_status": last.status if last else None})
    show_rows(rows, COLUMNS, title="schedule", as_json=as_json, as_csv=as_csv, out_file=out_file,
              empty="no scheduled steps: add a `schedules:` section to segbridge.yaml (see docs/scheduler.md)")


COLUMNS = [Col("job", wrap=False), Col("trigger"), Col("timezone", "time zone", drop=2, constant=True),
           Col("next_fire", "next fire", wrap=False), Col("depends_on", "depends on", drop=1),
           Col("last_run_id", "last run", wrap=False), Col("last_status", "status", wrap=False)]


@schedule_app.command("run-now")
def run_now(ctx: typer.Context, job: str = typer.Argument(..., help="Job id, e.g. pull:sap or segment")) -> None:
    """Run one job now (with its lease, run record and alerts), in the foreground."""
    from core.statuses import RunStatus

    app = _app(ctx)
    outcome = app.run_now(job)
    out.print(f"{job}: {outcome.status} (run {outcome.run_id})" + (f": {outcome.message}" if outcome.message else ""),
              highlight=False, markup=False)
    if outcome.status in (RunStatus.FAILED, RunStatus.SKIPPED):
        raise typer.Exit(EXIT_FAILED)
    if outcome.status == RunStatus.EXCEPTIONS:
        raise typer.Exit(EXIT_EXCEPTIONS)
