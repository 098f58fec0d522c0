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

Example options (the HttpOptions keys sit flat beside the Fusion ones):
    base_url: https://fa.example.com
    auth: {type: basic, username: INTEG, password: ${FUSION_PW}}
    resources:
      itemsV2: {key: [ItemNumber, OrganizationCode], cursor_field: LastUpdateDateTime}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
from connectors.connector_errors import AuthError, ConnectorError, FatalError, RetriableError
from connectors.http.client import HttpClient, HttpOptions


class FusionResource(StrictModel):
    key: list[str] = Field(min_length=1, description="Business key used in q= look-ups")
    cursor_field: str | None = Field(None, description="e.g. LastUpdateDateTime, for increments")
    fields: list[str] = Field(default_factory=list, description="fields= to fetch; empty = all")
    q: str | None = Field(None, description="Fixed filter ANDed to every read, e.g. OrganizationCode='M1'")


class FusionRestOptions(HttpOptions):
    """Connection (HttpOptions) plus the Fusion REST specifics; see docs/oracle.md."""

    resource_path: str = "/fscmRestApi/resources/11.13.18.05"
    resources: dict[str, FusionResource] = Field(default_factory=dict)
    page_size: int = Field(500, ge=1, le=500, description="limit= per page (ADF caps it at 500)")


class FusionRestConnector(Connector):
    kind = "oracle_fusion_rest"
    Options = FusionRestOptions
    description = "Oracle Fusion Cloud ADF REST resources (itemsV2 and friends)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.http = HttpClient(self.options)

    def path(self, resource: str) -> str:
        return f"{self.options.resource_path.rstrip('/')}/{resource}"

    def check(self) -> CheckResult:
        try:
            for name in self.options.resources:
                self.http.get(self.path(name), params={"limit": 1, "onlyData": "true"})
        except ConnectorError as exc:
            return CheckResult(False, secrets.redact(str(exc)))
        return CheckResult(True, f"{len(self.options.resources)} resource(s) answered")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(n, list(r.key), r.cursor_field, writable=True) for n, r in self.options.resources.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._cfg(stream.name)
        state = dict(state or {})
        since = state.get("since")
        high = state.get("high", since)
        offset = int(state.get("offset", 0))
        filters = [cfg.q] if cfg.q else []
        if since and cfg.cursor_field:
            filters.append(f"{cfg.cursor_field} > {quote(since)}")
        order = ([cfg.cursor_field] if cfg.cursor_field else []) + cfg.key
        while True:
            params = {"onlyData": "true", "limit": self.options.page_size, "offset": offset,
                      "orderBy": ",".join(f"{f}:asc" for f in order), "totalResults": "true"}
            if filters:
                params["q"] = ";".join(filters)
            if cfg.fields:
                params["fields"] = ",".join(dict.fromkeys(cfg.fields + order))
            body = self.http.get(self.path(stream.name), params=params).json()
            items = body.get("items", [])
            offset += len(items)
            if cfg.cursor_field:
                high = max([high or ""] + [str(i.get(cfg.cursor_field) or "") for i in items]) or None
            more = bool(body.get("hasMore")) and bool(items)
            checkpoint = {"since": since, "high": high, "offset": offset} if more else {"since": high}
            yield RecordBatch(items, checkpoint, source_count=body.get("totalResults"))
            if not more:
                return

    def lookup(self, resource: str, key: dict[str, Any], only_data: bool = False) -> list[dict]:
        """Items matching a business key through q= (values quoted)."""
        params: dict[str, Any] = {"q": ";".join(f"{k}={quote(v)}" for k, v in key.items())}
        if only_data:
            params["onlyData"] = "true"
        return self.http.get(self.path(resource), params=params).json().get("items", [])

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        return [self._patch(item) for item in batch.items]

    def _patch(self, item: WriteItem) -> ItemOutcome:
        try:
            found = self.lookup(item.target, item.key)
            if len(found) != 1:
                what = "no item" if not found else f"{len(found)} items"
                return ItemOutcome(item.ref, "rejected", f"{what} in {item.target} match {item.key}")
            href = next((link["href"] for link in found[0].get("links", []) if link.get("rel") == "self"), None)
            if not href:
                return ItemOutcome(item.ref, "rejected", f"{item.target} {item.key}: the item has no self link")
            headers = {"Content-Type": "application/json"}
            if item.etag:
                headers["If-Match"] = item.etag
            resp = self.http.request("PATCH", href, json=item.values, headers=headers, raise_for_status=False)
        except AuthError:
            raise
        except RetriableError as exc:
            return ItemOutcome(item.ref, "retriable", str(exc))
        except FatalError as exc:
            return ItemOutcome(item.ref, "rejected", str(exc))
        if resp.status_code in (200, 204):
            return ItemOutcome(item.ref, "applied", etag=resp.headers.get("ETag"), http_status=resp.status_code)
        if resp.status_code in (401, 403):
            raise self.http.error_for(resp)
        if resp.status_code == 412:
            return ItemOutcome(item.ref, "conflict", f"{item.target} {item.key} changed in Fusion since it was read "
                               f"(If-Match failed, HTTP 412); not written: {resp.text[:200]}", None, 412)
        return ItemOutcome(item.ref, "rejected", f"HTTP {resp.status_code}: {resp.text[:300]}",
                           http_status=resp.status_code)

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each item as its self link answers it, with the `ETag` header as `__etag` (Fusion gives the
        ETag for a single resource only, so this is a look-up plus a GET per key)."""
        self._cfg(target)
        out = []
        for key in keys:
            for found in self.lookup(target, key):
                href = next((link["href"] for link in found.get("links", []) if link.get("rel") == "self"), None)
                out.append(self._item(href) if href else _plain(found))
        return out

    def _item(self, href: str) -> dict[str, Any]:
        resp = self.http.request("GET", href, params={"onlyData": "true"})
        record = _plain(resp.json())
        etag = resp.headers.get("ETag") or ((resp.json().get("@context") or {}).get("headers") or {}).get("ETag")
        return {**record, "__etag": etag} if etag else record

    def close(self) -> None:
        self.http.close()

    def _cfg(self, name: str) -> FusionResource:
        if name not in self.options.resources:
            raise FatalError(f"oracle_fusion_rest: no resource {name!r}; configured: "
                             f"{', '.join(self.options.resources)}")
        return self.options.resources[name]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes without its links and @context."""
    return {k: v for k, v in item.items() if k not in ("links", "@context")}


def quote(value: Any) -> str:
    """A q= literal: single-quoted, embedded quotes doubled (values never travel bare)."""
    return "'" + str(value).replace("'", "''") + "'"
