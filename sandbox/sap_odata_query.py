"""OData V2 `$filter` for the SAP sandbox: parse, type-check against `$metadata`, evaluate.

Supports what SAP clients send for extraction: comparisons (`eq ne gt ge lt le`), `and`, `or`,
`not`, parentheses, navigation paths (`to_SalesOrder/LastChangeDateTime`) and the literals
`'text'` (quotes doubled), `datetime'...'`, `datetimeoffset'...'`, numbers, `true/false/null`.
Like Gateway, it refuses a literal whose type does not fit the property (a `datetime'…'` for an
Edm.DateTimeOffset property) and names the position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.sap.metadata import Property

_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_TOKEN = re.compile(r"""\s*(?:
    (?P<typed>(?:datetimeoffset|datetime|guid|time)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?[MmLlDdFf]?)
  | (?P<paren>[()])
  | (?P<word>[A-Za-z_][\w/]*)
)""", re.VERBOSE)
OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
       "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
LITERAL_TYPES = {"datetime": "Edm.DateTime", "datetimeoffset": "Edm.DateTimeOffset", "guid": "Edm.Guid",
                 "time": "Edm.Time"}


class FilterError(ValueError):
    """A `$filter` Gateway would refuse; the message says what and where."""


def to_python(edm_type: str, value: Any) -> Any:
    """A stored JSON value (as SAP serialises it) in comparable Python form."""
    if value is None or value == "":
        return None if edm_type != "Edm.String" else (value or "")
    if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        match = _DATE.match(str(value))
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
        return parse_iso(str(value))
    if edm_type in ("Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return value


def parse_iso(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Invalid token at position {pos} in $filter: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, lookup: Callable[[str], Property | None]):
        self.tokens = _tokens(text)
        self.i = 0
        self.lookup = lookup

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of $filter")
        self.i += 1
        return token

    def expr(self):
        left = self.conj()
        while (t := self.peek()) and t[0] == "word" and t[1] == "or":
            self.take()
            right, prev = self.conj(), left
            left = lambda get, a=prev, b=right: a(get) or b(get)  # noqa: E731
        return left

    def conj(self):
        left = self.unary()
        while (t := self.peek()) and t[0] == "word" and t[1] == "and":
            self.take()
            right, prev = self.unary(), left
            left = lambda get, a=prev, b=right: a(get) and b(get)  # noqa: E731
        return left

    def unary(self):
        token = self.peek()
        if token and token[0] == "word" and token[1] == "not":
            self.take()
            inner = self.unary()
            return lambda get: not inner(get)
        if token and token[1] == "(":
            self.take()
            inner = self.expr()
            if self.take()[1] != ")":
                raise FilterError("Missing ')' in $filter")
            return inner
        return self.comparison()

    def comparison(self):
        kind, path, pos = self.take()
        if kind != "word":
            raise FilterError(f"Expected a property at position {pos}")
        prop = self.lookup(path)
        if prop is None:
            raise FilterError(f"Property {path} not found (position {pos})")
        _, op, op_pos = self.take()
        if op not in OPS:
            raise FilterError(f"Unknown operator {op!r} at position {op_pos}")
        value = self.literal(prop, op, self.take())
        compare = OPS[op]

        def test(get, path=path, prop=prop, value=value, compare=compare):
            current = to_python(prop.edm_type, get(path))
            if current is None or value is None:
                return compare(current, value) if op in ("eq", "ne") else False
            return compare(current, value)

        return test

    def literal(self, prop: Property, op: str, token: tuple[str, str, int]) -> Any:
        kind, text, pos = token
        if kind == "word" and text in ("true", "false", "null"):
            return None if text == "null" else text == "true"
        if kind == "typed":
            prefix, _, rest = text.partition("'")
            lit_type = LITERAL_TYPES[prefix]
            if lit_type != prop.edm_type:
                raise FilterError(f"Invalid parametertype used at function '{op}' (Position: {pos}): "
                                  f"operand types {prop.edm_type} and {lit_type} are incompatible")
            raw = rest[:-1].replace("''", "'")
            try:
                return parse_iso(raw) if lit_type != "Edm.Guid" else raw
            except ValueError:
                raise FilterError(f"Invalid {prefix} literal {text} at position {pos}") from None
        if kind == "string":
            if prop.edm_type != "Edm.String":
                raise FilterError(f"Invalid parametertype used at function '{op}' (Position: {pos}): "
                                  f"operand types {prop.edm_type} and Edm.String are incompatible")
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return Decimal(text.rstrip("MmLlDdFf"))
        raise FilterError(f"Expected a literal at position {pos}")


def compile_filter(text: str, lookup: Callable[[str], Property | None]) -> Callable[[Callable[[str], Any]], bool]:
    """A predicate over `get(path) -> stored value`; FilterError when Gateway would refuse it."""
    parser = _Parser(text, lookup)
    predicate = parser.expr()
    if parser.peek() is not None:
        raise FilterError(f"Unexpected {parser.peek()[1]!r} at position {parser.peek()[2]} in $filter")
    return predicate
