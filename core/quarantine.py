"""Reading the quarantine: the records a pull set aside, with their reasons, counts and examples.

`core.mapping.ingest` writes one `Quarantine` row per refused record (the raw record as JSON,
a reason code and text). This module is the one reader: `list_records` with filters,
`reason_counts` (counts per system, entity and reason code), `top_reasons` with a few examples
each (what `segbridge pull` prints when a stream is suspect), `get_record` and `export_frame`.

Where a record came from: a connector may put the source position in the raw record as the
optional keys `__file` (the file's name) and `__row` (the line in that file, the header being
line 1). When they are there an example names "file row N"; otherwise it names system, entity
and the record's source key (or, with no key, the start of the record itself). Nothing requires
them: mappings read only the columns they name.

Example:
    >>> where({"__file": "orders.csv", "__row": 7}, "erp", "order_line", "SO1")
    'orders.csv row 7'
    >>> where({"qty": "1"}, "erp", "order_line", "SO1")
    'erp order_line key SO1'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from basics.errors import SegbridgeError
from core.model import Quarantine
from core.store import row_by_key

_Q = Quarantine.__table__
FILE_KEY, ROW_KEY = "__file", "__row"  # optional source position in a raw record
EXPORT_COLUMNS = ["id", "run_id", "system", "entity", "source_key", "file", "row", "reason_code", "reason",
                  "created_at", "record"]


@dataclass
class Filters:
    """Which quarantined records to read (None: any)."""

    system: str | None = None
    entity: str | None = None
    reason: str | None = None  # a reason code, e.g. bad_type
    run_id: int | None = None
    run_ids: list[int] | None = None


@dataclass
class ReasonCount:
    system: str
    entity: str
    reason_code: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


def where(record: dict[str, Any], system: str, entity: str, source_key: str | None) -> str:
    """Where a quarantined record came from, for a person: file and row if known, else system, entity, key."""
    file, row = record.get(FILE_KEY), record.get(ROW_KEY)
    if file is not None:
        return f"{file} row {row}" if row is not None else str(file)
    if source_key is not None:
        return f"{system} {entity} key {source_key}"
    text = json.dumps({k: v for k, v in record.items() if v is not None}, default=str, ensure_ascii=False)
    return f"{system} {entity} record {text if len(text) <= 60 else text[:59] + '…'}"


def _filtered(stmt, filters: Filters):
    for column, value in (("system", filters.system), ("entity", filters.entity),
                          ("reason_code", filters.reason), ("run_id", filters.run_id)):
        if value is not None:
            stmt = stmt.where(_Q.c[column] == value)
    if filters.run_ids is not None:
        stmt = stmt.where(_Q.c.run_id.in_(filters.run_ids))
    return stmt


def _as_dict(row) -> dict[str, Any]:
    out = dict(row._mapping)
    try:
        record = json.loads(out["record"])
    except (TypeError, ValueError):
        record = {"_unreadable": out["record"]}
    out["record"] = record if isinstance(record, dict) else {"value": record}
    out["file"], out["row"] = out["record"].get(FILE_KEY), out["record"].get(ROW_KEY)
    out["where"] = where(out["record"], out["system"], out["entity"], out["source_key"])
    return out


def list_records(db: Engine, filters: Filters | None = None, limit: int | None = 50) -> list[dict[str, Any]]:
    """Quarantined records matching `filters`, newest first (at most `limit`; None: all)."""
    stmt = _filtered(select(_Q), filters or Filters()).order_by(_Q.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.connect() as conn:
        return [_as_dict(r) for r in conn.execute(stmt)]


def reason_counts(db: Engine, filters: Filters | None = None) -> list[ReasonCount]:
    """Counts per (system, entity, reason code), largest first."""
    n = func.count().label("n")
    stmt = _filtered(select(_Q.c.system, _Q.c.entity, _Q.c.reason_code, n), filters or Filters())
    stmt = stmt.group_by(_Q.c.system, _Q.c.entity, _Q.c.reason_code).order_by(n.desc(), _Q.c.reason_code)
    with db.connect() as conn:
        return [ReasonCount(r.system, r.entity, r.reason_code, r.n) for r in conn.execute(stmt)]


def top_reasons(db: Engine, filters: Filters, top: int = 3, examples: int = 3) -> list[ReasonCount]:
    """The `top` largest reasons, each with its first `examples` records (oldest first: file order)."""
    found = reason_counts(db, filters)[:top]
    for rc in found:
        narrowed = Filters(rc.system, rc.entity, rc.reason_code, filters.run_id, filters.run_ids)
        stmt = _filtered(select(_Q), narrowed).order_by(_Q.c.id).limit(examples)
        with db.connect() as conn:
            rc.examples = [_as_dict(r) for r in conn.execute(stmt)]
    return found


def get_record(db: Engine, record_id: int) -> dict[str, Any]:
    """One quarantined record with its raw record; a SegbridgeError naming the id when there is none."""
    return _as_dict(row_by_key(db, _Q, record_id, SegbridgeError(f"quarantined record {record_id} not found",
                                                                 hint="list them with `segbridge quarantine list`")))


def export_frame(db: Engine, filters: Filters | None = None, limit: int | None = None) -> pd.DataFrame:
    """The matching records as a table (the raw record as JSON text) for `quarantine export`."""
    rows = list_records(db, filters, limit)
    for r in rows:
        r["record"] = json.dumps(r["record"], default=str, sort_keys=True)
        when = r["created_at"]
        if getattr(when, "tzinfo", None) is not None:  # Excel holds no time zones: naive UTC
            r["created_at"] = when.astimezone(UTC).replace(tzinfo=None)
    return pd.DataFrame(rows, columns=EXPORT_COLUMNS)


def export(db: Engine, path, filters: Filters | None = None, fmt: str | None = None) -> tuple[int, str]:
    """Write the matching records to `path` as CSV or Excel (cells neutralised, file 0600).

    The format is `fmt` or the file's suffix; returns (rows written, format)."""
    from pathlib import Path

    from basics.errors import ConfigError
    from core.reports.spreadsheet import FORMATS, write_table

    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ConfigError(f"cannot tell the export format of '{path}'",
                          hint="name the file .csv or .xlsx, or pass --format csv|xlsx")
    frame = export_frame(db, filters)
    write_table(frame, path, chosen, sheet="quarantine")
    return len(frame), chosen


