"""How `sap_odata` reads one entity set incrementally: the strategies and their checkpoint.

On `connectors.incremental` (Checkpoint, lower bound `since - overlap` with `ge`, PageGuard on
every request, resume position inside a read). Which strategy a read takes, first match:

1. **Delta link.** The last page of a read of a set with `sap:change-tracking="true"` carries a
   `__delta` link (`...?!deltatoken='...'`); it is kept in the checkpoint (`extra.delta_link`) and
   the next read follows it instead of filtering. Its answer holds changed entities and deleted
   ones (tombstones: the key plus `__deleted: true`). A link SAP no longer accepts (4xx) is
   dropped with a warning and the read falls back to the strategies below.
2. **Own change timestamp** (`delta_field`, `LastChangeDateTime` where the set has it, or a
   navigation path `to_SalesOrder/LastChangeDateTime`): `$filter=<field> ge <literal>`, the
   literal spelled for the property's Edm type (`cursor_literal`: SAP_DATETIME / SAP_OFFSET).
3. **Changed parents** (`parent:` stream option, or derived when a Gateway refuses a navigation
   path in `$filter` with 400): read the parent set's keys changed since the lower bound (its own
   timestamp), then this set filtered by those keys, 40 keys per request. So
   `A_ProductSupplyPlanning` (no timestamp) reads only the plants of products changed since.
   The full read of such a set first asks the parent for its newest timestamp (one request), so
   a change during the full read is caught by the next read.
4. Otherwise the set is read in full every time (and said so in the log once per read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from basics.yaml_loader import StrictModel
from connectors.base import RecordBatch
from connectors.connector_errors import ConnectorError, FatalError
from connectors.incremental import Checkpoint, LiteralStyle, PageGuard, cursor_literal, parse_instant
from connectors.sap.metadata import EntitySet, ServiceMetadata
from connectors.sap.odata_client import ODataClient, Page, quote_string

log = logging.getLogger("segbridge.sap.odata")
KEYS_PER_REQUEST = 40  # keeps a key-list $filter far below Gateway's ~8 KB URL limit


class ParentDelta(StrictModel):
    """A set without a change timestamp read through its parent's: `keys` maps this set's key
    properties to the parent's (`{Product: Product}`)."""

    entity_set: str = Field(description="The parent entity set in the same service (A_Product)")
    keys: dict[str, str] = Field(description="This set's property -> the parent's property")
    delta_field: str = Field("LastChangeDateTime", description="The parent's change timestamp")


class SapStreamOptions(StrictModel):
    """The keys a mapping's `source.options` may hold for an `odata_entity_set` source."""

    delta_field: str | None = Field(None, description="Change timestamp (or nav path) filtered with ge")
    filter: str | None = Field(None, description="An OData $filter ANDed with the delta filter")
    select: list[str] = Field(default_factory=list, description="Properties to $select (added to the "
                              "mapping's own fields)")
    expand: list[str] = Field(default_factory=list, description="Navigation properties to $expand")
    page_size: int | None = Field(None, ge=1, le=50000, description="Client page ($top) for this set")
    parent: ParentDelta | None = Field(None, description="Read only children of parents changed since")
    delta_links: bool = Field(True, description="Follow the service's delta link where it gives one")


@dataclass
class Plan:
    """What one read of a set asks for."""

    service: str
    es: EntitySet
    select: list[str] | None
    expand: list[str]
    filter: str | None
    field: str | None
    parent: ParentDelta | None
    page_size: int


def literal_for(meta: ServiceMetadata, es: EntitySet, field: str, instant: datetime) -> str:
    """The instant as the property's Edm type wants it in `$filter`."""
    prop = meta.property_at(es.name, field)
    style = LiteralStyle.SAP_DATETIME if prop is not None and prop.edm_type == "Edm.DateTime" else LiteralStyle.SAP_OFFSET
    return cursor_literal(instant, style)


def path_value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def distinct_values(records: list[dict[str, Any]], path: str) -> set[Any] | list[Any]:
    """The distinct values at `path` in a page: the lines of one order share their header's change
    timestamp, so each is parsed once for the high-water mark, not once per record."""
    values = [path_value(r, path) for r in records]
    try:
        return set(values)
    except TypeError:  # a path to an object or list (a misnamed field): observe skips what is no instant
        return values


def derived_parent(meta: ServiceMetadata, es: EntitySet, field: str) -> ParentDelta | None:
    """`to_SalesOrder/LastChangeDateTime` as a parent read: the navigation's target set, keyed by
    the target's keys that this set has too (SalesOrder)."""
    nav, _, prop = field.partition("/")
    target = meta.set_of_type(es.navigation.get(nav, "")) if prop and "/" not in prop else None
    if target is None or not all(k in es.properties for k in target.keys):
        return None
    return ParentDelta(entity_set=target.name, keys={k: k for k in target.keys}, delta_field=prop)


