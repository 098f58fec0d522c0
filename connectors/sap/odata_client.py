"""A small OData V2 client for SAP Gateway on the shared HttpClient: reads, CSRF, ETags, `$batch`.

pyodata fetches no CSRF token, sends no If-Match and hides per-part `$batch` results, so this
client does those three things itself and nothing more:

- `$metadata` is fetched once per service (with `x-csrf-token: Fetch`, so the same request
  yields the token and the session cookies that bind it);
- reads send `$select`, `$filter`, `$expand`, `$top/$skip` with an `$orderby` on the key, and
  follow the server's `__next` (`$skiptoken`) links under a `PageGuard`;
- writes send PATCH (or MERGE) with only the changed properties and If-Match where the entity
  has an ETag; a 403 "CSRF token validation failed" refetches the token and resends, twice at most
  (a Gateway can refuse the fresh token too when the session moved to another application
  server); a refusal after that is a `RetriableError`, so nothing unsent is ever `rejected`;
- `$inlinecount=allpages` goes on the first request of a read only (the server counts the whole
  set for it); every answer is checked (`odata_answer`) before it is believed;
- SAP error bodies (`error.code`, `message.value`, `innererror.errordetails`) become one line.

Example:
    >>> client = ODataClient(HttpClient(HttpOptions(base_url="https://s4.example.com")))   # doctest: +SKIP
    >>> for page in client.pages("API_PRODUCT_SRV", "A_Product", select=["Product"]):      # doctest: +SKIP
    ...     print(len(page.records), page.count)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import requests

from basics import secrets
from connectors.connector_errors import ConnectorError, FatalError, RetriableError
from connectors.http.client import HttpClient
from connectors.incremental import PageGuard
from connectors.sap.batch import Part, PartResponse, build_batch, parse_batch
from connectors.sap.metadata import EntitySet, Property, ServiceMetadata, parse_metadata
from connectors.sap.odata_answer import collection_answer, first_bytes, json_answer

log = logging.getLogger("segbridge.sap.odata")
_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")
CSRF_FAILED = "csrf token validation failed"
CSRF_REFETCHES = 2  # a refusal right after a refetch happens (session timeout, another app server)


# --------------------------------------------------------------------------- literals


def quote_string(value: Any) -> str:
    """An Edm.String literal: single quotes, embedded quotes doubled (`O'Neil` -> `'O''Neil'`)."""
    return "'" + str(value).replace("'", "''") + "'"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def datetime_literal(value: datetime) -> str:
    """Edm.DateTime: `datetime'2024-02-06T08:30:00'` (no offset; SAP reads it as UTC)."""
    return f"datetime'{_utc(value).strftime('%Y-%m-%dT%H:%M:%S')}'"


def datetimeoffset_literal(value: datetime) -> str:
    """Edm.DateTimeOffset: `datetimeoffset'2024-02-06T08:30:00Z'`."""
    return f"datetimeoffset'{_utc(value).strftime('%Y-%m-%dT%H:%M:%S')}Z'"


def literal(prop: Property | None, value: Any) -> str:
    """The `$filter`/key literal of a value for a property's EDM type (strings quoted by default)."""
    edm = prop.edm_type if prop else "Edm.String"
    if value is None:
        return "null"
    if edm == "Edm.DateTime":
        return datetime_literal(value if isinstance(value, datetime) else parse_datetime(str(value)))
    if edm == "Edm.DateTimeOffset":
        return datetimeoffset_literal(value if isinstance(value, datetime) else parse_datetime(str(value)))
    if edm == "Edm.Boolean":
        return "true" if value in (True, "true", "X") else "false"
    if edm in ("Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte"):
        return str(int(value))
    if edm == "Edm.Int64":
        return f"{int(value)}L"
    if edm == "Edm.Decimal":
        return f"{value}M"
    if edm == "Edm.Guid":
        return f"guid{quote_string(value)}"
    return quote_string(value)


