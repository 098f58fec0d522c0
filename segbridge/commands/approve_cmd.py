"""`segbridge approve PLAN --reason TEXT`: the user running it approves a plan (audited).

The approver is the OS user running the command, not a typed name: `--by NAME` was removed and is
refused with a message saying so, so a script that still passes it fails loudly instead of
recording a name nobody authenticated. With `writeback.four_eyes` (default on) the user who made
the plan cannot approve it.
"""

from __future__ import annotations

import typer

from basics.errors import ConfigError
from segbridge.commands.common import config_of, out, store_of

BY_REMOVED = ("--by was removed: the approver is now the OS user running `segbridge approve` ({user}), "
              "recorded as such; a typed name is not accepted")


def register(app: typer.Typer) -> None:
    app.command("approve")(approve)


def approve(
    ctx: typer.Context,
    plan_id: int = typer.Argument(..., metavar="PLAN", help="Plan id"),
    reason: str = typer.Option(..., "--reason", help="Why the plan is right (kept in the audit log)"),
    by: str = typer.Option(None, "--by", hidden=True, help="Removed: the approver is the OS user"),
) -> None:
    """Approve a plan that needs approval, as the OS user running this (recorded with who and why)."""
    from basics.users import current_user
    from core.writeback.approve import approve as do_approve

    if by is not None:
        raise ConfigError(BY_REMOVED.format(user=current_user()),
                          hint="drop --by and run the command as the approving user (writeback.four_eyes: "
                          "the plan's maker cannot approve it)")
    config = config_of(ctx)
    saved = do_approve(store_of(config), plan_id, reason, config=config)
    planner = saved.planned_by or "unknown (made before planners were recorded)"
    out.print(f"plan {saved.id} approved by {saved.approved_by} (planned by {planner}): {reason}")
    out.print(f"next: `segbridge apply {saved.id}`")
