"""`segbridge exceptions list|show|ack|resolve|waive|report`: stewards work through reconciliation exceptions.

    segbridge exceptions list [--status S] [--system S] [--kind K] [--severity S] [--limit N] [--json|--csv]
    segbridge exceptions show ID
    segbridge exceptions ack [ID...] [filters] [--reason TEXT] [--by NAME] [--yes]
    segbridge exceptions resolve [ID...] [filters] --reason TEXT [--by NAME] [--yes]
    segbridge exceptions waive [ID...] [filters] --reason TEXT [--by NAME] [--yes]
    segbridge exceptions report [--out DIR]

`ack`, `resolve` and `waive` take ids, filters (`--system`, `--kind`, `--severity`, `--status`) or
both; they say how many exceptions would change and ask before changing more than one named id.
"""

from __future__ import annotations

from pathlib import Path

import typer

from basics.errors import ConfigError
from segbridge.commands.common import (
    CSV_OPTION,
    JSON_OPTION,
    OUT_OPTION,
    Col,
    config_of,
    confirm_or_refuse,
    out,
    show_rows,
    store_of,
    table,
)

exceptions_app = typer.Typer(help="Work through reconciliation exceptions", no_args_is_help=True)

COLUMNS = [Col("id", wrap=False), Col("status", wrap=False, constant=True),
           Col("severity", "sev", drop=4, wrap=False, constant=True), Col("kind", min_width=10, constant=True),
           Col("system", constant=True), Col("entity", drop=6, constant=True), Col("entity_key", "key", min_width=10),
           Col("field", min_width=10, constant=True), Col("expected", wrap=False, min_width=8),
           Col("actual", wrap=False, min_width=8), Col("owner", drop=7), Col("count", drop=3, wrap=False),
           Col("last_seen", "last seen", drop=5, wrap=False)]
HISTORY = [Col("at", wrap=False), Col("by"), Col("action", drop=1), Col("from", wrap=False),
           Col("to", wrap=False), Col("reason", min_width=10)]
FIELDS = ["id", "status", "severity", "kind", "system", "entity", "entity_key", "field", "expected", "actual",
          "owner", "count", "first_seen", "last_seen", "run_id", "reason", "fingerprint"]


def register(app: typer.Typer) -> None:
    app.add_typer(exceptions_app, name="exceptions")


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma lists alike: --status open,acknowledged --status waived."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return items or None


_STATUS = typer.Option(None, "--status", help="open, acknowledged, resolved, waived (repeatable)")
_SYSTEM = typer.Option(None, "--system", help="System name (repeatable)")
_KIND = typer.Option(None, "--kind", help="value_mismatch, cross_system, completeness, orphan, conflict, "
                                          "writeback_conflict")
_SEVERITY = typer.Option(None, "--severity", help="low, medium, high, critical")


@exceptions_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: list[str] = _STATUS,
    system: list[str] = _SYSTEM,
    kind: list[str] = _KIND,
    severity: list[str] = _SEVERITY,
    limit: int = typer.Option(200, "--limit", help="Show at most this many"),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    out_file: Path = OUT_OPTION,
) -> None:
    """List exceptions, most recently seen first (narrow terminals leave out severity, entity, owner,
    count and last seen; --json and --csv carry every field)."""
    from core.reconcile import list_exceptions

    db = store_of(config_of(ctx))
    found = list_exceptions(db, _split(status), _split(system), _split(kind), _split(severity), limit=limit)
    rows = [{f: getattr(e, f) for f in FIELDS} for e in found]
    show_rows(rows, COLUMNS, title=f"{len(found)} exception(s)", as_json=as_json, as_csv=as_csv,
              out_file=out_file, empty="0 exception(s) match these filters")


@exceptions_app.command("show")
def show(ctx: typer.Context, exc_id: int = typer.Argument(..., metavar="ID")) -> None:
    """One exception with its history of status changes."""
    from core.reconcile import get_exception, history

    db = store_of(config_of(ctx))
    e = get_exception(db, exc_id)
    fields = ["id", "status", "severity", "kind", "system", "entity", "entity_key", "field", "expected", "actual",
              "owner", "reason", "first_seen", "last_seen", "count", "run_id", "fingerprint"]
    table(f"exception {e.id}", ["", "value"], [[f, getattr(e, f)] for f in fields])
    trail = [{"at": f"{h.at:%Y-%m-%d %H:%M:%S}", "by": h.actor, "action": h.action,
              "from": h.before, "to": h.after, "reason": h.reason} for h in history(db, exc_id)]
    show_rows(trail, HISTORY, title="history", empty="history: no status changes yet")


