"""Forward mapping: a batch of source records -> canonical rows, or quarantined records with reasons.

Everything is column-at-a-time over a pandas DataFrame (see `transforms`), so a batch of a
million records costs a handful of vectorised passes rather than a million Python calls.
Every record ends up in exactly one place: `MapResult.frame` (loadable canonical rows) or
`MapResult.quarantined` (with a reason code), never silently dropped. Rows that are exact
duplicates of another row in the batch are merged (`duplicates_merged`), not lost.

Reason codes: missing_key, missing_required, bad_type, bad_format, bad_value, negative,
duplicate, unmapped_code, no_conversion (+ conflict and orphan from the crosswalk).
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs import lib

from core.mapping.dates import _parse_date, _parse_iso_datetime
from core.mapping.model import EntityMapping, FieldRule
from core.mapping.transforms import (
    Conversions,
    StepContext,
    _blank,
    _first_rows,
    _per_unique,
    apply_step,
    parse_step,
)
from core.model import CANONICAL_ENTITIES, primary_key_columns

LINEAGE = ("source_system", "loaded_at")


@dataclass
class QuarantinedRecord:
    """A source record that did not load, with why."""

    source_key: str | None
    reason_code: str
    reason: str
    record: dict[str, Any]


@dataclass
class MapResult:
    """Canonical rows (`frame`, aligned `source_keys`) and quarantined records of one batch."""

    frame: pd.DataFrame
    source_keys: pd.Series
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    read: int = 0
    duplicates_merged: int = 0
    raw: pd.DataFrame | None = None  # the source records, index-aligned with `frame`

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Canonical rows as dicts (nulls as None)."""
        return _records(self.frame)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")


@dataclass(frozen=True)
class ColumnType:
    py: type
    nullable: bool
    default: Any


def canonical_types(entity: str) -> dict[str, ColumnType]:
    """Canonical field -> (python type, nullable, default) for type checks and coercion."""
    model = CANONICAL_ENTITIES[entity]
    out = {}
    for name, info in model.model_fields.items():
        if name in LINEAGE:
            continue
        args = [a for a in typing.get_args(info.annotation) if a is not type(None)]
        py = args[0] if args else info.annotation
        nullable = type(None) in typing.get_args(info.annotation)
        default = None if info.is_required() else info.default
        out[name] = ColumnType(py, nullable, default)
    return out