def parse_datetime(value: str) -> datetime:
    """`/Date(ms)/`, `/Date(ms+0060)/` or ISO 8601 -> aware UTC datetime."""
    match = _DATE.match(value.strip())
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def key_predicate(entity_set: EntitySet, key: dict[str, Any]) -> str:
    """`A_ProductSupplyPlanning(Product='TG11',Plant='1010')`; every key property must be given."""
    missing = [k for k in entity_set.keys if key.get(k) in (None, "")]
    extra = [k for k in key if k not in entity_set.keys]
    if missing or extra:
        raise FatalError(f"{entity_set.name}: key needs {entity_set.keys}; missing {missing}, unknown {extra}")
    inner = ",".join(f"{k}={literal(entity_set.properties.get(k), key[k])}" for k in entity_set.keys)
    return f"{entity_set.name}({quote(inner, safe=chr(39) + ',=')})"


# --------------------------------------------------------------------------- errors


def sap_error_message(status: int, body: bytes | str) -> str:
    """One readable line from SAP's JSON (or XML) error body: code, message, error details."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        plain = re.sub(r"<[^>]+>", " ", text)
        return f"HTTP {status}: {' '.join(plain.split())[:300]}".strip()
    message = error.get("message")
    message = message.get("value") if isinstance(message, dict) else message
    line = f"HTTP {status} {error.get('code', '')}: {message}".replace("  ", " ")
    details = (error.get("innererror") or {}).get("errordetails") or []
    extra = [f"{d.get('code', '')} {d.get('message', '')}".strip() for d in details
             if d.get("message") and d.get("message") != message]
    return line + (f" ({'; '.join(extra)})" if extra else "")


@dataclass
class Page:
    """One answer of a read: its records, the count (first page only), where the read goes on
    (`position`: None on the last page) and the delta link the last page may carry."""

    records: list[dict[str, Any]]
    count: int | None
    position: dict[str, Any] | None
    delta: str | None = None


@dataclass
class WriteResult:
    """Outcome of one PATCH: status, SAP's message when it failed, the new ETag when one came back."""

    status: int
    message: str | None = None
    etag: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


DELETED_MARKER = "__deleted"
_KEY_IN_URI = re.compile(r"\(([^()]*)\)\s*$")
_KEY_PART = re.compile(r"(?:(\w+)=)?'((?:[^']|'')*)'")


