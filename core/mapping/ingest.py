"""Load one batch: map, resolve the crosswalk, upsert canonical rows, quarantine the rest, count.

Everything happens on the caller's connection and inside the caller's transaction, so a
connector's watermark saved in the same transaction moves only when its records landed:

    with db.begin() as conn:
        counts = load_batch(conn, "sap_s4", mapping.entities["sales_order_item"], records, run_id)
        save_checkpoint(conn, ...)

Writes are set-based (`core.store.upsert`, one executemany for quarantine rows); per-run,
per-entity counts accumulate in `EntityCount` in the same transaction.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.mapping.context import Conversions
from core.mapping.crosswalk import (
    IndexCache,
    RuleColumns,
    known_ids,
    load_links,
    record_issues,
    resolve_columns,
)
from core.mapping.mapper import MapResult, QuarantinedRecord, map_records, source_series
from core.mapping.spec import EntityMapping
from core.mapping.tombstones import delete_rows, split_tombstones
from core.model import CANONICAL_ENTITIES, Crosswalk, EntityCount, Quarantine, utcnow
from core.store import upsert

# One crosswalk index cache per store (engine): the links of a stream are loaded once per run.
_INDEX_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def index_cache(conn) -> IndexCache:
    """The crosswalk index cache of `conn`'s store."""
    engine = conn.engine
    cache = _INDEX_CACHES.get(engine)
    if cache is None:
        cache = _INDEX_CACHES[engine] = IndexCache()
    return cache


@dataclass
class BatchCounts:
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    deleted: int = 0  # canonical rows removed for tombstones (not in `read`: no record was mapped)

    def __iadd__(self, other: BatchCounts) -> BatchCounts:
        self.read += other.read
        self.loaded += other.loaded
        self.quarantined += other.quarantined
        self.deleted += other.deleted
        return self


def load_batch(conn, system: str, entity_mapping: EntityMapping, records: Iterable[dict] | pd.DataFrame,
               run_id: int | None, conversions: Conversions | None = None, source_count: int | None = None,
               base_dir: Path | None = None) -> BatchCounts:
    """Map and load one batch on `conn` (no commit); returns read/loaded/quarantined/deleted for the batch.

    Tombstones (`__deleted: True`, see `core.mapping.tombstones`) are taken out first: their canonical
    rows are deleted before the live records load (a delta answer gives each key's latest state once)."""
    em = entity_mapping
    records, tombstones = split_tombstones(records)
    deleted = delete_rows(conn, system, em, tombstones)
    result = map_records(em, records, conversions)
    quarantined = list(result.quarantined)
    frame = result.frame
    if em.crosswalk is not None and not frame.empty:
        frame = _crosswalk(conn, system, em, result, quarantined, run_id, base_dir)
    if em.references and not frame.empty:
        frame = _references(conn, system, em, result, frame)
    if not frame.empty:
        frame = frame.assign(source_system=system)  # loaded_at: upsert gives the batch one value
        upsert(conn, CANONICAL_ENTITIES[em.target], frame)
    _quarantine(conn, system, em.name, quarantined, run_id)
    counts = BatchCounts(result.read, result.read - len(quarantined), len(quarantined), deleted)
    _count(conn, run_id, system, em.name, counts, source_count)
    return counts


