"""Dynamics 365 / Dataverse Web API (OData v4): @odata.nextLink paging, modifiedon deltas, and
updates through `$batch` with If-Match (the etag, or `*` so a PATCH never creates a record).

Conditional writes (Microsoft Learn, "Perform conditional operations using the Web API", optimistic
concurrency): every record carries `@odata.etag` (`W/"<versionnumber>"`); `read_back` returns it as
`__etag`, and a PATCH with `If-Match: <that etag>` is refused with 412 when the row changed since.
A 412 is `conflict` (nothing re-read or re-sent here). Without an etag `If-Match: *` only stops the
PATCH from creating a missing record (an upsert); it protects no edit.

Why not the declarative `rest` connector: its batch writes post one JSON body; Dataverse batches
are multipart/mixed with one HTTP request per part and one HTTP status per part, which is what
gives per-item outcomes. 1,000 requests a batch is Dataverse's ceiling.

A read takes its columns from the stream (the mapping's source options): `select` is the $select list
(the key and the delta column are added), `delta_field` the column of the `gt` delta filter (null: no
delta, a full read each time); the stream's primary key orders the pages. The connector's `tables`
entry for the entity set gives the defaults, and is what writes and read-back use. The checkpoint is
written into $filter as an OData v4 DateTimeOffset literal in UTC (`2024-03-01T10:00:00Z`, unquoted):
an offset such as +01:00 is converted, never sent as a `+` that a query string decodes as a space.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.base import (
    CheckResult,
    Connector,
    ItemOutcome,
    RecordBatch,
    StreamSpec,
    WriteBatch,
    WriteItem,
)
from connectors.connector_errors import ConnectorError, FatalError, RetriableError
from connectors.http.client import HttpClient, HttpOptions

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-fA-F-]{36}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")


class DataverseTable(StrictModel):
    key: str = Field(description="Primary id column, e.g. accountid")
    fields: list[str] = Field(description="$select columns, e.g. accountnumber, accountclassificationcode")
    cursor_field: str | None = "modifiedon"
    types: dict[str, Literal["int", "number", "bool", "text"]] = Field(
        default_factory=dict, description="JSON type a written column needs (default: columns named *code, "
        "Dataverse's choice columns, are int; others as planned, text)")

    def json_value(self, column: str, value: Any) -> Any:
        """The outbox's text as the JSON value Dataverse accepts for the column.

        Choice (picklist) columns are Edm.Int32 and refuse the string "1" with 400; Dataverse names
        them `<name>code` (accountclassificationcode, customertypecode, industrycode; Microsoft
        Learn, "Choice columns"; ../shared/reference/oracle_wms_tms_crm.md 3.3: picklists are
        integers). `types` overrides the convention per column.
        """
        kind = self.types.get(column) or ("int" if column.endswith("code") else "text")
        if value is None or not isinstance(value, str) or kind == "text":
            return value
        text = value.strip()
        try:
            if kind == "int":
                return int(text) if re.fullmatch(r"[+-]?\d+", text) else value
            if kind == "number":
                return float(text)
        except ValueError:
            return value  # sent as it is: Dataverse answers with its own message
        return {"true": True, "false": False, "1": True, "0": False}.get(text.lower(), value)


class DynamicsOptions(HttpOptions):
    """Connection (HttpOptions: base_url is the environment URL) plus the Dataverse specifics; see docs/crm.md."""

    api_path: str = "/api/data/v9.2"
    tables: dict[str, DataverseTable] = Field(default_factory=dict, description="entity set name -> columns")
    page_size: int = Field(5000, ge=1, le=5000)
    batch_size: int = Field(1000, ge=1, le=1000)


class DynamicsConnector(Connector):
    kind = "dynamics365"
    Options = DynamicsOptions
    description = "Dynamics 365 / Dataverse Web API (OData v4, $batch)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.http = HttpClient(self.options)
        for set_name, table in self.options.tables.items():
            for n in [set_name, table.key, *table.fields, table.cursor_field or "x"]:
                if not _NAME.match(n):
                    raise FatalError(f"dynamics365: {n!r} is not a valid logical name")

    def url(self, path: str) -> str:
        return f"{self.options.api_path.rstrip('/')}/{path}"

    def check(self) -> CheckResult:
        try:
            who = self.http.get(self.url("WhoAmI"), headers=_HEADERS).json()
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        return CheckResult(True, f"connected as user {who.get('UserId')}")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(n, [t.key], t.cursor_field, writable=True, writable_fields=t.fields)
                for n, t in self.options.tables.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._read_cfg(stream)
        state = dict(state or {})
        since, high = state.get("since"), state.get("high", state.get("since"))
        if cfg.cursor_field:  # checked and in one UTC form before the first request, compared as instants
            since, high = (odata_datetime(v) if v else None for v in (since, high))
        url = state.get("next") or self._first_url(stream.name, cfg, since)
        headers = {**_HEADERS, "Prefer": f"odata.maxpagesize={self.options.page_size}"}
        while url:
            body = self.http.get(url, headers=headers).json()
            records = [{k: v for k, v in r.items() if not k.startswith("@")} | ({"@odata.etag": r["@odata.etag"]}
                       if "@odata.etag" in r else {}) for r in body.get("value", [])]
            if cfg.cursor_field:
                high = _latest(high, [r.get(cfg.cursor_field) for r in records])
            url = body.get("@odata.nextLink")
            yield RecordBatch(records, {"since": since, "high": high, "next": url} if url else {"since": high})

    def _read_cfg(self, stream: StreamSpec) -> DataverseTable:
        """The stream's columns: its options (`select`, `delta_field`) and primary key over the connector's
        `tables` entry, which gives the defaults (an entity set without one needs the mapping's options)."""
        base = self.options.tables.get(stream.name)
        opts = stream.options or {}
        select = opts.get("select")
        if isinstance(select, str):
            select = [c.strip() for c in select.split(",") if c.strip()]
        if base is None and not (select and len(stream.primary_key) == 1):
            raise FatalError(f"dynamics365: no table {stream.name!r}; configured: {', '.join(self.options.tables)}",
                             hint="add it under tables:, or give the stream a `select` option and one key field")
        key = stream.primary_key[0] if len(stream.primary_key) == 1 else base.key
        if "delta_field" in opts:
            cursor = opts["delta_field"]
        else:
            cursor = stream.cursor_field or (base.cursor_field if base else "modifiedon")
        fields = [c for c in (select or base.fields) if c != key]
        for n in [stream.name, key, *fields, cursor or "x"]:
            if not isinstance(n, str) or not _NAME.match(n):
                raise FatalError(f"dynamics365: {n!r} is not a valid logical name")
        return DataverseTable(key=key, fields=fields, cursor_field=cursor)

    def _first_url(self, set_name: str, cfg: DataverseTable, since: str | None) -> str:
        columns = ",".join(dict.fromkeys([cfg.key, *cfg.fields, *([cfg.cursor_field] if cfg.cursor_field else [])]))
        query = f"$select={columns}"
        if since and cfg.cursor_field:
            query += "&$filter=" + quote(f"{cfg.cursor_field} gt {since}", safe=":,")
        order = ",".join(f for f in (cfg.cursor_field, cfg.key) if f)
        return self.url(f"{set_name}?{query}&$orderby={order}")

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        size = self.options.batch_size
        for i in range(0, len(batch.items), size):
            outcomes.extend(self._batch(batch.items[i:i + size]))
        return outcomes

    def _batch(self, items: list[WriteItem]) -> list[ItemOutcome]:
        boundary = f"batch_{uuid.uuid4().hex}"
        parts = []
        for item in items:
            table = self._cfg(item.target)
            values = {column: table.json_value(column, v) for column, v in item.values.items()}
            guid = str(next(iter(item.key.values())))
            if not _GUID.match(guid):
                raise FatalError(f"dynamics365: {guid!r} is not a record id (GUID)")
            parts.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                         f"PATCH {self.http.url(self.url(f'{item.target}({guid})'))} HTTP/1.1\r\n"
                         f"Content-Type: application/json\r\nIf-Match: {item.etag or '*'}\r\n\r\n"
                         f"{json.dumps(values)}\r\n")
        body = "".join(parts) + f"--{boundary}--\r\n"
        try:
            resp = self.http.post(self.url("$batch"), data=body.encode("utf-8"), headers={
                **_HEADERS, "Content-Type": f"multipart/mixed; boundary={boundary}",
                "Prefer": "odata.continue-on-error"})
        except RetriableError as exc:
            return [ItemOutcome(i.ref, "retriable", str(exc)) for i in items]
        results = parse_batch_response(resp.text, resp.headers.get("Content-Type", ""))
        if len(results) != len(items):
            raise FatalError(f"dynamics365: $batch answered {len(results)} parts for {len(items)} requests")
        return [_outcome(item, status, headers, text) for item, (status, headers, text) in zip(items, results,
                                                                                               strict=True)]

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self._cfg(target)
        out = []
        for key in keys:
            guid = str(next(iter(key.values())))
            if not _GUID.match(guid):
                raise FatalError(f"dynamics365: {guid!r} is not a record id (GUID)")
            resp = self.http.request("GET", self.url(f"{target}({guid})?$select={','.join([cfg.key, *cfg.fields])}"),
                                     headers=_HEADERS, raise_for_status=False)
            if resp.status_code == 200:
                out.append(_with_etag(resp.json()))
            elif resp.status_code != 404:
                raise self.http.error_for(resp)
        return out

    def close(self) -> None:
        self.http.close()

    def _cfg(self, name: str) -> DataverseTable:
        if name not in self.options.tables:
            raise FatalError(f"dynamics365: no table {name!r}; configured: {', '.join(self.options.tables)}")
        return self.options.tables[name]


