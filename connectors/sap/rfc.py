"""The `sap_rfc` connector: ECC (or S/4 on-premise) over RFC with pyrfc-compatible calls.

Reads go through RFC_READ_TABLE (or a compatible module such as BBP_RFC_READ_TABLE): fields
are split into groups whose row (field lengths plus delimiters) fits the 512-byte TAB512 line,
each group carries the table key, and the groups' rows are joined back by key; a row missing
from a group (the module pages without ORDER BY) is re-read by its key. WHERE conditions are
quoted ABAP literals ('' doubles a quote) packed into 72-character OPTIONS lines, never splitting
a literal. Delta reads filter on the table's change/creation dates (`>=` the saved date).

RFC_READ_TABLE has no joins. A stream's `join` option (one join or a list) adds another table's
fields to each row: for every page of the stream the connector collects the page's values of the
first `by` field, reads the joined table `join_chunk` values per `IN ( ... )` call (quoted literals,
72-character OPTIONS lines, the same 512-byte field groups) and matches rows locally on all `by`
fields. `by` must cover the joined table's key (a header: VBAK to VBAP), or with `first_by` name the
remaining key field whose lowest value wins (EKET schedule lines: the first one, ETENR 0001):

    join:
      - {table: EKKO, by: [EBELN], fields: [LIFNR, BEDAT]}
      - {table: EKET, by: [EBELN, EBELP], first_by: ETENR, fields: [EINDT]}

(`by`, not `on`: YAML 1.1 reads a bare `on:` key as the boolean true.) A row without a match keeps
those fields absent, so the mapping quarantines it instead of it being dropped.

Writes call BAPI_MATERIAL_SAVEDATA with PLANTDATA/PLANTDATAX (only the given fields flagged) per
item; an E or A message in RETURN/RETURNMESSAGES rolls back (BAPI_TRANSACTION_ROLLBACK) and
rejects that item with SAP's text; otherwise BAPI_TRANSACTION_COMMIT with WAIT='X' on the same
connection. RFC never applies conversion exits, so keys go in internal format (ALPHA-padded).

pyrfc is not on PyPI any more (SAP archived it); bring your own build and the SAP NW RFC SDK
(docs/rfc.md), or pass `connection_factory` returning any object with `call()` and `close()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, field_validator

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.base import CheckResult, Connector, ItemOutcome, RecordBatch, StreamSpec, WriteBatch
from connectors.connector_errors import AuthError, ConnectorError, FatalError, RetriableError
from connectors.incremental import (
    Checkpoint,
    IncrementalOptions,
    LiteralStyle,
    PageGuard,
    cursor_literal,
    parse_instant,
)
from connectors.outcome_policy import outcomes_for_error

ROW_LIMIT = 512
OPTION_WIDTH = 72
TABLE_KEYS = {"MARA": ["MATNR"], "MARC": ["MATNR", "WERKS"], "KNA1": ["KUNNR"],
              "KNVV": ["KUNNR", "VKORG", "VTWEG", "SPART"], "VBAK": ["VBELN"], "VBAP": ["VBELN", "POSNR"],
              "LIKP": ["VBELN"], "LIPS": ["VBELN", "POSNR"], "EKKO": ["EBELN"], "EKPO": ["EBELN", "EBELP"],
              "EKET": ["EBELN", "EBELP", "ETENR"],
              "EKBE": ["EBELN", "EBELP", "ZEKKN", "VGABE", "GJAHR", "BELNR", "BUZEI"]}
DELTA_FIELDS = {"MARA": ["LAEDA", "ERSDA"], "KNA1": ["ERDAT"], "VBAK": ["AEDAT", "ERDAT"],
                "VBAP": ["AEDAT", "ERDAT"], "LIKP": ["AEDAT", "ERDAT"], "LIPS": ["AEDAT", "ERDAT"],
                "EKKO": ["AEDAT"], "EKBE": ["CPUDT"]}
# BAPI_MARC (PLANTDATA) field -> MARC column, for validation and read-back.
PLANTDATA_FIELDS = {"ABC_ID": "MAABC", "MRP_TYPE": "DISMM", "MRP_CTRLER": "DISPO", "MRP_GROUP": "DISGR",
                    "SAFETY_STK": "EISBE", "MIN_SAFETY_STK": "EISLO", "REORDER_PT": "MINBE",
                    "LOTSIZEKEY": "DISLS", "ROUND_VAL": "BSTRF", "MINLOTSIZE": "BSTMI", "MAXLOTSIZE": "BSTMA",
                    "FIXED_LOT": "BSTFE", "MAX_STOCK": "MABST", "PLND_DELRY": "PLIFZ", "GR_PR_TIME": "WEBAZ",
                    "PROC_TYPE": "BESKZ", "SPPROCTYPE": "SOBSL"}
NUMERIC_FIELDS = {"SAFETY_STK", "MIN_SAFETY_STK", "REORDER_PT", "ROUND_VAL", "MINLOTSIZE", "MAXLOTSIZE",
                  "FIXED_LOT", "MAX_STOCK", "PLND_DELRY", "GR_PR_TIME"}
WRITE_TARGETS = {"BAPI_MATERIAL_SAVEDATA.PLANTDATA", "BAPI_MATERIAL_SAVEDATA", "MARC"}


# --------------------------------------------------------------------------- ABAP helpers


def alpha_in(value: Any, length: int) -> str:
    """ALPHA conversion to internal format: numeric ids zero-padded, others upper-cased as they are."""
    text = str(value).strip()
    return text.zfill(length) if text.isdigit() else text.upper()


def alpha_out(value: Any) -> str:
    text = str(value).strip()
    return text.lstrip("0") or ("0" if text else "") if text.isdigit() else text


def abap_literal(value: Any) -> str:
    """A quoted ABAP literal: `O'Neil` -> `'O''Neil'`."""
    return "'" + str(value).replace("'", "''") + "'"


def condition(field: str, op: str, value: Any) -> str:
    if not re.fullmatch(r"[A-Z0-9_/]+", field) or op not in ("=", "<>", ">", ">=", "<", "<="):
        raise FatalError(f"invalid RFC_READ_TABLE condition on {field!r} {op!r}")
    return f"{field} {op} {abap_literal(value)}"


def in_condition(field: str, values: list[Any]) -> str:
    if not re.fullmatch(r"[A-Z0-9_/]+", field) or not values:
        raise FatalError(f"invalid RFC_READ_TABLE IN condition on {field!r}")
    return f"{field} IN ( {' , '.join(abap_literal(v) for v in values)} )"


def option_lines(where: str, width: int = OPTION_WIDTH) -> list[dict[str, str]]:
    """OPTIONS rows of at most `width` characters, broken between tokens (a literal stays whole)."""
    tokens = re.findall(r"'(?:[^']|'')*'|\S+", where)
    lines, current = [], ""
    for token in tokens:
        if len(token) > width:
            raise FatalError(f"RFC_READ_TABLE literal longer than {width} characters: {token[:30]}...",
                             hint="shorten the value or filter in a different way")
        candidate = f"{current} {token}" if current else token
        if len(candidate) > width:
            lines.append(current)
            candidate = token
        current = candidate
    if current:
        lines.append(current)
    return [{"TEXT": line} for line in lines]


def field_groups(fields: list[tuple[str, int]], keys: list[str], delimiter: str,
                 limit: int = ROW_LIMIT) -> list[list[str]]:
    """Split (name, length) fields into groups whose row fits `limit`; every group starts with the keys."""
    lengths = dict(fields)
    key_width = sum(lengths[k] for k in keys) + len(delimiter) * max(len(keys) - 1, 0)
    groups: list[list[str]] = []
    current, width = list(keys), key_width
    for name, length in fields:
        if name in keys:
            continue
        extra = length + (len(delimiter) if current else 0)
        if key_width + length + len(delimiter) > limit:
            raise FatalError(f"field {name} ({length} bytes) does not fit a {limit}-byte RFC_READ_TABLE row "
                             f"next to the key", hint="use a wider read module (/BODS/RFC_READ_TABLE2) or a CDS view")
        if width + extra > limit:
            groups.append(current)
            current, width = list(keys), key_width
            extra = length + (len(delimiter) if current else 0)
        current.append(name)
        width += extra
    if len(current) > len(keys) or not groups:
        groups.append(current)
    return groups


def parse_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """DATA lines cut by the FIELDS offsets and lengths (robust to delimiters inside values)."""
    layout = [(f["FIELDNAME"], int(f["OFFSET"]), int(f["LENGTH"])) for f in result.get("FIELDS", [])]
    return [{name: row["WA"][off:off + length].strip() for name, off, length in layout}
            for row in result.get("DATA", [])]


# --------------------------------------------------------------------------- the connector


class RfcJoin(StrictModel):
    """Another table's fields added to each row of a stream (RFC_READ_TABLE itself cannot join)."""

    table: str = Field(pattern=r"^[A-Z0-9_/]+$")
    by: list[str] | dict[str, str] = Field(min_length=1, description="row field -> joined table field (or same names)")
    fields: list[str] = Field(min_length=1)
    first_by: str | None = Field(None, description="Key field whose lowest value wins among several matches")

    @property
    def pairs(self) -> dict[str, str]:
        return dict(self.by) if isinstance(self.by, dict) else {f: f for f in self.by}