def _crosswalk(conn, system: str, em: EntityMapping, result: MapResult, quarantined: list[QuarantinedRecord],
               run_id: int | None, base_dir: Path | None) -> pd.DataFrame:
    """Replace the id field by the resolved canonical id; conflicts/orphans are quarantined and recorded.
    Column-wise: the batch's keys and rule values go to the resolution as lists, not a dict per record."""
    spec = em.crosswalk
    entity = spec.entity or em.target
    frame, keys = result.frame, result.source_keys
    if run_id is None:  # outside a run: nothing to share between batches
        index = load_links(conn, system, entity, spec, base_dir)
    else:
        index = index_cache(conn).index(conn, system, entity, spec, base_dir, scope=run_id)
    key_list = keys.tolist()
    batch = RuleColumns.build(spec, *_rule_values(frame, key_list, spec), index)
    index.canonical_ids = known_ids(conn, entity, batch.id_candidates(spec))
    res = resolve_columns(system, entity, spec, batch, index)
    record_issues(conn, res.issues, run_id)
    if res.issues:
        failed = {i.source_key: i for i in res.issues}
        for pos in np.flatnonzero(keys.isin(list(failed)).to_numpy()):
            issue = failed[key_list[pos]]
            quarantined.append(QuarantinedRecord(key_list[pos], issue.kind, f"crosswalk: {issue.detail}",
                                                 result.record(frame.index[pos])))
    ids = res.ids
    resolved = [ids.get(k) for k in key_list]
    frame = frame.copy() if len(ids) == len(batch.keys) else frame[[i is not None for i in resolved]].copy()
    frame[spec.id_field] = np.array([i for i in resolved if i is not None], dtype=object)
    link_keys, link_ids, link_rules = res.new_links()
    if link_keys:  # as columns: one DataFrame, not a dict per link
        upsert(conn, Crosswalk, pd.DataFrame({"system": system, "entity": entity, "source_key": link_keys,
                                              "canonical_id": link_ids, "rule": link_rules}))
        index.add_links(dict(zip(link_keys, link_ids, strict=True)))
    return frame


def _rule_values(frame: pd.DataFrame, key_list: list, spec) -> tuple[list, dict[str, list]]:
    """The batch's distinct source keys (first-seen order) and, per field the crosswalk reads, each key's
    mapped value (nulls as None; a key met twice takes its last row's, as a dict per key would)."""
    used = [c for c in dict.fromkeys([*(r.field for r in spec.rules if r.field), spec.id_field]) if c in frame]
    last = {k: p for p, k in enumerate(key_list)}
    rows = None if len(last) == len(key_list) else list(last.values())
    columns = {}
    for c in used:
        col = frame[c].to_numpy(dtype=object)
        col = np.where(pd.isna(col), None, col) if rows is None else np.where(pd.isna(col[rows]), None, col[rows])
        columns[c] = col.tolist()
    return list(last), columns


def _references(conn, system: str, em: EntityMapping, result: MapResult, frame: pd.DataFrame) -> pd.DataFrame:
    """Fields pointing at other master data take the canonical id the crosswalk holds for the source value."""
    table = Crosswalk.__table__
    frame = frame.copy()
    for fname, entity in em.references.items():
        rule = em.fields[fname]
        if not isinstance(rule.source, str):
            continue
        links = dict(conn.execute(select(table.c.source_key, table.c.canonical_id)
                                  .where(table.c.system == system, table.c.entity == entity)).fetchall())
        if not links:
            continue
        raw = source_series(result.source, rule.source).reindex(frame.index)
        linked = raw.map(lambda v, table=links: table.get(str(v).strip()) if v is not None else None)
        frame[fname] = linked.where(linked.notna(), frame[fname])
    return frame


def _quarantine(conn, system: str, entity: str, items: list[QuarantinedRecord], run_id: int | None) -> None:
    if not items:
        return
    now = utcnow()
    rows = [{"run_id": run_id, "system": system, "entity": entity,
             "source_key": None if q.source_key is None else str(q.source_key)[:200],
             "reason_code": q.reason_code, "reason": q.reason,
             "record": json.dumps(q.record, default=str, sort_keys=True), "created_at": now} for q in items]
    conn.execute(Quarantine.__table__.insert(), rows)


def _count(conn, run_id: int | None, system: str, entity: str, counts: BatchCounts,
           source_count: int | None) -> None:
    """Add this batch to the run's EntityCount row (created on the first batch)."""
    if run_id is None:
        return
    table = EntityCount.__table__
    where = (table.c.run_id == run_id) & (table.c.system == system) & (table.c.entity == entity)
    exists = conn.execute(select(table.c.run_id).where(where)).first()
    values: dict[str, Any] = {}
    if source_count is not None:
        values["source_count"] = source_count
    if exists is None:
        conn.execute(table.insert().values(run_id=run_id, system=system, entity=entity, read=counts.read,
                                           loaded=counts.loaded, quarantined=counts.quarantined, **values))
    else:
        conn.execute(table.update().where(where).values(
            read=table.c.read + counts.read, loaded=table.c.loaded + counts.loaded,
            quarantined=table.c.quarantined + counts.quarantined, **values))
