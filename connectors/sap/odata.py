"""The `sap_odata` connector: S/4HANA A2X OData V2 services, read and write-back.

Streams and write targets are named `SERVICE/EntitySet` (e.g. `API_PRODUCT_SRV/A_ProductSupplyPlanning`);
a bare entity set name is accepted when exactly one configured service has it. `WriteItem.key`
holds the entity's key properties, `WriteItem.values` only the properties to change.

Reads: `$select` (stream option `select`), `$expand` (`expand`), delta with `$filter` on the
delta field (`delta_field`, default LastChangeDateTime where the entity has it; navigation paths
such as `to_SalesOrder/LastChangeDateTime` work) minus `delta_overlap_seconds`, `$inlinecount`
as each batch's `source_count`. Intermediate batches carry the previous cursor; only the last
one advances it, so a crash mid-read never skips records. Records keep SAP's property names;
expanded navigations stay nested dicts; an entity's ETag comes as `__etag`.

Writes: items are checked against `$metadata` (unknown or read-only properties are rejected
without a request), then sent `batch_size` per `$batch`, one changeset per item, PATCH (or MERGE
with `use_merge`) of only the given properties and If-Match where the entity has an ETag: the
item's own (`WriteItem.etag`, the `__etag` of `read_back`), else, for entity sets whose
`$metadata` declares ConcurrencyMode=Fixed (SAP answers 428 without one), fetched in one batch of
GETs. A 412 (the entity changed since that ETag was read) is `conflict`: nothing is re-read or
re-sent here, so a person's edit in SAP stays; the core reads the record again next round.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, model_validator

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
from connectors.sap.batch import Part, PartResponse
from connectors.sap.metadata import EntitySet, Property
from connectors.sap.odata_client import (
    ODataClient,
    clean_record,
    key_predicate,
    literal,
    parse_datetime,
    sap_error_message,
    since_with_overlap,
)

DEFAULT_SERVICES = {
    "API_PRODUCT_SRV": ["A_Product", "A_ProductPlant", "A_ProductSupplyPlanning"],
    "API_BUSINESS_PARTNER": ["A_Customer", "A_CustomerSalesArea"],
    "API_SALES_ORDER_SRV": ["A_SalesOrder", "A_SalesOrderItem"],
}


class SapODataOptions(HttpOptions):
    """Connection (HttpOptions) plus the OData specifics; see docs/sap.md."""

    service_root: str = Field("/sap/opu/odata/sap", description="Path under base_url holding the services")
    services: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_SERVICES.items()},
                                           description="Service -> entity sets offered as streams ([] = all)")
    sap_client: str | None = Field(None, description="sap-client (e.g. '100'); the system default when unset")
    sap_language: str | None = Field(None, description="sap-language for messages (e.g. 'EN')")
    page_size: int = Field(1000, ge=1, le=50000)
    delta_field: str = Field("LastChangeDateTime", description="Default delta property where an entity has it")
    delta_overlap_seconds: float = Field(300, ge=0, description="Re-read window for late-committed changes")
    batch_size: int = Field(100, ge=1, le=1000, description="Changesets per $batch request")
    use_merge: bool = Field(False, description="MERGE instead of PATCH (older gateways)")
    validate_writes: bool = Field(True, description="Reject unknown/read-only properties before sending")

    @model_validator(mode="before")
    @classmethod
    def _removed_options(cls, data: Any) -> Any:
        """`on_conflict` (replan/reapply) was removed: a 412 is always `conflict` and the core re-reads."""
        if isinstance(data, dict) and "on_conflict" in data:
            raise ValueError("on_conflict was removed: a 412 is now always reported as 'conflict' and write-back "
                             "reads the record again before the next write; delete the option")
        return data


def split_target(name: str) -> tuple[str | None, str]:
    service, _, entity_set = name.rpartition("/")
    return service or None, entity_set


def path_value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def json_value(prop: Property | None, value: Any) -> Any:
    """The JSON form SAP expects: Edm.Decimal as a string with the property's scale, others as given."""
    if prop is None or value is None:
        return value
    if prop.edm_type == "Edm.Decimal" and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        scale = prop.scale or 0
        return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-scale)), "f")
    return value


def same_value(intended: Any, current: Any) -> bool:
    """Equal as SAP stores them: decimals numerically, strings without padding blanks."""
    try:
        return Decimal(str(intended)) == Decimal(str(current))
    except (InvalidOperation, ValueError):
        return str(intended if intended is not None else "").strip() == str(current or "").strip()


