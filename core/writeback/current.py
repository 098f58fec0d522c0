"""Target keys back to canonical rows: ETags for writes, and current values after an apply.

A target record (`A_ProductSupplyPlanning` {Product, Plant}) is turned back into its canonical
row through the mapping's forward rules (the same ones a pull uses), with the crosswalk's link
winning for the canonical id. After an apply, the values written are forward-mapped into the
row's `read_back` columns (what the next pull would store), so the next plan diffs against them
and shows zero changes. A read_back column another system's pull also fills is updated only on
rows this system loaded last; the ETag likewise (it is the last loader's).
"""

from __future__ import annotations

import json
import logging

import pandas as pd
from sqlalchemy import and_, bindparam, select

from core.model import CANONICAL_ENTITIES, Crosswalk, primary_key_columns
from core.statuses import ChangeState
from core.store import read_frame
from core.writeback.intended import HOLDER_LINKS, column_writers, shared_columns
from core.writeback.outbox import changes_in

log = logging.getLogger("segbridge.writeback")


def _entity_mappings(config, system: str) -> dict[str, list]:
    """Target entity -> mapping entities whose reverse map writes it."""
    from core.mapping import load_mapping

    out: dict[str, list] = {}
    for em in load_mapping(config.mapping_path(system)).entities.values():
        if em.reverse is not None and em.target in CANONICAL_ENTITIES:
            out.setdefault(em.reverse.entity, []).append(em)
    return out


def canonical_rows_for(db, system: str, em, records: list[dict]) -> pd.DataFrame:
    """Forward-map target records; returns canonical columns plus `_pos` (index into `records`)."""
    from core.mapping import map_records

    result = map_records(em, records)
    frame = result.frame.copy()
    frame["_pos"] = frame.index
    if em.crosswalk is not None and em.crosswalk.id_field in frame.columns and not frame.empty:
        entity = em.crosswalk.entity or em.target
        links = read_frame(db, select(Crosswalk.source_key, Crosswalk.canonical_id)
                           .where(Crosswalk.system == system, Crosswalk.entity == entity))
        linked = result.source_keys.reindex(frame.index).map(links.set_index("source_key")["canonical_id"])
        frame[em.crosswalk.id_field] = linked.where(linked.notna(), frame[em.crosswalk.id_field])
    elif em.target in HOLDER_LINKS and not frame.empty:
        # the product / customer in the key as the system writes it -> canonical id by its crosswalk link
        entity, col = HOLDER_LINKS[em.target]
        fld = next((k for k, r in em.reverse.key.items() if r.source == col), None) if em.reverse else None
        if fld is not None and col in frame.columns:
            links = read_frame(db, select(Crosswalk.source_key, Crosswalk.canonical_id)
                               .where(Crosswalk.system == system, Crosswalk.entity == entity))
            raw = pd.Series([records[int(i)].get(fld) for i in frame["_pos"]], index=frame.index, dtype=object)
            linked = raw.astype("string").map(links.set_index("source_key")["canonical_id"])
            frame[col] = linked.where(linked.notna(), frame[col]).astype(object)
    return frame


def etags_for(config, db, system: str, pending: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(entity, target_key) -> the ETag the last pull saw, for records about to be written."""
    out: dict[tuple[str, str], str] = {}
    try:
        ems = _entity_mappings(config, system)
    except Exception as exc:  # noqa: BLE001 - ETags are an optimisation; writes work without them
        log.debug("no ETags for %s: %s", system, exc)
        return out
    for entity, grp in pending.drop_duplicates(["entity", "target_key"]).groupby("entity"):
        for em in ems.get(entity, []):
            model = CANONICAL_ENTITIES[em.target]
            if "etag" not in model.__table__.columns:
                continue
            keys = list(grp["target_key"])
            rows = canonical_rows_for(db, system, em, [json.loads(k) for k in keys])
            pk = primary_key_columns(model)
            if rows.empty or not set(pk) <= set(rows.columns):
                continue
            stored = read_frame(db, select(*[model.__table__.c[c] for c in pk + ["etag"]])
                                .where(model.__table__.c.source_system == system))
            merged = rows.astype({c: str for c in pk}).merge(stored.astype({c: str for c in pk}), on=pk)
            for pos, etag in zip(merged["_pos"], merged["etag"], strict=False):
                if isinstance(etag, str) and etag:  # a missing ETag reads back as NaN or None, never If-Match: nan
                    out[(entity, keys[int(pos)])] = etag
    return out


def update_current(config, db, system: str, plan_id: int, etags: dict | None = None) -> int:
    """Write applied values into the canonical read_back columns (and ETags); returns rows updated."""
    applied = changes_in(db, plan_id, ChangeState.APPLIED, system)
    if applied.empty:
        return 0
    try:
        ems = _entity_mappings(config, system)
    except Exception as exc:  # noqa: BLE001 - the outbox still knows what was applied
        log.warning("cannot update current values of %s: %s", system, exc)
        return 0
    writers = column_writers(config)
    updated = 0
    for entity, grp in applied.groupby("entity"):
        for em in ems.get(entity, []):
            updated += _update_entity(db, system, em, grp, etags or {},
                                      shared_columns(writers, system, em.target))
    return updated


def _update_entity(db, system: str, em, changes: pd.DataFrame, etags: dict, shared: set[str]) -> int:
    keys = list(pd.unique(changes["target_key"]))
    fields_of = {k: dict(zip(g["field"], g["intended_value"], strict=False)) for k, g in changes.groupby("target_key")}
    records = [{**json.loads(k), **fields_of[k]} for k in keys]
    rows = canonical_rows_for(db, system, em, records)
    model = CANONICAL_ENTITIES[em.target]
    table, pk = model.__table__, primary_key_columns(model)
    if rows.empty or not set(pk) <= set(rows.columns):
        return 0
    by_key = and_(*[table.c[c] == bindparam(f"k_{c}") for c in pk])
    where = and_(by_key, table.c.source_system == system)
    total = 0
    recs = rows.to_dict("records")  # plain dicts: a DataFrame .at per value was most of an apply's CPU time
    with db.begin() as conn:
        for target_field, rule in em.reverse.fields.items():
            col = rule.read_back
            if not col or col not in table.columns or col not in rows.columns:
                continue
            sel = [r for r in recs if target_field in records[int(r["_pos"])] and _fits(table.c[col], r[col])]
            params = [{**{f"k_{c}": r[c] for c in pk}, "v": _clean(r[col])} for r in sel]
            # a column only this system fills is its own on every row it holds; a shared one only where
            # it loaded the row last (elsewhere the plan compares with the applied value; see intended)
            cond = where if col in shared else by_key
            if params:
                total += conn.execute(table.update().where(cond).values({col: bindparam("v")}), params).rowcount
        if "etag" in table.columns:
            params = [{**{f"k_{c}": r[c] for c in pk},
                       "v": etags.get((em.reverse.entity, keys[int(r["_pos"])]))} for r in recs]
            conn.execute(table.update().where(where).values(etag=bindparam("v")), params)
    return total


def _fits(column, value) -> bool:
    """False for text longer than the column allows (PostgreSQL would refuse the whole update)."""
    length = getattr(column.type, "length", None)
    if length and isinstance(value, str) and len(value) > length:
        log.warning("%s: value %r is longer than %d characters; the plan compares with the applied value",
                    column, value, length)
        return False
    return True


def _clean(value):
    try:
        return None if pd.isna(value) else (value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return value
