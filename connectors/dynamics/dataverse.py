"""Dynamics 365 / Dataverse Web API (OData v4): @odata.nextLink paging, modifiedon deltas, and
updates through `$batch` with If-Match (the etag, or `*` so a PATCH never creates a record).

Conditional writes (Microsoft Learn, "Perform conditional operations using the Web API", optimistic
concurrency): every record carries `@odata.etag` (`W/"<versionnumber>"`); `read_back` returns it as
`__etag`, and a PATCH with `If-Match: <that etag>` is refused with 412 when the row changed since.
A 412 is `conflict` (nothing re-read or re-sent here). Without an etag `If-Match: *` only stops the
PATCH from creating a missing record (an upsert); it protects no edit.

Why not the declarative `rest` connector: its batch writes post one JSON body; Dataverse batches
are multipart/mixed with one HTTP request per part and one HTTP status per part, which is what
gives per-item outcomes. 1,000 requests a batch is Dataverse's ceiling (Microsoft Learn, "Execute
batch operations using the Web API"), so `write_batch_max` is 1000: the write batch is core's
`write.batch_size`, no connector-level setting.

A read takes its columns from the stream (the mapping's source options, `StreamOptions`): `select` is
the $select list (the key and the delta column are added), `delta_field` the column of the delta
filter (null: no delta, a full read each time); the stream's primary key orders the pages. The
connector's `tables` entry for the entity set gives the defaults, and is what writes and read-back
use; with neither, the fields the mapping reads (`StreamSpec.fields`). Reads go through
`connectors.incremental`: the filter is `<delta_field> ge <since - overlap_seconds>` (a row committed
late with the high-water timestamp is read again, never lost), the instant written as an OData v4
DateTimeOffset literal in UTC (`2024-03-01T10:00:00Z`, unquoted; an offset such as +01:00 is
converted, never sent as a `+` that a query string decodes as a space), and `PageGuard` stops an
`@odata.nextLink` seen twice. An answer that is not an OData collection (HTML with 200, an empty or
truncated body, `null`, `value` not a list) fails the stream naming entity set, URL, status and body.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

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
    refuse_connector_batch_size,
)
from connectors.connector_errors import ConnectorError, FatalError
from connectors.http.client import HttpClient, HttpOptions
from connectors.incremental import Checkpoint, IncrementalOptions, LiteralStyle, PageGuard, cursor_literal
from connectors.outcome_policy import outcome_for_status, outcomes_for_error

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-fA-F-]{36}$")
BATCH_MAX = 1000  # requests in one $batch (Microsoft Learn, "Execute batch operations using the Web API")


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


class DynamicsStreamOptions(StrictModel):
    """A mapping's `source.options` for a Dataverse entity set (checked by `segbridge validate`)."""

    select: list[str] | str | None = Field(None, description=(
        "$select columns (logical names; the key and delta column are added); default: the tables: entry, "
        "else the fields the mapping reads"))
    delta_field: str | None = Field(None, description="The delta column, e.g. modifiedon; null reads in full")


class DynamicsOptions(HttpOptions, IncrementalOptions):
    """Connection (HttpOptions: base_url is the environment URL) plus the Dataverse specifics; see docs/crm.md."""

    api_path: str = "/api/data/v9.2"
    tables: dict[str, DataverseTable] = Field(default_factory=dict, description="entity set name -> columns")
    page_size: int = Field(5000, ge=1, le=5000)

    @model_validator(mode="before")
    @classmethod
    def _batch_size_moved(cls, data: Any) -> Any:
        """The write batch is one setting, core's `write.batch_size`; an old connector-level key says so."""
        refuse_connector_batch_size(data, "dynamics365", BATCH_MAX, "the $batch maximum")
        return data


