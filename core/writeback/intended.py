"""Intended values: what each target system should hold, per (system, target entity, target key, field).

Write-back plans and reconciliation share this one computation, so "what we meant to write"
is the same in both places. Stable API (reconciliation depends on it):

    intended_values(config, db, systems=None, run_id=None) -> pandas.DataFrame

one row per target field, with at least these columns:

    system            configured system name (segbridge.yaml `systems:` key)
    entity            target entity of the reverse map, e.g. A_ProductSupplyPlanning
    target_key        JSON (sorted keys) of the target's key fields, formatted for the target
    field             target field, e.g. SafetyStockQuantity
    intended_value    text exactly as the target should hold it ("120.500")
    canonical_entity  canonical table the record comes from (product_location, customer, ...)
    canonical_key     JSON (sorted keys) of that table's primary key
    source            canonical field or parameter name the value comes from (safety_stock)
    read_back         canonical column where the target's value returns on a pull, or None
    stored_value      what the last pull says the target holds, formatted like intended_value
    loaded_at         when that canonical row was last pulled
    etag              the record's ETag from the last pull
    unit_cost         unit cost of the product (for value impact), or None

How: the latest successful segment run's ParameterValue and SegmentAssignment rows are joined
onto the canonical rows each system HOLDS (see `held_rows`: by the system's crosswalk links, not by
`source_system`, which only names the system that loaded a row last), then every mapping entity
with a `reverse:` section formats them for the target field by field (one bad value drops only that
field, counted in `skipped`). A field whose engine value is the no-demand class `none` is not
written (the system keeps what it holds); those are counted in `no_demand`, not in `skipped`.

`stored_value` is the system's own last-read value: a read_back column that another configured
system's mapping also fills holds whichever system loaded the row last, so it counts only on rows
this system loaded last (`source_system`); elsewhere it is None and the plan falls back to the
value segbridge last applied to that system (`core.writeback.plan.stored_current`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import func, select, union

from basics.errors import SegbridgeError
from core.model import (
    CANONICAL_ENTITIES,
    Crosswalk,
    Location,
    ParameterValue,
    Product,
    Run,
    SegmentAssignment,
    primary_key_columns,
)
from core.settings import SegbridgeConfig
from core.statuses import RunKind, RunStatus
from core.store import read_frame
from core.writeback.values import to_text

log = logging.getLogger("segbridge.writeback")

INTENDED_COLUMNS = ["system", "entity", "target_key", "field", "intended_value", "canonical_entity",
                    "canonical_key", "source", "read_back", "stored_value", "loaded_at", "etag", "unit_cost"]
# canonical entity -> (engine entity, canonical columns joined "|" into the engine's entity_key)
ENGINE_LINKS = {
    "product_location": ("product_location", ["product_id", "location_id"]),
    "product": ("product", ["id"]),
    "customer": ("customer", ["id"]),
    "customer_sales_area": ("customer", ["customer_id"]),
}
# Short names mapping files use for customer values -> the engine's customer parameter names.
CUSTOMER_ALIASES = {"abc": "customer_abc", "segment": "customer_segment", "classification": "customer_abc",
                    "service_level": "service_level_class"}
# The engine's class of a series or customer with no demand in the window (every dimension; core.planning.segmentation).
NONE_CLASS = "none"
NO_DEMAND = "no demand history"
# Canonical rows without a crosswalk of their own belong to a system through the master record in their key.
HOLDER_LINKS = {"product_location": ("product", "product_id"), "customer_sales_area": ("customer", "customer_id")}


@dataclass
class IntendedResult:
    """The intended frame plus what could not be formatted (kept for the plan's summary)."""

    frame: pd.DataFrame
    run_id: int | None
    skipped: list[str] = field(default_factory=list)
    no_demand: dict[str, int] = field(default_factory=dict)  # "system.entity.field" -> values not written


def latest_segment_run(db) -> int:
    """Id of the latest successful segment run (the parameter set write-back is based on)."""
    with db.connect() as conn:
        rid = conn.execute(select(Run.id).where(Run.kind == RunKind.SEGMENT, Run.status == RunStatus.OK)
                           .order_by(Run.id.desc()).limit(1)).scalar()
    if rid is None:
        raise SegbridgeError("there is no segment run to write back",
                             hint="run `segbridge segment` first (after `segbridge pull`)")
    return int(rid)


def writable_systems(config: SegbridgeConfig, systems: list[str] | None = None) -> list[str]:
    """Named systems (checked), or every enabled system that allows writes and has a mapping."""
    if systems:
        for name in systems:
            config.system(name)
        return list(systems)
    return [n for n, s in config.systems.items() if s.enabled and s.write.enabled and s.mapping]


def engine_values(db, run_id: int) -> dict[str, pd.DataFrame]:
    """Engine entity -> wide frame indexed by entity_key: one column per parameter and dimension."""
    par = read_frame(db, select(ParameterValue.__table__).where(ParameterValue.run_id == run_id))
    seg = read_frame(db, select(SegmentAssignment.__table__).where(SegmentAssignment.run_id == run_id))
    out: dict[str, pd.DataFrame] = {}
    for entity in set(par["entity"]) | set(seg["entity"]):
        p = par[par["entity"] == entity]
        wide = pd.DataFrame(index=pd.Index(pd.unique(pd.concat([p["entity_key"],
                                                                seg.loc[seg["entity"] == entity, "entity_key"]]))))
        for name, grp in p.groupby("name"):
            g = grp.set_index("entity_key")
            col = g["value_num"] if g["value_text"].isna().all() else g["value_text"].where(
                g["value_text"].notna(), g["value_num"])
            wide[name] = col.reindex(wide.index)
        s = seg[seg["entity"] == entity]
        for dim, grp in s.groupby("dimension"):
            if dim not in wide.columns:
                wide[dim] = grp.set_index("entity_key")["value"].reindex(wide.index)
        if entity == "customer":
            for short, name in CUSTOMER_ALIASES.items():
                if short not in wide.columns and name in wide.columns:
                    wide[short] = wide[name]
        out[entity] = wide
    return out


def _links(system: str, entity: str):
    """One crosswalk source key per canonical id of (system, entity), as a subquery (canonical_id, source_key)."""
    xw = Crosswalk.__table__
    return (select(xw.c.canonical_id, func.min(xw.c.source_key).label("source_key"))
            .where(xw.c.system == system, xw.c.entity == entity).group_by(xw.c.canonical_id).subquery())


def _has_links(db, system: str, entity: str) -> bool:
    xw = Crosswalk.__table__
    with db.connect() as conn:
        return conn.execute(select(xw.c.source_key).where(xw.c.system == system, xw.c.entity == entity)
                            .limit(1)).first() is not None


def _system_locations(system: str):
    """Locations a system shows it has: crosswalk links, location rows or product-locations it loaded."""
    xw, loc, pl = Crosswalk.__table__, Location.__table__, CANONICAL_ENTITIES["product_location"].__table__
    return union(select(xw.c.canonical_id.label("id")).where(xw.c.system == system, xw.c.entity == "location"),
                 select(loc.c.id).where(loc.c.source_system == system),
                 select(pl.c.location_id).where(pl.c.source_system == system)).subquery()


def held_rows(db, canonical_entity: str, system: str, em=None) -> pd.DataFrame:
    """The canonical rows a system holds, plus `source_key_`: its own key of the linked master record.

    A system holds the records it has a crosswalk link for (system, entity), whichever system loaded
    them last: rows with an id (products, customers) by their own link (the mapping's crosswalk entity
    and id field), product-locations and sales areas by the link of their product / customer.
    Product-locations are further limited to the locations the system shows it has (location links,
    location rows or product-locations it loaded) when it shows any. A system without crosswalk links
    for the entity (a mapping without a crosswalk) holds the rows it loaded (`source_system`).
    Set-based: one joined SELECT.
    """
    model = CANONICAL_ENTITIES[canonical_entity]
    table = model.__table__
    spec = getattr(em, "crosswalk", None)
    xw_entity = (spec.entity if spec is not None and spec.entity else canonical_entity)
    id_col = spec.id_field if spec is not None else "id"
    link = None  # (crosswalk entity, canonical column, "own" | "holder")
    if id_col in table.columns and _has_links(db, system, xw_entity):
        link = (xw_entity, id_col, "own")
    elif canonical_entity in HOLDER_LINKS and _has_links(db, system, HOLDER_LINKS[canonical_entity][0]):
        link = (*HOLDER_LINKS[canonical_entity], "holder")
    if link is None:
        frame = read_frame(db, select(table).where(table.c.source_system == system))
        frame["source_key_"] = None
        frame.attrs["link"] = None
        return frame
    links = _links(system, link[0])
    stmt = select(table, links.c.source_key.label("source_key_")).join(links, links.c.canonical_id == table.c[link[1]])
    if canonical_entity == "product_location":
        locs = _system_locations(system)
        with db.connect() as conn:
            shows_locations = conn.execute(select(locs.c.id).limit(1)).first() is not None
        if shows_locations:
            stmt = stmt.where(table.c.location_id.in_(select(locs.c.id)))
    frame = read_frame(db, stmt)
    frame.attrs["link"] = link
    return frame


def canonical_rows(db, canonical_entity: str, system: str, em=None) -> pd.DataFrame:
    """The canonical rows a system holds (see `held_rows`), without the link column."""
    return held_rows(db, canonical_entity, system, em).drop(columns=["source_key_"])


def column_writers(config: SegbridgeConfig) -> dict[tuple[str, str], set[str]]:
    """(canonical entity, column) -> configured systems whose mapping fills that column on a pull."""
    from core.mapping import load_mapping

    out: dict[tuple[str, str], set[str]] = {}
    for name, sc in config.systems.items():
        if not sc.mapping:
            continue
        try:
            mapping = load_mapping(config.mapping_path(name))
        except Exception as exc:  # noqa: BLE001 - a broken file is reported by validate; others still plan
            log.debug("column owners: cannot read the mapping of %s: %s", name, exc)
            continue
        for em in mapping.entities.values():
            for col in em.fields:
                out.setdefault((em.target, col), set()).add(name)
    return out


def shared_columns(writers: dict[tuple[str, str], set[str]], system: str, canonical_entity: str) -> set[str]:
    """Columns of the entity that another configured system's pull also fills."""
    return {col for (ent, col), names in writers.items() if ent == canonical_entity and names - {system}}


def with_values(rows: pd.DataFrame, canonical_entity: str, values: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows with the engine's values joined on (parameters override same-named canonical columns)."""
    link = ENGINE_LINKS.get(canonical_entity)
    if link is None or rows.empty:
        return rows.copy()
    entity, cols = link
    key = rows[cols].astype(str).agg("|".join, axis=1)
    frame = rows.copy()
    sources = [values.get(entity)]
    if canonical_entity == "product_location":
        sources.append(values.get("product"))
        key_of = [key, rows["product_id"].astype(str)]
    else:
        key_of = [key]
    filled: set[str] = set()
    for wide, k in zip(sources, key_of, strict=False):
        if wide is None:
            continue
        joined = wide.reindex(k.to_numpy())
        for name in wide.columns:
            if name in filled:
                continue
            frame[name] = joined[name].to_numpy()
            filled.add(name)
    return frame


def _unit_costs(db, rows: pd.DataFrame) -> pd.Series:
    own = rows["unit_cost"] if "unit_cost" in rows.columns else pd.Series(None, index=rows.index, dtype=float)
    if "product_id" not in rows.columns:
        return own
    prod = read_frame(db, select(Product.id, Product.unit_cost)).set_index("id")["unit_cost"]
    return own.where(own.notna(), rows["product_id"].astype(str).map(prod))


def _json_keys(frame: pd.DataFrame) -> pd.Series:
    cols = list(frame.columns)
    return pd.Series([json.dumps(dict(zip(cols, map(to_text, vals), strict=False)), sort_keys=True)
                      for vals in frame.itertuples(index=False, name=None)], index=frame.index, dtype=object)


def _one_field(em, target_field: str):
    """A copy of an entity mapping whose reverse map has only this field (per-field error isolation)."""
    rev = em.reverse
    return em.model_copy(update={"reverse": rev.model_copy(update={"fields": {target_field: rev.fields[target_field]}})})


def entity_intended(system: str, em, frame: pd.DataFrame, rows: pd.DataFrame, skipped: list[str],
                    shared: set[str] | frozenset = frozenset(), no_demand: dict[str, int] | None = None
                    ) -> pd.DataFrame:
    """Long rows (one per target field) of one mapping entity; see the module docstring for columns.

    `shared`: read_back columns another system's pull also fills (their stored value counts only on
    rows this system loaded last). `no_demand` collects, per "system.entity.field", the values not
    written because the engine's value is the no-demand class `none`.
    """
    from core.mapping import reverse_frame

    rev = em.reverse
    keys_only = em.model_copy(update={"reverse": rev.model_copy(update={"fields": {}})})
    key_frame, key_errors = reverse_frame(keys_only, frame, include_key=True)
    ok = key_errors.isna()
    if (~ok).any():
        skipped.append(f"{system}.{rev.entity}: {int((~ok).sum())} record(s) cannot be addressed "
                       f"(first: {key_errors[~ok].iloc[0]})")
    own = _loaded_last_by(rows, system)
    pk = primary_key_columns(CANONICAL_ENTITIES[em.target])
    base = pd.DataFrame({"target_key": _json_keys(key_frame[list(rev.key)]),
                         "canonical_key": _json_keys(rows[pk]),
                         "loaded_at": rows["loaded_at"].to_numpy() if "loaded_at" in rows else None,
                         "etag": rows["etag"].where(own, None).to_numpy() if "etag" in rows else None,
                         "unit_cost": frame["unit_cost_"].to_numpy()}, index=frame.index)[ok]
    parts = []
    for target_field, rule in rev.fields.items():
        if rule.source not in frame.columns:
            continue
        none = frame[rule.source].astype("string").eq(NONE_CLASS).fillna(False).astype(bool) & ok
        if none.any() and no_demand is not None:
            name = f"{system}.{rev.entity}.{target_field}"
            no_demand[name] = no_demand.get(name, 0) + int(none.sum())
        sub = _one_field(em, target_field)
        out, errors = reverse_frame(sub, frame, include_key=False)
        bad = errors.notna() & ok & ~none
        good = errors.isna() & ok & ~none
        if bad.any():
            skipped.append(f"{system}.{rev.entity}.{target_field}: {int(bad.sum())} value(s) "
                           f"cannot be formatted (first: {errors[bad].iloc[0]})")
        intended = out[target_field].map(to_text) if target_field in out else pd.Series(None, index=frame.index)
        trusted = own if rule.read_back in shared else pd.Series(True, index=frame.index)
        stored = _stored(sub, target_field, rule, frame, rows, trusted)
        part = base.assign(field=target_field, intended_value=intended, source=rule.source,
                           read_back=rule.read_back, stored_value=stored)
        parts.append(part[good.reindex(part.index, fill_value=False) & part["intended_value"].notna()])
    if not parts:
        return pd.DataFrame(columns=INTENDED_COLUMNS)
    long = pd.concat(parts, ignore_index=True)
    return long.assign(system=system, entity=rev.entity, canonical_entity=em.target)[INTENDED_COLUMNS]


def _loaded_last_by(rows: pd.DataFrame, system: str) -> pd.Series:
    """Rows this system loaded last (so their shared current_* columns and ETag are its own)."""
    if "source_system" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["source_system"].astype(object).eq(system).fillna(False).astype(bool)


def _stored(sub, target_field: str, rule, frame: pd.DataFrame, rows: pd.DataFrame,
            trusted: pd.Series) -> pd.Series:
    """The value this system's last pull saw (its read_back column), formatted like the intended value."""
    from core.mapping import reverse_frame

    if not rule.read_back or rule.read_back not in rows.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    current = frame.assign(**{rule.source: rows[rule.read_back].to_numpy()})
    out, errors = reverse_frame(sub, current, include_key=False)
    values = out[target_field].map(to_text) if target_field in out else pd.Series(None, index=frame.index)
    return values.where(errors.isna() & rows[rule.read_back].notna() & trusted, None)


def system_intended(config: SegbridgeConfig, db, system: str, values: dict[str, pd.DataFrame],
                    skipped: list[str], writers: dict[tuple[str, str], set[str]] | None = None,
                    no_demand: dict[str, int] | None = None) -> list[pd.DataFrame]:
    """Intended rows of every reverse-mapped entity of one system."""
    from core.mapping import load_mapping

    mapping = load_mapping(config.mapping_path(system))
    writers = column_writers(config) if writers is None else writers
    parts = []
    for em in mapping.entities.values():
        if em.reverse is None or em.target not in CANONICAL_ENTITIES:
            continue
        held = held_rows(db, em.target, system, em)
        if held.empty:
            continue
        link = held.attrs.get("link")
        own_key = held["source_key_"]
        rows = held.drop(columns=["source_key_"]).reset_index(drop=True)
        frame = with_values(rows, em.target, values)
        frame["unit_cost_"] = _unit_costs(db, rows).to_numpy()
        if link is not None and link[2] == "holder":
            # the product / customer in the key as this system writes it (SAP's padded number, a WMS code)
            frame[link[1]] = own_key.where(own_key.notna(), rows[link[1]]).to_numpy()
        elif link is not None:
            frame["source_key"] = own_key.to_numpy()
        parts.append(entity_intended(system, em, frame, rows, skipped, shared_columns(writers, system, em.target),
                                     no_demand))
    return parts


def intended_result(config: SegbridgeConfig, db, systems: list[str] | None = None,
                    run_id: int | None = None) -> IntendedResult:
    """Like `intended_values`, also returning the run used, what was skipped and the no-demand counts."""
    run_id = run_id if run_id is not None else latest_segment_run(db)
    values = engine_values(db, run_id)
    skipped: list[str] = []
    no_demand: dict[str, int] = {}
    writers = column_writers(config)
    parts: list[pd.DataFrame] = []
    for system in writable_systems(config, systems):
        parts.extend(system_intended(config, db, system, values, skipped, writers, no_demand))
    parts = [p for p in parts if not p.empty]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=INTENDED_COLUMNS)
    frame = frame.drop_duplicates(["system", "entity", "target_key", "field"], keep="last").reset_index(drop=True)
    for line in skipped:
        log.warning("write-back: %s", line)
    if no_demand:
        log.info("write-back: %d value(s) not written, %s (engine class %r)", sum(no_demand.values()), NO_DEMAND,
                 NONE_CLASS)
    return IntendedResult(frame, run_id, skipped, dict(sorted(no_demand.items())))


def intended_values(config: SegbridgeConfig, db, systems: list[str] | None = None,
                    run_id: int | None = None) -> pd.DataFrame:
    """What every target should hold, one row per (system, entity, target_key, field); see module doc."""
    return intended_result(config, db, systems, run_id).frame
