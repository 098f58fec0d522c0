"""`segbridge quarantine list|show|export`: the records pulls set aside, with their reasons.

    segbridge quarantine list [--system S] [--entity E] [--reason CODE] [--run N] [--limit 50]
    segbridge quarantine list --by-reason         # counts per system, entity and reason only
    segbridge quarantine show ID                  # one record: reason, where from, raw record
    segbridge quarantine export --out FILE.csv|FILE.xlsx [filters]

`list` prints the counts per reason on top, then the newest records; lines fit 80 columns
(the reason text is cut; `show` prints it whole). Exports neutralise formula-like cells and
are written private (0600), like every segbridge export.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from segbridge.commands.common import config_of, out, store_of, table

quarantine_app = typer.Typer(help="Read the records pulls quarantined, with their reasons",
                             no_args_is_help=True)

SYSTEM = typer.Option(None, "--system", help="Only this system")
ENTITY = typer.Option(None, "--entity", help="Only this mapping entity")
REASON = typer.Option(None, "--reason", help="Only this reason code (e.g. bad_type)")
RUN = typer.Option(None, "--run", help="Only records of this pull run")
REASON_WIDTH = 34


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


@quarantine_app.command("list")
def list_(ctx: typer.Context, system: str = SYSTEM, entity: str = ENTITY, reason: str = REASON,
          run: int = RUN,
          limit: int = typer.Option(50, "--limit", min=1, help="At most this many records"),
          by_reason: bool = typer.Option(False, "--by-reason", help="Only the counts per reason")) -> None:
    """Counts per reason, then the newest quarantined records matching the filters."""
    from core.quarantine import Filters, list_records, reason_counts

    db = store_of(config_of(ctx))
    filters = Filters(system, entity, reason, run)
    counts = reason_counts(db, filters)
    if not counts:
        out.print("no quarantined records match", highlight=False)
        return
    table("Quarantined per reason", ["system", "entity", "reason", "records"],
          [[c.system, c.entity, c.reason_code, c.count] for c in counts])
    if by_reason:
        return
    records = list_records(db, filters, limit)
    table(f"Newest {len(records)} of {sum(c.count for c in counts)}", ["id", "run", "where", "reason"],
          [[r["id"], r["run_id"], _cut(r["where"], 24), _cut(f"{r['reason_code']}: {r['reason']}", REASON_WIDTH)]
           for r in records])
    out.print("one record whole: segbridge quarantine show ID", highlight=False)


@quarantine_app.command("show")
def show(ctx: typer.Context, record_id: int = typer.Argument(..., help="Quarantine id (from `list`)")) -> None:
    """One quarantined record: run, system, entity, key, where it came from, reason and raw record."""
    from core.quarantine import get_record

    r = get_record(store_of(config_of(ctx)), record_id)
    for label, key in (("id", "id"), ("run", "run_id"), ("system", "system"), ("entity", "entity"),
                       ("key", "source_key"), ("where", "where"), ("reason", "reason_code"),
                       ("why", "reason"), ("when", "created_at")):
        out.print(f"{label:>7}: {r[key]}", highlight=False, markup=False, soft_wrap=True)
    out.print(" record:", highlight=False)
    out.print(json.dumps(r["record"], indent=2, sort_keys=True, default=str, ensure_ascii=False),
              highlight=False, markup=False, soft_wrap=True)


@quarantine_app.command("export")
def export(ctx: typer.Context,
           out_file: Path = typer.Option(..., "--out", help="File to write: .csv or .xlsx"),
           fmt: str = typer.Option(None, "--format", help="csv | xlsx (default: from the file's suffix)"),
           system: str = SYSTEM, entity: str = ENTITY, reason: str = REASON, run: int = RUN) -> None:
    """Every matching quarantined record with its reason and raw record, for review in a spreadsheet."""
    from core.quarantine import Filters
    from core.quarantine import export as write

    rows, chosen = write(store_of(config_of(ctx)), out_file, Filters(system, entity, reason, run), fmt)
    out.print(f"wrote {rows} quarantined record(s) as {chosen} to {out_file.resolve()}",
              highlight=False, markup=False, soft_wrap=True)
