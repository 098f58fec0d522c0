"""Cross-system consistency: the same customer or product should carry the same class everywhere.

Each `reconcile.cross_system` check names a canonical entity and, per system, the target
entity and field that holds the value (with a code map into a common vocabulary, e.g. SAP's
customer group `01` -> segment `A`). The values are the ones read back in this run (the
compare step's `actual`), grouped by canonical key through the crosswalk-derived canonical key
of each target record (JSON of the canonical primary key). A customer_sales_area or
product_location record counts for its customer or product when the check is on `customer` or
`product` (its `customer_id` / `product_id`). Exceptions are keyed "P1|1010" (key columns in
table order).

The reference value is the most common one across the systems; on a tie, the system listed
first in the check (list the system of record first). Every system holding another value gets
one `cross_system` exception: expected = reference, actual = its value.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd

from core.model import CANONICAL_ENTITIES, primary_key_columns
from core.reconcile.compare import MISSING
from core.reconcile.discrepancies import Observation
from core.reconcile.reconcile_settings import CrossSystemCheck, ReconcileConfig


def _group_key(canonical_entity: str | None, canonical_key: str | None, entity: str) -> str | None:
    """The check entity's key of a canonical record: itself, or its `<entity>_id` (e.g. customer_id)."""
    if not canonical_key:
        return None
    text = str(canonical_key)
    parsed = json.loads(text) if text.startswith("{") else None
    if canonical_entity in (None, entity):
        if parsed is None:
            return text
        columns = primary_key_columns(CANONICAL_ENTITIES[entity]) if entity in CANONICAL_ENTITIES else []
        values = [parsed[c] for c in columns] if all(c in parsed for c in columns) else list(parsed.values())
        return "|".join(str(v) for v in values)
    if parsed is not None:
        ref = parsed.get(f"{entity}_id")
        return None if ref is None else str(ref)
    return text.split("|")[0] if str(canonical_entity).startswith(entity + "_") else None


def check_values(check: CrossSystemCheck, results: pd.DataFrame) -> dict[str, dict[str, str]]:
    """canonical key -> system -> value (mapped to the common vocabulary) for one check."""
    values: dict[str, dict[str, str]] = {}
    for system, spec in check.systems.items():
        rows = results[(results["system"] == system) & (results["entity"] == spec.entity)
                       & (results["field"] == spec.field)]
        for row in rows.itertuples(index=False):
            key = _group_key(row.canonical_entity, row.canonical_key, check.entity)
            if key is None or row.actual in (None, MISSING):
                continue
            value = spec.code_map.get(str(row.actual).strip(), str(row.actual).strip())
            values.setdefault(key, {})[system] = value
    return values


def _norm(check: CrossSystemCheck, value: str) -> str:
    return value.casefold() if check.ignore_case else value


def reference(check: CrossSystemCheck, by_system: dict[str, str]) -> str:
    """The most common value; on a tie the one of the first-listed system holding a tied value."""
    counts = Counter(_norm(check, v) for v in by_system.values())
    top = max(counts.values())
    tied = {v for v, n in counts.items() if n == top}
    for system in check.systems:
        if system in by_system and _norm(check, by_system[system]) in tied:
            return by_system[system]
    return sorted(tied)[0]


def cross_system_observations(config: ReconcileConfig, results: pd.DataFrame) -> list[Observation]:
    """One observation per system that disagrees with the others on a canonical entity's value."""
    out: list[Observation] = []
    if results.empty:
        return out
    for check in config.cross_system:
        for key, by_system in sorted(check_values(check, results).items()):
            if len(by_system) < 2 or len({_norm(check, v) for v in by_system.values()}) == 1:
                continue
            ref = reference(check, by_system)
            seen = ", ".join(f"{s}={v}" for s, v in sorted(by_system.items()))
            for system, value in sorted(by_system.items()):
                if _norm(check, value) == _norm(check, ref):
                    continue
                sev = check.severity or config.severity_for("cross_system", system, check.entity, check.name)
                out.append(Observation("cross_system", system, check.entity, key, check.name, expected=ref,
                                       actual=value, severity=sev, owner=config.owner(system, check.entity),
                                       reason=f"{check.name}: {seen}"))
    return out
