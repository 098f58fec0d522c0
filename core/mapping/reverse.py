"""Reverse mapping: canonical values and parameters -> the target system's fields, formatted its way.

Write-back (`core.writeback.plan`) calls `reverse_map` for each entity it wants to change and
`reverse_target` for where to send it. Formatting is the mapping file's job, not the
connector's: decimals with the target's places, ALPHA padding, code lists (segment `A-X` ->
`ABCIndicator` `A`; transport class -> `ShippingCondition` code).

Example:
    >>> target = reverse_target(mapping.entities["product_plant_planning"])   # doctest: +SKIP
    >>> target.entity, target.key_fields
    ('A_ProductSupplyPlanning', ['Product', 'Plant'])
    >>> reverse_map(em, {"product_id": "TG11", "location_id": "1010", "safety_stock": 120.5})  # doctest: +SKIP
    {'Product': 'TG11', 'Plant': '1010', 'SafetyStockQuantity': '120.500'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from basics.errors import ConfigError, DataError
from core.mapping.spec import EntityMapping, ReverseField
from core.mapping.transforms import StepContext, apply_step, parse_step


@dataclass(frozen=True)
class ReverseTarget:
    """Where a reverse map writes: target entity, its key fields and writable fields."""

    entity: str
    key_fields: list[str]
    fields: list[str]
    parameters: list[str]  # canonical names the reverse map reads
    read_back: dict[str, str]  # target field -> canonical field the value returns to


def reverse_target(entity_mapping: EntityMapping) -> ReverseTarget:
    """The reverse target of an entity mapping (ConfigError if it has none)."""
    rev = _rev(entity_mapping)
    return ReverseTarget(
        entity=rev.entity,
        key_fields=list(rev.key),
        fields=list(rev.fields),
        parameters=sorted({f.source for f in rev.fields.values()}),
        read_back={t: f.read_back for t, f in rev.fields.items() if f.read_back},
    )


def _rev(em: EntityMapping):
    if em.reverse is None:
        raise ConfigError(f"entity {em.name!r} has no reverse map", hint="add a `reverse:` section to write back")
    return em.reverse


def reverse_frame(entity_mapping: EntityMapping, frame: pd.DataFrame,
                  include_key: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Vectorised reverse: canonical columns -> target columns. Returns (target frame, error per row).

    Fields whose canonical source column is absent are skipped (partial writes), except those whose
    first step supplies a value (`const`, `default`: e.g. a fixed class category or refnum qualifier).
    """
    rev = _rev(entity_mapping)
    frame = frame.reset_index(drop=True)
    ctx = StepContext(frame, "(reverse)")
    out: dict[str, pd.Series] = {}
    rules: dict[str, ReverseField] = {**(rev.key if include_key else {}), **rev.fields}
    for target, rule in rules.items():
        if rule.source in frame.columns:
            series = frame[rule.source]
        elif rule.transforms and parse_step(rule.transforms[0])[0] in ("const", "default"):
            series = pd.Series(None, index=frame.index, dtype=object)
        else:
            continue
        ctx.field = target
        for step in rule.transforms:
            series = apply_step(series, step, ctx)
        out[target] = series
    errors = ctx.errors if ctx.errors is not None else pd.Series(None, index=frame.index, dtype=object)
    messages = pd.Series(ctx.messages, dtype=object).reindex(frame.index)
    return pd.DataFrame(out, index=frame.index), errors.where(errors.isna(), errors + ": " + messages.fillna(""))


def reverse_map(entity_mapping: EntityMapping, values: dict[str, Any]) -> dict[str, Any]:
    """Format one entity's canonical values for the target; raises DataError if a value cannot be."""
    frame = pd.DataFrame([values])
    out, errors = reverse_frame(entity_mapping, frame)
    if errors.notna().any():
        raise DataError(f"cannot write {entity_mapping.name}: {errors.iloc[0]}",
                        hint="check the value against the reverse map's code lists and formats")
    row = out.iloc[0].to_dict() if not out.empty else {}
    return {k: (None if _isnull(v) else v) for k, v in row.items()}


def reverse_key(entity_mapping: EntityMapping, values: dict[str, Any]) -> dict[str, Any]:
    """Only the target's key fields, formatted (e.g. {'Product': 'TG11', 'Plant': '1010'})."""
    rev = _rev(entity_mapping)
    full = reverse_map(entity_mapping, {k: v for k, v in values.items()
                                        if k in {f.source for f in rev.key.values()}})
    missing = [k for k in rev.key if full.get(k) in (None, "")]
    if missing:
        raise DataError(f"cannot address {rev.entity}: key field(s) {', '.join(missing)} missing")
    return {k: full[k] for k in rev.key}


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
