"""`segbridge runs list|show|release`: the run history of every step, manual or scheduled, and releasing
a suspect run so write-back may use it."""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import (
    CSV_OPTION,
    JSON_OPTION,
    OUT_OPTION,
    Col,
    config_of,
    out,
    show_rows,
    store_of,
    table,
)

runs_app = typer.Typer(help="Run history", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


def _short(text: str | None, width: int = 60) -> str:
    from basics.secrets import redact

    text = redact(text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _counts_text(counts: dict) -> str:
    from core import runs

    return " ".join(f"{k}={v}" for k, v in runs.totals(counts or {}).items() if v)


def _seconds(value) -> str:
    return "" if value is None else f"{value:.1f}"


COLUMNS = [Col("id", wrap=False), Col("kind", wrap=False), Col("system"), Col("status", wrap=False),
           Col("trigger", drop=5, wrap=False), Col("started_at", "started", wrap=False, show=_when),
           Col("seconds", drop=3, wrap=False, show=_seconds), Col("counts", min_width=12, show=_counts_text),
           Col("message", drop=4, min_width=12, show=_short)]


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    kind: str = typer.Option(None, "--kind", help="pull | segment | plan | apply | reconcile | cycle"),
    status: str = typer.Option(None, "--status", help="running | ok | failed | exceptions | skipped | stopped | interrupted"),
    system: str = typer.Option(None, "--system", help="Only runs of this system"),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest N runs"),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    out_file: Path = OUT_OPTION,
) -> None:
    """List runs, newest first (--json and --csv carry every field, counts as an object)."""
    from basics.secrets import redact
    from core import runs

    db = store_of(config_of(ctx))
    rows = [{"id": r.id, "kind": r.kind, "system": r.system, "status": r.status, "trigger": r.trigger,
             "started_at": r.started_at, "finished_at": r.finished_at,
             "seconds": None if r.seconds is None else round(r.seconds, 3), "suspect": r.suspect,
             "ruleset_hash": r.ruleset_hash, "parent_run_id": r.parent_run_id, "counts": r.counts,
             "message": redact(r.message) if r.message else r.message}
            for r in runs.list_runs(db, kind=kind, status=status, system=system, limit=limit)]
    show_rows(rows, COLUMNS, title="runs", as_json=as_json, as_csv=as_csv, out_file=out_file,
              empty="0 runs match these filters")


@runs_app.command("show")
def show(ctx: typer.Context, run: int = typer.Argument(..., help="Run id")) -> None:
    """One run: status, times, rule-set version, counts and message."""
    from basics.secrets import redact
    from core import runs

    info = runs.get_run(store_of(config_of(ctx)), run)
    fields = [["kind", info.kind], ["system", info.system or "-"], ["status", info.status],
              ["trigger", info.trigger], ["started", _when(info.started_at)], ["finished", _when(info.finished_at)],
              ["seconds", "-" if info.seconds is None else f"{info.seconds:.1f}"],
              ["rule set", info.ruleset_hash or "-"], ["parent run", info.parent_run_id or "-"],
              ["suspect", "yes" if info.suspect else "no"], ["process", info.owner or "-"]]
    table(f"run {info.id}", ["field", "value"], fields)
    flat = runs.totals(info.counts)
    counts = {k: flat.get(k, 0) for k in runs.COUNT_KEYS} | flat
    table("counts", ["count", "value"], [[k, v] for k, v in counts.items()])
    per_entity = {k: v for k, v in info.counts.items() if isinstance(v, dict)}
    if per_entity:
        keys = list(dict.fromkeys(k for v in per_entity.values() for k in v))
        table("per entity", ["entity", *keys], [[name, *[v.get(k, "") for k in keys]] for name, v in per_entity.items()])
    if info.message:
        out.print(f"message: {redact(info.message)}", highlight=False, markup=False)


@runs_app.command("release")
def release(
    ctx: typer.Context,
    run: int = typer.Argument(..., help="Id of the suspect run"),
    reason: str = typer.Option(..., "--reason", help="Why the data is fine to write back (kept in the audit log)"),
    by: str = typer.Option(None, "--by", help="Steward's name (default: the OS user)"),
) -> None:
    """Release a run marked suspect by its data-quality threshold, so write-back may use it."""
    from basics.users import actor_or_current
    from core.quality import release_run

    db = store_of(config_of(ctx))
    steward = actor_or_current(by)
    release_run(db, run, steward, reason)
    out.print(f"run {run} released by {steward}: {reason}")
