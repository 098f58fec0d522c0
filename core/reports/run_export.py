"""What planners review: one stored segment run as a CSV or Excel table, old values next to new.

A planner signs off a run before its parameters reach the ERP, and does it in a spreadsheet: per
product-location the run's classes (segment, ABC, XYZ, pattern, lifecycle), how the safety stock
was computed (policy rule, method, service type, achieved service) and, for every planning
parameter, three values side by side:

* `<name>_current`: what the source system holds now (`product_location.current_*`, or the master
  columns `moq` and `order_multiple`, as last pulled); the value write-back would replace;
* `<name>_previous_run`: the previous successful segment run's value, to see what moved;
* `<name>_new`: this run's value; then `<name>_change` (new - current) for numbers, or
  `<name>_changed` (true/false) for codes. Blank where a side is unknown.

The segments export lists every classified entity (product-location, product, customer) with its
classes wide, the previous run's segment and whether the segment changed.

Runs: the latest successful segment run unless one is named; "previous" is the newest successful
segment run before it (the run the engine compared with when it wrote its audit events). Rows the
engine did not store (older runs have no `rule`, `ss_method`, `service_type`, `achieved_*`) are
left blank, never guessed. Reading is plain store reads and pandas; writing goes through
`core.reports.spreadsheet` (no live formulas, files private to the user).

Example:
    >>> result = export_run(db, "parameters", "review/params.xlsx")     # doctest: +SKIP
    >>> result.rows, result.run_id, result.previous_id
    (1840, 12, 11)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from basics.errors import BlockedError, ConfigError
from core.model import ParameterValue, ProductLocation, Run, SegmentAssignment
from core.reports.spreadsheet import FORMATS, write_table
from core.statuses import SUCCEEDED, RunKind
from core.store import read_frame

PL = "product_location"
ENTITY_ORDER = ["product_location", "product", "customer"]
PL_DIMENSIONS = ["segment", "abc", "xyz", "pattern", "lifecycle"]
SEGMENT_DIMENSIONS = ["abc", "xyz", "pattern", "lifecycle", "velocity", "segment"]
METHOD = ["rule", "ss_method", "service_type"]
ACHIEVED = ["achieved_service", "achieved_fill_rate", "achieved_cycle_service"]
# Every export has these parameter blocks (a stable layout planners can build on); other names the
# engine stores for product-locations follow, alphabetically.
PARAMETERS = ["service_level", "safety_stock", "reorder_point", "min_qty", "max_qty", "order_quantity",
              "order_multiple", "moq", "min_order_value", "mrp_type", "lot_sizing", "abc", "segment",
              "velocity_class", "picking_priority", "transport_mode", "carrier_class", "expedite_allowed",
              "cross_dock"]
TEXT_PARAMETERS = {"mrp_type", "lot_sizing", "abc", "segment", "velocity_class", "picking_priority",
                   "transport_mode", "carrier_class", "expedite_allowed", "cross_dock", *METHOD}
# parameter -> the product_location column holding what the source system has now
CURRENT_COLUMN = {"service_level": "current_service_level", "safety_stock": "current_safety_stock",
                  "reorder_point": "current_reorder_point", "min_qty": "current_min_qty",
                  "max_qty": "current_max_qty", "order_multiple": "order_multiple", "moq": "moq",
                  "mrp_type": "current_mrp_type", "lot_sizing": "current_lot_sizing", "abc": "current_abc",
                  "segment": "current_segment", "velocity_class": "current_velocity_class",
                  "picking_priority": "current_picking_priority"}
EMPTY_PARAMETERS = pd.DataFrame(columns=["entity_key", "name", "value_num", "value_text"])
EMPTY_SEGMENTS = pd.DataFrame(columns=["entity", "entity_key", "dimension", "value", "source"])


@dataclass(frozen=True)
class RunPair:
    """The run to export and the successful segment run before it (None for the first)."""

    run_id: int
    previous_id: int | None


@dataclass(frozen=True)
class ExportResult:
    what: str
    path: Path
    fmt: str
    rows: int
    run_id: int
    previous_id: int | None


# --------------------------------------------------------------------------- which runs


def _segment_runs(db: Engine) -> list[tuple[int, str]]:
    """(id, status) of every segment run, newest first."""
    t = Run.__table__
    with db.connect() as conn:
        return [(r.id, r.status) for r in conn.execute(
            select(t.c.id, t.c.status).where(t.c.kind == RunKind.SEGMENT).order_by(t.c.id.desc()))]


def _latest_hint(ok: list[int]) -> str:
    if not ok:
        return "there is no successful segment run yet: run `segbridge segment` first"
    return (f"latest successful segment runs: {', '.join(map(str, ok[:5]))} "
            f"(`segbridge runs list --kind segment` lists them all)")


def _check_run(db: Engine, run_id: int, runs: list[tuple[int, str]], ok: list[int]) -> None:
    """A clear error, naming the run and the runs that would do, unless `run_id` is a successful segment run."""
    hint = _latest_hint(ok)
    status = dict(runs).get(run_id)
    if status is None:
        with db.connect() as conn:
            kind = conn.execute(select(Run.__table__.c.kind).where(Run.__table__.c.id == run_id)).scalar()
        if kind is None:
            raise ConfigError(f"run {run_id} does not exist", hint=hint)
        raise ConfigError(f"run {run_id} is a {kind} run, not a segment run", hint=hint)
    if status not in SUCCEEDED:
        raise ConfigError(f"segment run {run_id} is {status}, not ok: it has no segments to export", hint=hint)


def choose_runs(db: Engine, run_id: int | None = None) -> RunPair:
    """The named run (checked) or the latest successful segment run, and the successful one before it."""
    runs = _segment_runs(db)
    ok = [rid for rid, status in runs if status in SUCCEEDED]
    if run_id is None:
        if not ok:
            raise BlockedError("there is no successful segment run to export",
                               hint="run `segbridge segment` first")
        run_id = ok[0]
    else:
        _check_run(db, run_id, runs, ok)
    return RunPair(run_id, next((r for r in ok if r < run_id), None))


# --------------------------------------------------------------------------- store reads


def _parameter_rows(db: Engine, run_id: int | None) -> pd.DataFrame:
    """The run's product-location parameters, long (entity_key, name, value_num, value_text)."""
    if run_id is None:
        return EMPTY_PARAMETERS
    t = ParameterValue.__table__
    return read_frame(db, select(t.c.entity_key, t.c.name, t.c.value_num, t.c.value_text)
                      .where(t.c.run_id == run_id, t.c.entity == PL))