class RfcStreamOptions(StrictModel):
    """A mapping's `source.options` for an RFC_READ_TABLE stream."""

    fields: list[str] | None = Field(None, description="Fields to read (keys, delta dates and join fields are added)")
    where: list[str] = Field(default_factory=list, description="WHERE conditions (ABAP Open SQL), ANDed")
    delta: bool = Field(True, description="Filter on the table's change dates after the first read")
    join: RfcJoin | list[RfcJoin] | None = Field(None, description="Other tables' fields added to each row")

    @field_validator("join", mode="before")
    @classmethod
    def _by_not_on(cls, value: Any) -> Any:
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, dict) and True in one:
                raise ValueError("join has a key `on`, which YAML reads as true; write `by:`")
        return value

    @property
    def joins(self) -> list[RfcJoin]:
        return [] if self.join is None else self.join if isinstance(self.join, list) else [self.join]


class SapRfcOptions(IncrementalOptions):
    """pyrfc Connection parameters (all strings; the password an ${ENV_VAR}) and read/write settings."""

    connection: dict[str, str] = Field(default_factory=dict,
                                       description="ashost/sysnr/client/user/passwd/lang, or mshost/group, or dest")
    read_function: str = Field("RFC_READ_TABLE", description="RFC_READ_TABLE, BBP_RFC_READ_TABLE, ...")
    delimiter: str = Field("|", min_length=1, max_length=1)
    row_limit: int = Field(ROW_LIMIT, ge=64, description="Bytes per DATA row of the read module")
    page_rows: int = Field(10000, ge=1, description="ROWCOUNT per call")
    join_chunk: int = Field(50, ge=1, description="Keys per IN (...) when reading a joined table")
    matnr_length: int = Field(18, description="18 for ECC, 40 for S/4HANA with long material numbers")
    keys: dict[str, list[str]] = Field(default_factory=dict, description="Table -> key fields (overrides)")
    delta_fields: dict[str, list[str]] = Field(default_factory=dict, description="Table -> date fields for delta")

    @field_validator("connection")
    @classmethod
    def _no_literal_password(cls, value: dict[str, str]) -> dict[str, str]:
        for name in ("passwd", "password"):
            secrets.check_no_literal(value.get(name), f"connection.{name}")
        return value


