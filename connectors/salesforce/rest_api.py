"""Salesforce REST: SOQL reads with nextRecordsUrl paging and SystemModstamp deltas, writes through
sObject Collections (200 a request, allOrNone false) or Bulk API 2.0 above a threshold.

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

Mapping-driven reads: a stream's options (the mapping's `source.options`) name what to read:
`soql_fields` (relationship paths allowed, e.g. `Order.Account.SAP_Customer_Number__c`; related
records come back as nested dicts, which the mapping reads as `Order/Account/...`) and `delta_field`
(the cursor; `null` reads everything). `objects:` in the connector options are the defaults, and
what `read_back` selects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import requests
from pydantic import Field
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
)
from connectors.connector_errors import AuthError, ConnectorError, FatalError, LimitExhausted
from connectors.http.client import HttpClient, HttpTransportOptions
from connectors.salesforce import bulk
from connectors.salesforce.login import SalesforceAuth, SessionProvider

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?$")
# Fields may follow relationships (Order.Account.SAP_Customer_Number__c); each part is a plain API name.
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?(\.[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?)*$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$")


class SObjectStream(StrictModel):
    fields: list[str] = Field(description="API names to SELECT, e.g. Id, Segment__c, Service_Level__c")
    cursor_field: str | None = Field("SystemModstamp", description="Delta field; None reads everything")
    key: str = "Id"
    filters: dict[str, Any] = Field(default_factory=dict, description="field -> value (quoted) ANDed")
    include_deleted: bool = Field(False, description="queryAll: include deleted and archived rows")


class SalesforceOptions(HttpTransportOptions):
    """The Salesforce specifics plus the HttpOptions keys (timeouts, retries, TLS, ...), flat. The HTTP
    base URL is `instance_url` (else the login URL of `auth.token_url`), and `auth` is the Salesforce
    login, not an HttpOptions auth."""

    instance_url: str | None = Field(None, description="Default: the instance_url the token endpoint returns")
    api_version: str = "59.0"
    auth: SalesforceAuth  # type: ignore[assignment]  # replaces HttpTransportOptions.auth
    objects: dict[str, SObjectStream] = Field(default_factory=dict)
    batch_size: int = Field(200, ge=1, le=200, description="Records per composite/sobjects request")
    bulk_above: int | None = Field(10_000, ge=1, description="More items than this in one write use Bulk 2.0")
    bulk_poll_seconds: float = Field(2.0, ge=0)


class SalesforceConnector(Connector):
    kind = "salesforce"
    Options = SalesforceOptions
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
        """One REST call: re-login once on INVALID_SESSION_ID; limits and errors become typed errors."""
        headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            resp = self.http.request(method, self.data_url(path), raise_for_status=False,
                                     headers={**headers, **self.session.headers()}, **kwargs)
            code = _error_code(resp)
            if resp.status_code == 401 and code == "INVALID_SESSION_ID" and attempt == 1:
                self.session.refresh()
                continue
            break
        if resp.status_code == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            raise LimitExhausted(f"Salesforce API limit: {_error_text(resp)}",
                                 hint="the run stopped cleanly; resume after the limit resets (24h rolling)")
        if resp.status_code == 401:
            raise AuthError(f"Salesforce session rejected: {_error_text(resp)}")
        if resp.status_code >= 400:
            raise FatalError(f"{method} {path.split('?')[0]}: HTTP {resp.status_code}: {_error_text(resp)}")
        return resp

    # ------------------------------------------------------------------ hooks

    def check(self) -> CheckResult:
        try:
            limits = self.call("GET", "limits").json()
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        daily = limits.get("DailyApiRequests", {})
        return CheckResult(True, f"connected; {daily.get('Remaining', '?')} of {daily.get('Max', '?')} "
                                 "daily API requests left", {"limits": daily})

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(name, [s.key], s.cursor_field, writable=True,
                           writable_fields=[f for f in s.fields if f not in (s.key, s.cursor_field)])
                for name, s in self.options.objects.items()]

    def soql(self, sobject: str, since: str | None, cfg: SObjectStream | None = None) -> str:
        cfg = cfg or self._object(sobject)
        parts, args = [], []
        for field, value in cfg.filters.items():
            parts.append(f"{field} = {{}}")
            args.append(value)
        if since and cfg.cursor_field:
            if not _DATETIME.match(since):
                raise FatalError(f"{sobject}: checkpoint {since!r} is not a SOQL datetime")
            parts.append(f"{cfg.cursor_field} > {since}")  # datetime literals are unquoted in SOQL
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        order = " ORDER BY " + ", ".join(f for f in (cfg.cursor_field, cfg.key) if f)
        return format_soql(f"SELECT {', '.join(cfg.fields)} FROM {sobject}{where}{order}", *args)

    def stream_config(self, stream: StreamSpec) -> SObjectStream:
        """The object's read settings: the stream options (soql_fields, delta_field) over the connector's."""
        opts = stream.options or {}
        base = self.options.objects.get(stream.name)
        if "soql_fields" not in opts and "delta_field" not in opts:
            return self._object(stream.name)
        _check_name(stream.name)
        fields = list(opts.get("soql_fields") or (base.fields if base else []))
        if not fields:
            raise FatalError(f"salesforce: stream {stream.name!r} names no fields (soql_fields)")
        values = base.model_dump() if base else {}
        values["fields"] = fields
        if "delta_field" in opts:
            values["cursor_field"] = opts["delta_field"]
        cfg = SObjectStream.model_validate(values)
        for f in [*cfg.fields, *([cfg.cursor_field] if cfg.cursor_field else [])]:
            _check_field(f)
        if cfg.cursor_field and cfg.cursor_field not in cfg.fields:
            cfg.fields.append(cfg.cursor_field)
        return cfg

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self.stream_config(stream)
        state = dict(state or {})
        since = state.get("since")
        high = state.get("high", since)
        path = state.get("next") or (("queryAll" if cfg.include_deleted else "query"),
                                     self.soql(stream.name, since, cfg))
        checkpoint = state or None
        while path:
            try:
                body = self._query_page(path)
            except LimitExhausted as exc:
                exc.state = checkpoint
                raise
            records = [_plain(r) for r in body.get("records", [])]
            if cfg.cursor_field:
                high = max([high or ""] + [r.get(cfg.cursor_field) or "" for r in records]) or None
            path = body.get("nextRecordsUrl")
            checkpoint = {"since": since, "high": high, "next": path} if path else {"since": high}
            yield RecordBatch(records, checkpoint, source_count=body.get("totalSize"))

    def _query_page(self, path: str | tuple[str, str]) -> dict:
        if isinstance(path, tuple):
            return self.call("GET", path[0], params={"q": path[1]}).json()
        return self.call("GET", path).json()

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
        size = self.options.batch_size
        for i in range(0, len(items), size):
            chunk = items[i:i + size]
            records = [{"attributes": {"type": sobject}, "id": it.key["Id"], **it.values} for it in chunk]
            results = self.call("PATCH", "composite/sobjects", json={"allOrNone": False, "records": records}).json()
            yield from (_collection_outcome(it, res) for it, res in zip(chunk, results, strict=True))

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self._object(target)
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), 200):
            ids = [str(k[cfg.key]) for k in keys[i:i + 200]]
            soql = format_soql(f"SELECT {', '.join(cfg.fields)} FROM {target} WHERE {cfg.key} IN {{}}", ids)
            path: Any = ("query", soql)
            while path:
                body = self._query_page(path)
                out.extend({k: v for k, v in r.items() if k != "attributes"} for r in body.get("records", []))
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