def _segment_rows(db: Engine, run_id: int | None) -> pd.DataFrame:
    """The run's classes of every entity, long (entity, entity_key, dimension, value, source)."""
    if run_id is None:
        return EMPTY_SEGMENTS
    t = SegmentAssignment.__table__
    return read_frame(db, select(t.c.entity, t.c.entity_key, t.c.dimension, t.c.value, t.c.source)
                      .where(t.c.run_id == run_id))


def _current_values(db: Engine) -> pd.DataFrame:
    """What the source systems hold now, one column per parameter name, indexed by entity_key.

    Service levels above 1 are percentages (SAP keeps 98.0 for 98 %): they are shown as fractions,
    like the engine's, so `service_level_change` compares like with like.
    """
    t = ProductLocation.__table__
    cols = sorted(set(CURRENT_COLUMN.values()))
    frame = read_frame(db, select(t.c.product_id, t.c.location_id, *[t.c[c] for c in cols]))
    keys = frame["product_id"].astype(str) + "|" + frame["location_id"].astype(str)
    current = pd.DataFrame({name: frame[col].to_numpy() for name, col in CURRENT_COLUMN.items()},
                           index=pd.Index(keys, name="entity_key"))
    level = pd.to_numeric(current["service_level"], errors="coerce")
    current["service_level"] = level.where(level <= 1, level / 100)
    return current


# --------------------------------------------------------------------------- frames


def _wide(rows: pd.DataFrame, text_names: set[str]) -> pd.DataFrame:
    """Long parameter rows -> one column per name: value_text for codes, value_num for numbers."""
    if rows.empty:
        return pd.DataFrame(index=pd.Index([], name="entity_key"))
    num = rows.pivot(index="entity_key", columns="name", values="value_num")
    txt = rows.pivot(index="entity_key", columns="name", values="value_text")
    return pd.DataFrame({name: (txt[name] if name in text_names else pd.to_numeric(num[name]))
                         for name in num.columns}, index=num.index)