def release_records(db: Engine, record_ids: list[int], actor: str, reason: str) -> int:
    """A steward releases quarantined records: reviewed, they leave the quarantine (all or none).

    Each record goes whole into the audit log (`quarantine_released`, with the reason), so nothing
    is lost; the next pull loads the record again if the source has fixed it, or quarantines it again.
    """
    from basics.errors import ConfigError
    from core.model import AuditEvent, utcnow

    if not (reason or "").strip():
        raise ConfigError("releasing quarantined records needs a reason")
    ids = sorted({int(i) for i in record_ids})
    if not ids:
        raise ConfigError("name the quarantined records to release")
    with db.begin() as conn:
        rows = conn.execute(select(_Q).where(_Q.c.id.in_(ids)).with_for_update()).all()
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise SegbridgeError(f"quarantined record {', '.join(map(str, missing[:20]))} not found")
        now = utcnow()
        conn.execute(AuditEvent.__table__.insert(), [dict(
            at=now, actor=actor, action="quarantine_released", entity="quarantine", entity_key=str(r.id),
            before=json.dumps({"system": r.system, "entity": r.entity, "source_key": r.source_key,
                               "reason_code": r.reason_code, "record": r.record}),
            after=None, reason=reason, run_id=r.run_id) for r in rows])
        conn.execute(_Q.delete().where(_Q.c.id.in_(ids)))
    return len(rows)
