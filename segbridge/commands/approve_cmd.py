"""`segbridge approve PLAN --reason TEXT [--by NAME]`: a person approves a plan (audited)."""

from __future__ import annotations

import getpass

import typer

from segbridge.commands.common import config_of, out, store_of


def register(app: typer.Typer) -> None:
    app.command("approve")(approve)


def approve(
    ctx: typer.Context,
    plan_id: int = typer.Argument(..., metavar="PLAN", help="Plan id"),
    reason: str = typer.Option(..., "--reason", help="Why the plan is right (kept in the audit log)"),
    by: str = typer.Option(None, "--by", help="Approver's name (default: the OS user)"),
) -> None:
    """Approve a plan that needs approval (recorded with who and why)."""
    from core.writeback.approve import approve as do_approve

    db = store_of(config_of(ctx))
    who = by or getpass.getuser()
    saved = do_approve(db, plan_id, who, reason)
    out.print(f"plan {saved.id} approved by {who}: {reason}")
    out.print(f"next: `segbridge apply {saved.id}`")
