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

from connectors.http.paginators import Paginator
from core.config import StrictModel, load_yaml_model, register_kind
from core.errors import ConfigError

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"


class Incremental(StrictModel):
    """Read only records changed since the saved watermark (minus a look-back window)."""

    cursor_field: str = Field(description="Record field holding the change timestamp, e.g. mod_ts")
    param: str = Field(description="Query parameter that filters by it, e.g. mod_ts__gte or q")
    template: str = Field("{value}", description="Parameter value; {value} is the formatted watermark, "
                          "e.g. 'updateDate ge \"{value}\"'")
    format: Literal["iso", "epoch"] = "iso"
    lookback_seconds: float = Field(0, ge=0, description="Re-read this much before the watermark "
                                    "(late commits, clock skew); upserts by key de-duplicate")


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
    """How to fetch one target record's current values: a stream (or a path template) filtered by its key."""

    stream: str
    path: str | None = Field(None, description="Path template over key fields (default: the stream's path)")
    params: dict[str, str] = Field(default_factory=dict,
                                   description="Query parameter -> template over key fields, e.g. {code: '{code}'}")
    record_path: str | None = Field(None, description="Body path of the records (default: the stream's)")


class WriteDef(StrictModel):
    """One writable target."""

    method: Literal["POST", "PATCH", "PUT"] = "POST"
    path: str = Field(description="Path; in item mode may hold {key_field} placeholders")
    mode: Literal["batch", "item"] = Field("batch", description="One request per batch, or per item")
    batch_size: int = Field(50, ge=1, le=1000)
    items_field: str | None = Field("items", description="Batch body: {items_field: [...]}; null = a bare list")
    body_extra: dict[str, Any] = Field(default_factory=dict, description="Fixed fields added to every body")
    key_in_body: bool = Field(True, description="Include the key fields in each item's body")
    fields: list[str] = Field(default_factory=list, description="Writable fields (empty: any)")
    result: ItemResult = Field(default_factory=ItemResult)
    read_back: ReadBack | None = None


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