def _column(wide: pd.DataFrame, name: str, keys: pd.Index) -> pd.Series:
    """One column on `keys`, all blank when the frame lacks it."""
    if name in wide.columns:
        return wide[name].reindex(keys)
    return pd.Series(None, index=keys, dtype=object)


def _block(name: str, current: pd.Series, previous: pd.Series, new: pd.Series, text: bool) -> dict:
    """The four columns of one parameter: current, previous run, new, and the change against current."""
    out = {f"{name}_current": current, f"{name}_previous_run": previous, f"{name}_new": new}
    if text:
        both = current.notna() & new.notna()
        differs = current.astype(object).astype(str) != new.astype(object).astype(str)
        out[f"{name}_changed"] = differs.astype(object).where(both, None)
    else:
        change = pd.to_numeric(new, errors="coerce") - pd.to_numeric(current, errors="coerce")
        out[f"{name}_change"] = change.round(6)
    return out


def _parameter_names(new_rows: pd.DataFrame, prev_rows: pd.DataFrame) -> tuple[list[str], set[str]]:
    """The parameter blocks in order, and which of them hold codes rather than numbers."""
    both = pd.concat([f for f in (new_rows, prev_rows) if len(f)] or [EMPTY_PARAMETERS], ignore_index=True)
    stored = set(both["name"])
    extra = sorted(stored - set(PARAMETERS) - set(METHOD) - set(ACHIEVED))
    coded = set(both.loc[both["value_text"].notna(), "name"])
    return PARAMETERS + extra, TEXT_PARAMETERS | (coded & set(extra))


def _dimensions(rows: pd.DataFrame, entity: str | None = None) -> pd.DataFrame:
    """Classes wide: one row per (entity, entity_key) - or per entity_key for one entity."""
    if entity is not None:
        rows = rows[rows["entity"] == entity]
    index = "entity_key" if entity is not None else ["entity", "entity_key"]
    if rows.empty:
        return pd.DataFrame(index=pd.Index([], name="entity_key") if entity else pd.MultiIndex.from_tuples(
            [], names=["entity", "entity_key"]))
    return rows.pivot(index=index, columns="dimension", values="value")


def parameters_frame(db: Engine, pair: RunPair) -> pd.DataFrame:
    """One row per product-location of the run: classes, method, and old vs new per parameter."""
    new_rows, prev_rows = _parameter_rows(db, pair.run_id), _parameter_rows(db, pair.previous_id)
    names, coded = _parameter_names(new_rows, prev_rows)
    new, prev = _wide(new_rows, coded), _wide(prev_rows, coded)
    dims = _dimensions(_segment_rows(db, pair.run_id), PL)
    keys = pd.Index(sorted(set(new.index) | set(dims.index)), name="entity_key")
    current = _current_values(db)
    ids = keys.to_series().str.partition("|")
    cols = {"product_id": ids[0], "location_id": ids[2]}
    cols |= {d: _column(dims, d, keys) for d in PL_DIMENSIONS}
    cols |= {m: _column(new, m, keys) for m in METHOD}
    blocks = {n: _block(n, _column(current, n, keys), _column(prev, n, keys), _column(new, n, keys), n in coded)
              for n in names}
    cols |= blocks.pop("service_level")  # the target, next to what was achieved
    cols |= {a: pd.to_numeric(_column(new, a, keys), errors="coerce") for a in ACHIEVED}
    for block in blocks.values():
        cols |= block
    cols |= {"run_id": pair.run_id, "previous_run_id": pair.previous_id}
    return pd.DataFrame(cols, index=keys).reset_index(drop=True)


def _id_columns(index: pd.MultiIndex) -> dict[str, list]:
    """product_id / location_id / customer_id from each entity's key."""
    out: dict[str, list] = {"product_id": [], "location_id": [], "customer_id": []}
    for entity, key in index:
        product, _, location = key.partition("|") if entity == PL else (key, "", "")
        out["product_id"].append(product if entity in (PL, "product") else None)
        out["location_id"].append(location if entity == PL else None)
        out["customer_id"].append(key if entity == "customer" else None)
    return out