_HEADERS = {"OData-Version": "4.0", "OData-MaxVersion": "4.0", "Accept": "application/json"}


def odata_datetime(value: Any) -> str:
    """An OData v4 Edm.DateTimeOffset literal in UTC for $filter: `2024-03-01T09:00:00Z` (fractional seconds
    kept to the microsecond, an offset converted to UTC). A value without a zone, or anything else, is refused."""
    text = value.isoformat() if isinstance(value, datetime) else str(value).strip()
    if not _DATETIME.match(text):
        raise FatalError(f"dynamics365: checkpoint {value!r} is not an OData datetime",
                         hint="expected e.g. 2024-03-01T09:00:00Z")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}".rstrip("0")
                                                   if moment.microsecond else "") + "Z"


def _latest(high: str | None, values: list[Any]) -> str | None:
    """The latest of the high-water mark and the records' cursor values, as an OData literal (compared as
    instants: `09:00:05.5Z` is after `09:00:05Z`, although it sorts before it as text)."""
    def instant(literal: str) -> datetime:
        return datetime.fromisoformat(literal.replace("Z", "+00:00"))

    for value in values:
        if value:
            literal = odata_datetime(value)
            if high is None or instant(literal) > instant(high):
                high = literal
    return high


def parse_batch_response(text: str, content_type: str) -> list[tuple[int, dict[str, str], str]]:
    """(status, headers, body) of each part of a multipart/mixed $batch response, in order."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise FatalError(f"dynamics365: $batch response without a multipart boundary ({content_type})")
    out = []
    for part in text.split(f"--{m.group(1)}")[1:]:
        if part.startswith("--"):
            break
        http_part = part.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in part else ""
        head, _, body = http_part.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        out.append((status, headers, body.strip()))
    return out


def _with_etag(row: dict[str, Any]) -> dict[str, Any]:
    """A record's columns without OData annotations, its `@odata.etag` as `__etag` (when it has one)."""
    out = {k: v for k, v in row.items() if not k.startswith("@")}
    if row.get("@odata.etag"):
        out["__etag"] = row["@odata.etag"]
    return out


def _outcome(item: WriteItem, status: int, headers: dict[str, str], body: str) -> ItemOutcome:
    if status in (200, 204):
        return ItemOutcome(item.ref, "applied", etag=headers.get("ETag"), http_status=status)
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:300] or f"HTTP {status}"
    if status == 412:
        return ItemOutcome(item.ref, "conflict", f"{item.target} {item.key} changed since it was read "
                           f"(If-Match {item.etag or '*'} failed, HTTP 412); not written: {message}", None, 412)
    kind = "retriable" if status in (429, 503, 504) else "rejected"
    return ItemOutcome(item.ref, kind, message, http_status=status)
