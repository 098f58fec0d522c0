"""`segbridge schedule start|list|run-now JOB`: the cycle on a timetable."""

from __future__ import annotations

import typer

from basics.errors import EXIT_EXCEPTIONS, EXIT_FAILED
from segbridge.commands.common import config_of, out, store_of, table

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
def list_jobs(ctx: typer.Context) -> None:
    """The jobs from segbridge.yaml with their next fire times and last runs."""
    from core import runs

    app = _app(ctx)
    rows = []
    for spec, when in app.next_fire_times():
        last = runs.last_run(app.db, spec.step, spec.system, include_skipped=True)
        rows.append([spec.id, spec.describe_trigger(), spec.timezone,
                     f"{when:%Y-%m-%d %H:%M:%S %Z}" if when else ("-" if spec.trigger is None else "never"),
                     ", ".join(spec.depends_on) or "-",
                     f"{last.id} {last.status}" if last else "-"])
    if not rows:
        out.print("no scheduled steps: add a `schedules:` section to segbridge.yaml (see docs/scheduler.md)")
        return
    table("schedule", ["job", "trigger", "time zone", "next fire", "depends on", "last run"], rows)


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
