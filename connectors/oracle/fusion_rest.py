"""Oracle Fusion Cloud REST (ADF REST resources such as itemsV2): limit/offset/hasMore paging,
`q=` look-ups with quoted values, `onlyData=true`, and PATCH through the item's own self link.

Why look up before PATCH: itemsV2 addresses an item by a hash key (itemsV2UniqID) the client must
not construct, so a write finds the item with `q=ItemNumber='X';OrganizationCode='M1'` and
patches `links[rel=self].href`. Planning attributes (MinimumMinmaxQuantity, FixedLotSizeMultiplier,
InventoryPlanningMethodValue, ...) are whatever the mapping's reverse fields name.

Conditional writes (Oracle, "Verify Resource Updates Using the ETag Value"): a GET of one item answers
with an `ETag` header; a PATCH with `If-Match: <that ETag>` is refused with 412 when the item changed
since. `read_back` therefore fetches each item through its self link and returns the header as
`__etag`; `write` sends `WriteItem.etag` as If-Match, and a 412 is `conflict` (not re-read here).

Reads page by key, not by offset over the change timestamp (oracle_keyset): sorted by the resource's
key, each page asks for `q=...;Key >= 'last read'` and skips the records already read with that
value, so an item edited while the read pages on cannot push another one past a page boundary.
Increments filter `cursor >= high-water mark - overlap` (connectors.incremental; the instant written
as ISO 8601 UTC, `'2024-05-01T10:00:00Z'`). A body that is not the promised JSON object (an HTML
page with 200, an empty or truncated body, `null`, no `items` list) fails the stream with the URL,
status and first bytes (oracle_answers).

Example options (the HttpOptions keys sit flat beside the Fusion ones):
    base_url: https://fa.example.com
    auth: {type: basic, username: INTEG, password: ${FUSION_PW}}
    resources:
      itemsV2: {key: [ItemNumber, OrganizationCode], cursor_field: LastUpdateDateTime}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import Field

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.base import (
    CheckResult,
    Connector,
    ItemOutcome,
    OutcomeStatus,
    RecordBatch,
    StreamSpec,
    WriteBatch,
    WriteItem,
)
from connectors.connector_errors import ConnectorError, FatalError
from connectors.http.client import HttpClient, HttpOptions
from connectors.incremental import Checkpoint, IncrementalOptions, LiteralStyle, PageGuard, cursor_literal
from connectors.oracle.oracle_answers import json_object
from connectors.oracle.oracle_keyset import Keyset
from connectors.outcome_policy import outcome_for_status, outcomes_for_error


class FusionResource(StrictModel):
    key: list[str] = Field(min_length=1, description="Business key used in q= look-ups; reads page by it")
    cursor_field: str | None = Field(None, description="e.g. LastUpdateDateTime, for increments")
    fields: list[str] = Field(default_factory=list, description="fields= to fetch; empty = all")
    q: str | None = Field(None, description="Fixed filter ANDed to every read, e.g. OrganizationCode='M1'")


class FusionRestOptions(HttpOptions, IncrementalOptions):
    """Connection (HttpOptions), `overlap_seconds` and the Fusion REST specifics; see docs/oracle.md."""

    resource_path: str = "/fscmRestApi/resources/11.13.18.05"
    resources: dict[str, FusionResource] = Field(default_factory=dict)
    page_size: int = Field(500, ge=1, le=500, description="limit= per page (ADF caps it at 500)")


class FusionRestStreamOptions(StrictModel):
    """A mapping's `source.options` for an oracle_fusion_rest stream."""

    fields: list[str] = Field(default_factory=list, description=(
        "fields= to fetch (default: the fields the mapping reads, else the resource's `fields`)"))
    delta_field: str | None = Field(None, description="The change timestamp increments filter on "
                                                      "(default: the resource's cursor_field)")
    q: str | None = Field(None, description="A filter ANDed to the resource's own, e.g. OrganizationCode='M1'")


