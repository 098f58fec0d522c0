"""The transform registry: every step a mapping file may name, vectorised over pandas Series.

A transform takes a Series (one field for a batch of records) and returns a Series. Rows it
cannot convert are reported through `ctx.fail(mask, reason_code, message)` and become
quarantined records; transforms never raise on bad data. Values that repeat (dates, units,
codes) are converted once per distinct value (`_per_unique` in `core.mapping.context`), which is
what makes a million-row batch fast.

Example:
    >>> import pandas as pd
    >>> ctx = StepContext(pd.DataFrame(index=range(2)), "x")
    >>> apply_step(pd.Series(["000123", "AB"]), "alpha_strip", ctx).tolist()
    ['123', 'AB']
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from basics.errors import ConfigError
from basics.yaml_loader import suggest
from core.mapping.context import (  # noqa: F401 - StepContext stays importable from here
    _NO_UNITS,
    MISSING,
    Conversions,
    StepContext,
    _blank,
    _codes,
    _convert,
    _field,
    _map_unique,
    _per_unique,
    _spread,
)
from core.mapping.numeric import parse_numbers


@dataclass
class Transform:
    name: str
    fn: Callable[..., pd.Series]
    out: str  # str | int | float | date | datetime | bool | same | any
    params: dict[str, Any]
    doc: str
    example: str


REGISTRY: dict[str, Transform] = {}


def transform(name: str, out: str, example: str):
    """Register a transform under `name` with its output type and a one-line example for the docs."""

    def wrap(fn):
        sig = inspect.signature(fn)
        params = {p: (v.default if v.default is not inspect.Parameter.empty else MISSING)
                  for p, v in list(sig.parameters.items())[2:]}
        REGISTRY[name] = Transform(name, fn, out, params, (fn.__doc__ or "").strip(), example)
        return fn

    return wrap


def get_transform(name: str) -> Transform:
    """The transform called `name`; an unknown name lists the valid names and the nearest one."""
    if name not in REGISTRY:
        guess = suggest(name, list(REGISTRY))
        hint = f"did you mean '{guess}'? " if guess else ""
        raise ConfigError(f"unknown transform {name!r}",
                          hint=f"{hint}valid transforms: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def parse_step(step: Any) -> tuple[str, dict[str, Any]]:
    """`"int"` -> ("int", {}); `{decimal: {scale: 3}}` -> ("decimal", {"scale": 3}); `{alpha: 10}` -> first param."""
    if isinstance(step, str):
        name, raw = step, {}
    elif isinstance(step, dict) and len(step) == 1:
        name, raw = next(iter(step.items()))
    else:
        raise ConfigError(f"bad transform step {step!r}", hint="write a name, or a mapping of one name to its options")
    spec = get_transform(name)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        if not spec.params:
            raise ConfigError(f"transform {name!r} takes no options", hint=f"write just '{name}'")
        raw = {next(iter(spec.params)): raw}
    return name, raw


def check_params(name: str, params: dict[str, Any]) -> list[str]:
    """Problems with a step's options: unknown option names (with a suggestion) and missing ones."""
    spec = get_transform(name)
    problems = []
    for key in params:
        if key not in spec.params:
            guess = suggest(key, list(spec.params))
            problems.append(f"transform {name!r} has no option {key!r}"
                            + (f"; did you mean '{guess}'?" if guess else f"; valid: {', '.join(spec.params) or 'none'}"))
    for key, default in spec.params.items():
        if default is MISSING and key not in params:
            problems.append(f"transform {name!r} needs option {key!r}")
    return problems


def apply_step(s: pd.Series, step: Any, ctx: StepContext) -> pd.Series:
    """Apply one step to a Series."""
    name, params = parse_step(step)
    return get_transform(name).fn(s, ctx, **params)


# --------------------------------------------------------------------------- strings


