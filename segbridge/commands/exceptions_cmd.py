"""`segbridge exceptions list|show|ack|resolve|waive|report`: stewards work through reconciliation exceptions.

    segbridge exceptions list [--status S] [--system S] [--kind K] [--severity S] [--limit N]
    segbridge exceptions show ID
    segbridge exceptions ack ID [--reason TEXT] [--by NAME]
    segbridge exceptions resolve ID --reason TEXT [--by NAME]
    segbridge exceptions waive ID --reason TEXT [--by NAME]
    segbridge exceptions report [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import config_of, out, store_of, table

exceptions_app = typer.Typer(help="Work through reconciliation exceptions", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(exceptions_app, name="exceptions")


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma lists alike: --status open,acknowledged --status waived."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return items or None


@exceptions_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: list[str] = typer.Option(None, "--status", help="open, acknowledged, resolved, waived (repeatable)"),
    system: list[str] = typer.Option(None, "--system", help="System name (repeatable)"),
    kind: list[str] = typer.Option(None, "--kind", help="value_mismatch, cross_system, completeness, orphan, conflict, writeback_conflict"),
    severity: list[str] = typer.Option(None, "--severity", help="low, medium, high, critical"),
    limit: int = typer.Option(200, "--limit", help="Show at most this many"),
) -> None:
    """List exceptions, most recently seen first."""
    from core.reconcile import list_exceptions

    db = store_of(config_of(ctx))
    found = list_exceptions(db, _split(status), _split(system), _split(kind), _split(severity), limit=limit)
    if not found:
        out.print("0 exception(s) match these filters")
        return
    rows = [[e.id, e.status, e.severity, e.kind, e.system, e.entity, e.entity_key, e.field, e.expected, e.actual,
             e.owner, e.count, e.last_seen.strftime("%Y-%m-%d %H:%M")] for e in found]
    table(f"{len(found)} exception(s)", ["id", "status", "sev", "kind", "system", "entity", "key", "field",
                                         "expected", "actual", "owner", "count", "last seen"], rows)


@exceptions_app.command("show")
def show(ctx: typer.Context, exc_id: int = typer.Argument(..., metavar="ID")) -> None:
    """One exception with its history of status changes."""
    from core.reconcile import get_exception, history

    db = store_of(config_of(ctx))
    e = get_exception(db, exc_id)
    fields = ["id", "status", "severity", "kind", "system", "entity", "entity_key", "field", "expected", "actual",
              "owner", "reason", "first_seen", "last_seen", "count", "run_id", "fingerprint"]
    table(f"exception {e.id}", ["", "value"], [[f, getattr(e, f)] for f in fields])
    trail = [[h.at.strftime("%Y-%m-%d %H:%M:%S"), h.actor, h.action, h.before, h.after, h.reason]
             for h in history(db, exc_id)]
    table("history", ["at", "by", "action", "from", "to", "reason"], trail)


def _move(ctx: typer.Context, exc_id: int, status: str, reason: str | None, by: str | None) -> None:
    from core.reconcile import transition

    db = store_of(config_of(ctx))
    e = transition(db, exc_id, status, reason=reason, actor=by)
    out.print(f"exception {e.id} is now [bold]{e.status}[/]" + (f": {e.reason}" if e.reason else ""))


_BY = typer.Option(None, "--by", help="Who (default: the login name)")


@exceptions_app.command("ack")
def ack(ctx: typer.Context, exc_id: int = typer.Argument(..., metavar="ID"),
        reason: str = typer.Option(None, "--reason", help="Optional note"), by: str = _BY) -> None:
    """Acknowledge: a steward is working on it."""
    _move(ctx, exc_id, "acknowledged", reason, by)


@exceptions_app.command("resolve")
def resolve(ctx: typer.Context, exc_id: int = typer.Argument(..., metavar="ID"),
            reason: str = typer.Option(None, "--reason", help="What was done (required)"), by: str = _BY) -> None:
    """Resolve: the difference was fixed (it reopens if a later reconcile sees it again)."""
    _move(ctx, exc_id, "resolved", reason, by)


@exceptions_app.command("waive")
def waive(ctx: typer.Context, exc_id: int = typer.Argument(..., metavar="ID"),
          reason: str = typer.Option(None, "--reason", help="Why the difference is accepted (required)"), by: str = _BY) -> None:
    """Waive: the difference is accepted and stays waived when seen again."""
    _move(ctx, exc_id, "waived", reason, by)


@exceptions_app.command("report")
def report(ctx: typer.Context,
           out_dir: Path = typer.Option(Path("reports"), "--out", help="Folder for the Excel, HTML and CSV")) -> None:
    """Write exceptions.xlsx (summary + a sheet per kind), exceptions.html (charts) and exceptions.csv."""
    from core.reports.reconcile_report import write_reports

    db = store_of(config_of(ctx))
    paths = write_reports(db, out_dir)
    table("reports", ["report", "file"], [[k, str(p)] for k, p in paths.items()])
    out.print(f"open {paths['excel']} first (Summary sheet), or {paths['html']} in a browser")