class SetReader:
    """One read of one stream; `batches()` yields RecordBatches with checkpoints."""

    def __init__(self, client: ODataClient, plan: Plan, cp: Checkpoint, overlap, where: str,
                 parents: ParentCache | None = None, reader: str = ""):
        self.client, self.plan, self.cp, self.overlap, self.where = client, plan, cp, overlap, where
        self.reader = reader or where  # who uses parent rows: the stream and what it selects
        self.guard = PageGuard(where)
        self.parents = parents if parents is not None else ParentCache()

    def batches(self) -> Iterator[RecordBatch]:
        link = self.cp.extra.get("delta_link")
        if link and self.cp.position is None:
            try:
                yield from self._delta_link(link)
                return
            except FatalError as exc:
                if not 400 <= (getattr(exc, "status", 0) or 0) < 500:
                    raise
                log.warning("%s: SAP refused the saved delta link (%s); reading by timestamp or in full instead",
                            self.where, exc.message)
                self.cp = Checkpoint(since=self.cp.since)
                self.guard = PageGuard(self.where)
        lower = self.cp.lower_bound(self.overlap)
        if self.cp.extra.get("mode") == "parent" and lower is not None:
            yield from self._by_parent(lower)
        elif self.plan.field and lower is not None:
            yield from self._by_timestamp(lower)
        elif self.plan.parent and lower is not None:
            yield from self._by_parent(lower)
        else:
            yield from self._full()

    # ------------------------------------------------------------------ strategies

    def _pages(self, filter_: str | None, start=None) -> Iterator[Page]:
        p = self.plan
        return self.client.pages(p.service, p.es.name, select=p.select, filter=filter_, expand=p.expand,
                                 page_size=p.page_size, start=start, guard=self.guard)

    def _emit(self, pages: Iterator[Page], *, observe: bool, **extra: Any) -> Iterator[RecordBatch]:
        """Batches from pages: `high` raised by the records' own timestamps, `position` carried while
        the read goes on, `done(**extra)` on the last page."""
        for page in pages:
            if observe and self.plan.field:
                self.cp = self.cp.observe(distinct_values(page.records, self.plan.field))
            if page.position is not None:
                yield RecordBatch(page.records, self.cp.at(page.position).dump(), page.count)
            else:
                link = page.delta if page.delta else None
                done_extra = {**extra, **({"delta_link": link} if link else {})}
                yield RecordBatch(page.records, self._done(**done_extra).dump(), page.count)

    def _done(self, **extra: Any) -> Checkpoint:
        done = self.cp.done(**extra)
        if "delta_link" not in extra:
            done.extra.pop("delta_link", None)
        return done

    def _filter(self, clause: str | None) -> str | None:
        user = f"({self.plan.filter})" if self.plan.filter else None
        return " and ".join(c for c in (user, clause) if c) or None

    def _full(self) -> Iterator[RecordBatch]:
        if self.plan.parent is not None and self.cp.position is None:
            self.cp = self.cp.observe([self._parent_newest()])
        if not self.plan.field and not self.plan.parent and self.cp.position is None:
            log.info("%s: no change timestamp, parent or delta link: read in full", self.where)
        start = self.cp.position
        yield from self._emit(self._pages(self._filter(None), start), observe=True)

    def _by_timestamp(self, lower: datetime) -> Iterator[RecordBatch]:
        p = self.plan
        clause = f"{p.field} ge {literal_for(self.client.metadata(p.service), p.es, p.field, lower)}"
        pages = self._pages(self._filter(clause), self.cp.position)
        try:
            first = next(pages, None)
        except FatalError as exc:
            parent = self._nav_fallback(exc)
            if parent is None:
                raise
            yield from self._by_parent(lower)
            return
        if first is not None:
            yield from self._emit(_chain(first, pages), observe=True)

    def _nav_fallback(self, exc: ConnectorError) -> ParentDelta | None:
        """A Gateway that refuses `$filter` on a navigation path (400) is read through the parent."""
        p = self.plan
        if getattr(exc, "status", None) != 400 or "/" not in (p.field or "") or self.cp.position is not None:
            return None
        parent = derived_parent(self.client.metadata(p.service), p.es, p.field or "")
        if parent is None:
            return None
        log.warning("%s: the Gateway refused $filter on %s (%s); reading the items of %s changed since "
                    "instead (their keys first)", self.where, p.field, exc.message, parent.entity_set)
        self.plan.parent = parent
        self.cp = self.cp.model_copy(update={"extra": {**self.cp.extra, "mode": "parent"}})
        self.guard = PageGuard(self.where)
        return parent

    def _by_parent(self, lower: datetime) -> Iterator[RecordBatch]:
        """Keys of the parents changed since `lower`, then this set filtered by them."""
        p = self.plan
        parent = p.parent or derived_parent(self.client.metadata(p.service), p.es, p.field or "")
        if parent is None:
            raise FatalError(f"{self.where}: no parent to read changes through",
                             hint="set the stream option `parent:` or run a full pull")
        p.parent = parent
        meta = self.client.metadata(p.service)
        pes = meta.entity_set(parent.entity_set)
        clause = f"{parent.delta_field} ge {literal_for(meta, pes, parent.delta_field, lower)}"
        rows = self.parents.get(self.reader, p.service, pes.name, clause)
        if rows is None:
            rows = []
            select = [*sorted(set(parent.keys.values()) - {parent.delta_field}), parent.delta_field]
            for page in self.client.pages(p.service, pes.name, select=select, filter=clause, page_size=p.page_size,
                                          guard=PageGuard(f"{self.where} (parent {pes.name})")):
                rows += page.records
            self.parents.put(self.reader, p.service, pes.name, clause, rows)
        keys = _distinct([{mine: r.get(theirs) for mine, theirs in parent.keys.items()} for r in rows])
        self.cp = self.cp.observe(r.get(parent.delta_field) for r in rows)
        extra = {"mode": "parent"} if self.cp.extra.get("mode") == "parent" else {}
        chunks = [keys[i:i + KEYS_PER_REQUEST] for i in range(0, len(keys), KEYS_PER_REQUEST)]
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            for page in self._pages(self._filter(_key_filter(chunk))):
                final = last and page.position is None
                cp = self._done(**extra) if final else self.cp.at(None)
                yield RecordBatch(page.records, cp.dump(), page.count)
        if not chunks:
            yield RecordBatch([], self._done(**extra).dump(), 0)

    def _parent_newest(self) -> Any:
        p, parent = self.plan, self.plan.parent
        assert parent is not None
        url = self.client.path(p.service, parent.entity_set)
        data = self.client.get_json(url, {"$format": "json", "$top": "1", "$select": parent.delta_field,
                                          "$orderby": f"{parent.delta_field} desc"},
                                    entity_set=f"{p.service}/{parent.entity_set}")
        rows = data.get("results")
        if not isinstance(rows, list):
            raise FatalError(f"{self.where}: the parent {parent.entity_set}'s answer has no results list")
        return rows[0].get(parent.delta_field) if rows else None

    def _delta_link(self, link: str) -> Iterator[RecordBatch]:
        pages = self.client.follow(link, self.guard, f"{self.plan.service}/{self.plan.es.name}")
        last_link = link
        for page in pages:
            if self.plan.field:
                self.cp = self.cp.observe(path_value(r, self.plan.field) for r in page.records
                                          if not r.get("__deleted"))
            if page.position is not None:
                yield RecordBatch(page.records, self.cp.at(None).dump())
            else:
                last_link = page.delta or last_link
                yield RecordBatch(page.records, self.cp.done(delta_link=last_link).dump())


