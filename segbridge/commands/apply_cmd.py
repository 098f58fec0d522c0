"""`segbridge apply [PLAN] [--dry-run]`: apply a plan in batches, exactly once.

Exit codes: 0 ok; 1 when changes were rejected or failed; 3 when the only changes not applied
are conflicts (a person changed the value in the system since the plan; the edit is kept and
filed as a steward exception, as `segbridge reconcile` exits 3 while exceptions remain); a
blocked or unapproved plan is refused (BlockedError, exit 1) with what to do. While another
process writes to a target system (its lease `write:<system>` is held: another `apply`, a `run`,
the scheduler), the command exits 1 at once naming the holder (host, pid, since when) and "wait
for it to finish"; nothing is sent and no run is recorded. SIGTERM or Ctrl-C finishes the batch in hand,
keeps the rest pending and stops; a rerun sends the rest.
"""

from __future__ import annotations

import typer

from basics.errors import EXIT_EXCEPTIONS, SegbridgeError
from segbridge.commands.common import config_of, long_running, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)


def apply(
    ctx: typer.Context,
    plan_id: int = typer.Argument(None, metavar="[PLAN]", help="Plan id (default: the latest plan)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; change nothing"),
) -> None:
    """Apply a plan in batches, exactly once (a rerun after a crash finishes the rest)."""
    from core.writeback.apply import apply_plan

    config = config_of(ctx)
    db = store_of(config)
    with long_running(out.is_terminal) as (progress, stop):
        result = apply_plan(config, db, plan_id, dry_run=dry_run, progress=progress, stop_event=stop)
    rows = [[s, c["applied"], c["conflict"], c["rejected"], c["failed"], c["pending"]]
            for s, c in sorted(result.systems.items())]
    title = f"plan {result.plan_id}: " + ("dry run, nothing sent" if dry_run else f"apply run {result.run_id}")
    table(title, ["system", "applied", "conflict", "rejected", "failed", "pending"], rows)
    verb = "would send" if dry_run else "sent"
    # requests: the HTTP requests really sent (Connector.requests_sent: read-backs, tokens and retries
    # included) where the connector counts them, else the write batches
    out.print(f"{verb} {result.items} item(s) in {result.requests} request(s) in {result.seconds:.1f}s; "
              f"status [bold]{result.status}[/]")
    if result.verified or result.requeued:
        out.print(f"recovered from an interrupted apply: {result.verified} verified applied, "
                  f"{result.requeued} queued again")
    if result.conflicts:
        out.print(f"[bold]{result.conflicts} change(s) not written: changed in the system since the plan "
                  "(a person's edit wins); see `segbridge exceptions list --kind writeback_conflict`[/]")
    if not result.ok:
        _print_problems(db, result.plan_id)
        bad = result.total("rejected") + result.total("failed")
        if result.errors:
            raise SegbridgeError("\n".join([f"plan {result.plan_id}: {bad} change(s) were rejected or failed; "
                                             f"{len(result.errors)} system(s) stopped early:",
                                             *result.errors.values()]),
                                 hint="fix the cause, then `segbridge apply` again: it sends the pending rest")
        raise SegbridgeError(f"plan {result.plan_id}: {bad} change(s) were rejected or failed",
                             hint="see the messages above; fix the cause, then plan again (applied changes stay)")
    if result.conflicts and not dry_run:
        _print_problems(db, result.plan_id, states=("conflict",))
        raise typer.Exit(EXIT_EXCEPTIONS)


def _print_problems(db, plan_id: int, limit: int = 20,
                    states: tuple[str, ...] = ("conflict", "rejected", "failed")) -> None:
    """The first conflicting/rejected/failed changes with the message saying why."""
    from core.writeback.outbox import changes_in

    rows = []
    for state in states:
        frame = changes_in(db, plan_id, state)
        rows += [[state, r.system, r.entity, r.target_key, r.field, r.intended_value, r.message]
                 for r in frame.head(limit).itertuples()]
    table("problems", ["state", "system", "entity", "key", "field", "intended", "message"], rows[:limit])
