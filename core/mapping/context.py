"""What a transform sees, and the per-distinct-value helpers transforms are built from.

`StepContext` carries the batch's source frame, the unit conversions and the error sink
(`fail`); `Conversions` holds the unit tables. The helpers run a scalar function once per
distinct value of a Series (`_per_unique`, `_map_unique`) and spread the results back to the
rows, which is what makes a million-row batch fast.

Example:
    >>> import pandas as pd
    >>> _per_unique(pd.Series(["a", "b", "a"]), str.upper)[0].tolist()
    ['A', 'B', 'A']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from core.mapping.columns import source_series

MISSING = object()


@dataclass
class Conversions:
    """Unit conversion factors: per product (e.g. SAP A_ProductUnitsOfMeasure) and generic (KG -> G)."""

    per_product: dict[tuple[str, str], float] = field(default_factory=dict)  # (product, unit) -> base units
    base_units: dict[str, str] = field(default_factory=dict)  # product -> base unit
    generic: dict[tuple[str, str], float] = field(default_factory=dict)  # (from, to) -> factor

    @classmethod
    def from_product_units(cls, records, product="Product", unit="AlternativeUnit",
                           numerator="QuantityNumerator", denominator="QuantityDenominator") -> Conversions:
        """Build from SAP-style rows: 1 alternative unit = numerator / denominator base units."""
        conv = cls()
        for rec in records:
            num, den = float(rec[numerator]), float(rec[denominator] or 1)
            conv.per_product[(str(rec[product]), str(rec[unit]))] = num / den
        return conv

    def merged(self, other: Conversions | None) -> Conversions:
        if other is None or other is self:
            return self
        if not (self.per_product or self.base_units or self.generic):
            return other  # the usual case: nothing of its own to add (keeps `other`'s lookup cache)
        held = getattr(self, "_merged", None)
        if held is not None and held[0] is other and held[1] == other._sizes():
            return held[2]  # the same tables as last batch: the same merge (and its lookup cache)
        out = Conversions({**self.per_product, **other.per_product}, {**self.base_units, **other.base_units},
                          {**self.generic, **other.generic})
        self._merged = (other, other._sizes(), out)
        return out

    def _sizes(self) -> tuple[int, int, int]:
        return len(self.per_product), len(self.base_units), len(self.generic)

    def by_product(self) -> dict[str, dict[str, float]]:
        """`per_product` as product -> {unit: base units}, built once per table (lookups stay in cache)."""
        key = (id(self.per_product), len(self.per_product))
        if getattr(self, "_by_product_key", None) != key:
            by_product: dict[str, dict[str, float]] = {}
            for (prod, unit), value in self.per_product.items():
                by_product.setdefault(prod, {})[unit] = value
            self._by_product, self._by_product_key = by_product, key
        return self._by_product


_NO_UNITS: dict[str, float] = {}


@dataclass
class StepContext:
    """What a transform may see besides its own Series: the raw frame, conversions, the error sink."""

    frame: pd.DataFrame
    field: str
    conversions: Conversions = field(default_factory=Conversions)
    errors: pd.Series | None = None  # reason code per row (None = ok); owned by the engine
    messages: dict[int, str] = field(default_factory=dict)
    factorized: dict[str, tuple[np.ndarray, Any]] = field(default_factory=dict)
    distinct: bool = False  # the Series steps see hold distinct values (see engine._per_value)
    number_format: Any = None  # the field's declared spec.NumberFormat (None: the default rules)
    mapping_file: str = ""  # named in the hint to declare a number format

    def source_codes(self, name: str) -> tuple[np.ndarray, Any]:
        """`pd.factorize` of source field `name` (codes per row, distinct values), once per batch:
        the key, the fields and transforms such as `uom` reading one column share it."""
        if name not in self.factorized:
            self.factorized[name] = pd.factorize(_field(self, name), use_na_sentinel=True)
        return self.factorized[name]

    def fail(self, mask: pd.Series | np.ndarray, code: str, message: str | np.ndarray) -> None:
        """Mark rows in `mask` (a boolean Series or array over the frame) as failed; the first failure wins.

        `message` is one text for all, or an array with each row's own (e.g. naming its value)."""
        if isinstance(mask, pd.Series) and not mask.index.equals(self.frame.index):
            mask = mask.reindex(self.frame.index)  # a mask over some of the rows
        m = as_mask(mask)
        if not m.any():
            return
        if self.errors is None:
            self.errors = pd.Series(None, index=self.frame.index, dtype=object)
        mask = pd.Series(m & self.errors.isna().to_numpy(), index=self.frame.index)
        if not mask.any():
            return
        self.errors[mask] = code
        rows = np.flatnonzero(mask.to_numpy())[:100000]
        texts = [message] * len(rows) if isinstance(message, str) else np.asarray(message, dtype=object)[rows]
        for idx, text in zip(self.frame.index[rows], texts, strict=True):
            self.messages[idx] = f"{self.field}: {text}"


