"""Salesforce REST: SOQL reads with nextRecordsUrl paging and SystemModstamp deltas, writes through
sObject Collections (200 a request, allOrNone false) or Bulk API 2.0 above a threshold.

Reads go through the framework's incremental helper (`connectors.incremental`): the checkpoint is a
`Checkpoint`; an incremental read selects `<delta_field> >= <since - overlap_seconds>` (a row committed
late with the high-water timestamp is read again, never lost), written as a SOQL datetime literal in
UTC with `Z`, unquoted (SOQL reference, "Date Formats and Date Literals"); `PageGuard` stops a
`nextRecordsUrl` seen twice. A query locator lives 15 minutes: an expired one (400
INVALID_QUERY_LOCATOR, also when a saved mid-read checkpoint is resumed later) restarts the query from
the checkpoint's lower bound instead of failing every later pull. A body that is not a query result
(a proxy's HTML page with 200, an empty or truncated body, `null`, `records` not a list) fails the
stream with system, object, URL, status and the body's first bytes.

What simple-salesforce gives us here: `format_soql`, which quotes and escapes every value placed
in SOQL. What it does not (hence the shared HttpClient): custom/http base URLs (it pins
`https://{instance}`), retries with backoff and Retry-After, a composite-collections helper, and
re-login for sessions it did not create itself.

Limits: 403 REQUEST_LIMIT_EXCEEDED raises LimitExhausted carrying the resumable state (reads: the
last checkpoint handed out; writes: the outcomes so far, the rest marked retriable). A 401
INVALID_SESSION_ID re-authenticates once and replays the request.

No conditional writes: Salesforce honours If-Match / If-Unmodified-Since (412) only on sObject Rows,
one record per request; sObject Collections and Bulk API 2.0 take none, and one request per record
would spend 200 times the daily API budget. So `read_back` gives no `__etag`, an item's `etag` is
not sent, and write-back's read-before-write is the only guard (docs/crm.md).

Example options:
    instance_url: https://mycompany.my.salesforce.com
    auth: {flow: jwt, token_url: https://login.salesforce.com/services/oauth2/token,
           client_id: 3MVG9..., username: integration@mycompany.com, private_key: ${SF_JWT_KEY}}
    read_timeout: 120          # the HttpOptions keys (timeouts, retries, TLS, ...) sit flat here too
    objects:
      Account: {fields: [Id, Name, Segment__c, Service_Level__c, SystemModstamp]}

Mapping-driven reads: a stream's options (the mapping's `source.options`, `StreamOptions`) name what
to read: `soql_fields` (relationship paths allowed, e.g. `Order.Account.SAP_Customer_Number__c`; related
records come back as nested dicts, which the mapping reads as `Order/Account/...`) and `delta_field`
(the cursor; `null` reads everything). `objects:` in the connector options are the defaults, and
what `read_back` selects; with neither, the fields the mapping reads (`StreamSpec.fields`) are selected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import requests
from pydantic import Field, model_validator
from simple_salesforce import format_soql

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
from connectors.connector_errors import (
    AuthError,
    ConnectorError,
    FatalError,
    LimitExhausted,
    RetriableError,
)
from connectors.http.client import HttpClient, HttpTransportOptions
from connectors.incremental import (
    Checkpoint,
    IncrementalOptions,
    LiteralStyle,
    PageGuard,
    cursor_literal,
    parse_instant,
)
from connectors.outcome_policy import Verdict, outcomes_for_error, verdict_for_status
from connectors.salesforce import bulk
from connectors.salesforce.login import SalesforceAuth, SessionProvider

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?$")
# Fields may follow relationships (Order.Account.SAP_Customer_Number__c); each part is a plain API name.
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?(\.[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?)*$")
COLLECTION_MAX = 200  # sObject Collections: at most 200 records a request (REST API Developer Guide)
LOCATOR_RESTARTS = 3  # expired query locators tolerated in one read before it fails


class SObjectStream(StrictModel):
    fields: list[str] = Field(description="API names to SELECT, e.g. Id, Segment__c, Service_Level__c")
    cursor_field: str | None = Field("SystemModstamp", description="Delta field; None reads everything")
    key: str = "Id"
    filters: dict[str, Any] = Field(default_factory=dict, description="field -> value (quoted) ANDed")
    include_deleted: bool = Field(False, description="queryAll: include deleted and archived rows")


class SalesforceStreamOptions(StrictModel):
    """A mapping's `source.options` for a Salesforce stream (checked by `segbridge validate`)."""

    soql_fields: list[str] | None = Field(None, description=(
        "Fields to SELECT, relationship paths allowed (Order.Account.Name); default: the objects: entry, "
        "else the fields the mapping reads"))
    delta_field: str | None = Field(None, description=(
        "The delta (cursor) field, e.g. SystemModstamp; null reads everything each time"))