def deleted_key(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The key of a delta answer's deleted entry (a tombstone), else None. SAP Gateway and Olingo V2
    write it as `{"@odata.context": "...$deletedEntity", "id": "<entity URI>"}`; `__deleted: true`
    with the key properties is accepted too."""
    context = str(raw.get("@odata.context") or "")
    if not (context.endswith("$deletedEntity") or raw.get(DELETED_MARKER) is True):
        return None
    uri = str(raw.get("id") or (raw.get("__metadata") or {}).get("uri") or "")
    match = _KEY_IN_URI.search(uri)
    key = {}
    for name, value in _KEY_PART.findall(match.group(1) if match else ""):
        key[name or "__key"] = unquote(value).replace("''", "'")
    return key | {k: v for k, v in raw.items() if not k.startswith(("@", "__")) and k != "id"}


def clean_record(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop `__metadata` and deferred navigations; keep expanded ones (nested dicts); add `__etag`.
    A deleted entry of a delta answer becomes its key plus `__deleted: True` (a tombstone).

    Works in place on the freshly parsed answer (nobody else holds it): a pull passes every record
    through here, and building a new dict key by key cost more than parsing the page's JSON's sixth."""
    if "@odata.context" in raw or DELETED_MARKER in raw:
        tombstone = deleted_key(raw)
        if tombstone is not None:
            return {**tombstone, DELETED_MARKER: True}
    meta = raw.pop("__metadata", None)
    if isinstance(meta, dict) and meta.get("etag"):
        raw["__etag"] = meta["etag"]
    for key in [k for k, v in raw.items() if type(v) is dict]:  # noqa: E721 - JSON objects are exactly dict
        if "__deferred" in raw[key]:
            del raw[key]
        else:
            raw[key] = clean_record(raw[key])
    return raw


def without_inlinecount(url: str | None) -> str | None:
    """A server next link without `$inlinecount` (Gateway repeats the first request's options in it;
    counting the whole set again for every page is the server's most expensive part)."""
    if not url or "inlinecount" not in url:
        return url
    return re.sub(r"([?&])(?:%24|\$)inlinecount=[^&]*&?", r"\1", url).rstrip("&?")


class ODataClient:
    """Talks OData V2 to one SAP Gateway host; one instance per connector (it holds the CSRF token)."""

    def __init__(self, http: HttpClient, service_root: str = "/sap/opu/odata/sap",
                 params: dict[str, str] | None = None, system: str = "sap_odata"):
        self.http = http
        self.service_root = service_root.rstrip("/")
        self.params = dict(params or {})
        self.system = system
        self.csrf_token: str | None = None
        self._metadata: dict[str, ServiceMetadata] = {}

    def path(self, service: str, rest: str = "") -> str:
        return f"{self.service_root}/{service}/{rest}"

    # ------------------------------------------------------------------ metadata and CSRF

    def metadata(self, service: str) -> ServiceMetadata:
        """The service's `$metadata` (fetched once; the same GET fetches the CSRF token)."""
        if service not in self._metadata:
            resp = self._get(self.path(service, "$metadata"), headers={"x-csrf-token": "Fetch",
                                                                      "Accept": "application/xml"})
            self._keep_token(resp)
            try:
                self._metadata[service] = parse_metadata(resp.content, service)
            except FatalError as exc:
                raise FatalError(f"{self.system}: {exc.message}: GET {resp.url.split('?')[0]} answered HTTP "
                                 f"{resp.status_code}, body starts {first_bytes(resp.content)}",
                                 hint=exc.hint) from None
        return self._metadata[service]

    def fetch_csrf(self, service: str) -> str:
        """A fresh token from a GET on the service root; the session keeps the cookies bound to it."""
        resp = self._get(self.path(service), headers={"x-csrf-token": "Fetch"})
        if not self._keep_token(resp):
            raise FatalError(f"SAP did not return an x-csrf-token for {service}",
                             hint="the user needs authorisation for the service (S_SERVICE) and "
                                  "the gateway must not sit behind a proxy that strips the header")
        return self.csrf_token or ""

    def _keep_token(self, resp: requests.Response) -> bool:
        token = resp.headers.get("x-csrf-token")
        if token and token.lower() != "required":
            self.csrf_token = token
            secrets.register(token)
            return True
        return False

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        resp = self.http.request("GET", path, raise_for_status=False, params=self.params or None, **kwargs)
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def _error(self, resp: requests.Response) -> ConnectorError:
        err = self.http.error_for(resp)
        err.message = (f"{self.system}: {resp.request.method} {resp.url.split('?')[0]}: "
                       f"{sap_error_message(resp.status_code, resp.content)}")
        err.args = (err.message,)
        err.status = resp.status_code
        return err

    # ------------------------------------------------------------------ reads

    def get_json(self, url: str, params: dict[str, str] | None = None, *, entity_set: str = "") -> dict[str, Any]:
        """The `d` of a GET's JSON answer; HTTP errors and malformed answers raise with the URL."""
        resp = self._get_raw(url, params)
        return json_answer(resp, system=self.system, entity_set=entity_set or url.split("?")[0])

    def _get_raw(self, url: str, params: dict[str, str] | None) -> requests.Response:
        merged = None if url.startswith(("http://", "https://")) else {**self.params, **(params or {})}
        resp = self.http.request("GET", url, raise_for_status=False, params=merged,
                                 headers={"Accept": "application/json"})
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def pages(self, service: str, entity_set: str, *, select: list[str] | None = None,
              filter: str | None = None, expand: list[str] | None = None, page_size: int = 1000,
              orderby: list[str] | None = None, start: dict[str, Any] | None = None,
              guard: PageGuard | None = None) -> Iterator[Page]:
        """Every page of an entity set: client pages of `page_size` ($top/$skip, ordered by key),
        each followed through the server's `__next` links until the server has no more. `start`
        resumes at a position an earlier page gave; `$inlinecount` goes on the first request only."""
        es = self.metadata(service).entity_set(entity_set)
        where = f"{service}/{entity_set}"
        guard = guard or PageGuard(f"{self.system}.{where}")
        params = {"$format": "json", "$top": str(page_size), "$orderby": ",".join(orderby or es.keys)}
        params |= {k: v for k, v in (("$select", ",".join(select or [])), ("$filter", filter),
                                     ("$expand", ",".join(expand or []))) if v}
        pos = dict(start or {"skip": 0, "got": 0, "url": None})
        first = start is None
        while True:
            url, query = pos["url"], None
            if url is None:
                url, query = self.path(service, entity_set), {**params, "$skip": str(pos["skip"])}
                if first:
                    query["$inlinecount"] = "allpages"
            guard.see(url if query is None else [url, query])
            data = collection_answer(self._get_raw(url, query), system=self.system, entity_set=where)
            records = [clean_record(r) for r in data["results"]]
            count = int(data["__count"]) if first and data.get("__count") is not None else None
            first = False
            got = pos["got"] + len(records)
            nxt = without_inlinecount(data.get("__next"))
            if nxt:
                pos = {"skip": pos["skip"], "got": got, "url": nxt}
            elif got >= page_size:
                pos = {"skip": pos["skip"] + got, "got": 0, "url": None}
            else:
                pos = None
            yield Page(records, count, pos, data.get("__delta") if pos is None else None)
            if pos is None:
                return

    def follow(self, link: str, guard: PageGuard, entity_set: str) -> Iterator[Page]:
        """The pages of a delta link (`!deltatoken`), through its `__next` links; the last page
        carries the next delta link."""
        url: str | None = link
        while url:
            guard.see(url)
            data = collection_answer(self._get_raw(url, None), system=self.system, entity_set=entity_set)
            url = without_inlinecount(data.get("__next"))
            yield Page([clean_record(r) for r in data["results"]], None,
                       {"url": url, "skip": 0, "got": 0} if url else None, data.get("__delta"))

    # ------------------------------------------------------------------ writes

    def _modify(self, method: str, path: str, service: str, headers: dict[str, str],
                data: bytes | str) -> requests.Response:
        """Send a modifying request with the CSRF token. A 403 CSRF refusal refetches the token and
        resends, `CSRF_REFETCHES` times at most; a refusal after that raises `RetriableError`: the
        request was not executed, so its items may be sent again later and are never `rejected`."""
        if self.csrf_token is None:
            self.fetch_csrf(service)
        for attempt in range(CSRF_REFETCHES + 1):
            resp = self.http.request(method, path, raise_for_status=False, params=self.params or None,
                                     headers={**headers, "x-csrf-token": self.csrf_token or ""}, data=data)
            if not is_csrf_failure(resp):
                return resp
            log.info("CSRF token refused by %s (%d in a row); fetching a new one", service, attempt + 1)
            if attempt < CSRF_REFETCHES:
                self.fetch_csrf(service)
        raise RetriableError(f"{self.system}: {method} {path}: SAP refused the CSRF token {CSRF_REFETCHES + 1} times "
                             "in a row, each time freshly fetched; nothing was changed",
                             hint="the Gateway's sessions may be sticky to one application server behind a load "
                                  "balancer without session affinity; the items stay retriable")

    def update(self, service: str, entity_set: str, key: dict[str, Any], values: dict[str, Any],
               etag: str | None = None, method: str = "PATCH") -> WriteResult:
        """PATCH/MERGE the given properties (only those); If-Match when an ETag is given."""
        es = self.metadata(service).entity_set(entity_set)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if etag:
            headers["If-Match"] = etag
        resp = self._modify(method, self.path(service, key_predicate(es, key)), service,
                            headers=headers, data=json.dumps(values, separators=(",", ":")))
        if resp.ok:
            return WriteResult(resp.status_code, etag=resp.headers.get("ETag"))
        return WriteResult(resp.status_code, sap_error_message(resp.status_code, resp.content))

    def batch(self, service: str, changesets: list[list[Part]],
              reads: list[Part] | None = None) -> list[list[PartResponse]]:
        """POST one `$batch`; per top-level part (reads first, then changesets), its responses."""
        body, ctype = build_batch(changesets, reads)
        resp = self._modify("POST", self.path(service, "$batch"), service, data=body,
                            headers={"Content-Type": ctype, "Accept": "multipart/mixed"})
        if resp.status_code >= 400:
            raise self._error(resp)
        results = parse_batch(resp.headers.get("Content-Type"), resp.content)
        expected = len(changesets) + len(reads or [])
        if len(results) != expected:
            raise FatalError(f"$batch to {service}: {expected} parts sent but {len(results)} answered")
        return results


def is_csrf_failure(resp: requests.Response) -> bool:
    return resp.status_code == 403 and (
        (resp.headers.get("x-csrf-token") or "").lower() == "required" or CSRF_FAILED in resp.text.lower())