class DynamicsConnector(Connector):
    kind = "dynamics365"
    Options = DynamicsOptions
    StreamOptions = DynamicsStreamOptions
    write_batch_max = BATCH_MAX
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
            resp = self.http.get(self.url("WhoAmI"), headers=_HEADERS)
            who = resp.json()
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        except ValueError:
            return CheckResult(False, str(_malformed(resp, f"{self.name}: WhoAmI", "not JSON")))
        if not isinstance(who, dict):
            return CheckResult(False, str(_malformed(resp, f"{self.name}: WhoAmI", "not an object")))
        return CheckResult(True, f"connected as user {who.get('UserId')}")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(n, [t.key], t.cursor_field, writable=True, writable_fields=t.fields)
                for n, t in self.options.tables.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._read_cfg(stream)
        where = f"{self.name}.{stream.name}"
        cp = Checkpoint.load(state, where=where)
        lower = cp.lower_bound(self.options.overlap) if cfg.cursor_field else None
        url = cp.position or self._first_url(stream.name, cfg, lower)
        resumed = cp.position is not None
        headers = {**_HEADERS, "Prefer": f"odata.maxpagesize={self.options.page_size}"}
        guard = PageGuard(where)
        while url:
            guard.see(url)
            resp = self.http.request("GET", url, headers=headers, raise_for_status=False)
            if resp.status_code in (400, 410) and resumed:
                # A saved next link the service no longer honours (an expired skip token): read again
                # from the checkpoint's lower bound; re-reads are upserts, nothing is lost.
                log.warning("%s: the saved next link was refused (HTTP %s); reading again from the checkpoint",
                            where, resp.status_code)
                url, resumed = self._first_url(stream.name, cfg, lower), False
                continue
            if resp.status_code >= 400:
                raise self.http.error_for(resp)
            resumed = False
            rows = collection(resp, f"{self.name}: {stream.name}")
            records = [{k: v for k, v in r.items() if not k.startswith("@")} | ({"@odata.etag": r["@odata.etag"]}
                       if "@odata.etag" in r else {}) for r in rows]
            if cfg.cursor_field:
                cp = cp.observe(r.get(cfg.cursor_field) for r in records)
            url = resp.parsed_body.get("@odata.nextLink")
            yield RecordBatch(records, (cp.at(url) if url else cp.done()).dump())

    def _read_cfg(self, stream: StreamSpec) -> DataverseTable:
        """The stream's columns: its options (`select`, `delta_field`) and primary key over the connector's
        `tables` entry, which gives the defaults; without either, the fields the mapping reads."""
        base = self.options.tables.get(stream.name)
        opts = self.stream_options(stream)
        select = opts.select
        if isinstance(select, str):
            select = [c.strip() for c in select.split(",") if c.strip()]
        select = select or (None if base else list(stream.fields))
        if base is None and not (select and len(stream.primary_key) == 1):
            raise FatalError(f"dynamics365: no table {stream.name!r}; configured: {', '.join(self.options.tables)}",
                             hint="add it under tables:, or give the stream a `select` option and one key field")
        key = stream.primary_key[0] if len(stream.primary_key) == 1 else base.key
        if "delta_field" in opts.model_fields_set:
            cursor = opts.delta_field
        else:
            cursor = stream.cursor_field or (base.cursor_field if base else "modifiedon")
        fields = [c for c in (select or base.fields) if c != key]
        for n in [stream.name, key, *fields, cursor or "x"]:
            if not isinstance(n, str) or not _NAME.match(n):
                raise FatalError(f"dynamics365: {n!r} is not a valid logical name")
        return DataverseTable(key=key, fields=fields, cursor_field=cursor)

    def _first_url(self, set_name: str, cfg: DataverseTable, lower) -> str:
        columns = ",".join(dict.fromkeys([cfg.key, *cfg.fields, *([cfg.cursor_field] if cfg.cursor_field else [])]))
        query = f"$select={columns}"
        if lower is not None and cfg.cursor_field:
            literal = cursor_literal(lower, LiteralStyle.ISO_Z)
            query += "&$filter=" + quote(f"{cfg.cursor_field} ge {literal}", safe=":,")
        order = ",".join(f for f in (cfg.cursor_field, cfg.key) if f)
        return self.url(f"{set_name}?{query}&$orderby={order}")

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        size = BATCH_MAX  # core sends at most write.batch_size (<= BATCH_MAX); a larger batch is split here
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
        except ConnectorError as exc:  # the whole request: the outcome policy (an AuthError stops the apply)
            return outcomes_for_error(items, exc)
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


log = logging.getLogger("segbridge.dynamics")
_HEADERS = {"OData-Version": "4.0", "OData-MaxVersion": "4.0", "Accept": "application/json"}


def collection(resp, where: str) -> list[dict]:
    """The `value` rows of an OData collection page (the parsed body kept as `resp.parsed_body`). Anything
    else (a proxy's HTML page with 200, an empty or truncated body, `null`, `value` not a list of
    objects) is a FatalError naming entity set (`where`), URL, status and the body's first bytes."""
    try:
        body = resp.json()
    except ValueError:
        raise _malformed(resp, where, "not JSON") from None
    rows = body.get("value") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        what = "no `value` list" if isinstance(body, dict) else f"JSON {type(body).__name__}, not a collection"
        raise _malformed(resp, where, what)
    resp.parsed_body = body
    return rows


def _malformed(resp, where: str, what: str) -> FatalError:
    head = secrets.redact((resp.text or "")[:120])
    shown = f"the body begins {head!r}" if head.strip() else "the body is empty"
    url = resp.url if len(resp.url or "") <= 200 else resp.url[:200] + "..."
    return FatalError(f"{where}: {resp.request.method} {url}: HTTP {resp.status_code} "
                      f"({resp.headers.get('Content-Type') or 'no Content-Type'}), {what}; {shown}",
                      hint="base_url may point at a proxy or sign-in page, or Dataverse answered in part; "
                           "try again, and check base_url / the network path if it repeats")


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
    """One $batch part's outcome by the outcome policy (401/403 raise AuthError: stop the apply); a 412
    is a conflict naming the record and the etag that failed."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:300] or None
    if status == 412:
        return ItemOutcome(item.ref, "conflict", f"{item.target} {item.key} changed since it was read "
                           f"(If-Match {item.etag or '*'} failed, HTTP 412); not written: {message}", None, 412)
    return outcome_for_status(item, status, message if status >= 300 else None, where=f"dynamics365: {item.target}",
                              etag=headers.get("ETag"))