def _chosen(db, ids: list[int], status: str, filters: dict[str, list[str] | None]) -> list[int]:
    """The exceptions a bulk action changes: the named ids (each must exist), narrowed by the filters;
    without ids, every exception matching the filters whose status can become `status`."""
    from core.reconcile import can_become, list_exceptions

    if not ids and not any(filters.values()):
        raise ConfigError(f"name the exceptions to mark {status}",
                          hint="give ids, or filters such as --system sap --kind value_mismatch")
    if ids and not any(filters.values()):
        return sorted(set(ids))  # transition_many refuses unknown ids and impossible moves by name
    if not filters.get("status"):
        filters = {**filters, "status": can_become(status)}
    found = list_exceptions(db, filters["status"], filters["system"], filters["kind"], filters["severity"],
                            ids=ids or None)
    return sorted(e.id for e in found)


def _move(ctx: typer.Context, ids: list[int], status: str, reason: str | None, by: str | None, yes: bool,
          filters: dict[str, list[str] | None]) -> None:
    from core.reconcile import transition_many

    filters = {k: _split(v) for k, v in filters.items()}
    if status in ("resolved", "waived") and not (reason or "").strip():
        raise ConfigError(f"a reason is required to mark an exception {status}", hint="pass --reason '...'")
    db = store_of(config_of(ctx))
    chosen = _chosen(db, list(ids or []), status, filters)
    if not chosen:
        out.print(f"0 exception(s) match these filters; nothing marked {status}")
        return
    transition_many(db, chosen, status, reason=reason, actor=by, check_only=True)
    if len(chosen) > 1 or any(filters.values()):
        shown = ", ".join(map(str, chosen[:20])) + (" ..." if len(chosen) > 20 else "")
        out.print(f"{len(chosen)} exception(s) to mark {status}: {shown}", highlight=False)
        confirm_or_refuse(f"marking {len(chosen)} exception(s) {status}", yes)
    moved = transition_many(db, chosen, status, reason=reason, actor=by)
    if moved == 1:
        out.print(f"exception {chosen[0]} is now [bold]{status}[/]" + (f": {reason}" if reason else ""))
    else:
        out.print(f"{moved} exception(s) are now [bold]{status}[/]" + (f": {reason}" if reason else ""))


_IDS = typer.Argument(None, metavar="ID", help="Exception ids (or use the filters)")
_BY = typer.Option(None, "--by", help="Who (default: the OS user)")
_YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (needed when stdin is not a terminal)")


@exceptions_app.command("ack")
def ack(ctx: typer.Context, exc_ids: list[int] = _IDS, reason: str = typer.Option(None, "--reason",
        help="Optional note"), status: list[str] = _STATUS, system: list[str] = _SYSTEM, kind: list[str] = _KIND,
        severity: list[str] = _SEVERITY, by: str = _BY, yes: bool = _YES) -> None:
    """Acknowledge: a steward is working on it."""
    _move(ctx, exc_ids, "acknowledged", reason, by, yes,
          {"status": status, "system": system, "kind": kind, "severity": severity})


@exceptions_app.command("resolve")
def resolve(ctx: typer.Context, exc_ids: list[int] = _IDS, reason: str = typer.Option(None, "--reason",
            help="What was done (required)"), status: list[str] = _STATUS, system: list[str] = _SYSTEM,
            kind: list[str] = _KIND, severity: list[str] = _SEVERITY, by: str = _BY, yes: bool = _YES) -> None:
    """Resolve: the difference was fixed (it reopens if a later reconcile sees it again)."""
    _move(ctx, exc_ids, "resolved", reason, by, yes,
          {"status": status, "system": system, "kind": kind, "severity": severity})


@exceptions_app.command("waive")
def waive(ctx: typer.Context, exc_ids: list[int] = _IDS, reason: str = typer.Option(None, "--reason",
          help="Why the difference is accepted (required)"), status: list[str] = _STATUS,
          system: list[str] = _SYSTEM, kind: list[str] = _KIND, severity: list[str] = _SEVERITY, by: str = _BY,
          yes: bool = _YES) -> None:
    """Waive: the difference is accepted and stays waived when seen again."""
    _move(ctx, exc_ids, "waived", reason, by, yes,
          {"status": status, "system": system, "kind": kind, "severity": severity})


@exceptions_app.command("report")
def report(ctx: typer.Context,
           out_dir: Path = typer.Option(Path("reports"), "--out", help="Folder for the Excel, HTML and CSV")) -> None:
    """Write exceptions.xlsx (summary + a sheet per kind), exceptions.html (charts) and exceptions.csv."""
    from core.reports.reconcile_report import write_reports

    db = store_of(config_of(ctx))
    paths = write_reports(db, out_dir)
    table("reports", ["report", "file"], [[k, str(p)] for k, p in paths.items()])
    out.print(f"open {paths['excel']} first (Summary sheet), or {paths['html']} in a browser")
