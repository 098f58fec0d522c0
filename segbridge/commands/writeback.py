"""plan, approve, apply: see what will change, let a person approve it, apply it exactly once.

    segbridge plan [SYSTEM...] [--live] [--rollback RUN] [--out DIR]
    segbridge approve PLAN --reason TEXT [--by NAME]
    segbridge apply [PLAN] [--dry-run]

Exit codes: 0 ok; 1 when changes were rejected or failed; 2 for usage; a blocked or unapproved
plan is refused (BlockedError, exit 1) with what to do.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from basics.errors import SegbridgeError
from segbridge.commands.common import config_of, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("approve")(approve)
    app.command("apply")(apply)


def plan(
    ctx: typer.Context,
    systems: list[str] = typer.Argument(None, help="Systems to plan for (default: every writable system)"),
    live: bool = typer.Option(False, "--live", help="Read current values from the systems now (read-back)"),
    rollback: int = typer.Option(None, "--rollback", metavar="RUN",
                                 help="Plan restoring the values in place before this apply (or segment) run"),
    out_dir: Path = typer.Option(None, "--out", help="Folder for plan-<id>.csv/.json (default: writeback.out_dir)"),
) -> None:
    """Compute the write-back plan: what would change in each system, and why it may need approval."""
    from core.writeback.plan import make_plan

    config = config_of(ctx)
    engine = store_of(config)
    saved = make_plan(config, engine, systems or None, live=live, rollback_of=rollback, out_dir=out_dir)
    summary = json.loads(saved.summary or "{}")
    rows = [[r["system"], r["entity"], r["field"], r["changes"], r["increases"], r["decreases"],
             "" if r["value_impact"] is None else f"{r['value_impact']:,.2f}"] for r in summary.get("rows", [])]
    table(f"plan {saved.id} ({saved.kind}) from run {saved.run_id}",
          ["system", "entity", "field", "changes", "increases", "decreases", "value impact"], rows)
    for note in summary.get("skipped", []):
        out.print(f"[yellow]skipped:[/] {note}")
    out.print(f"{summary.get('changes', 0)} change(s) of {summary.get('compared', 0)} compared; "
              f"status [bold]{saved.status}[/]" + (f": {saved.reason}" if saved.reason else ""))
    files = summary.get("files", {})
    out.print(f"saved {files.get('csv')} and {files.get('json')}")
    _next_step(saved)


def _next_step(saved) -> None:
    if saved.status == "needs_approval":
        out.print(f"next: review the CSV, then `segbridge approve {saved.id} --reason ...`")
    elif saved.status == "ready":
        out.print(f"next: `segbridge apply {saved.id}` (try --dry-run first)")
    elif saved.status == "blocked":
        out.print("next: release the suspect run (`segbridge runs release RUN --reason ...`), then plan again")


def approve(
    ctx: typer.Context,
    plan_id: int = typer.Argument(..., metavar="PLAN", help="Plan id"),
    reason: str = typer.Option(..., "--reason", help="Why the plan is right (kept in the audit log)"),
    by: str = typer.Option(None, "--by", help="Approver's name (default: the OS user)"),
) -> None:
    """Approve a plan that needs approval (recorded with who and why)."""
    from core.writeback.approve import approve as do_approve

    engine = store_of(config_of(ctx))
    who = by or getpass.getuser()
    saved = do_approve(engine, plan_id, who, reason)
    out.print(f"plan {saved.id} approved by {who}: {reason}")
    out.print(f"next: `segbridge apply {saved.id}`")


def apply(
    ctx: typer.Context,
    plan_id: int = typer.Argument(None, metavar="[PLAN]", help="Plan id (default: the latest plan)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; change nothing"),
) -> None:
    """Apply a plan in batches, exactly once (a rerun after a crash finishes the rest)."""
    from core.writeback.apply import apply_plan

    config = config_of(ctx)
    engine = store_of(config)
    result = apply_plan(config, engine, plan_id, dry_run=dry_run, progress=out.is_terminal)
    rows = [[s, c["applied"], c["rejected"], c["failed"], c["pending"]] for s, c in sorted(result.systems.items())]
    title = f"plan {result.plan_id}: " + ("dry run, nothing sent" if dry_run else f"apply run {result.run_id}")
    table(title, ["system", "applied", "rejected", "failed", "pending"], rows)
    verb = "would send" if dry_run else "sent"
    out.print(f"{verb} {result.items} item(s) in {result.requests} request(s) in {result.seconds:.1f}s; "
              f"status [bold]{result.status}[/]")
    if result.verified or result.requeued:
        out.print(f"recovered from an interrupted apply: {result.verified} verified applied, "
                  f"{result.requeued} queued again")
    if not result.ok:
        _print_problems(engine, result.plan_id)
        bad = result.total("rejected") + result.total("failed")
        raise SegbridgeError(f"plan {result.plan_id}: {bad} change(s) were rejected or failed",
                             hint="see the messages above; fix the cause, then plan again (applied changes stay)")


def _print_problems(engine, plan_id: int, limit: int = 20) -> None:
    """The first rejected/failed changes with the system's message."""
    from core.writeback.outbox import changes_in

    rows = []
    for state in ("rejected", "failed"):
        frame = changes_in(engine, plan_id, state)
        rows += [[state, r.system, r.entity, r.target_key, r.field, r.intended_value, r.message]
                 for r in frame.head(limit).itertuples()]
    table("problems", ["state", "system", "entity", "key", "field", "intended", "message"], rows[:limit])
