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

import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs import lib

from core.mapping.columns import flatten, nav_paths, records_frame, source_fields, source_series
from core.mapping.context import Conversions, StepContext, _blank, _first_rows, _per_unique, as_mask
from core.mapping.dates import _parse_date, _parse_iso_datetime
from core.mapping.spec import EntityMapping, FieldRule
from core.mapping.transforms import apply_step, parse_step, read_numbers
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
    keys: SourceKeys | None
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    read: int = 0
    duplicates_merged: int = 0
    source: pd.DataFrame | None = None  # the source fields the mapping read, index-aligned with `frame`
    records: list[dict] | pd.DataFrame | None = None  # the batch as given, position = index

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Canonical rows as dicts (nulls as None)."""
        return _records(self.frame)

    @property
    def source_keys(self) -> pd.Series:
        """The source key of each row of `frame` (same index), as the system writes it."""
        if self.keys is None:
            return pd.Series(dtype=object)
        return self.keys.series().reindex(self.frame.index)

    def record(self, i: int) -> dict[str, Any]:
        """Source record `i` as the system sent it (nulls as None), e.g. for the quarantine."""
        return raw_record(self.records, i)


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


class SourceKeys:
    """The source key of every row, exactly as the system writes it ('|'-joined when composite).

    Made from the per-value codes of the key fields; the text is built only when asked for
    (the crosswalk wants every row's, most batches only their quarantined rows')."""

    def __init__(self, df: pd.DataFrame, key: list[str], ctx: StepContext):
        self.index = df.index
        self.parts: list[tuple[np.ndarray, list]] = []  # (codes per row, distinct values)
        self.missing = np.zeros(len(df), dtype=bool)
        self._text: list[np.ndarray] | None = None
        self._series: pd.Series | None = None
        for k in key:  # one factorize per part, shared with the fields reading it
            codes, uniques = ctx.source_codes(k)
            values = uniques.tolist()
            p = source_series(df, k)
            numeric = pd.api.types.is_numeric_dtype(p) or pd.api.types.is_bool_dtype(p)
            blank_u = np.array([not numeric and isinstance(v, str) and not v.strip() for v in values] + [True])
            self.missing |= blank_u[codes]
            self.parts.append((codes, values))

    def _texts(self) -> list[np.ndarray]:
        """Per part: stripped text per distinct value, then "" for a null (code -1)."""
        if self._text is None:
            self._text = []
            for _, values in self.parts:
                text = np.empty(len(values) + 1, dtype=object)
                text[:] = [str(v).strip() for v in values] + [""]
                self._text.append(text)
        return self._text

    def at(self, i: int) -> str | None:
        """The key of row `i` (position), None when a part is blank."""
        if self.missing[i]:
            return None
        return "|".join(text[codes[i]] for (codes, _), text in zip(self.parts, self._texts(), strict=True))

    def series(self) -> pd.Series:
        if self._series is None:
            joined = None
            for (codes, _), text in zip(self.parts, self._texts(), strict=True):  # str + str per element
                joined = text[codes] if joined is None else joined + "|" + text[codes]
            self._series = pd.Series(np.where(self.missing, None, joined), index=self.index, dtype=object)
        return self._series


def map_records(entity_mapping: EntityMapping, records: Iterable[dict] | pd.DataFrame,
                conversions: Conversions | None = None) -> MapResult:
    """Map a batch of source records to canonical rows; bad records are quarantined with a reason."""
    if not isinstance(records, pd.DataFrame | list):
        records = list(records)
    columns = None if isinstance(records, pd.DataFrame) else source_fields(entity_mapping)
    df = records_frame(records, columns)  # dicts: only the fields the mapping reads
    if df.empty:
        return MapResult(pd.DataFrame(columns=list(entity_mapping.fields)), None, [], 0)
    conv = (entity_mapping._conversions or Conversions()).merged(conversions)
    src = flatten(df, nav_paths(entity_mapping))  # nested navigation fields as columns, read once
    ctx = StepContext(src, "(key)", conv, mapping_file=entity_mapping._file)
    keys = SourceKeys(src, entity_mapping.key, ctx)
    ctx.fail(pd.Series(keys.missing, index=src.index), "missing_key", f"key {'+'.join(entity_mapping.key)} is missing")
    types = canonical_types(entity_mapping.target)
    out, distinct = {}, {}
    for name, rule in entity_mapping.fields.items():
        ctx.field, ctx.number_format = name, rule.number_format or entity_mapping.number_format
        series = _initial(src, rule)
        if isinstance(rule.source, str) and all(parse_step(st)[0] in _ELEMENTWISE for st in rule.transforms):
            out[name], distinct[name] = _per_value(series, rule, types.get(name), ctx)
            continue
        for step in rule.transforms:
            series = apply_step(series, step, ctx)
        out[name] = _coerce(series, types[name], ctx) if name in types else series
    frame = pd.DataFrame(out, index=df.index, copy=False)
    _check_rows(frame, entity_mapping, types, ctx, distinct)
    return _split(records if isinstance(records, list) else df, src, frame, keys, ctx, entity_mapping, distinct)


# Steps whose result for a row depends on that row's value alone: a field made only of these is
# computed once per distinct source value and spread back to the rows (dates, units, ids repeat).
_ELEMENTWISE = frozenset({"required", "strip", "alpha_strip", "upper", "lower", "str", "alpha", "split", "regex",
                          "max_length", "is_set", "bool", "sap_bool", "map", "default",
                          "date", "sap_date", "odata_date", "datetime"})


class _DistinctContext:
    """A StepContext over the distinct values of a column: failures are spread back to every row."""

    distinct = True  # transforms need not hash the values again

    def __init__(self, ctx: StepContext, codes: np.ndarray, index: pd.Index):
        self.ctx, self.codes, self.index = ctx, codes, index
        self.field, self.conversions = ctx.field, ctx.conversions
        self.number_format, self.mapping_file = ctx.number_format, ctx.mapping_file

    @property
    def frame(self) -> pd.DataFrame:  # what a transform may look at: one row per distinct value
        return pd.DataFrame(index=self.index)

    def fail(self, mask: pd.Series, code: str, message: str | np.ndarray) -> None:
        m = as_mask(mask.reindex(self.index) if isinstance(mask, pd.Series) else mask)
        if m.any():  # a message per distinct value becomes one per row
            self.ctx.fail(m[self.codes], code, message if isinstance(message, str) else
                          np.asarray(message, dtype=object)[self.codes])


def _per_value(series: pd.Series, rule: FieldRule, ct: ColumnType | None,
               ctx: StepContext) -> tuple[pd.Series, tuple[pd.Series, np.ndarray]]:
    """Run the field's (element-wise) steps and coercion on its distinct values only.

    Returns the column and (its distinct values, row codes) for later per-value checks."""
    codes, uniques = ctx.source_codes(rule.source)
    na = codes < 0
    if na.any():  # the null rows share one more distinct value: a null of the column's own type
        first = np.append(_first_rows(codes), np.argmax(na))
        codes = np.where(na, len(uniques), codes)
        distinct = series.take(first).reset_index(drop=True)
    else:
        distinct = pd.Series(uniques.to_numpy(), dtype=uniques.dtype)
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
        if ct.py is int and pd.api.types.is_integer_dtype(s):
            return s
        return read_numbers(s, ctx, "a number")  # text by the field's number format; never inf or NaN
    if ct.py is str and (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
        arr = s.to_numpy(dtype=object)
        if lib.is_string_array(arr, skipna=True):  # already text: only nulls become None
            return pd.Series(np.where(pd.isna(arr), None, arr), index=s.index, dtype=object)
    conv = _CONVERTERS.get(ct.py)
    if conv is None:
        return s
    out, bad = _per_unique(s, conv, ctx=ctx)
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
            ctx.fail(_blank(values, _DISTINCT).to_numpy()[codes], "missing_key", "canonical key is missing")
        elif name in frame.columns:
            ctx.fail(_blank(frame[name]), "missing_key", "canonical key is missing")
    for name, ct in types.items():
        if name in pk or ct.nullable or name not in frame.columns:
            continue
        ctx.field = name
        na = distinct[name][0].isna().to_numpy()[distinct[name][1]] if name in distinct else frame[name].isna().to_numpy()
        if ct.default is not None and na.any():
            frame[name] = frame[name].where(~na, ct.default)
        elif ct.default is None:
            ctx.fail(na, "missing_required", "required value is missing")
    for name in em.quality.non_negative:
        if name in frame.columns:
            ctx.field = name
            column = frame[name]
            values = column if pd.api.types.is_float_dtype(column) else pd.to_numeric(column, errors="coerce")
            neg = values < 0
            ctx.fail(neg, "negative", "negative value not allowed")


_DISTINCT = _DistinctContext.__new__(_DistinctContext)  # marks a Series of distinct values for `_blank`


def _key_codes(frame: pd.DataFrame, pk: list[str], distinct: dict[str, tuple[pd.Series, np.ndarray]]) -> np.ndarray | None:
    """One integer per row that is equal exactly when the canonical key is, from the per-value codes
    (no hashing of the rows' text); None when a key field was not computed per value."""
    if not pk or any(name not in distinct for name in pk):
        return None
    combined = np.zeros(len(frame), dtype=np.int64)
    for name in pk:
        values, codes = distinct[name]
        value_codes, uniques = pd.factorize(values, use_na_sentinel=True)  # equal canonical values, one code
        combined = combined * (len(uniques) + 1) + (value_codes[codes] + 1)
        combined = pd.factorize(combined)[0].astype(np.int64)  # keep the numbers small
    return combined


def _split(records: list[dict] | pd.DataFrame, src: pd.DataFrame, frame: pd.DataFrame, keys: SourceKeys,
           ctx: StepContext, em: EntityMapping, distinct: dict | None = None) -> MapResult:
    """Separate good rows from failed ones; then resolve duplicate canonical keys among the good."""
    errors = ctx.errors if ctx.errors is not None else pd.Series(None, index=frame.index, dtype=object)
    ok = errors.isna().to_numpy()
    pk = [c for c in primary_key_columns(CANONICAL_ENTITIES[em.target]) if c in frame.columns]
    key_codes = _key_codes(frame, pk, distinct or {})
    if ok.all():  # the usual batch: no copy of the frame
        good, merged = _dedupe(frame, pk, em, ctx, key_codes)
    else:
        good, merged = _dedupe(frame[ok], pk, em, ctx, None if key_codes is None else key_codes[ok])
    errors = ctx.errors if ctx.errors is not None else errors
    quarantined = [
        QuarantinedRecord(keys.at(i), errors[i], ctx.messages.get(i, errors[i]), raw_record(records, i))
        for i in errors.index[errors.notna()]
    ]
    if quarantined:
        good = good[errors.reindex(good.index).isna()]
    return MapResult(good, keys, quarantined, len(frame), merged, src, records)


def _dedupe(frame: pd.DataFrame, pk: list[str], em: EntityMapping, ctx: StepContext,
            key_codes: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """Identical rows under one key merge; differing rows under one key are all `duplicate`."""
    if not pk or frame.empty:
        return frame, 0
    if key_codes is not None:  # the usual batch has no repeated key: tell that from integers
        if not pd.Series(key_codes).duplicated(keep=False).any():
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


def raw_record(records: list[dict] | pd.DataFrame, i: int) -> dict[str, Any]:
    """Record `i` of a batch (a list of dicts or a DataFrame) as a dict, nulls as None."""
    row = records.iloc[i].to_dict() if isinstance(records, pd.DataFrame) else records[i]
    return {k: (None if _isnull(v) else v) for k, v in row.items()}


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