def _sources(rows: pd.DataFrame, index: pd.MultiIndex) -> pd.Series:
    """'rule' where every class came from the rules, else which ones an override or hysteresis set."""
    pinned = rows[rows["source"].fillna("rule") != "rule"]
    notes = (pinned["dimension"] + ": " + pinned["source"]).groupby([pinned["entity"], pinned["entity_key"]]).agg(
        ", ".join)
    return notes.reindex(index).fillna("rule")


def segments_frame(db: Engine, pair: RunPair) -> pd.DataFrame:
    """One row per classified entity: its classes wide, the previous run's segment, and `changed`."""
    rows, prev_rows = _segment_rows(db, pair.run_id), _segment_rows(db, pair.previous_id)
    wide = _dimensions(rows)
    rank = {e: i for i, e in enumerate(ENTITY_ORDER)}
    index = pd.MultiIndex.from_tuples(sorted(wide.index, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1])),
                                      names=["entity", "entity_key"])
    dims = [d for d in SEGMENT_DIMENSIONS if d in wide.columns] + sorted(set(wide.columns) - set(SEGMENT_DIMENSIONS))
    cols: dict = {"entity": index.get_level_values(0), "entity_key": index.get_level_values(1)}
    cols |= _id_columns(index)
    cols |= {d: wide[d].reindex(index).to_numpy() for d in dims}
    cols["source"] = _sources(rows, index).to_numpy()
    before = _dimensions(prev_rows)
    previous = _column(before, "segment", index)
    now = _column(wide, "segment", index)
    cols["segment_previous_run"] = previous.to_numpy()
    changed = (now.astype(object).astype(str) != previous.astype(object).astype(str)) | previous.isna()
    cols["changed"] = changed.astype(object).to_numpy() if pair.previous_id is not None else None
    cols |= {"run_id": pair.run_id, "previous_run_id": pair.previous_id}
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- files

EXPORTS = {"parameters": parameters_frame, "segments": segments_frame}
NOTES = {
    "parameters": [("<name>_current", "what the source system holds now (product_location.current_*, moq, "
                    "order_multiple) as last pulled; service levels above 1 read as percentages"),
                   ("<name>_previous_run", "the previous successful segment run's value"),
                   ("<name>_new", "this run's value (what write-back would send)"),
                   ("<name>_change", "new - current, for numbers"),
                   ("<name>_changed", "true when the new code differs from the current one"),
                   ("blank", "not known: no current value, no previous run, or not stored by this run")],
    "segments": [("source", "rule, or the classes an override or hysteresis set"),
                 ("segment_previous_run", "the entity's segment in the previous successful segment run"),
                 ("changed", "segment differs from the previous run's (true for new entities; blank "
                             "when there is no previous run)")],
}


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """csv or xlsx: `fmt` when given, else the file's suffix; a usage error otherwise."""
    if fmt:
        chosen = fmt.lower().lstrip(".")
        if chosen not in FORMATS:
            raise ConfigError(f"unknown export format '{fmt}'", hint="use --format csv or --format xlsx")
        return chosen
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(f"cannot tell the format of '{path}' from its suffix",
                          hint="name the file .csv or .xlsx, or pass --format csv|xlsx")
    return suffix


def _about(db: Engine, what: str, pair: RunPair, rows: int) -> list[tuple[str, object]]:
    from core.runs import get_run

    run = get_run(db, pair.run_id)
    head = [("export", f"{what} of segment run {pair.run_id}"), ("run", pair.run_id),
            ("run started", f"{run.started_at:%Y-%m-%d %H:%M:%S}" if run.started_at else ""),
            ("rule set", run.ruleset_hash or ""),
            ("previous successful segment run", pair.previous_id if pair.previous_id else "none"),
            ("rows", rows), ("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))]
    return head + NOTES[what]


def export_run(db: Engine, what: str, path: str | Path, run_id: int | None = None,
               fmt: str | None = None) -> ExportResult:
    """Write the `what` ("parameters" or "segments") export of a segment run to `path`."""
    chosen = export_format(path, fmt)
    pair = choose_runs(db, run_id)
    frame = EXPORTS[what](db, pair)
    write_table(frame, path, chosen, sheet=what, freeze="C2", about=_about(db, what, pair, len(frame)))
    return ExportResult(what, Path(path), chosen, len(frame), pair.run_id, pair.previous_id)
