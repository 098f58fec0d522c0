"""`segbridge plans list|show`: the write-back plans made so far, who made and approved them, and what
each would change.

    segbridge plans list [--status S] [--kind normal|rollback] [--limit N] [--json|--csv] [--out FILE]
    segbridge plans show ID [--json]
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from basics.errors import ConfigError
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

plans_app = typer.Typer(help="Write-back plans: list them, show one", no_args_is_help=True)

COLUMNS = [Col("id", wrap=False), Col("kind", wrap=False), Col("status", wrap=False),
           Col("created_at", "created", wrap=False), Col("run_id", "run", drop=2, wrap=False),
           Col("changes", wrap=False), Col("planned_by", "planned by", drop=3),
           Col("approved_by", "approved by", drop=4), Col("reason", drop=5, wrap=False, min_width=12)]


def register(app: typer.Typer) -> None:
    app.add_typer(plans_app, name="plans")


def _summary(plan) -> dict:
    try:
        return json.loads(plan.summary or "{}")
    except ValueError:  # a hand-edited row: show the plan, not a traceback
        return {}


def _row(plan) -> dict:
    """A plan as scripts get it: the plan's columns, and the change count from its summary."""
    summary = _summary(plan)
    return {"id": plan.id, "kind": plan.kind, "status": plan.status, "created_at": plan.created_at,
            "run_id": plan.run_id, "changes": summary.get("changes"), "compared": summary.get("compared"),
            "planned_by": plan.planned_by, "approved_by": plan.approved_by, "approved_at": plan.approved_at,
            "reason": plan.reason}


def _plans(db, status: str | None, kind: str | None, limit: int) -> list:
    from sqlmodel import Session, select

    from core.model import Plan

    stmt = select(Plan).order_by(Plan.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Plan.status == status)
    if kind:
        stmt = stmt.where(Plan.kind == kind)
    with Session(db) as session:
        return list(session.exec(stmt).all())


@plans_app.command("list")
def list_plans(
    ctx: typer.Context,
    status: str = typer.Option(None, "--status", help="ready | needs_approval | approved | blocked | applied | ..."),
    kind: str = typer.Option(None, "--kind", help="normal | rollback"),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest N plans"),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    out_file: Path = OUT_OPTION,
) -> None:
    """List write-back plans, newest first."""
    _check_status(status)
    rows = [_row(p) for p in _plans(store_of(config_of(ctx)), status, kind, limit)]
    show_rows(rows, COLUMNS, title="plans", as_json=as_json, as_csv=as_csv, out_file=out_file,
              empty="0 plans match these filters; make one with `segbridge plan`")


def _check_status(status: str | None) -> None:
    from core.statuses import PlanStatus

    if status and status not in set(PlanStatus):
        raise ConfigError(f"unknown plan status {status!r}", hint=f"one of: {', '.join(PlanStatus)}")


@plans_app.command("show")
def show(ctx: typer.Context, plan_id: int = typer.Argument(..., metavar="ID"), as_json: bool = JSON_OPTION) -> None:
    """One plan: who made and approved it, and its changes per system, entity and field."""
    from core.writeback.plan import load_plan

    plan = load_plan(store_of(config_of(ctx)), plan_id)
    summary = _summary(plan)
    if as_json:
        row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in _row(plan).items()}
        typer.echo(json.dumps({**row, "summary": summary}, indent=2, default=str))
        return
    row = _row(plan)
    table(f"plan {plan.id}", ["field", "value"],
          [[k, "-" if v is None else v] for k, v in row.items() if k != "id"])
    per_field = [[r.get("system"), r.get("entity"), r.get("field"), r.get("changes"), r.get("increases"),
                  r.get("decreases")] for r in summary.get("rows", [])]
    if per_field:
        table("changes", ["system", "entity", "field", "changes", "up", "down"], per_field)
    for note in summary.get("skipped", []):
        out.print(f"[yellow]skipped:[/] {note}", highlight=False)
    files = summary.get("files", {})
    if files:
        out.print(f"files: {files.get('csv')} and {files.get('json')}", highlight=False, markup=False, soft_wrap=True)