@transform("str", "str", "`123` -> `'123'`")
def t_str(s, ctx):
    """Text; integral numbers lose their `.0`."""
    def conv(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return _per_unique(s, conv, ctx=ctx)[0]


@transform("strip", "str", "`'  A1 '` -> `'A1'`")
def t_strip(s, ctx):
    """Trim spaces; an all-space value becomes null (SAP pads CHAR fields with spaces)."""
    return _map_unique(s, lambda values: [str(v).strip() or None for v in values], ctx)


@transform("upper", "str", "`'ab'` -> `'AB'`")
def t_upper(s, ctx):
    """Upper case."""
    return _map_unique(s, lambda values: [str(v).upper() for v in values], ctx)


@transform("lower", "str", "`'AB'` -> `'ab'`")
def t_lower(s, ctx):
    """Lower case."""
    return _map_unique(s, lambda values: [str(v).lower() for v in values], ctx)


def _alpha_pad(v: Any, length: int) -> str:
    text = str(v).strip()
    return text.zfill(length) if text.isdigit() else text.upper()


@transform("alpha", "str", "`{alpha: 10}`: `'100234'` -> `'0000100234'`; `'ABC'` stays `'ABC'`")
def t_alpha(s, ctx, length: int = MISSING):
    """SAP ALPHA conversion exit, input side: pad purely numeric values with zeros to `length`."""
    out = _per_unique(s, lambda v: _alpha_pad(v, length), ctx=ctx)[0]
    too_long = out.str.len() > length
    if too_long.any():
        ctx.fail(too_long, "bad_value", f"longer than {length} characters")
    return out


@transform("alpha_strip", "str", "`'0000100234'` -> `'100234'`; `'ABC-1'` stays")
def t_alpha_strip(s, ctx):
    """SAP ALPHA conversion exit, output side: strip leading zeros of purely numeric values."""
    return _map_unique(s, _alpha_strip_all, ctx)


def _alpha_strip_all(values: list) -> list[str]:
    """ALPHA output of each value: most ids have neither leading zeros nor padding and pass as they
    are; the others are stripped, then purely numeric ones lose their leading zeros."""
    out = [v if type(v) is str and v[:1] not in "0 " and v[-1:] != " " else None for v in values]
    todo = [i for i, v in enumerate(out) if v is None]
    if todo:
        texts = [str(values[i]).strip() for i in todo]
        for i, t in zip(todo, texts, strict=True):
            out[i] = (t.lstrip("0") or "0") if t.isdigit() else t
    return out


@transform("split", "str", "`{split: {sep: '-', index: 0}}`: segment `'A-X'` -> `'A'`")
def t_split(s, ctx, sep: str = "-", index: int = 0):
    """Part of a delimited value (e.g. the ABC letter of an `A-X` segment)."""
    def part(v):
        parts = str(v).split(sep)
        return parts[index] if -len(parts) <= index < len(parts) else None
    return _per_unique(s, part, ctx=ctx)[0]


@transform("regex", "same", "`{regex: '^[0-9]{4}$'}`: `'1010'` ok, `'10'` -> quarantined `bad_format`")
def t_regex(s, ctx, pattern: str = MISSING, code: str = "bad_format"):
    """Check each non-null value fully matches `pattern`; others are quarantined."""
    rx = re.compile(pattern)
    ok = _per_unique(s, lambda v: bool(rx.fullmatch(str(v))), ctx=ctx)[0]
    bad = s.notna() & ok.eq(False)  # a null `ok` (null value) is not bad; `eq`, unlike fillna, never downcasts
    if bad.any():
        ctx.fail(bad, code, f"{s[bad].iloc[0]!r} does not match {pattern}")
    return s


@transform("max_length", "same", "`{max_length: 3}`: `'ABCD'` -> quarantined `bad_value`")
def t_max_length(s, ctx, length: int = MISSING):
    """Reject values longer than the target field allows."""
    bad = s.notna() & (s.astype(str).str.len() > length)
    if bad.any():
        ctx.fail(bad, "bad_value", f"longer than {length} characters")
    return s


# --------------------------------------------------------------------------- numbers


def read_numbers(s: pd.Series, ctx: StepContext, what: str) -> pd.Series:
    """The column as floats through the one number parser (`core.mapping.numeric`), in the field's
    declared number format; every refused value is quarantined with its own reason."""
    where = f" in {ctx.mapping_file}" if getattr(ctx, "mapping_file", "") else ""
    parsed = parse_numbers(s, getattr(ctx, "number_format", None), where, what)
    if parsed.codes is not None:  # something was refused: one failure per reason code, each row its message
        for code in pd.unique(parsed.codes[parsed.refused()]):
            ctx.fail(parsed.refused(code), code, parsed.messages)
    return pd.Series(parsed.values, index=s.index)


@transform("float", "float", "`'12.5'` -> `12.5`; `'abc'` -> quarantined `bad_type`")
def t_float(s, ctx):
    """Floating-point number."""
    return read_numbers(s, ctx, "a number")


@transform("decimal", "float", "`{decimal: 3}`: `'12.3456'` -> `12.346`; SAP `'5.000-'` -> `-5.0`")
def t_decimal(s, ctx, scale: int | None = None):
    """Decimal number (OData Edm.Decimal arrives as a string), rounded to `scale` places."""
    out = read_numbers(s, ctx, "a decimal")
    return out.round(scale) if scale is not None else out


@transform("int", "int", "`'0042'` -> `42`; `'4.5'` -> quarantined `bad_type`")
def t_int(s, ctx):
    """Whole number; fractions are a bad type, not silently truncated."""
    out = read_numbers(s, ctx, "an integer")
    frac = out.notna() & (out % 1 != 0)
    if frac.any():
        ctx.fail(frac, "bad_type", f"{s[frac].iloc[0]!r} is not a whole number")
    keep = out.notna() & ~frac
    result = pd.Series(None, index=s.index, dtype=object)
    result[keep] = [int(v) for v in out[keep]]
    return result


@transform("multiply", "float", "`{multiply: 0.01}`: percent `'95'` -> `0.95`")
def t_multiply(s, ctx, factor: float = MISSING):
    """Multiply by a constant factor."""
    return read_numbers(s, ctx, "a number") * factor


@transform("round", "float", "`{round: 0}`: `12.6` -> `13.0`")
def t_round(s, ctx, scale: int = 0):
    """Round to `scale` places."""
    return read_numbers(s, ctx, "a number").round(scale)


@transform("non_negative", "same", "`-3` -> quarantined `negative`")
def t_non_negative(s, ctx):
    """Quantities that must not be negative (text read in the field's number format: '-1,5' when declared)."""
    num = pd.Series(parse_numbers(s, getattr(ctx, "number_format", None)).values, index=s.index)
    bad = num < 0  # a value that is no number is left to the number steps and the canonical type to report
    if bad.any():
        ctx.fail(bad, "negative", f"{s[bad].iloc[0]!r} is negative")
    return s


@transform("format_decimal", "str", "`{format_decimal: 3}`: `120.5` -> `'120.500'` (OData Edm.Decimal)")
def t_format_decimal(s, ctx, scale: int = MISSING):
    """Fixed-point text with exactly `scale` places, as SAP and OData expect decimals."""
    num = read_numbers(s, ctx, "a number")
    return _per_unique(num, lambda v: format(Decimal(repr(float(v))).quantize(Decimal(1).scaleb(-scale)), "f"))[0]


# --------------------------------------------------------------------------- booleans


_TRUE = {"x", "true", "1", "y", "yes", "t"}
_FALSE = {"", "false", "0", "n", "no", "f"}


@transform("bool", "bool", "`'true'`/`'1'`/`'X'` -> `True`; `'false'`/`'0'`/`''` -> `False`")
def t_bool(s, ctx):
    """Boolean from the usual spellings; anything else is a bad type."""
    def conv(v):
        if isinstance(v, bool | np.bool_):
            return bool(v)
        text = str(v).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(v)
    out = _convert(s, ctx, conv, "bad_type", "a boolean")
    return out


@transform("sap_bool", "bool", "`'X'` -> `True`; `''`, `' '` or null -> `False`")
def t_sap_bool(s, ctx):
    """SAP flag: 'X' is true, blank (or missing) is false."""
    out = _convert(s, ctx, lambda v: _sap_flag(v), "bad_type", "an SAP flag ('X' or blank)")
    return out.where(s.notna(), False)


def _sap_flag(v: Any) -> bool:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    text = str(v).strip().upper()
    if text in ("X", ""):
        return text == "X"
    raise ValueError(v)


@transform("is_set", "bool", "rejection reason `'02'` -> `True`; `''` or null -> `False`")
def t_is_set(s, ctx):
    """True when the field holds a non-blank value (e.g. SAP SalesDocumentRjcnReason)."""
    return ~_blank(s, ctx)


@transform("to_sap_bool", "str", "`True` -> `'X'`; `False` -> `''`")
def t_to_sap_bool(s, ctx):
    """Boolean to SAP flag (write-back)."""
    return _per_unique(s, lambda v: "X" if bool(v) else "", ctx=ctx)[0]


# --------------------------------------------------------------------------- values


@transform("map", "str", "`{map: {values: {'01': STANDARD}, on_unmapped: error}}`; `{map: {codelist: x}}`")
def t_map(s, ctx, values: dict | None = None, codelist: str | None = None, reverse: bool = False,
          default: Any = None, on_unmapped: str = "error"):
    """Code list: map source codes to canonical values (`reverse: true` maps back). Unmapped codes are
    quarantined (`unmapped_code`), get `default` (`on_unmapped: default`) or pass through (`keep`)."""
    table = {str(k): v for k, v in (values or {}).items()}
    if reverse:
        table = {str(v): k for k, v in table.items()}
    if all(type(v) is str for v in table.values()):  # the usual code list: looked up per distinct value
        out, hit = _lookup_texts(s, table, ctx)
    else:  # numbers or flags as values: pandas' map gives them their column type, as it always did
        keys = _per_unique(s, lambda v: str(v).strip(), ctx=ctx)[0]
        hit = keys.notna() & keys.isin(list(table))  # a bool mask directly: no fillna downcast (pandas 2.2+)
        out = keys.map(table, na_action="ignore").astype(object).where(hit, None)
    miss = s.notna() & ~hit
    if miss.any():
        if on_unmapped == "default":
            out[miss] = default
        elif on_unmapped == "keep":
            out[miss] = s[miss]
        else:
            where = f"code list {codelist!r}" if codelist else "the value map"
            ctx.fail(miss, "unmapped_code", f"code {s[miss].iloc[0]!r} is not in {where}")
    return out


def _lookup_texts(s: pd.Series, table: dict[str, str], ctx) -> tuple[pd.Series, pd.Series]:
    """`table[str(v).strip()]` per row (None where absent or null) and the rows found, computed
    once per distinct value in plain Python: a code column has a handful of them."""
    codes, uniques = _codes(s, ctx)
    texts = [str(v).strip() for v in uniques]
    found = np.array([t in table for t in texts] + [False], dtype=bool)
    return _spread([table.get(t) for t in texts], codes, s.index), pd.Series(found[codes], index=s.index)


@transform("const", "any", "`{const: sap_s4}` -> every row gets `'sap_s4'`")
def t_const(s, ctx, value: Any = MISSING):
    """A constant value (no source field needed)."""
    return pd.Series([value] * len(s), index=s.index, dtype=object)


@transform("default", "same", "`{default: EA}`: null -> `'EA'`")
def t_default(s, ctx, value: Any = MISSING):
    """Fill missing (null or blank) values."""
    out = s.astype(object).copy()
    out[_blank(s, ctx)] = value
    return out


@transform("required", "same", "null or blank -> quarantined `missing_required`")
def t_required(s, ctx):
    """The field must be present; key fields report `missing_key` instead."""
    bad = _blank(s, ctx)
    if bad.any():
        ctx.fail(bad, "missing_required", "required value is missing")
    return s


@transform("uom", "float",
           "`{uom: {unit_field: RequestedQuantityUnit, product_field: Material}}`: 2 CS -> 24.0 (1 CS = 12 EA)")
def t_uom(s, ctx, unit_field: str = MISSING, product_field: str | None = None, to: str | None = None):
    """Convert a quantity to the product's base unit (or to unit `to`) through the conversion table.
    A unit without a conversion is quarantined (`no_conversion`)."""
    qty = read_numbers(s, ctx, "a quantity")
    # one factor per distinct (product, unit) pair, spread back to the rows by the pair's code
    ucodes, units = ctx.source_codes(unit_field)
    pcodes, products = ctx.source_codes(product_field) if product_field else (np.zeros(len(s), np.int64), [""])
    unit_text = [str(v).strip().upper() for v in units] + [None]  # code -1: no unit
    product_text = [str(v) for v in products] + [""]  # code -1: no product
    width = len(unit_text)
    pair_codes, pairs = pd.factorize((pcodes.astype(np.int64) + 1) * width + (ucodes + 1))
    pair_products = [product_text[i] for i in (pairs // width - 1).tolist()]
    pair_units = [unit_text[i] for i in (pairs % width - 1).tolist()]
    pair_factor = np.array(_factors(ctx.conversions, pair_products, pair_units, to), dtype=float)
    factor = pair_factor[pair_codes]
    missing = qty.notna().to_numpy() & (ucodes >= 0) & np.isnan(factor)
    if missing.any():
        first = pair_codes[missing.argmax()]
        ctx.fail(missing, "no_conversion",
                 f"no conversion of unit {pair_units[first]!r} for product {pair_products[first]!r}")
    return qty * pd.Series(factor, index=s.index)


def _factors(conv: Conversions, products: list[str], units: list[str | None], to: str | None) -> list[float]:
    """Base units per unit for each (product, unit) pair (or per unit `to`); NaN where no conversion
    is known. Looked up through `Conversions.by_product`, whose small per-product tables stay in cache."""
    base, by_product, generic = conv.base_units, conv.by_product(), conv.generic

    def factor(product: str, unit: str | None) -> float:
        if unit is None:  # no unit given: the quantity is taken as it is
            return 1.0
        target = to or base.get(product)
        if target is not None and unit == target:
            return 1.0
        if to is None:
            found = by_product.get(product, _NO_UNITS).get(unit)
            if found is not None:
                return found
        if target is not None and (unit, target) in generic:
            return generic[(unit, target)]
        return np.nan

    return [factor(p, u) for p, u in zip(products, units, strict=True)]


# Date and time transforms register themselves on import (kept in their own module for size).
from core.mapping import dates as _dates  # noqa: E402,F401  (registration side effect)