def as_mask(mask: pd.Series | np.ndarray) -> np.ndarray:
    """A boolean mask as a numpy array; nulls count as False."""
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        return mask
    if isinstance(mask, pd.Series) and mask.dtype == bool:
        return mask.to_numpy()
    arr = pd.Series(mask).to_numpy(dtype=object, copy=True)  # fillna on objects warns it will stop downcasting
    arr[pd.isna(arr)] = False
    return arr.astype(bool)


def _field(ctx: StepContext, name: str) -> pd.Series:
    """Another source field of the same records (`to_Nav/Prop` reads a nested dict)."""
    return source_series(ctx.frame, name)



def _blank(s: pd.Series, ctx: Any = None) -> pd.Series:
    """Null, NaN or an all-space string."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.isna()
    codes, uniques = _codes(s, ctx)
    blank_u = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [True], dtype=bool)
    return pd.Series(blank_u[codes], index=s.index)


def _codes(s: pd.Series, ctx: Any = None) -> tuple[np.ndarray, list]:
    """`pd.factorize` as (codes per row, distinct non-null values as plain Python objects).

    Under the engine's per-value context the values are distinct already, so nothing is hashed."""
    if getattr(ctx, "distinct", False):
        arr = s.to_numpy(dtype=object)
        na = pd.isna(arr)
        if not na.any():
            return np.arange(len(arr)), arr.tolist()
        codes = np.cumsum(~na) - 1
        codes[na] = -1
        return codes, arr[~na].tolist()
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, uniques.tolist()


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """Row of the first occurrence of each code of `pd.factorize` (codes appear in order 0, 1, 2...);
    the NA sentinel -1 is skipped."""
    running = np.maximum.accumulate(codes) if len(codes) else codes
    return np.flatnonzero(np.diff(running, prepend=-1) > 0)


def _per_unique(s: pd.Series, fn: Callable[[Any], Any], bad=MISSING, ctx: Any = None) -> tuple[pd.Series, pd.Series]:
    """Apply a scalar `fn` once per distinct non-null value; returns (result, failed-mask).

    `fn` returns `bad` (or raises ValueError) for a value it cannot convert.
    """
    codes, uniques = _codes(s, ctx)
    out_u, bad_u = [], []
    for value in uniques:
        try:
            res = fn(value)
        except (ValueError, TypeError, ArithmeticError, InvalidOperation):
            res = bad
        bad_u.append(res is bad)
        out_u.append(None if res is bad else res)
    bad_arr = np.array(bad_u + [False], dtype=bool)
    return _spread(out_u, codes, s.index), pd.Series(bad_arr[codes], index=s.index)


def _map_unique(s: pd.Series, fn: Callable[[list], list], ctx: Any = None) -> pd.Series:
    """`fn` over the list of distinct non-null values at once (for steps that cannot fail)."""
    codes, uniques = _codes(s, ctx)
    return _spread(fn(uniques), codes, s.index)


def _spread(distinct: list, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Per-distinct-value results back onto the rows (code -1, a null, gets None)."""
    out_arr = np.empty(len(distinct) + 1, dtype=object)
    out_arr[:-1] = distinct
    out_arr[-1] = None
    return pd.Series(out_arr[codes], index=index, dtype=object)


def _convert(s: pd.Series, ctx: StepContext, fn, code: str, what: str) -> pd.Series:
    out, bad = _per_unique(s, fn, ctx=ctx)
    if bad.any():
        sample = s[bad].iloc[0]
        ctx.fail(bad, code, f"cannot read {sample!r} as {what}")
    return out
