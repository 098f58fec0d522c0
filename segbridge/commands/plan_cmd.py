"""`segbridge plan [SYSTEM...] [--live] [--rollback RUN] [--out DIR]`: see what write-back would change.

A plan that needs approval waits for `segbridge approve`; a blocked plan (suspect data) for a
steward's `segbridge runs release`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from segbridge.commands.common import config_of, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


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
    db = store_of(config)
    saved = make_plan(config, db, systems or None, live=live, rollback_of=rollback, out_dir=out_dir)
    summary = json.loads(saved.summary or "{}")
    rows = [[r["system"], r["entity"], r["field"], r["changes"], r["increases"], r["decreases"],
             "" if r["value_impact"] is None else f"{r['value_impact']:,.2f}"] for r in summary.get("rows", [])]
    if rows:
        table(f"plan {saved.id} ({saved.kind}) from run {saved.run_id}",
              ["system", "entity", "field", "changes", "increases", "decreases", "value impact"], rows)
    for note in summary.get("skipped", []):
        out.print(f"[yellow]skipped:[/] {note}")
    out.print(f"{summary.get('changes', 0)} change(s) of {summary.get('compared', 0)} compared; "
              f"status [bold]{saved.status}[/]" + (f": {saved.reason}" if saved.reason else ""))
    files = summary.get("files", {})
    out.print(f"saved {files.get('csv')} and {files.get('json')}")
    _next_step(saved, summary.get("changes", 0))


NOTHING_TO_WRITE = "nothing to write: every system already holds the planned values"


def _next_step(saved, changes: int) -> None:
    """What to do now; a plan without changes needs no apply (a blocked one still needs its release)."""
    if not changes and saved.status != "blocked":
        out.print(NOTHING_TO_WRITE)
    elif saved.status == "needs_approval":
        out.print(f"next: review the CSV, then `segbridge approve {saved.id} --reason ...`")
    elif saved.status == "ready":
        out.print(f"next: `segbridge apply {saved.id}` (try --dry-run first)")
    elif saved.status == "blocked":
        out.print("next: release the suspect run (`segbridge runs release RUN --reason ...`), then plan again")