class SalesforceOptions(HttpTransportOptions, IncrementalOptions):
    """The Salesforce specifics plus the HttpOptions keys (timeouts, retries, TLS, ...), flat. The HTTP
    base URL is `instance_url` (else the login URL of `auth.token_url`), and `auth` is the Salesforce
    login, not an HttpOptions auth. The write batch is core's `write.batch_size` (default 200, the
    Collections maximum); there is no connector-level batch size."""

    instance_url: str | None = Field(None, description="Default: the instance_url the token endpoint returns")
    api_version: str = "59.0"
    auth: SalesforceAuth  # type: ignore[assignment]  # replaces HttpTransportOptions.auth
    objects: dict[str, SObjectStream] = Field(default_factory=dict)
    bulk_above: int | None = Field(10_000, ge=1, description="More items than this in one write use Bulk 2.0")
    bulk_poll_seconds: float = Field(2.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _batch_size_moved(cls, data: Any) -> Any:
        """The write batch is one setting, core's `write.batch_size`; an old connector-level key says so."""
        refuse_connector_batch_size(data, "salesforce", COLLECTION_MAX, "the Collections maximum")
        return data


class QueryLocatorExpired(FatalError):
    """400 INVALID_QUERY_LOCATOR: the nextRecordsUrl's cursor is gone (15 minutes idle, or too many open)."""


class SalesforceConnector(Connector):
    kind = "salesforce"
    Options = SalesforceOptions
    StreamOptions = SalesforceStreamOptions
    write_batch_max = COLLECTION_MAX
    description = "Salesforce REST API (SOQL, sObject Collections, Bulk API 2.0)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        base = self.options.instance_url or self.options.auth.token_url
        self.http = HttpClient(self.options.http_options(base, auth=None))
        self.session = SessionProvider(self.options.auth, self.http)
        for name_ in self.options.objects:
            _check_name(name_)
            for f in self.options.objects[name_].fields:
                _check_field(f)

    # ------------------------------------------------------------------ transport

    def data_url(self, path: str) -> str:
        if path.startswith("/services/"):
            return self._instance() + path
        return f"{self._instance()}/services/data/v{self.options.api_version}/{path.lstrip('/')}"

    def _instance(self) -> str:
        if self.session.token is None:
            self.session.refresh()
        return (self.options.instance_url or self.session.instance_url or "").rstrip("/")

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One REST call: re-login once on INVALID_SESSION_ID; limits and errors become typed errors
        (the statuses' meaning from `connectors.outcome_policy`: 401/403 an AuthError)."""
        headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            resp = self.http.request(method, self.data_url(path), raise_for_status=False,
                                     headers={**headers, **self.session.headers()}, **kwargs)
            code = _error_code(resp)
            if resp.status_code == 401 and code == "INVALID_SESSION_ID" and attempt == 1:
                self.session.refresh()
                continue
            break
        if resp.status_code < 400:
            return resp
        where = f"salesforce: {method} {path.split('?')[0]}: HTTP {resp.status_code}"
        if resp.status_code == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            raise LimitExhausted(f"Salesforce API limit: {_error_text(resp)}",
                                 hint="the run stopped cleanly; resume after the limit resets (24h rolling)")
        if code == "INVALID_QUERY_LOCATOR":
            raise QueryLocatorExpired(f"{where}: {_error_text(resp)}")
        verdict = verdict_for_status(resp.status_code)
        if verdict is Verdict.AUTH:
            raise AuthError(f"{where}: {_error_text(resp)}",
                            hint="check the connected app, the integration user and its permissions")
        if verdict is Verdict.RETRIABLE:
            raise RetriableError(f"{where}: {_error_text(resp)}")
        raise FatalError(f"{where}: {_error_text(resp)}")

    # ------------------------------------------------------------------ hooks

    def check(self) -> CheckResult:
        try:
            resp = self.call("GET", "limits")
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        limits = _json(resp)
        if not isinstance(limits, dict):
            return CheckResult(False, str(malformed(resp, f"{self.name}: limits", "not a limits object")))
        daily = limits.get("DailyApiRequests", {})
        return CheckResult(True, f"connected; {daily.get('Remaining', '?')} of {daily.get('Max', '?')} "
                                 "daily API requests left", {"limits": daily})

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(name, [s.key], s.cursor_field, writable=True,
                           writable_fields=[f for f in s.fields if f not in (s.key, s.cursor_field)])
                for name, s in self.options.objects.items()]

    def soql(self, sobject: str, since: Any, cfg: SObjectStream | None = None) -> str:
        """The read's SOQL: `<cursor> >= <since>` (a datetime literal, UTC with Z, unquoted) when given."""
        cfg = cfg or self._object(sobject)
        parts, args = [], []
        for field, value in cfg.filters.items():
            parts.append(f"{field} = {{}}")
            args.append(value)
        lower = _instant(since, sobject)
        if lower is not None and cfg.cursor_field:
            parts.append(f"{cfg.cursor_field} >= {cursor_literal(lower, LiteralStyle.ISO_Z)}")
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        order = " ORDER BY " + ", ".join(f for f in (cfg.cursor_field, cfg.key) if f)
        return format_soql(f"SELECT {', '.join(cfg.fields)} FROM {sobject}{where}{order}", *args)

    def stream_config(self, stream: StreamSpec) -> SObjectStream:
        """The object's read settings: the stream options (soql_fields, delta_field) over the connector's
        `objects:` entry; with neither a field list, the fields the mapping reads (`stream.fields`)."""
        opts = self.stream_options(stream)
        base = self.options.objects.get(stream.name)
        _check_name(stream.name)
        mapped = [f.replace("/", ".") for f in stream.fields]
        fields = list(opts.soql_fields or (base.fields if base else None) or mapped)
        if not fields:
            raise FatalError(f"salesforce: stream {stream.name!r} names no fields",
                             hint="give the mapping's source options `soql_fields`, or add the object under objects:")
        values = base.model_dump() if base else {}
        values["fields"] = fields
        if "delta_field" in opts.model_fields_set:
            values["cursor_field"] = opts.delta_field
        cfg = SObjectStream.model_validate(values)
        for f in [*cfg.fields, *([cfg.cursor_field] if cfg.cursor_field else [])]:
            _check_field(f)
        if cfg.cursor_field and cfg.cursor_field not in cfg.fields:
            cfg.fields.append(cfg.cursor_field)
        return cfg

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self.stream_config(stream)
        where = f"{self.name}.{stream.name}"
        cp = Checkpoint.load(state, where=where)
        lower = cp.lower_bound(self.options.overlap) if cfg.cursor_field else None
        first = ("queryAll" if cfg.include_deleted else "query", self.soql(stream.name, lower, cfg))
        guard, restarts = PageGuard(where), 0
        path: Any = cp.position or first
        handed: dict[str, Any] | None = state or None
        while path:
            guard.see(path)
            try:
                body = self._query_page(path, stream.name)
            except LimitExhausted as exc:
                exc.state = handed
                raise
            except QueryLocatorExpired as exc:
                restarts += 1
                if restarts > LOCATOR_RESTARTS:
                    raise FatalError(f"{where}: query locators expired {restarts} times in one read: {exc.message}",
                                     hint="the read is too slow for Salesforce's 15-minute locators; "
                                          "check the store's speed") from None
                guard, path = PageGuard(where), first  # again from the watermark: re-reads are upserts
                continue
            records = _plain_records(body["records"], related=any("." in f for f in cfg.fields))
            if cfg.cursor_field:
                cp = cp.observe(r.get(cfg.cursor_field) for r in records)
            path = body.get("nextRecordsUrl")
            handed = (cp.at(path) if path else cp.done()).dump()
            yield RecordBatch(records, handed, source_count=body.get("totalSize"))

    def _query_page(self, path: str | tuple[str, str], sobject: str) -> dict:
        """One page of a query; anything but a query result is an error naming what came back."""
        if isinstance(path, tuple):
            resp = self.call("GET", path[0], params={"q": path[1]})
        else:
            resp = self.call("GET", path)
        return query_result(resp, f"{self.name}: {sobject}")

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        groups: dict[str, list[WriteItem]] = {}
        for item in batch.items:
            groups.setdefault(item.target, []).append(item)
        for sobject, items in groups.items():
            _check_name(sobject)
            try:
                if self.options.bulk_above is not None and len(items) > self.options.bulk_above:
                    outcomes.extend(bulk.run_update(self.call, sobject, items,
                                                    poll_interval=self.options.bulk_poll_seconds))
                else:
                    outcomes.extend(self._collections(sobject, items))
            except LimitExhausted as exc:
                done = {o.ref for o in outcomes}
                rest = [ItemOutcome(i.ref, "retriable", f"not sent: {exc}") for i in batch.items if i.ref not in done]
                exc.outcomes = outcomes + rest
                raise
        by_ref = {o.ref: o for o in outcomes}
        return [by_ref[i.ref] for i in batch.items]

    def _collections(self, sobject: str, items: list[WriteItem]) -> Iterator[ItemOutcome]:
        """PATCH composite/sobjects, COLLECTION_MAX records a request (core sends batches of at most
        that; a larger WriteBatch is split here). A refused request puts the system's message on each
        of its items (`outcomes_for_error`; an AuthError stops the apply)."""
        for i in range(0, len(items), COLLECTION_MAX):
            chunk = items[i:i + COLLECTION_MAX]
            records = [{"attributes": {"type": sobject}, "id": it.key["Id"], **it.values} for it in chunk]
            try:
                resp = self.call("PATCH", "composite/sobjects", json={"allOrNone": False, "records": records})
                results = save_results(resp, len(chunk), f"{self.name}: {sobject}")
            except LimitExhausted:
                raise
            except ConnectorError as exc:
                yield from outcomes_for_error(chunk, exc)
                continue
            yield from (_collection_outcome(it, res) for it, res in zip(chunk, results, strict=True))

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self._object(target)
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), 200):
            ids = [str(k[cfg.key]) for k in keys[i:i + 200]]
            soql = format_soql(f"SELECT {', '.join(cfg.fields)} FROM {target} WHERE {cfg.key} IN {{}}", ids)
            path: Any = ("query", soql)
            guard = PageGuard(f"{self.name}.{target} read-back")
            while path:
                guard.see(path)
                body = self._query_page(path, target)
                out.extend({k: v for k, v in r.items() if k != "attributes"} for r in body["records"])
                path = body.get("nextRecordsUrl")
        return out

    def close(self) -> None:
        self.http.close()

    def _object(self, name: str) -> SObjectStream:
        if name not in self.options.objects:
            raise FatalError(f"salesforce: no object {name!r} configured; configured: {', '.join(self.options.objects)}")
        return self.options.objects[name]