class FusionRestConnector(Connector):
    kind = "oracle_fusion_rest"
    Options = FusionRestOptions
    StreamOptions = FusionRestStreamOptions
    write_batch_max = 1  # a PATCH on an item's self link changes that one item (ADF REST "Update an item")
    description = "Oracle Fusion Cloud ADF REST resources (itemsV2 and friends)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.http = HttpClient(self.options)
        self._self_links: dict[tuple, str] = {}  # (resource, key) -> the item's self link, from look-ups

    def path(self, resource: str) -> str:
        return f"{self.options.resource_path.rstrip('/')}/{resource}"

    def requests_sent(self) -> int | None:
        return self.http.attempts

    def check(self) -> CheckResult:
        try:
            for name in self.options.resources:
                json_object(self.http.get(self.path(name), params={"limit": 1, "onlyData": "true"}), "items")
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        return CheckResult(True, f"{len(self.options.resources)} resource(s) answered")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(n, list(r.key), r.cursor_field, writable=True) for n, r in self.options.resources.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._cfg(stream.name)
        opts = self.stream_options(stream)
        where = f"{self.name}.{stream.name}"
        cp = Checkpoint.load(state, where=where)
        cursor = opts.delta_field or cfg.cursor_field
        lower = cp.lower_bound(self.options.overlap) if cursor else None
        guard, pos = PageGuard(where), Keyset.load(cp.position)
        while True:
            guard.see(pos.dump())
            first = pos.after is None
            body = self._page(where, stream.name, self._params(cfg, opts, stream, cursor, lower, pos))
            items = body["items"]
            guard.page(items)
            if cursor:
                cp = cp.observe(i.get(cursor) for i in items)
            more = bool(body.get("hasMore")) and bool(items)
            pos = pos.advance(items, cfg.key[0], where)
            yield RecordBatch(items, (cp.at(pos.dump()) if more else cp.done()).dump(),
                              source_count=body.get("totalResults") if first else None)
            if not more:
                return

    def _params(self, cfg: FusionResource, opts: FusionRestStreamOptions, stream: StreamSpec, cursor: str | None,
                lower: datetime | None, pos: Keyset) -> dict[str, Any]:
        """One page's query: sorted by the key only (a stable order), `Key >= 'last'` plus the ties to skip
        as offset; totalResults on the first page only (later pages would count what is left)."""
        filters = [f for f in (cfg.q, opts.q) if f]
        if lower is not None:
            filters.append(f"{cursor} >= {quote(cursor_literal(lower, LiteralStyle.ISO_Z))}")
        offset = 0
        condition = pos.condition(unique=len(cfg.key) == 1)
        if condition:
            operator, value, offset = condition
            filters.append(f"{cfg.key[0]} {operator} {quote(value)}")
        params: dict[str, Any] = {"onlyData": "true", "limit": self.options.page_size, "offset": offset,
                                  "orderBy": ",".join(f"{f}:asc" for f in cfg.key)}
        if condition is None:
            params["totalResults"] = "true"
        if filters:
            params["q"] = ";".join(filters)
        fields = opts.fields or [f for f in stream.fields if "/" not in f] or cfg.fields
        if fields:
            params["fields"] = ",".join(dict.fromkeys([*fields, *cfg.key, *([cursor] if cursor else [])]))
        return params

    def _page(self, where: str, resource: str, params: dict[str, Any]) -> dict[str, Any]:
        """One collection page as a JSON object with an `items` list; any failure names the stream."""
        try:
            return json_object(self.http.get(self.path(resource), params=params), "items")
        except ConnectorError as exc:
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.message,)
            raise

    def lookup(self, resource: str, key: dict[str, Any], only_data: bool = False) -> list[dict]:
        """Items matching a business key through q= (values quoted). A single match's self link is kept:
        it is the item's hash-key URL, which never changes, so a write after write-back's read-before-write
        PATCHes it without looking the item up again (one request per item, not two)."""
        params: dict[str, Any] = {"q": ";".join(f"{k}={quote(v)}" for k, v in key.items())}
        if only_data:
            params["onlyData"] = "true"
        found = json_object(self.http.get(self.path(resource), params=params), "items")["items"]
        href = _self_link(found[0]) if len(found) == 1 else None
        if href:
            self._self_links[_link_key(resource, key)] = href
        return found

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        """One look-up and one PATCH per item; a 401/403 raises AuthError, so nothing more is sent."""
        return [self._patch(item) for item in batch.items]

    def _patch(self, item: WriteItem) -> ItemOutcome:
        where = f"{self.name}.{item.target} {item.key}"
        try:
            href = self._self_links.get(_link_key(item.target, item.key))
            if href is None:
                found = self.lookup(item.target, item.key)
                if len(found) != 1:
                    what = "no item" if not found else f"{len(found)} items"
                    return ItemOutcome(item.ref, OutcomeStatus.REJECTED, f"{what} in {item.target} match {item.key}")
                href = _self_link(found[0])
            if not href:
                return ItemOutcome(item.ref, OutcomeStatus.REJECTED, f"{item.target} {item.key}: the item has no "
                                   "self link")
            headers = {"Content-Type": "application/json"}
            if item.etag:
                headers["If-Match"] = item.etag
            resp = self.http.request("PATCH", href, json=item.values, headers=headers, raise_for_status=False)
        except ConnectorError as exc:  # an AuthError is raised again: the apply stops sending
            return outcomes_for_error([item], exc)[0]
        text = secrets.redact(resp.text[:300])
        message = None
        if resp.status_code == 412:
            message = (f"{item.target} {item.key} changed in Fusion since it was read (If-Match failed, HTTP 412); "
                       f"not written: {text[:200]}")
        elif resp.status_code >= 300:
            message = f"HTTP {resp.status_code}: {text}"
        return outcome_for_status(item, resp.status_code, message, where=where, etag=resp.headers.get("ETag"))

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each item as its self link answers it, with the `ETag` header as `__etag` (Fusion gives the
        ETag for a single resource only, so this is a look-up plus a GET per key)."""
        self._cfg(target)
        out = []
        for key in keys:
            for found in self.lookup(target, key):
                href = _self_link(found)
                out.append(self._item(href) if href else _plain(found))
        return out

    def _item(self, href: str) -> dict[str, Any]:
        resp = self.http.request("GET", href, params={"onlyData": "true"})
        body = json_object(resp)
        etag = resp.headers.get("ETag") or ((body.get("@context") or {}).get("headers") or {}).get("ETag")
        record = _plain(body)
        return {**record, "__etag": etag} if etag else record

    def close(self) -> None:
        self.http.close()

    def _cfg(self, name: str) -> FusionResource:
        if name not in self.options.resources:
            raise FatalError(f"{self.name}: no resource {name!r}; configured: {', '.join(self.options.resources)}",
                             hint="name the resource in options.resources as the mapping's source.name")
        return self.options.resources[name]


def _self_link(item: dict[str, Any]) -> str | None:
    return next((link["href"] for link in item.get("links", []) if link.get("rel") == "self"), None)


def _link_key(resource: str, key: dict[str, Any]) -> tuple:
    return (resource, *sorted((k, str(v)) for k, v in key.items()))


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes without its links and @context."""
    return {k: v for k, v in item.items() if k not in ("links", "@context")}


def quote(value: Any) -> str:
    """A q= literal: single-quoted, embedded quotes doubled (values never travel bare)."""
    return "'" + str(value).replace("'", "''") + "'"
