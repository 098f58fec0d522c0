"""The declarative REST manifest: a whole connector described in YAML (kind `rest_manifest`).

A manifest names the streams (endpoint, where the records sit in the body, primary key,
paginator, incremental cursor) and the write targets (method, path, batch size, body shape,
how to read each item's result). The `rest` connector interprets it; `wms` and `tms` are the
same connector with a shipped manifest. Credentials never live here: they come from
segbridge.yaml's `systems.<name>.options.auth` as `${ENV_VAR}` references.

Example:

    version: 1
    name: acme_wms
    base_path: /api/v1
    check: {path: items, params: {limit: 1}}
    streams:
      items:
        path: items
        record_path: data
        primary_key: [sku]
        paginator: {kind: offset, limit: 500, has_more_path: meta.has_more}
        incremental: {cursor_field: updated_at, param: updated_since, lookback_seconds: 300}
    writes:
      items:
        method: PATCH
        path: items/{sku}
        mode: item
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from basics.errors import ConfigError
from basics.yaml_loader import StrictModel, load_yaml_model, register_kind
from connectors.http.paginators import Paginator

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"


class Incremental(StrictModel):
    """Read only records changed since the saved watermark (minus a look-back window)."""

    cursor_field: str = Field(description="Record field holding the change timestamp, e.g. mod_ts")
    param: str = Field(description="Query parameter that filters by it, e.g. mod_ts__gte or q")
    template: str = Field("{value}", description="Parameter value; {value} is the formatted watermark, "
                          "e.g. 'updateDate ge \"{value}\"'")
    format: Literal["iso", "epoch"] = "iso"
    lookback_seconds: float | None = Field(None, ge=0, description="Re-read this much before the high-water "
                                           "mark (late commits, clock skew); default the system's "
                                           "`overlap_seconds` (300 s); upserts by key de-duplicate")


class StreamDef(StrictModel):
    """One readable collection."""

    path: str = Field(description="Path below base_url + base_path, e.g. entity/item")
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed query parameters (ordering, fields)")
    record_path: str | None = Field(None, description="Body path of the record list, e.g. results; "
                                    "empty when the body is the list")
    total_path: str | None = Field(None, description="Body path of the source's total count")
    primary_key: list[str] = Field(min_length=1)
    paginator: Paginator | None = None
    incremental: Incremental | None = None
    option_params: dict[str, str] = Field(default_factory=dict, description="Mapping source option -> query "
                                          "parameter (lists are comma-joined), e.g. {fields: fields}")
    extract: dict[str, str] = Field(default_factory=dict, description="Record field -> body path inside each "
                                    "record, lifted to the top level (child rows picked by a value), e.g. "
                                    "{routingRefnum: 'refnums.items[locationRefnumQualGid=SEGBRIDGE_ROUTING]"
                                    ".locationRefnumValue'}")
    not_found_is_empty: bool = Field(False, description="HTTP 404 on a filtered list means 'no records' "
                                     "(Oracle WMS Cloud lgfapi answers 404 when a filter matches nothing)")
    description: str | None = None


class ItemResult(StrictModel):
    """How to read per-item outcomes from a batch response."""

    path: str | None = Field("results", description="Body path of the per-item result list")
    match: Literal["order", "key"] = Field("order", description="Results in request order, or matched by key")
    status_field: str = "status"
    success_values: list[Any] = Field(default_factory=lambda: ["success", True, "SUCCEEDED", "OK"])
    retriable_values: list[Any] = Field(default_factory=list, description="Statuses worth retrying (e.g. LOCKED)")
    message_field: str | None = "message"
    etag_field: str | None = None


class ReadBack(StrictModel):
    """How to fetch target records' current values: a stream (or a path template) filtered by their keys.

    With `in_params` the keys are read in batches: one list request per `batch_size` keys whose
    filter lists every key field's values (e.g. lgfapi `code__in=A,B&facility_id__code__in=DC01`),
    paged like the stream, keeping only records whose key is one of those asked for. Without it,
    one request per key (`params` / `path`)."""

    stream: str
    path: str | None = Field(None, description="Path template over key fields (default: the stream's path)")
    params: dict[str, str] = Field(default_factory=dict,
                                   description="Query parameter -> template over key fields, e.g. {code: '{code}'}")
    record_path: str | None = Field(None, description="Body path of the records (default: the stream's)")
    in_params: dict[str, str] = Field(default_factory=dict, description="Key field -> list filter parameter "
                                      "taking comma-separated values, e.g. {code: code__in}; every key field")
    batch_size: int = Field(100, ge=1, le=1000, description="Keys per batched request (bounds the URL length)")
    fields: list[str] = Field(default_factory=list, description="Fields to ask for in batched reads "
                              "(the stream's `fields` parameter); key fields are always added")
    etag_field: str | None = Field(None, description="Record field holding the record's version or ETag: "
                                   "read back as `__etag` and sent as If-Match (a 412 is a conflict); item mode "
                                   "writes only. Neither shipped manifest has one (lgfapi bulk_update and the OTM "
                                   "custom action take no ETag)")

    @model_validator(mode="after")
    def _one_way(self) -> ReadBack:
        if self.in_params and self.path:
            raise ValueError("read_back: use either in_params (batched list reads) or path (one request per key)")
        return self


class WriteDef(StrictModel):
    """One writable target."""

    method: Literal["POST", "PATCH", "PUT"] = "POST"
    path: str = Field(description="Path; in item mode may hold {key_field} placeholders")
    mode: Literal["batch", "item"] = Field("batch", description="One request per batch, or per item")
    batch_size: int = Field(50, ge=1, le=1000)
    items_field: str | None = Field("items", description="Batch body: {items_field: [...]}; null = a bare list")
    body_extra: dict[str, Any] = Field(default_factory=dict, description="Fixed fields added to every body")
    key_in_body: bool = Field(True, description="Include the key fields in each item's body")
    path_keys_in_body: bool = Field(True, description="Item mode: also put key fields that fill {placeholders} "
                                    "of the path in the body (false for child resources such as refnums)")
    fields: list[str] = Field(default_factory=list, description="Writable fields (empty: any)")
    types: dict[str, Literal["bool", "int", "number", "string"]] = Field(
        default_factory=dict, description="JSON type of a body field: write-back values arrive as text "
        "('true', '1', '120.500'); e.g. {expediteAllowed: bool} sends a JSON true/false")
    result: ItemResult = Field(default_factory=ItemResult)
    read_back: ReadBack | None = None

    @model_validator(mode="after")
    def _etag_per_item(self) -> WriteDef:
        if self.read_back and self.read_back.etag_field and self.mode != "item":
            raise ValueError("read_back.etag_field needs mode: item (a batch body has no per-record If-Match)")
        return self


class CheckDef(StrictModel):
    path: str
    params: dict[str, Any] = Field(default_factory=dict)


class Manifest(StrictModel):
    """A REST connector in YAML (see docs/connectors.md)."""

    version: int = 1
    name: str
    description: str | None = None
    base_path: str = Field("", description="Appended to the system's base_url, e.g. /wms/lgfapi/v10")
    headers: dict[str, str] = Field(default_factory=dict)
    check: CheckDef
    streams: dict[str, StreamDef]
    writes: dict[str, WriteDef] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _read_back_streams(self) -> Manifest:
        for name, write in self.writes.items():
            if write.read_back and write.read_back.stream not in self.streams:
                raise ValueError(f"writes.{name}.read_back.stream: unknown stream {write.read_back.stream!r}")
            unknown = sorted(set(write.types) - set(write.fields)) if write.fields else []
            if unknown:
                raise ValueError(f"writes.{name}.types: not writable fields: {', '.join(unknown)}")
        return self


register_kind("rest_manifest", Manifest)


def load_manifest(ref: str | Path, base_dir: Path | None = None) -> Manifest:
    """A manifest by shipped name (`wms`, `tms`) or by path (relative to `base_dir`)."""
    path = Path(ref)
    if not path.suffix and (MANIFEST_DIR / f"{ref}.yaml").is_file():
        path = MANIFEST_DIR / f"{ref}.yaml"
    elif not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        shipped = sorted(p.stem for p in MANIFEST_DIR.glob("*.yaml"))
        raise ConfigError(f"REST manifest {str(ref)!r} not found",
                          hint=f"give a YAML path or a shipped manifest: {', '.join(shipped)}")
    return load_yaml_model(path, Manifest)
