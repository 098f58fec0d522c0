"""Read back what the target systems hold and compare it with what segbridge intended them to hold.

The intended values come from write-back (`core.writeback.intended.intended_values`), one row
per (system, entity, target key, field). Each system's connector is asked once per target
entity for the current records (`Connector.read_back`), and every field is compared with the
tolerance for its type (`reconcile.tolerances`): numbers within abs/rel, text optionally
case- and whitespace-insensitive, codes through a code map (e.g. `01` -> `A`).

Example:
    >>> equal("120.500", "120.5", FieldTolerance(), Tolerances())
    True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from connectors.base import Connector
from core.mapping.numeric import NumberProblem, parse_number
from core.reconcile.reconcile_settings import FieldTolerance, Tolerances

ConnectorFactory = Callable[[str], Connector]
RESULT_COLUMNS = ["system", "entity", "target_key", "field", "expected", "actual", "canonical_entity",
                  "canonical_key", "status", "note"]
MISSING = "(missing)"
ERROR = "__read_back_error__"
_SPACES = re.compile(r"\s+")


def _number(value: Any) -> float | None:
    """The number a read-back value spells, by the mapping's one parser (`1,234.5` yes; the ambiguous
    `1,5`, `inf` and `nan` no: those compare as text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_number(value)
    except (NumberProblem, TypeError):
        return None


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _text(value: Any, rule: FieldTolerance, tol: Tolerances) -> str:
    text = "" if _is_blank(value) else str(value)
    text = rule.code_map.get(text.strip(), text)
    if rule.ignore_whitespace if rule.ignore_whitespace is not None else tol.text.ignore_whitespace:
        text = _SPACES.sub(" ", text.strip())
    if rule.ignore_case if rule.ignore_case is not None else tol.text.ignore_case:
        text = text.casefold()
    return text


def equal(expected: Any, actual: Any, rule: FieldTolerance, tol: Tolerances) -> bool:
    """Whether the target's value counts as the intended one under the field's tolerance."""
    if _is_blank(expected) and _is_blank(actual):
        return True
    kind = rule.type
    if kind in ("auto", "number") and not rule.code_map:
        exp, act = _number(expected), _number(actual)
        if exp is not None and act is not None:
            abs_tol = rule.abs if rule.abs is not None else tol.number.abs
            rel_tol = rule.rel if rule.rel is not None else tol.number.rel
            return abs(exp - act) <= max(abs_tol, rel_tol * abs(exp)) + 1e-12
        if kind == "number":
            return False
    return _text(expected, rule, tol) == _text(actual, rule, tol)


def _key_of(target_key: str) -> dict[str, Any]:
    value = json.loads(target_key) if isinstance(target_key, str) else dict(target_key)
    return value if isinstance(value, dict) else {"key": value}


def _norm_key(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v).strip() for v in values)


def index_records(records: list[dict[str, Any]], keys: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Read-back records by their key values (fields named as in the target keys)."""
    if not keys:
        return {}
    fields = list(keys[0])
    out: dict[tuple, dict[str, Any]] = {}
    for pos, rec in enumerate(records):
        if all(f in rec for f in fields):
            out[_norm_key(rec[f] for f in fields)] = rec
        elif pos < len(keys):  # connector answered in request order without echoing keys
            out[_norm_key(keys[pos][f] for f in fields)] = rec
    return out


def _read_chunk(conn: Connector, entity: str, keys: list[dict], give_up_after: int = 3) -> tuple[list, dict]:
    """Records of one chunk; when the chunk fails, key by key so one bad key costs only itself.

    Returns (records, errors by position). Raises when the first `give_up_after` keys all fail
    (the system, not a record, is the problem: the caller reports it unreadable).
    """
    try:
        return conn.read_back(entity, keys), {}
    except Exception:  # noqa: BLE001 - isolate the failing key(s) below
        if len(keys) == 1:
            raise
    records: list = []
    errors: dict[int, str] = {}
    for pos, key in enumerate(keys):
        try:
            records.extend(conn.read_back(entity, [key]))
        except Exception as exc:  # noqa: BLE001 - recorded per key
            errors[pos] = f"{type(exc).__name__}: {exc}"
            if len(errors) >= give_up_after and not records and len(errors) == pos + 1:
                raise
    return records, errors


def read_back_group(conn: Connector, entity: str, target_keys: list[str], chunk: int = 200) -> dict[str, dict]:
    """target_key JSON -> the record the system holds now (absent when it has none).

    A key the system refuses to read back (e.g. 404) maps to `{ERROR: message}`.
    """
    out: dict[str, dict] = {}
    for start in range(0, len(target_keys), chunk):
        part = target_keys[start:start + chunk]
        keys = [_key_of(k) for k in part]
        records, errors = _read_chunk(conn, entity, keys)
        index = index_records(records, keys)
        for pos, (raw, key) in enumerate(zip(part, keys, strict=True)):
            rec = index.get(_norm_key(key.values()))
            if rec is not None:
                out[raw] = rec
            elif pos in errors:
                out[raw] = {ERROR: errors[pos]}
    return out


def compare_group(intended: pd.DataFrame, held: dict[str, dict], tol: Tolerances) -> pd.DataFrame:
    """Compare one (system, entity) group of intended values with the records held."""
    rows = []
    for item in intended.itertuples(index=False):
        rec = held.get(item.target_key)
        note = None
        if rec is None or ERROR in rec:
            actual, status, note = MISSING, "missing", (rec or {}).get(ERROR)
        else:
            actual = rec.get(item.field)
            rule = tol.rule(item.system, item.entity, item.field)
            status = "match" if equal(item.intended_value, actual, rule, tol) else "mismatch"
        rows.append([item.system, item.entity, item.target_key, item.field, _str(item.intended_value),
                     _str(actual), getattr(item, "canonical_entity", None), getattr(item, "canonical_key", None),
                     status, note])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _str(value: Any) -> str | None:
    return None if _is_blank(value) else str(value)