def _collection_outcome(item: WriteItem, result: dict) -> ItemOutcome:
    if result.get("success"):
        return ItemOutcome(item.ref, "applied", http_status=200)
    errors = result.get("errors") or []
    text = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" + (f" {e.get('fields')}" if e.get("fields") else "")
                     for e in errors) or "rejected without a message"
    transient = any(e.get("statusCode") in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE") for e in errors)
    return ItemOutcome(item.ref, "retriable" if transient else "rejected", text, http_status=200)


def query_result(resp: requests.Response, where: str) -> dict:
    """A query page's body, checked: a JSON object whose `records` is a list. Anything else (a proxy's
    HTML page with 200, an empty or truncated body, `null`) is a FatalError naming the system and
    object (`where`), the URL, the status and the body's first bytes."""
    body = _json(resp)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        what = "not JSON" if body is _NOT_JSON else "no records list" if isinstance(body, dict) else \
            f"JSON {type(body).__name__}, not a query result"
        raise malformed(resp, where, what)
    return body


def save_results(resp: requests.Response, count: int, where: str) -> list[dict]:
    """The SaveResult list of a Collections request, one per record, or a RetriableError saying what came
    back (the records may or may not be saved: read-before-write decides on the next apply)."""
    body = _json(resp)
    if not isinstance(body, list) or len(body) != count or not all(isinstance(r, dict) for r in body):
        raise RetriableError(malformed(resp, where, f"not {count} save results").message)
    return body


_NOT_JSON = object()


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return _NOT_JSON


def malformed(resp: requests.Response, where: str, what: str) -> FatalError:
    """The error for an answer that is not what the API promises, with what came back."""
    head = secrets.redact((resp.text or "")[:120])
    kind = resp.headers.get("Content-Type") or "no Content-Type"
    shown = f"the body begins {head!r}" if head.strip() else "the body is empty"
    return FatalError(f"{where}: {resp.request.method} {_short(resp.url)}: HTTP {resp.status_code} ({kind}), "
                      f"{what}; {shown}",
                      hint="the instance URL may point at a proxy or login page, or Salesforce answered "
                           "in part; try again, and check instance_url / the network path if it repeats")


def _short(text: str | None, limit: int = 200) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "..."


def _instant(value: Any, sobject: str):
    """A checkpoint value as a UTC instant (None for none); an unreadable one stops the read."""
    try:
        return parse_instant(value)
    except ValueError:
        raise FatalError(f"salesforce: {sobject}: checkpoint {value!r} is not a date-time",
                         hint="run `segbridge pull --full` for this system") from None


def _plain_records(records: list[dict], related: bool) -> list[dict]:
    """The page's records without `attributes`. Without relationship fields a record holds no related
    record (compound fields such as an Address carry no `attributes`): its `attributes` are dropped in
    place, not the record copied."""
    if related:
        return [_plain(r) for r in records]
    for r in records:
        r.pop("attributes", None)
    return records


def _plain(record: dict) -> dict:
    """A record without `attributes`, also inside related records (Order: {OrderNumber: ...})."""
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in record.items() if k != "attributes"}


def _check_field(name: str) -> None:
    """Field paths go into SOQL unquoted: plain API names, optionally through relationships."""
    if not _FIELD.match(name):
        raise FatalError(f"salesforce: {name!r} is not a valid field API name")


def _check_name(name: str) -> None:
    """Object and field API names go into SOQL unquoted, so they must be plain identifiers."""
    if not _NAME.match(name):
        raise FatalError(f"salesforce: {name!r} is not a valid API name")


def _errors(resp: requests.Response) -> list[dict]:
    try:
        body = resp.json()
    except ValueError:
        return []
    return body if isinstance(body, list) else [body] if isinstance(body, dict) else []


def _error_code(resp: requests.Response) -> str | None:
    if resp.status_code < 400:
        return None
    errors = _errors(resp)
    return errors[0].get("errorCode") if errors else None


def _error_text(resp: requests.Response) -> str:
    errors = _errors(resp)
    if errors:
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors)
    return secrets.redact(resp.text[:300])