class ParentCache:
    """Parent rows changed since a bound, shared by the streams of one pull: two sets read as children
    of the same parent (A_ProductPlant and A_ProductSupplyPlanning under A_Product) ask the parent once.
    A stream never reuses rows it used before (its next pull asks again), and rows are kept a few
    minutes at most, so a reuse only ever happens between different streams of the same pull. Safe:
    each read's high-water mark comes from the same rows it filtered by, so a parent changed after
    the query has a later timestamp than that mark and is found by the next pull."""

    TTL_SECONDS = 120.0

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], tuple[float, set[str], list[dict[str, Any]]]] = {}

    def get(self, stream: str, service: str, entity_set: str, clause: str) -> list[dict[str, Any]] | None:
        hit = self._rows.get((service, entity_set, clause))
        if hit is None or stream in hit[1] or time.monotonic() - hit[0] >= self.TTL_SECONDS:
            return None
        hit[1].add(stream)
        return hit[2]

    def put(self, stream: str, service: str, entity_set: str, clause: str, rows: list[dict[str, Any]]) -> None:
        self._rows[(service, entity_set, clause)] = (time.monotonic(), {stream}, rows)


def _distinct(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple, dict[str, Any]] = {}
    for key in keys:
        seen.setdefault(tuple(sorted(key.items())), key)
    return list(seen.values())


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest


def _key_filter(keys: list[dict[str, Any]]) -> str:
    """`(Product eq 'A' and Plant eq '1') or (...)`: string keys quoted, quotes doubled."""
    terms = []
    for key in keys:
        parts = [f"{name} eq {quote_string(value)}" for name, value in key.items()]
        terms.append(parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")")
    return "(" + " or ".join(terms) + ")"


def legacy_checkpoint(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """Earlier versions saved `{"field": ..., "cursor": "<ISO>"}`: the cursor becomes `since`."""
    if state and "cursor" in state and "version" not in state:
        cursor = parse_instant(state.get("cursor"))
        return {"since": cursor} if cursor else None
    return state