def records_frame(records: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """Records (dicts, possibly with OData expanded navigation dicts) as a DataFrame with a RangeIndex."""
    if isinstance(records, pd.DataFrame):
        return records.reset_index(drop=True)
    data = records if isinstance(records, list) else list(records)
    return pd.DataFrame.from_records(data) if data else pd.DataFrame()


def _nav_paths(em: EntityMapping) -> list[str]:
    """Every `to_Nav/Prop` source path the entity reads (field sources and transform options)."""
    paths = []
    for rule in em.fields.values():
        sources = [rule.source] if isinstance(rule.source, str) else list(rule.source or [])
        for step in rule.transforms:
            if isinstance(step, dict) and len(step) == 1:
                opts = next(iter(step.values()))
                if isinstance(opts, dict):
                    sources += [v for k, v in opts.items() if k.endswith("_field") and isinstance(v, str)]
        paths += [p for p in sources if "/" in p and p not in paths]
    return paths + [k for k in em.key if "/" in k and k not in paths]


def _flatten(df: pd.DataFrame, paths: list[str]) -> pd.DataFrame:
    """`df` plus one column per navigation path, each read from the nested dicts in one pass.

    A shallow copy: `df` itself (the raw records) is left as it was."""
    todo = [p for p in paths if p not in df.columns and p.split("/", 1)[0] in df.columns]
    if not todo:
        return df
    flat = df.copy(deep=False)
    expanded: dict[str, bool] = {}  # navigation -> a plain dict on every record
    for path in todo:
        nav, *props = path.split("/")
        values = df[nav].tolist()
        for i, prop in enumerate(props):
            if i or nav not in expanded:
                plain = all(type(d) is dict for d in values)
                if not i:
                    expanded[nav] = plain
            else:
                plain = expanded[nav]
            if plain:  # dict.get at C speed
                values = list(map(dict.get, values, itertools.repeat(prop)))
            else:
                values = [d.get(prop) if isinstance(d, dict) else None for d in values]
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        flat[path] = pd.Series(lib.maybe_convert_objects(arr), index=df.index)  # as Series.map infers
    return flat


def source_series(df: pd.DataFrame, name: str) -> pd.Series:
    """A source field; `to_Nav/Prop` reads an expanded navigation (nested dict) when not flattened."""
    if name in df.columns:
        return df[name]
    if "/" in name:
        nav, prop = name.split("/", 1)
        if nav in df.columns:
            first = prop.split("/")[0]
            inner = df[nav].map(lambda d: d.get(first) if isinstance(d, dict) else None)
            return source_series(pd.DataFrame({first: inner}), prop) if "/" in prop else inner
    return pd.Series(None, index=df.index, dtype=object)


def _initial(df: pd.DataFrame, rule: FieldRule) -> pd.Series:
    if rule.source is None:
        return pd.Series(None, index=df.index, dtype=object)
    if isinstance(rule.source, str):
        return source_series(df, rule.source)
    parts = [source_series(df, p) for p in rule.source]
    blank = pd.concat([_blank(p) for p in parts], axis=1).any(axis=1)
    joined = parts[0].astype(str).str.strip()
    for part in parts[1:]:
        joined = joined.str.cat(part.astype(str).str.strip(), sep=rule.sep)
    return joined.where(~blank, None)


def _factorized(series: pd.Series, name: Any, cache: dict | None) -> tuple[np.ndarray, Any]:
    """`pd.factorize` of the source column `name`, once per batch when a cache is given."""
    if cache is not None and isinstance(name, str) and name in cache:
        return cache[name]
    out = pd.factorize(series, use_na_sentinel=True)
    if cache is not None and isinstance(name, str):
        cache[name] = out
    return out


def source_keys(df: pd.DataFrame, key: list[str], factorized: dict | None = None) -> tuple[pd.Series, pd.Series]:
    """The source key exactly as the system writes it ('|'-joined when composite) and a missing mask."""
    parts = [source_series(df, k) for k in key]
    missing_arr = np.zeros(len(df), dtype=bool)
    text = []
    for k, p in zip(key, parts, strict=True):  # one factorize per part: blank and stripped text per value
        codes, uniques = _factorized(p, k, factorized)
        values = uniques.to_numpy(dtype=object)
        numeric = pd.api.types.is_numeric_dtype(p) or pd.api.types.is_bool_dtype(p)
        blank_u = np.array([not numeric and isinstance(v, str) and not v.strip() for v in values] + [True])
        text_u = np.empty(len(values) + 1, dtype=object)
        text_u[:-1] = [str(v).strip() for v in values]
        text_u[-1] = ""
        missing_arr |= blank_u[codes]
        text.append(pd.Series(text_u[codes], index=df.index, dtype=object))
    missing = pd.Series(missing_arr, index=df.index)
    joined = text[0]
    for part in text[1:]:
        joined = joined.str.cat(part, sep="|")
    return joined.where(~missing, None), missing


def map_records(entity_mapping: EntityMapping, records: Iterable[dict] | pd.DataFrame,
                conversions: Conversions | None = None) -> MapResult:
    """Map a batch of source records to canonical rows; bad records are quarantined with a reason."""
    df = records_frame(records)
    if df.empty:
        return MapResult(pd.DataFrame(columns=list(entity_mapping.fields)), pd.Series(dtype=object), [], 0)
    conv = (entity_mapping._conversions or Conversions()).merged(conversions)
    src = _flatten(df, _nav_paths(entity_mapping))  # nested navigation fields as columns, read once
    ctx = StepContext(src, "(key)", conv)
    factorized: dict = {}  # source column -> pd.factorize, shared by the key and the fields
    keys, missing = source_keys(src, entity_mapping.key, factorized)
    ctx.fail(missing, "missing_key", f"key {'+'.join(entity_mapping.key)} is missing")
    types = canonical_types(entity_mapping.target)
    out, distinct = {}, {}
    for name, rule in entity_mapping.fields.items():
        ctx.field = name
        series = _initial(src, rule)
        if isinstance(rule.source, str) and all(parse_step(st)[0] in _ELEMENTWISE for st in rule.transforms):
            out[name], distinct[name] = _per_value(series, rule, types.get(name), ctx, factorized)
            continue
        for step in rule.transforms:
            series = apply_step(series, step, ctx)
        out[name] = _coerce(series, types[name], ctx) if name in types else series
    frame = pd.DataFrame(out, index=df.index, copy=False)
    _check_rows(frame, entity_mapping, types, ctx, distinct)
    return _split(df, frame, keys, ctx, entity_mapping)


# Steps whose result for a row depends on that row's value alone: a field made only of these is
# computed once per distinct source value and spread back to the rows (dates, units, ids repeat).
_ELEMENTWISE = frozenset({"required", "strip", "alpha_strip", "upper", "lower", "str", "alpha", "split", "regex",
                          "max_length", "is_set", "bool", "sap_bool", "map", "default",
                          "date", "sap_date", "odata_date", "datetime"})


class _DistinctContext:
    """A StepContext over the distinct values of a column: failures are spread back to every row."""

    def __init__(self, ctx: StepContext, codes: np.ndarray, index: pd.Index):
        self.ctx, self.codes = ctx, codes
        self.frame = pd.DataFrame(index=index)
        self.field, self.conversions = ctx.field, ctx.conversions

    def fail(self, mask: pd.Series, code: str, message: str) -> None:
        m = mask.reindex(self.frame.index).fillna(False).astype(bool).to_numpy()
        if m.any():
            self.ctx.fail(pd.Series(m[self.codes], index=self.ctx.frame.index), code, message)


def _per_value(series: pd.Series, rule: FieldRule, ct: ColumnType | None, ctx: StepContext,
               factorized: dict | None = None) -> tuple[pd.Series, tuple[pd.Series, np.ndarray]]:
    """Run the field's (element-wise) steps and coercion on its distinct values only.

    Returns the column and (its distinct values, row codes) for later per-value checks."""
    codes, uniques = _factorized(series, rule.source, factorized)
    n_u = len(uniques)
    na = codes < 0
    first = _first_rows(codes)  # first row of each value (then of NA)
    if na.any():
        first = np.append(first, np.argmax(na))
        codes = np.where(na, n_u, codes)
    distinct = series.take(first).reset_index(drop=True)
    sub = _DistinctContext(ctx, codes, distinct.index)
    for step in rule.transforms:
        distinct = apply_step(distinct, step, sub)
    if ct is not None:
        distinct = _coerce(distinct, ct, sub)
    result = distinct.take(codes)
    result.index = series.index
    return result, (distinct, codes)


def _coerce(s: pd.Series, ct: ColumnType, ctx: StepContext) -> pd.Series:
    """Bring a mapped column to its canonical type; values that cannot be are `bad_type`."""
    if ct.py is float or ct.py is int:
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s.astype(float) if ct.py is float else s
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            ctx.fail(bad, "bad_type", f"{s[bad].iloc[0]!r} is not a number")
        return num.astype(float) if ct.py is float else num
    if ct.py is str and (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
        arr = s.to_numpy(dtype=object)
        if lib.is_string_array(arr, skipna=True):  # already text: only nulls become None
            return pd.Series(np.where(pd.isna(arr), None, arr), index=s.index, dtype=object)
    conv = _CONVERTERS.get(ct.py)
    if conv is None:
        return s
    out, bad = _per_unique(s, conv)
    if bad.any():
        ctx.fail(bad, "bad_type", f"{s[bad].iloc[0]!r} is not a {ct.py.__name__}")
    return out


def _to_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else str(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    raise ValueError(v)


def _to_date(v: Any) -> date:
    if isinstance(v, date) and not isinstance(v, datetime):
        return v
    out = _parse_date(v, None)
    if out is None:
        raise ValueError(v)
    return out


_CONVERTERS = {str: _to_str, bool: _to_bool, date: _to_date, datetime: lambda v: _parse_iso_datetime(v, "UTC")}


def _check_rows(frame: pd.DataFrame, em: EntityMapping, types: dict[str, ColumnType], ctx: StepContext,
                distinct: dict[str, tuple[pd.Series, np.ndarray]] | None = None) -> None:
    """Record-level checks: canonical keys present, NOT NULL fields present, non-negative quantities."""
    pk = primary_key_columns(CANONICAL_ENTITIES[em.target])
    distinct = distinct or {}
    for name in pk:
        ctx.field = name
        if name in distinct:  # blank per distinct value, spread to the rows
            values, codes = distinct[name]
            ctx.fail(pd.Series(_blank(values).to_numpy()[codes], index=frame.index), "missing_key",
                     "canonical key is missing")
        elif name in frame.columns:
            ctx.fail(_blank(frame[name]), "missing_key", "canonical key is missing")
    for name, ct in types.items():
        if name in pk or ct.nullable or name not in frame.columns:
            continue
        ctx.field = name
        if ct.default is not None:
            frame[name] = frame[name].where(frame[name].notna(), ct.default)
        else:
            ctx.fail(frame[name].isna(), "missing_required", "required value is missing")
    for name in em.quality.non_negative:
        if name in frame.columns:
            ctx.field = name
            neg = pd.to_numeric(frame[name], errors="coerce") < 0
            ctx.fail(neg, "negative", "negative value not allowed")


def _split(df: pd.DataFrame, frame: pd.DataFrame, keys: pd.Series, ctx: StepContext,
           em: EntityMapping) -> MapResult:
    """Separate good rows from failed ones; then resolve duplicate canonical keys among the good."""
    errors = ctx.errors if ctx.errors is not None else pd.Series(None, index=df.index, dtype=object)
    ok = errors.isna()
    good, merged = _dedupe(frame[ok], em, ctx)
    errors = ctx.errors if ctx.errors is not None else errors
    quarantined = [
        QuarantinedRecord(keys[i], errors[i], ctx.messages.get(i, errors[i]), raw_record(df, i))
        for i in errors.index[errors.notna()]
    ]
    good = good[errors.reindex(good.index).isna()]
    return MapResult(good, keys.reindex(good.index), quarantined, len(df), merged, df)


def _dedupe(frame: pd.DataFrame, em: EntityMapping, ctx: StepContext) -> tuple[pd.DataFrame, int]:
    """Identical rows under one key merge; differing rows under one key are all `duplicate`."""
    pk = [c for c in primary_key_columns(CANONICAL_ENTITIES[em.target]) if c in frame.columns]
    if not pk or frame.empty:
        return frame, 0
    dup = frame.duplicated(pk, keep=False)
    if not dup.any():
        return frame, 0
    if em.quality.duplicates == "last_wins":
        kept = frame.drop_duplicates(pk, keep="last")
        return kept, len(frame) - len(kept)
    sub = frame[dup].astype(object).where(frame[dup].notna(), None).astype(str)
    variants = sub.groupby(pk, sort=False).transform("nunique").max(axis=1) if len(sub.columns) > len(pk) else None
    conflict = pd.Series(False, index=frame.index)
    if variants is not None:
        conflict[variants.index] = (variants > 1).to_numpy()
    ctx.field = "+".join(pk)
    ctx.fail(conflict, "duplicate", "same key appears with different values in the batch")
    kept = frame[~conflict].drop_duplicates(pk, keep="last")
    return kept, int((~conflict).sum() - len(kept))


def raw_record(df: pd.DataFrame, i: int) -> dict[str, Any]:
    row = df.iloc[i].to_dict()
    return {k: (None if _isnull(v) else v) for k, v in row.items()}


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