def _pyrfc_connection(**params: str) -> Any:
    try:
        from pyrfc import Connection  # noqa: PLC0415 - optional dependency, imported only when used
    except ImportError:
        raise FatalError(
            "sap_rfc needs pyrfc, which is not installed",
            hint="SAP archived PyRFC and removed it from PyPI: install your own pyrfc build together with "
                 "the SAP NW RFC SDK 7.50 from the SAP Support Portal (see docs/rfc.md)") from None
    return Connection(**params)


def _rfc_error(exc: Exception, what: str) -> ConnectorError:
    kind, key = type(exc).__name__, getattr(exc, "key", None)
    message = f"{what}: {kind}{f' {key}' if key else ''}: {getattr(exc, 'message', None) or exc}"
    if kind == "LogonError":
        return AuthError(message, hint="check the RFC user, its password variable and S_RFC authorisation")
    if kind in ("CommunicationError", "ABAPRuntimeError", "ExternalRuntimeError"):
        return RetriableError(message)
    return FatalError(message)


class SapRfcConnector(Connector):
    kind = "sap_rfc"
    Options = SapRfcOptions
    StreamOptions = RfcStreamOptions
    description = "SAP ECC over RFC: RFC_READ_TABLE reads, BAPI_MATERIAL_SAVEDATA write-back"

    def __init__(self, options, name: str | None = None, connection_factory: Callable[..., Any] | None = None):
        super().__init__(options, name)
        self._factory = connection_factory or _pyrfc_connection
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            params = {k: secrets.resolve(v, what=f"connection.{k}") for k, v in self.options.connection.items()}
            try:
                self._conn = self._factory(**params)
            except ConnectorError:
                raise
            except Exception as exc:  # noqa: BLE001 - pyrfc raises its own classes; classify by name
                raise _rfc_error(exc, "RFC logon") from None
        return self._conn

    def call(self, function: str, **params: Any) -> dict[str, Any]:
        conn = self.conn
        try:
            return conn.call(function, **params)
        except Exception as exc:  # noqa: BLE001 - see _rfc_error
            raise _rfc_error(exc, function) from None

    def check(self) -> CheckResult:
        try:
            self.call("RFC_PING")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, "RFC connection open")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(name=t, primary_key=k, cursor_field=(self._delta_fields(t) or [None])[0])
                for t, k in {**TABLE_KEYS, **self.options.keys}.items()] + [
            StreamSpec(name="BAPI_MATERIAL_SAVEDATA.PLANTDATA", primary_key=["MATERIAL", "PLANT"], writable=True,
                       writable_fields=sorted(PLANTDATA_FIELDS))]

    def _keys(self, table: str, stream: StreamSpec | None = None) -> list[str]:
        keys = (stream.primary_key if stream else None) or self.options.keys.get(table) or TABLE_KEYS.get(table)
        if not keys:
            raise FatalError(f"no key fields known for table {table}", hint=f"set keys: {{{table}: [...]}}")
        return list(keys)

    def _delta_fields(self, table: str) -> list[str]:
        return self.options.delta_fields.get(table) or DELTA_FIELDS.get(table, [])

    # ------------------------------------------------------------------ RFC_READ_TABLE

    def field_layout(self, table: str, fields: list[str] | None) -> list[tuple[str, int]]:
        """(field, output length): all fields from DDIF_FIELDINFO_GET, chosen ones from the read module
        (NO_DATA='X'), halving a request that itself exceeds the row limit."""
        if not fields:
            info = self.call("DDIF_FIELDINFO_GET", TABNAME=table, ALL_TYPES="X")
            return [(f["FIELDNAME"], int(f["OUTPUTLEN"])) for f in info["DFIES_TAB"] if f["FIELDNAME"] != "MANDT"]
        try:
            result = self.call(self.options.read_function, QUERY_TABLE=table, NO_DATA="X",
                               DELIMITER=self.options.delimiter, FIELDS=[{"FIELDNAME": f} for f in fields])
        except FatalError as exc:
            if "DATA_BUFFER_EXCEEDED" not in exc.message or len(fields) == 1:
                raise
            half = len(fields) // 2
            return self.field_layout(table, fields[:half]) + self.field_layout(table, fields[half:])
        return [(f["FIELDNAME"], int(f["LENGTH"])) for f in result["FIELDS"]]

    def read_table(self, table: str, fields: list[str] | None = None, where: str = "",
                   keys: list[str] | None = None) -> Iterator[list[dict[str, str]]]:
        """Whole rows, page by page, however wide: field groups under the row limit joined by key."""
        for rows, _ in self._pages(table, fields, where, keys):
            yield rows

    def _pages(self, table: str, fields: list[str] | None, where: str, keys: list[str] | None,
               skip: int = 0) -> Iterator[tuple[list[dict[str, str]], int]]:
        """(rows, ROWSKIPS of the next page) from `skip` on. RFC_READ_TABLE pages in the table's key
        order, which an edit does not change (only an insert or delete shifts later pages)."""
        keys = keys or self._keys(table)
        layout = self.field_layout(table, list(dict.fromkeys(keys + list(fields))) if fields else None)
        ordered = [f for f in (fields or [n for n, _ in layout]) if f not in keys]
        lengths = dict(layout)
        groups = field_groups([(k, lengths[k]) for k in keys] + [(f, lengths[f]) for f in ordered], keys,
                              self.options.delimiter, self.options.row_limit)
        while True:
            parts = [self._read_group(table, g, where, skip) for g in groups]
            rows = self._join(table, keys, groups, parts)
            skip += self.options.page_rows
            if rows:
                yield rows, skip
            if len(parts[0]) < self.options.page_rows:
                return

    def _read_group(self, table: str, fields: list[str], where: str, skip: int,
                    rowcount: int | None = None) -> list[dict[str, str]]:
        result = self.call(self.options.read_function, QUERY_TABLE=table, DELIMITER=self.options.delimiter,
                           FIELDS=[{"FIELDNAME": f} for f in fields], OPTIONS=option_lines(where) if where else [],
                           ROWSKIPS=skip, ROWCOUNT=self.options.page_rows if rowcount is None else rowcount)
        return parse_rows(result)

    def _join(self, table: str, keys: list[str], groups: list[list[str]],
              parts: list[list[dict[str, str]]]) -> list[dict[str, str]]:
        """Join the groups' rows by key; rows a group missed are re-read by their key."""
        rows = {tuple(r[k] for k in keys): dict(r) for r in parts[0]}
        for group, part in zip(groups[1:], parts[1:], strict=True):
            found = {tuple(r[k] for k in keys): r for r in part}
            for key, row in rows.items():
                extra = found.get(key)
                if extra is None:
                    where = " AND ".join(condition(k, "=", v) for k, v in zip(keys, key, strict=True))
                    again = self._read_group(table, group, where, 0, 1)
                    if not again:
                        raise FatalError(f"{table} row {dict(zip(keys, key, strict=True))} vanished while being read",
                                         hint="the table changed during the read; run the pull again")
                    extra = again[0]
                row.update(extra)
        return list(rows.values())

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """Pages of the table (joined), each with a `connectors.incremental.Checkpoint`: `position` is
        the pass (the delta WHERE, then one per chunk of changed headers) and ROWSKIPS to resume at;
        a delta read starts at the day of `since - overlap` (`>=`: change dates are days)."""
        table, where_ = stream.name.upper(), f"{self.name}.{stream.name}"
        opts = self.stream_options(stream)
        cp = _legacy_cursor(Checkpoint.load(state, where=where_))
        keys = self._keys(table, stream)
        joins = self._joins(table, opts.joins)
        delta = self._delta_fields(table) if opts.delta else []
        lower = cp.lower_bound(self.options.overlap)
        cursor = cursor_literal(lower, LiteralStyle.SQL)[:10].replace("-", "") if delta and lower else None
        fields = opts.fields
        if fields:
            fields = list(fields) + [f for f in delta if f not in fields]
            fields += [f for j in joins for f in j.pairs if f not in fields]
        wheres, header_high = self._passes(table, opts, delta, joins, cursor)
        position = cp.position if isinstance(cp.position, dict) else {"pass": 0, "skip": 0}
        if header_high:
            cp = cp.observe([header_high])
        guard = PageGuard(where_)
        for n, where in enumerate(wheres):
            if n < position["pass"]:
                continue
            skip = position["skip"] if n == position["pass"] else 0
            for rows, skip in self._pages(table, fields, where, keys, skip):  # noqa: B020 - resumes
                guard.see([n, skip])
                for join in joins:
                    self._join_table(rows, join)
                cp = cp.observe([_latest(rows, delta)] if delta else [])
                yield RecordBatch(rows, cp.at({"pass": n, "skip": skip}).dump())
        yield RecordBatch([], cp.done().dump())

    def _passes(self, table: str, opts: RfcStreamOptions, delta: list[str], joins: list[RfcJoin],
                cursor: str | None) -> tuple[list[str], str | None]:
        """The WHERE of each pass: the stream's (and the delta's), then on a delta read one per chunk of
        joined headers changed since `cursor` (a header-only change leaves its lines' dates as they
        were); and the latest header change seen."""
        base = [f"( {w} )" for w in opts.where]
        clauses = list(base)
        if delta and cursor:
            clauses.append("( " + " OR ".join(condition(f, ">=", cursor) for f in delta) + " )")
        wheres, high = [" AND ".join(clauses)], None
        if delta and cursor:
            changed, high = self._changed_headers(joins, cursor)
            wheres += [" AND ".join([*base, f"( {in_condition(local, values)} )"]) for local, values in changed]
        return wheres, high

    def _changed_headers(self, joins: list[RfcJoin], cursor: str) -> tuple[list[tuple[str, list[str]]], str | None]:
        """For each joined table with change dates: (the stream's join field, chunks of the values of headers
        changed since `cursor`), and the latest change date seen. Those lines are read again whole."""
        out, high = [], None
        for join in joins:
            delta = self._delta_fields(join.table)
            if not delta:
                continue
            local, remote = next(iter(join.pairs.items()))
            where = "( " + " OR ".join(condition(f, ">=", cursor) for f in delta) + " )"
            values: set[str] = set()
            for page in self.read_table(join.table, [remote, *delta], where):
                values |= {r[remote] for r in page if r.get(remote)}
                high = max(filter(None, [high, _latest(page, delta)]), default=None)
            ordered = sorted(values)
            out += [(local, ordered[i:i + self.options.join_chunk]) for i in range(0, len(ordered), self.options.join_chunk)]
        return out, high

    def _joins(self, table: str, joins: list[RfcJoin]) -> list[RfcJoin]:
        """The stream's joins, checked: each match is unique (the key is covered) or `first_by` decides."""
        for join in joins:
            covered = set(join.pairs.values()) | ({join.first_by} if join.first_by else set())
            missing = [k for k in self._keys(join.table) if k not in covered]
            if missing:
                raise FatalError(f"{table} join {join.table}: `by` leaves key field(s) {', '.join(missing)} open, "
                                 "so a row could match several rows",
                                 hint="add them to `by`, or name the one whose lowest value wins as `first_by`")
        return joins

    def _join_table(self, rows: list[dict[str, str]], join: RfcJoin) -> None:
        """Add the joined table's fields to `rows`: read by the page's values of the first `by` field,
        `join_chunk` values per call, matched on every `by` field (lowest `first_by` wins)."""
        pairs = join.pairs
        first_local, first_remote = next(iter(pairs.items()))
        values = sorted({r[first_local] for r in rows if r.get(first_local)})
        wanted = list(dict.fromkeys([*pairs.values(), *([join.first_by] if join.first_by else []), *join.fields]))
        found: dict[tuple[str, ...], dict[str, str]] = {}
        for start in range(0, len(values), self.options.join_chunk):
            where = in_condition(first_remote, values[start:start + self.options.join_chunk])
            for page in self.read_table(join.table, wanted, where):
                for r in page:
                    match = tuple(r[f] for f in pairs.values())
                    held = found.get(match)
                    if held is None or (join.first_by and r[join.first_by] < held[join.first_by]):
                        found[match] = r
        clash = [f for f in join.fields if f not in pairs and rows and f in rows[0]]
        if clash:
            raise FatalError(f"join {join.table}: field(s) {', '.join(clash)} are already read from the stream's table",
                             hint="drop them from the join's fields")
        for row in rows:
            other = found.get(tuple(row.get(f, "") for f in pairs))
            if other is not None:
                row.update({f: other[f] for f in join.fields if f not in pairs})

    # ------------------------------------------------------------------ BAPI write-back

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        """One BAPI_MATERIAL_SAVEDATA per item, committed or rolled back before the next."""
        return [self._write_item(item) for item in batch.items]

    def _write_item(self, item) -> ItemOutcome:
        if item.target not in WRITE_TARGETS:
            return ItemOutcome(item.ref, "rejected", f"sap_rfc cannot write {item.target!r}; "
                                                     "targets: BAPI_MATERIAL_SAVEDATA.PLANTDATA")
        unknown = sorted(set(item.values) - set(PLANTDATA_FIELDS))
        material, plant = item.key.get("MATERIAL"), item.key.get("PLANT")
        if unknown or not material or not plant or not item.values:
            return ItemOutcome(item.ref, "rejected", f"PLANTDATA needs MATERIAL and PLANT keys and known fields; "
                                                     f"unknown: {unknown}")
        try:
            values = {k: _bapi_value(k, v) for k, v in item.values.items()}
        except (InvalidOperation, ValueError):
            return ItemOutcome(item.ref, "rejected", f"non-numeric value in {item.values}")
        matnr = alpha_in(material, self.options.matnr_length)
        head = {"MATERIAL_LONG" if len(matnr) > 18 else "MATERIAL": matnr, "MRP_VIEW": "X"}
        try:
            result = self.call("BAPI_MATERIAL_SAVEDATA", HEADDATA=head, PLANTDATA={"PLANT": plant, **values},
                               PLANTDATAX={"PLANT": plant, **{k: "X" for k in values}})
            errors = bapi_errors(result)
            if errors:
                self.call("BAPI_TRANSACTION_ROLLBACK")
                return ItemOutcome(item.ref, "rejected", f"{matnr}/{plant}: {'; '.join(errors)} (rolled back)")
            errors = bapi_errors(self.call("BAPI_TRANSACTION_COMMIT", WAIT="X"))
        except RetriableError as exc:
            return ItemOutcome(item.ref, "retriable", f"{exc.message} (LUW lost; nothing committed)")
        except ConnectorError as exc:  # the outcome policy: a logon refusal stops the apply (AuthError)
            return outcomes_for_error([item], exc)[0]
        if errors:
            return ItemOutcome(item.ref, "rejected", f"{matnr}/{plant}: commit failed: {'; '.join(errors)}")
        return ItemOutcome(item.ref, "applied")

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Current PLANTDATA values (BAPI field names) of the given MATERIAL/PLANT keys, from MARC."""
        if target not in WRITE_TARGETS:
            raise FatalError(f"sap_rfc cannot read back {target!r}")
        marc_to_bapi = {v: k for k, v in PLANTDATA_FIELDS.items()}
        out = []
        for key in keys:
            matnr = alpha_in(key["MATERIAL"], self.options.matnr_length)
            where = f"{condition('MATNR', '=', matnr)} AND {condition('WERKS', '=', key['PLANT'])}"
            for rows in self.read_table("MARC", sorted(marc_to_bapi), where, ["MATNR", "WERKS"]):
                for row in rows:
                    out.append({"MATERIAL": key["MATERIAL"], "PLANT": row["WERKS"],
                                **{marc_to_bapi[f]: row[f] for f in marc_to_bapi if f in row}})
        return out

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _legacy_cursor(cp: Checkpoint) -> Checkpoint:
    """A checkpoint saved before the shared Checkpoint: `{"cursor": "YYYYMMDD"}` becomes `since`."""
    cursor = cp.extra.get("cursor")
    if "cursor" not in cp.extra:
        return cp
    extra = {k: v for k, v in cp.extra.items() if k != "cursor"}
    return cp.model_copy(update={"since": cp.since or (parse_instant(cursor) if cursor else None), "extra": extra})


def _latest(rows: list[dict[str, str]], fields: list[str]) -> str | None:
    """The latest non-initial date (YYYYMMDD; 00000000 is initial) in `fields` of `rows`."""
    return max((r[f] for r in rows for f in fields if r.get(f, "").strip("0")), default=None)


def _bapi_value(field: str, value: Any) -> Any:
    if field in NUMERIC_FIELDS:
        return Decimal(str(value if value not in (None, "") else 0))
    return "" if value is None else str(value)


def bapi_errors(result: dict[str, Any]) -> list[str]:
    """Messages of type E or A in RETURN (structure or table) and RETURNMESSAGES."""
    messages = []
    for name in ("RETURN", "RETURNMESSAGES"):
        value = result.get(name) or []
        for msg in [value] if isinstance(value, dict) else value:
            if msg.get("TYPE") in ("E", "A"):
                messages.append(f"{msg.get('ID', '')}/{msg.get('NUMBER', '')} {msg.get('MESSAGE', '')}".strip())
    return list(dict.fromkeys(messages))
