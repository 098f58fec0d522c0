"""Deleted source records (tombstones): remove the canonical rows they stood for.

A connector that learns of deletions (SAP OData delta links: `connectors/sap/odata_read.py`) yields
a record holding the entity's key fields and the marker `__deleted: True`. Mapped like any record it
would blank every other field of the row, so `load_batch` takes tombstones out of the batch first and
hands them here, in the batch's transaction (the checkpoint that moved past them commits with them).

What a tombstone does:
- Its canonical key is made by the entity's own key rules (the target's primary-key fields of the
  mapping, with their transforms); nothing else of the mapping runs: no type checks, no quarantine.
  For an entity with a crosswalk, the canonical id is the link this system holds for the source key;
  a key without a link was never loaded, so there is nothing to remove.
- The canonical row is deleted, but only where this system loaded it last (`source_system`): a row
  another system wrote since is theirs too and stays. The canonical tables have no "deleted" status
  (product `status` is the source's lifecycle code), so rows are removed, not marked.
- A crosswalk link stays: a record created again under the same key resolves to the same canonical id.
- A tombstone whose key cannot be made (a key field missing) is skipped with a warning.

Example:
    >>> live, dead = split_tombstones([{"Product": "A"}, {"Product": "B", "__deleted": True}])
    >>> live, dead
    ([{'Product': 'A'}], [{'Product': 'B', '__deleted': True}])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import select, tuple_

from core.mapping.mapper import map_records
from core.mapping.spec import EntityMapping, QualityRules
from core.model import CANONICAL_ENTITIES, Crosswalk, primary_key_columns

log = logging.getLogger("segbridge.sync")
DELETED = "__deleted"  # the marker a connector sets on a deleted record (with its key fields)
CHUNK = 500  # keys per statement (far below SQLite's and PostgreSQL's parameter limits)


def split_tombstones(records: Iterable[dict] | pd.DataFrame) -> tuple[list[dict] | pd.DataFrame, list[dict]]:
    """(live records, tombstones): a batch without tombstones comes back as it is."""
    if isinstance(records, pd.DataFrame):
        if DELETED not in records.columns:
            return records, []
        dead = records[DELETED].eq(True).fillna(False).to_numpy(dtype=bool)
        live = records[~dead].drop(columns=[DELETED]).reset_index(drop=True)
        return live, records[dead].to_dict("records")
    data = records if isinstance(records, list) else list(records)
    if not any(r.get(DELETED) is True for r in data):
        return data, []
    return [r for r in data if r.get(DELETED) is not True], [r for r in data if r.get(DELETED) is True]


def has_tombstones(records: list[dict] | pd.DataFrame) -> bool:
    """Whether a batch holds a tombstone (a batch with one is never joined to the pages before it)."""
    if isinstance(records, pd.DataFrame):
        return DELETED in records.columns and bool(records[DELETED].eq(True).any())
    return any(r.get(DELETED) is True for r in records)


def delete_rows(conn, system: str, em: EntityMapping, tombstones: list[dict]) -> int:
    """Delete the canonical rows of `tombstones` that `system` loaded last; returns how many went."""
    if not tombstones:
        return 0
    table = CANONICAL_ENTITIES[em.target].__table__
    pk = primary_key_columns(CANONICAL_ENTITIES[em.target])
    keys = canonical_keys(conn, system, em, tombstones, pk)
    if not keys:
        return 0
    columns = tuple_(*(table.c[c] for c in pk))
    deleted = 0
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        held = conn.execute(select(*(table.c[c] for c in pk))
                            .where(columns.in_(chunk), table.c.source_system == system)).fetchall()
        if held:
            conn.execute(table.delete().where(columns.in_([tuple(r) for r in held])))
            deleted += len(held)
    return deleted


def canonical_keys(conn, system: str, em: EntityMapping, tombstones: list[dict], pk: list[str]) -> list[tuple]:
    """The canonical primary key of each tombstone, by the entity's key rules (and crosswalk links)."""
    missing = [c for c in pk if c not in em.fields]
    if missing:
        log.warning("%s.%s: %d deleted records ignored: the mapping does not fill the key %s of %s",
                    system, em.name, len(tombstones), "+".join(missing), em.target)
        return []
    keys_only = em.model_copy(update={"fields": {c: em.fields[c] for c in pk}, "crosswalk": None,
                                      "references": {}, "quality": QualityRules()})
    result = map_records(keys_only, tombstones)
    if result.quarantined:
        log.warning("%s.%s: %d deleted records ignored: their key cannot be read (%s)", system, em.name,
                    len(result.quarantined), result.quarantined[0].reason)
    frame = result.frame
    if em.crosswalk is not None and not frame.empty:
        frame = _linked(conn, system, em, frame, result.source_keys)
    return list(dict.fromkeys(tuple(row) for row in frame[pk].itertuples(index=False)))


def _linked(conn, system: str, em: EntityMapping, frame: pd.DataFrame, source_keys: pd.Series) -> pd.DataFrame:
    """The id field taken from this system's crosswalk links; rows without a link are dropped."""
    spec, xw = em.crosswalk, Crosswalk.__table__
    entity = spec.entity or em.target
    wanted = [k for k in dict.fromkeys(source_keys.dropna().tolist())]
    links: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        links.update(conn.execute(select(xw.c.source_key, xw.c.canonical_id).where(
            xw.c.system == system, xw.c.entity == entity, xw.c.source_key.in_(wanted[start:start + CHUNK]))).all())
    ids = source_keys.map(links)
    frame = frame[ids.notna()].copy()
    frame[spec.id_field] = ids[ids.notna()]
    return frame
