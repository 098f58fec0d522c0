"""Reading a batch of source records into columns: only the fields a mapping reads, in C where it can.

OData JSON arrives as a list of dicts, with an expanded navigation (`$expand=to_SalesOrder`) as
a nested dict per record. `records_frame` turns such a batch into one object column per field
(or `to_Nav/Prop` path) without pandas' per-batch type inference of text, which is what lets
`map_records` look at a million records in a few seconds.

Example:
    >>> records_frame([{"A": "1", "to_H": {"B": "x"}}], ["A", "to_H/B"]).to_dict("records")
    [{'A': '1', 'to_H/B': 'x'}]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs import lib

from core.mapping.spec import EntityMapping


def records_frame(records: Iterable[dict] | pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Records as a DataFrame with a RangeIndex: all their fields, or only `columns`.

    Dicts (OData JSON, possibly with expanded navigation dicts) are read in C, all fields of a
    record at once, and a `to_Nav/Prop` column straight from the nested dicts. Text stays plain
    Python `str` in object columns (no per-batch string-dtype inference); numbers and booleans
    are inferred as pandas would. A DataFrame is used as it is."""
    if isinstance(records, pd.DataFrame):
        return records.reset_index(drop=True)
    data = records if isinstance(records, list) else list(records)
    if not data:
        return pd.DataFrame()
    names = columns if columns is not None else _all_fields(data)
    index = pd.RangeIndex(len(data))
    return pd.DataFrame({name: _object_series(values, index)
                         for name, values in _read_columns(data, names).items()}, copy=False)


def _all_fields(data: list[dict]) -> list[str]:
    """Every field of the records: the first record's in its order, then any others, sorted."""
    first = list(data[0])
    rest = set().union(*data).difference(first)
    return first + sorted(rest, key=str)


def _read_columns(rows: list, paths: list[str]) -> dict[str, np.ndarray]:
    """The values at each path (`Field` or `to_Nav/Field`) of a list of dicts, one array per path,
    numbers and booleans inferred as pandas would.

    A record may also carry a navigation path already flattened (`{"to_SalesOrder/SoldToParty": ...}`):
    in a record without the nested dict, the flat key is read instead."""
    return {p: lib.maybe_convert_objects(v) for p, v in _read_objects(rows, paths).items()}


def _read_objects(rows: list, paths: list[str], plain: bool | None = None) -> dict[str, np.ndarray]:
    """`_read_columns` before type inference; `plain` says every row is a plain dict, when known."""
    heads = list(dict.fromkeys(p.split("/", 1)[0] for p in paths))
    plain = set(map(type, rows)) <= {dict} if plain is None else plain
    columns = _grid(rows, heads, plain)
    out = {}
    for head, column in zip(heads, columns, strict=True):
        subs = [p.split("/", 1)[1] for p in paths if p.startswith(head + "/")]
        if subs:
            nested = column.tolist()
            nested_plain = set(map(type, nested)) <= {dict}
            flat_rows = [] if nested_plain else [i for i, r in enumerate(nested) if not isinstance(r, dict)]
            for sub, values in _read_objects(nested, subs, nested_plain).items():
                for i in flat_rows:  # no nested dict here: the record may carry the path flattened
                    values[i] = _get(rows[i], f"{head}/{sub}")
                out[f"{head}/{sub}"] = values
        if head in paths:
            out[head] = column
    return {p: out[p] for p in paths}


def _grid(rows: list, names: list[str], plain: bool) -> np.ndarray:
    """names x rows object array, one row per field (a missing field is NaN or None).
    Plain dicts are read in C, as DataFrame.from_records does."""
    if plain and _dicts_to_array is not None:
        return _dicts_to_array(rows, names).T  # a view: each field a strided column, no copy
    grid = np.empty((len(names), len(rows)), dtype=object)
    for j, name in enumerate(names):  # fromiter stores a list value as one item, not as a sequence
        grid[j] = np.fromiter((_get(r, name) for r in rows), dtype=object, count=len(rows))
    return grid


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else None


_dicts_to_array = getattr(lib, "dicts_to_array", None)  # what DataFrame.from_records uses


def _object_series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """A column as given: text stays in an object column (pandas would infer its `str` dtype)."""
    return pd.Series(values, index=index, dtype=object if values.dtype == object else None, copy=False)


def flatten(df: pd.DataFrame, paths: list[str]) -> pd.DataFrame:
    """`df` plus one column per navigation path not already a column, read from its nested dicts.

    A shallow copy: `df` itself (the raw records) is left as it was."""
    todo = [p for p in paths if p not in df.columns and p.split("/", 1)[0] in df.columns]
    if not todo:
        return df
    flat = df.copy(deep=False)
    for nav in dict.fromkeys(p.split("/", 1)[0] for p in todo):
        subs = [p.split("/", 1)[1] for p in todo if p.startswith(nav + "/")]
        for sub, values in _read_columns(df[nav].tolist(), subs).items():
            flat[f"{nav}/{sub}"] = _object_series(values, df.index)
    return flat


def source_fields(em: EntityMapping) -> list[str]:
    """Every source field the entity reads: keys, field sources and `*_field` transform options."""
    fields = list(em.key)
    for rule in em.fields.values():
        sources = [rule.source] if isinstance(rule.source, str) else list(rule.source or [])
        for step in rule.transforms:
            if isinstance(step, dict) and len(step) == 1:
                opts = next(iter(step.values()))
                if isinstance(opts, dict):
                    sources += [v for k, v in opts.items() if k.endswith("_field") and isinstance(v, str)]
        fields += [p for p in sources if p not in fields]
    return fields


def nav_paths(em: EntityMapping) -> list[str]:
    """Every `to_Nav/Prop` source path the entity reads."""
    return [p for p in source_fields(em) if "/" in p]


def source_series(df: pd.DataFrame, name: str) -> pd.Series:
    """A source field; `to_Nav/Prop` reads an expanded navigation (nested dict) when not flattened,
    and a field the records lack reads as nulls."""
    if name in df.columns:
        return df[name]
    nav, _, prop = name.partition("/")
    if prop and nav in df.columns:
        return _object_series(_read_columns(df[nav].tolist(), [prop])[prop], df.index)
    return pd.Series(None, index=df.index, dtype=object)
