"""The `sap_odata` connector: S/4HANA A2X OData V2 services, read and write-back.

Streams and write targets are named `SERVICE/EntitySet` (e.g. `API_PRODUCT_SRV/A_ProductSupplyPlanning`);
a bare entity set name is accepted when exactly one configured service has it. `WriteItem.key`
holds the entity's key properties, `WriteItem.values` only the properties to change.

Reads (`connectors.sap.odata_read`): `$select` with the fields the mapping reads (`StreamSpec.fields`,
plus the stream option `select`; a `to_X/Prop` field brings `$expand=to_X`), `$expand`, and an
incremental strategy per set: the service's delta link, the set's own change timestamp
(`$filter=<field> ge <since - overlap>`), or the changed keys of a parent set. `$inlinecount` on
the first page as the batch's `source_count`. Records keep SAP's property names; expanded
navigations stay nested dicts; an entity's ETag comes as `__etag`; a deleted entity of a delta
answer comes as its key with `__deleted: True`.

Writes: items are checked against `$metadata` (unknown or read-only properties are rejected
without a request), keys padded as SAP holds them (`sap_keys`, ALPHA), then sent per service,
at most `write_batch_max` changesets per `$batch`, one changeset per item, PATCH (or MERGE with
`use_merge`) of only the given properties and If-Match where the entity has an ETag: the item's
own (`WriteItem.etag`), else, for entity sets whose `$metadata` declares ConcurrencyMode=Fixed
(SAP answers 428 without one), fetched in one batch of GETs. Per-part statuses become outcomes
through `connectors.outcome_policy` (412 `conflict`, 5xx/429 `retriable`, other 4xx `rejected`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from pydantic import Field, model_validator

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
from connectors.connector_errors import AuthError, ConnectorError, FatalError
from connectors.http.client import HttpClient, HttpOptions
from connectors.incremental import Checkpoint, IncrementalOptions
from connectors.outcome_policy import outcome_for_status, outcomes_for_error
from connectors.sap.batch import Part, PartResponse
from connectors.sap.metadata import EntitySet, Property
from connectors.sap.odata_client import ODataClient, clean_record, key_predicate, sap_error_message
from connectors.sap.odata_read import (  # noqa: F401 - path_value re-exported
    ParentCache,
    Plan,
    SapStreamOptions,
    SetReader,
    legacy_checkpoint,
    path_value,
)
from connectors.sap.sap_keys import held_key

log = logging.getLogger("segbridge.sap.odata")
# SAP Gateway has no fixed changeset count per $batch; SAP's guidance for the A2X APIs (and SAP Cloud
# SDK's default) is at most 1000 operations per $batch request, beyond which a request risks the
# ICM's timeout and size limits. Assumption recorded in docs/sap.md.
SAP_BATCH_MAX = 1000

DEFAULT_SERVICES = {
    "API_PRODUCT_SRV": ["A_Product", "A_ProductPlant", "A_ProductSupplyPlanning"],
    "API_BUSINESS_PARTNER": ["A_Customer", "A_CustomerSalesArea"],
    "API_SALES_ORDER_SRV": ["A_SalesOrder", "A_SalesOrderItem"],
}


class SapODataOptions(HttpOptions, IncrementalOptions):
    """Connection (HttpOptions) plus the OData specifics; see docs/sap.md."""

    service_root: str = Field("/sap/opu/odata/sap", description="Path under base_url holding the services")
    services: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_SERVICES.items()},
                                           description="Service -> entity sets offered as streams ([] = all)")
    sap_client: str | None = Field(None, description="sap-client (e.g. '100'); the system default when unset")
    sap_language: str | None = Field(None, description="sap-language for messages (e.g. 'EN')")
    page_size: int = Field(1000, ge=1, le=50000)
    delta_field: str = Field("LastChangeDateTime", description="Default delta property where an entity has it")
    key_lengths: dict[str, int] = Field(default_factory=dict, description=(
        "ALPHA padding length per key property (default: its MaxLength; Product/Material 18; 0 = never pad)"))
    use_merge: bool = Field(False, description="MERGE instead of PATCH (older gateways)")
    validate_writes: bool = Field(True, description="Reject unknown/read-only properties before sending")

    @model_validator(mode="before")
    @classmethod
    def _renamed_and_removed(cls, data: Any) -> Any:
        """`delta_overlap_seconds` is the deprecated spelling of the shared `overlap_seconds`;
        `batch_size` and `on_conflict` were removed (see their messages)."""
        if not isinstance(data, dict):
            return data
        if "on_conflict" in data:
            raise ValueError("on_conflict was removed: a 412 is now always reported as 'conflict' and write-back "
                             "reads the record again before the next write; delete the option")
        if "batch_size" in data:
            raise ValueError("batch_size was removed from the sap_odata options: set systems.<name>.write.batch_size "
                             f"(default and maximum {SAP_BATCH_MAX} changesets per $batch)")
        if "delta_overlap_seconds" in data:
            data = dict(data)
            old = data.pop("delta_overlap_seconds")
            if "overlap_seconds" in data:
                raise ValueError("give overlap_seconds only (delta_overlap_seconds is its deprecated name)")
            log.warning("sap_odata: delta_overlap_seconds is deprecated; call it overlap_seconds")
            data["overlap_seconds"] = old
        return data


def split_target(name: str) -> tuple[str | None, str]:
    service, _, entity_set = name.rpartition("/")
    return service or None, entity_set


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
    StreamOptions = SapStreamOptions
    write_batch_max: ClassVar[int | None] = SAP_BATCH_MAX
    description = "SAP S/4HANA OData V2 (API_PRODUCT_SRV, API_BUSINESS_PARTNER, API_SALES_ORDER_SRV)"

    def __init__(self, options, name: str | None = None, http: HttpClient | None = None):
        super().__init__(options, name)
        opts: SapODataOptions = self.options
        http_fields = set(HttpOptions.model_fields)
        self.http = http or HttpClient(HttpOptions(**opts.model_dump(include=http_fields)))
        params = {k: v for k, v in (("sap-client", opts.sap_client), ("sap-language", opts.sap_language)) if v}
        self.client = ODataClient(self.http, opts.service_root, params, system=self.name)
        self.parents = ParentCache()  # parent rows changed since a bound, shared by this connector's reads

    def requests_sent(self) -> int | None:
        return self.http.attempts

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

    def _plan(self, stream: StreamSpec, service: str, es: EntitySet) -> Plan:
        opts: SapStreamOptions = self.stream_options(stream)
        meta = self.client.metadata(service)
        field = opts.delta_field
        if field is None and self.options.delta_field in es.properties:
            field = self.options.delta_field
        if field and meta.property_at(es.name, field) is None:
            raise FatalError(f"{self.name}: {service}/{es.name}: delta field {field!r} is not in $metadata")
        select, expand = self._select(stream, opts, service, es, field)
        return Plan(service, es, select, expand, opts.filter, field, opts.parent,
                    opts.page_size or self.options.page_size)

    def _select(self, stream: StreamSpec, opts: SapStreamOptions, service: str, es: EntitySet,
                field: str | None) -> tuple[list[str] | None, list[str]]:
        """`$select` = the mapping's fields + the option's + keys + the delta field; a `to_X/Prop`
        needs `$expand=to_X`. None (everything) when neither the mapping nor the option names any."""
        expand = list(opts.expand)
        if field and "/" in field and field.split("/")[0] not in expand:
            expand.append(field.split("/")[0])  # the delta field's value comes with its navigation
        wanted = [f for f in [*stream.fields, *opts.select] if f]
        if not wanted:
            return None, expand
        meta = self.client.metadata(service)
        select: list[str] = []
        for name in [*es.keys, *wanted, *([field] if field else [])]:
            if name not in select:
                select.append(name)
        unknown = [p for p in select if meta.property_at(es.name, p) is None]
        if unknown:
            raise FatalError(f"{self.name}: {service}/{es.name}: $select names properties not in $metadata: {unknown}",
                             hint="check the mapping file against the system's $metadata (release differences)")
        for path in select:
            nav = path.split("/")[0] if "/" in path else None
            if nav and nav not in expand:
                expand.append(nav)
        return select, expand

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        service, es = self._resolve(stream.name)
        plan = self._plan(stream, service, es)
        where = f"{self.name}.{stream.name}"
        cp = Checkpoint.load(legacy_checkpoint(state), where=where)
        if not self.stream_options(stream).delta_links:
            cp = cp.model_copy(update={"extra": {k: v for k, v in cp.extra.items() if k != "delta_link"}})
        reader = f"{where} {plan.select} {sorted(stream.options.items(), key=str)}"  # two entities, one set
        yield from SetReader(self.client, plan, cp, self.options.overlap, where, self.parents, reader).batches()

    # ------------------------------------------------------------------ write

    def _key(self, es: EntitySet, key: dict[str, Any]) -> str:
        return key_predicate(es, held_key(es, key, self.options.key_lengths))

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        """Per service (a `$batch` never mixes services), `write_batch_max` changesets per request."""
        outcomes: list[ItemOutcome | None] = [None] * len(batch.items)
        by_service: dict[str, list[tuple[int, WriteItem, EntitySet]]] = {}
        for i, item in enumerate(batch.items):
            try:
                service, es = self._resolve(item.target)
                self._validate(es, item)
            except FatalError as exc:
                outcomes[i] = ItemOutcome(item.ref, OutcomeStatus.REJECTED, exc.message)
                continue
            by_service.setdefault(service, []).append((i, item, es))
        size = self.write_batch_max or SAP_BATCH_MAX
        for service, entries in by_service.items():
            for start in range(0, len(entries), size):
                for i, outcome in self._write_chunk(service, entries[start:start + size]):
                    outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _validate(self, es: EntitySet, item: WriteItem) -> None:
        self._key(es, item.key)
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
        method = "MERGE" if self.options.use_merge else "PATCH"
        items = [item for _, item, _ in chunk]
        try:
            etags = self._missing_etags(service, chunk)
            changesets = [[self._part(method, es, item, etags.get(i))] for i, item, es in chunk]
            results = self.client.batch(service, changesets)
        except ConnectorError as exc:
            return list(zip([i for i, _, _ in chunk], outcomes_for_error(items, exc), strict=True))
        return [(i, self._outcome(es, item, parts[0])) for (i, item, es), parts in zip(chunk, results, strict=True)]

    def _part(self, method: str, es: EntitySet, item: WriteItem, etag: str | None) -> Part:
        headers = {"If-Match": etag} if etag else {}
        body = {k: json_value(es.properties.get(k), v) for k, v in item.values.items()}
        return Part(method, self._key(es, item.key), body=body, headers=headers)

    def _missing_etags(self, service: str, chunk: list) -> dict[int, str | None]:
        """If-Match per item: the item's own ETag whenever it has one; for entity sets that require one
        (ConcurrencyMode=Fixed) and items without, one batch of GETs."""
        etags: dict[int, str | None] = {i: item.etag for i, item, _ in chunk if item.etag}
        need = [(i, item, es) for i, item, es in chunk if es.etag_property and not item.etag]
        if need:
            reads = [Part("GET", f"{self._key(es, item.key)}?$select={es.etag_property}") for _, item, es in need]
            for (i, _, _), parts in zip(need, self.client.batch(service, [], reads), strict=True):
                etags[i] = parts[0].header("etag") or ((parts[0].json() or {}).get("d", {})
                                                       .get("__metadata", {}).get("etag") if parts[0].ok else None)
        return etags

    def _outcome(self, es: EntitySet, item: WriteItem, resp: PartResponse) -> ItemOutcome:
        where = f"{self.name}: {es.name} {item.key}"
        if resp.ok:
            return outcome_for_status(item, resp.status, None, where=where, etag=resp.header("etag"))
        message = f"{es.name} {item.key}: {sap_error_message(resp.status, resp.body)}"
        if resp.status == 412:
            message = (f"{es.name} {item.key} changed in SAP since it was read (If-Match failed, HTTP 412); "
                       f"not written: {message}")
        return outcome_for_status(item, resp.status, message, where=where)

    # ------------------------------------------------------------------ read back

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Current values of the given entities (missing ones omitted), `write_batch_max` GETs per $batch."""
        service, es = self._resolve(target)
        out: list[dict[str, Any]] = []
        size = self.write_batch_max or SAP_BATCH_MAX
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            reads = [Part("GET", self._key(es, key)) for key in chunk]
            for key, parts in zip(chunk, self.client.batch(service, [], reads), strict=True):
                resp = parts[0]
                if resp.status == 404:
                    continue
                if not resp.ok:
                    raise FatalError(f"{self.name}: read back {es.name} {key}: "
                                     f"{sap_error_message(resp.status, resp.body)}")
                data = resp.json()
                if not isinstance(data, dict) or not isinstance(data.get("d"), dict):
                    raise FatalError(f"{self.name}: read back {es.name} {key}: the $batch part is not OData JSON "
                                     f"(HTTP {resp.status}): {resp.body[:200]!r}")
                out.append(clean_record(data["d"]))
        return out

    def close(self) -> None:
        self.http.close()