class SapODataConnector(Connector):
    kind = "sap_odata"
    Options = SapODataOptions
    description = "SAP S/4HANA OData V2 (API_PRODUCT_SRV, API_BUSINESS_PARTNER, API_SALES_ORDER_SRV)"

    def __init__(self, options, name: str | None = None, http: HttpClient | None = None):
        super().__init__(options, name)
        opts: SapODataOptions = self.options
        http_fields = set(HttpOptions.model_fields)
        self.http = http or HttpClient(HttpOptions(**opts.model_dump(include=http_fields)))
        params = {k: v for k, v in (("sap-client", opts.sap_client), ("sap-language", opts.sap_language)) if v}
        self.client = ODataClient(self.http, opts.service_root, params)

    # ------------------------------------------------------------------ check / discover

    def check(self) -> CheckResult:
        service = next(iter(self.options.services))
        try:
            self.client.fetch_csrf(service)
            meta = self.client.metadata(service)
        except AuthError as exc:
            return CheckResult(False, f"SAP refused the credentials or authorisation: {exc.message}")
        except ConnectorError as exc:
            return CheckResult(False, f"SAP not reachable: {exc.message}")
        return CheckResult(True, f"{service}: {len(meta.entity_sets)} entity sets",
                           {"service": service, "csrf": bool(self.client.csrf_token)})

    def discover(self) -> list[StreamSpec]:
        streams = []
        for service, names in self.options.services.items():
            meta = self.client.metadata(service)
            for es in (meta.entity_set(n) for n in (names or sorted(meta.entity_sets))):
                streams.append(StreamSpec(
                    name=f"{service}/{es.name}", primary_key=list(es.keys),
                    cursor_field=self.options.delta_field if self.options.delta_field in es.properties else None,
                    writable=es.updatable and bool(es.updatable_properties),
                    writable_fields=es.updatable_properties))
        return streams

    def _resolve(self, name: str) -> tuple[str, EntitySet]:
        service, set_name = split_target(name)
        if service is None:
            owners = [s for s, sets in self.options.services.items() if set_name in sets]
            if len(owners) != 1:
                raise FatalError(f"entity set {set_name!r} is in {len(owners)} configured services",
                                 hint="name it SERVICE/EntitySet, e.g. API_PRODUCT_SRV/A_ProductSupplyPlanning")
            service = owners[0]
        return service, self.client.metadata(service).entity_set(set_name)

    # ------------------------------------------------------------------ read

    def _delta(self, stream: StreamSpec, service: str, es: EntitySet) -> str | None:
        field = stream.options.get("delta_field")
        if field is None and self.options.delta_field in es.properties:
            field = self.options.delta_field
        if field and self.client.metadata(service).property_at(es.name, field) is None:
            raise FatalError(f"{service}/{es.name}: delta field {field!r} is not in $metadata")
        return field

    def _filter(self, stream: StreamSpec, service: str, es: EntitySet, field: str | None,
                cursor: str | None) -> str | None:
        clauses = [f"({stream.options['filter']})"] if stream.options.get("filter") else []
        if field and cursor:
            since = since_with_overlap(cursor, self.options.delta_overlap_seconds)
            prop = self.client.metadata(service).property_at(es.name, field)
            clauses.append(f"{field} ge {literal(prop, since)}")
        return " and ".join(clauses) or None

    def _select(self, stream: StreamSpec, service: str, es: EntitySet, field: str | None) -> list[str] | None:
        select = list(stream.options.get("select") or [])
        if not select:
            return None
        if field and field not in select:
            select.append(field)
        meta = self.client.metadata(service)
        unknown = [p for p in select if meta.property_at(es.name, p) is None]
        if unknown:
            raise FatalError(f"{service}/{es.name}: $select names properties not in $metadata: {unknown}",
                             hint="check the mapping file against the system's $metadata (release differences)")
        return select

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        service, es = self._resolve(stream.name)
        field = self._delta(stream, service, es)
        cursor = (state or {}).get("cursor") if (state or {}).get("field", field) == field else None
        expand = stream.options.get("expand") or []
        pages = self.client.pages(
            service, es.name, select=self._select(stream, service, es, field),
            filter=self._filter(stream, service, es, field, cursor),
            expand=list(expand), page_size=int(stream.options.get("page_size", self.options.page_size)))
        high, previous = cursor, None
        for page in pages:
            if previous is not None:
                yield RecordBatch(previous.records, {"field": field, "cursor": cursor}, previous.count)
            for record in page.records if field else []:
                high = _later(high, path_value(record, field))
            previous = page
        if previous is not None:
            yield RecordBatch(previous.records, {"field": field, "cursor": high}, previous.count)

    # ------------------------------------------------------------------ write

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome | None] = [None] * len(batch.items)
        by_service: dict[str, list[tuple[int, WriteItem, EntitySet]]] = {}
        for i, item in enumerate(batch.items):
            try:
                service, es = self._resolve(item.target)
                self._validate(es, item)
            except FatalError as exc:
                outcomes[i] = ItemOutcome(item.ref, "rejected", exc.message)
                continue
            by_service.setdefault(service, []).append((i, item, es))
        for service, entries in by_service.items():
            for start in range(0, len(entries), self.options.batch_size):
                chunk = entries[start:start + self.options.batch_size]
                for i, outcome in self._write_chunk(service, chunk):
                    outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _validate(self, es: EntitySet, item: WriteItem) -> None:
        key_predicate(es, item.key)
        if not item.values:
            raise FatalError(f"{es.name}: nothing to change")
        if not self.options.validate_writes:
            return
        unknown, readonly = es.unknown(item.values), es.not_updatable(item.values)
        if unknown:
            raise FatalError(f"{es.name}: properties not in $metadata: {unknown}")
        if readonly:
            raise FatalError(f"{es.name}: properties not updatable (sap:updatable=false or key): {readonly}")

    def _write_chunk(self, service: str, chunk: list) -> list[tuple[int, ItemOutcome]]:
        etags = self._missing_etags(service, chunk)
        method = "MERGE" if self.options.use_merge else "PATCH"
        changesets = [[self._part(method, es, item, etags.get(i))] for i, item, es in chunk]
        try:
            results = self.client.batch(service, changesets)
        except RetriableError as exc:
            return [(i, ItemOutcome(item.ref, "retriable", exc.message)) for i, item, _ in chunk]
        except ConnectorError as exc:
            return [(i, ItemOutcome(item.ref, "rejected", exc.message)) for i, item, _ in chunk]
        return [(i, self._outcome(es, item, parts[0])) for (i, item, es), parts in zip(chunk, results, strict=True)]

    def _part(self, method: str, es: EntitySet, item: WriteItem, etag: str | None) -> Part:
        headers = {"If-Match": etag} if etag else {}
        body = {k: json_value(es.properties.get(k), v) for k, v in item.values.items()}
        return Part(method, key_predicate(es, item.key), body=body, headers=headers)

    def _missing_etags(self, service: str, chunk: list) -> dict[int, str | None]:
        """If-Match per item: the item's own ETag whenever it has one; for entity sets that require one
        (ConcurrencyMode=Fixed) and items without, one batch of GETs."""
        etags: dict[int, str | None] = {i: item.etag for i, item, _ in chunk if item.etag}
        need = [(i, item, es) for i, item, es in chunk if es.etag_property and not item.etag]
        if need:
            reads = [Part("GET", f"{key_predicate(es, item.key)}?$select={es.etag_property}") for _, item, es in need]
            for (i, _, _), parts in zip(need, self.client.batch(service, [], reads), strict=True):
                etags[i] = parts[0].header("etag") or ((parts[0].json() or {}).get("d", {})
                                                       .get("__metadata", {}).get("etag") if parts[0].ok else None)
        return etags

    def _outcome(self, es: EntitySet, item: WriteItem, resp: PartResponse) -> ItemOutcome:
        if resp.ok:
            return ItemOutcome(item.ref, "applied", etag=resp.header("etag"), http_status=resp.status)
        message = f"{es.name} {item.key}: {sap_error_message(resp.status, resp.body)}"
        if resp.status == 412:
            return ItemOutcome(item.ref, "conflict", f"{es.name} {item.key} changed in SAP since it was read "
                               f"(If-Match failed, HTTP 412); not written: {message}", None, 412)
        if resp.status in (408, 428, 429) or resp.status >= 500:
            return ItemOutcome(item.ref, "retriable", message, http_status=resp.status)
        return ItemOutcome(item.ref, "rejected", message, http_status=resp.status)

    # ------------------------------------------------------------------ read back

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Current values of the given entities (missing ones omitted), `batch_size` GETs per $batch."""
        service, es = self._resolve(target)
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), self.options.batch_size):
            chunk = keys[start:start + self.options.batch_size]
            reads = [Part("GET", key_predicate(es, key)) for key in chunk]
            for key, parts in zip(chunk, self.client.batch(service, [], reads), strict=True):
                resp = parts[0]
                if resp.status == 404:
                    continue
                if not resp.ok:
                    raise FatalError(f"read back {es.name} {key}: {sap_error_message(resp.status, resp.body)}")
                out.append(clean_record(resp.json()["d"]))
        return out

    def close(self) -> None:
        self.http.close()


def _later(current: str | None, value: Any) -> str | None:
    """The later of a saved ISO cursor and an OData date value, as ISO (UTC)."""
    if value in (None, ""):
        return current
    when = parse_datetime(str(value))
    if current is None or when > parse_datetime(current):
        return when.isoformat().replace("+00:00", "Z")
    return current
