"""The `rest` connector: reads and writes any REST API described by a manifest (see manifest.py).

`wms` and `tms` are this connector preloaded with the shipped manifests (Oracle WMS Cloud
lgfapi and OTM REST shapes). All HTTP goes through the one client, so paging, retries,
throttling and auth behave the same as every other connector.

Conditional writes only where the manifest declares a version: `read_back.etag_field` (item mode)
makes read_back return that field as `__etag` and an item write send it as If-Match, a 412 being
`conflict`. The shipped WMS (bulk_update, one body for many items) and TMS (refnum POST, routing
custom action) writes take no ETag, so they rely on the core's read-before-write alone.

Example (segbridge.yaml):

    systems:
      wms:
        kind: wms
        mapping: wms.yaml
        options:
          base_url: https://wms.example.com/prod
          auth: {type: basic, username: ${WMS_USER}, password: ${WMS_PASSWORD}}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from basics.errors import ConfigError
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
from connectors.declarative.manifest import Incremental, Manifest, StreamDef, WriteDef, load_manifest
from connectors.http.client import HttpClient, HttpOptions
from connectors.http.paginators import PageRequest, dig


class RestOptions(HttpOptions):
    """HTTP options plus the manifest that describes the API."""

    manifest: str | None = Field(None, description="Manifest YAML path, or a shipped name (wms, tms)")
    page_size: int | None = Field(None, ge=1, description="Override every stream's page size")


def parse_cursor(value: Any, fmt: str) -> datetime | float | None:
    """A record's cursor value as a comparable watermark (ISO text -> aware datetime)."""
    if value is None or value == "":
        return None
    if fmt == "epoch":
        return float(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_cursor(value: datetime | float, fmt: str) -> str:
    if fmt == "epoch":
        return str(int(value)) if float(value).is_integer() else str(value)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RestConnector(Connector):
    kind = "rest"
    Options = RestOptions
    description = "Any REST API described by a YAML manifest"
    default_manifest: ClassVar[str | None] = None

    def __init__(self, options: Any, name: str | None = None, manifest: Manifest | None = None):
        super().__init__(options, name)
        ref = self.options.manifest or self.default_manifest
        if manifest is None and not ref:
            raise ConfigError(f"systems.{self.name}.options.manifest is not set",
                              hint="name a manifest YAML file (see docs/connectors.md)")
        self.manifest = manifest or load_manifest(ref)
        base = self.options.base_url.rstrip("/") + "/" + self.manifest.base_path.strip("/")
        http = self.options.model_copy(update={"base_url": base.rstrip("/"),
                                               "headers": {**self.manifest.headers, **self.options.headers}})
        self.client = HttpClient(http)

    # ------------------------------------------------------------------ check / discover

    def check(self) -> CheckResult:
        spec = self.manifest.check
        try:
            self.client.get(spec.path, params=spec.params)
        except AuthError as exc:
            return CheckResult(False, f"authentication failed: {exc.message}")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        except ConfigError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"reached {self.client.url(spec.path)}", {"attempts": self.client.attempts})

    def discover(self) -> list[StreamSpec]:
        out = []
        for name, s in self.manifest.streams.items():
            write = self.manifest.writes.get(name)
            out.append(StreamSpec(name, list(s.primary_key), s.incremental.cursor_field if s.incremental else None,
                                  writable=write is not None, writable_fields=list(write.fields) if write else []))
        for name, w in self.manifest.writes.items():
            if name not in self.manifest.streams:
                out.append(StreamSpec(name, [], None, writable=True, writable_fields=list(w.fields)))
        return out

    # ------------------------------------------------------------------ read

    def _stream(self, name: str) -> StreamDef:
        if name not in self.manifest.streams:
            raise ConfigError(f"{self.name}: no stream {name!r} in manifest {self.manifest.name!r}",
                              hint="streams: " + ", ".join(self.manifest.streams))
        return self.manifest.streams[name]

    def _first_request(self, s: StreamDef, spec: StreamSpec, state: dict | None) -> PageRequest:
        params = {**s.params, **spec.options.get("params", {})}
        for option, param in s.option_params.items():
            value = spec.options.get(option)
            if isinstance(value, list):  # a field selection: keys and cursor must always come back
                extra = list(s.primary_key) + ([s.incremental.cursor_field.split(".")[0]] if s.incremental else [])
                value = list(dict.fromkeys([*value, *extra]))
                params[param] = ",".join(map(str, value))
            elif value is not None:
                params[param] = value
        inc = s.incremental
        if inc and state and state.get("watermark") is not None:
            lookback = float(spec.options.get("lookback_seconds", inc.lookback_seconds))
            since = _minus(parse_cursor(state["watermark"], inc.format), lookback)
            params[inc.param] = inc.template.format(value=format_cursor(since, inc.format))
        if not inc and state and state.get("resume"):
            return PageRequest(**state["resume"])  # a full read interrupted mid-way continues where it was
        pager = self._paginator(s, spec)
        return pager.first(params) if pager else PageRequest(params)

    def _paginator(self, s: StreamDef, spec: StreamSpec):
        size = spec.options.get("page_size") or self.options.page_size
        if s.paginator is None or not size:
            return s.paginator
        attr = "limit" if s.paginator.kind == "offset" else "page_size"
        return s.paginator.model_copy(update={attr: int(size)})

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """One batch per page; the checkpoint holds the highest cursor seen (incremental streams) or the
        next page's position (full streams), so a crash repeats at most the page in flight."""
        s = self._stream(stream.name)
        pager = self._paginator(s, stream)
        req: PageRequest | None = self._first_request(s, stream, state)
        watermark = parse_cursor((state or {}).get("watermark"), s.incremental.format) if s.incremental else None
        while req is not None:
            body, resp = self._get_page(s, req.url or s.path, req.params or None)
            records = self._records(s, body, s.record_path, stream.name)
            watermark = _max_cursor(records, s.incremental, watermark)
            nxt = pager.next(req, body, records, dict(resp.headers)) if pager else None
            checkpoint: dict[str, Any] = {}
            if watermark is not None:
                checkpoint["watermark"] = format_cursor(watermark, s.incremental.format)
            if nxt is not None and not s.incremental:
                checkpoint["resume"] = nxt.position()
            total = dig(body, s.total_path) if s.total_path else None
            yield RecordBatch(records, checkpoint, int(total) if total is not None else None)
            req = nxt

    def _get_page(self, s: StreamDef, path: str, params: dict | None) -> tuple[Any, Any]:
        """One list page; a 404 is an empty page where the manifest says the API answers so."""
        if not s.not_found_is_empty:
            return self.client.get_json(path, params=params)
        resp = self.client.request("GET", path, params=params, raise_for_status=False, expect_json=True)
        if resp.status_code == 404:
            return {}, resp
        if resp.status_code >= 300:
            raise self.client.error_for(resp)
        return resp.parsed_json, resp

    def _records(self, s: StreamDef, body: Any, record_path: str | None, what: str,
                 extract: bool = True) -> list[dict]:
        if s.not_found_is_empty and body == {}:
            return []
        records = dig(body, record_path) if record_path else body
        if records is None and s.not_found_is_empty:
            return []
        if not isinstance(records, list):
            raise FatalError(f"{self.name}.{what}: no record list at {record_path!r} in the response",
                             hint="check record_path in the manifest")
        if s.extract and extract:
            records = [{**r, **{name: dig(r, path) for name, path in s.extract.items()}} for r in records]
        return records

    # ------------------------------------------------------------------ write / read back

    def _write_def(self, target: str) -> WriteDef | None:
        return self.manifest.writes.get(target)

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        outcomes: dict[str, ItemOutcome] = {}
        by_target: dict[str, list[WriteItem]] = {}
        for item in batch.items:
            by_target.setdefault(item.target, []).append(item)
        for target, items in by_target.items():
            wd = self._write_def(target)
            if wd is None:
                for i in items:
                    outcomes[i.ref] = ItemOutcome(i.ref, "rejected", f"{target} is not writable in {self.manifest.name}")
                continue
            if wd.mode == "item":
                results = [self._write_one(wd, i) for i in items]
            else:
                results = [o for start in range(0, len(items), wd.batch_size)
                           for o in self._write_chunk(wd, items[start:start + wd.batch_size])]
            outcomes.update({o.ref: o for o in results})
        return [outcomes[i.ref] for i in batch.items]

    def _body(self, wd: WriteDef, item: WriteItem) -> dict[str, Any]:
        keys = {k: v for k, v in item.key.items() if wd.path_keys_in_body or "{" + k + "}" not in wd.path}
        values = {k: typed(v, wd.types[k]) if k in wd.types else v for k, v in item.values.items()}
        return {**(keys if wd.key_in_body else {}), **values}

    def _typing_error(self, wd: WriteDef, item: WriteItem) -> str | None:
        """Why a value cannot take its declared JSON type (the item is refused before sending)."""
        for name, kind in wd.types.items():
            if name in item.values:
                try:
                    typed(item.values[name], kind)
                except ValueError as exc:
                    return f"{name}: {exc}"
        return None

    def _write_one(self, wd: WriteDef, item: WriteItem) -> ItemOutcome:
        problem = self._typing_error(wd, item)
        if problem:
            return ItemOutcome(item.ref, "rejected", problem)
        path = wd.path.format(**{k: quote(str(v), safe="") for k, v in item.key.items()})
        headers = {"If-Match": item.etag} if item.etag else {}
        try:
            resp = self.client.request(wd.method, path, json={**wd.body_extra, **self._body(wd, item)},
                                       headers=headers, raise_for_status=False)
        except RetriableError as exc:
            return ItemOutcome(item.ref, "retriable", exc.message)
        if resp.status_code < 300:
            return ItemOutcome(item.ref, "applied", None, resp.headers.get("ETag"), resp.status_code)
        if resp.status_code == 412:
            return ItemOutcome(item.ref, "conflict", f"{item.target} {item.key} changed since it was read "
                               f"(If-Match {item.etag} failed, HTTP 412); not written", None, 412)
        err = self.client.error_for(resp)
        status = "retriable" if resp.status_code == 401 else "rejected"
        return ItemOutcome(item.ref, status, err.message, None, resp.status_code)

    def _write_chunk(self, wd: WriteDef, items: list[WriteItem]) -> list[ItemOutcome]:
        refused = {i.ref: ItemOutcome(i.ref, "rejected", p) for i in items if (p := self._typing_error(wd, i))}
        if refused:
            sent = [i for i in items if i.ref not in refused]
            done = {o.ref: o for o in (self._write_chunk(wd, sent) if sent else [])}
            return [refused.get(i.ref) or done[i.ref] for i in items]
        records = [self._body(wd, i) for i in items]
        body: Any = {**wd.body_extra, wd.items_field: records} if wd.items_field else records
        try:
            resp = self.client.request(wd.method, wd.path, json=body, raise_for_status=False, expect_json=True)
        except RetriableError as exc:
            return [ItemOutcome(i.ref, "retriable", exc.message) for i in items]
        if resp.status_code >= 300:
            err = self.client.error_for(resp)
            status = "retriable" if resp.status_code == 401 else "rejected"
            return [ItemOutcome(i.ref, status, err.message, None, resp.status_code) for i in items]
        return _item_results(wd, items, getattr(resp, "parsed_json", None), resp.status_code)

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Current values of the target records: batched list reads where the manifest declares key
        filters (`read_back.in_params`), else one request per key."""
        wd = self._write_def(target)
        if wd is None or wd.read_back is None:
            raise FatalError(f"{self.manifest.name}: no read_back defined for {target!r}")
        rb = wd.read_back
        s = self._stream(rb.stream)
        if rb.in_params and keys:
            out = [r for start in range(0, len(keys), rb.batch_size)
                   for r in self._read_back_batch(s, rb, keys[start:start + rb.batch_size])]
        else:
            out = [r for key in keys for r in self._read_back_one(s, rb, key)]
        return [self._as_outbox(wd, r) for r in out]

    def _read_back_one(self, s: StreamDef, rb, key: dict[str, Any]) -> list[dict[str, Any]]:
        safe = {k: quote(str(v), safe="") for k, v in key.items()}
        path = rb.path.format(**safe) if rb.path else s.path
        params = {**(s.params if not rb.path else {}), **{p: t.format(**key) for p, t in rb.params.items()}}
        body, _ = self._get_page(s, path, params)
        records = self._records(s, body, rb.record_path or s.record_path, rb.stream, extract=not rb.path)
        return [{**key, **r} for r in records if all(str(r.get(k)) == str(v) for k, v in key.items() if k in r)]

    def _read_back_batch(self, s: StreamDef, rb, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One filtered list read (all its pages) for a batch of keys; only the keys asked for are kept."""
        fields = list(keys[0])
        missing = [f for f in fields if f not in rb.in_params]
        if missing:
            raise FatalError(f"{self.manifest.name}: read_back.in_params lacks key field(s) {', '.join(missing)}",
                             hint="name a list filter for every key field, or use per-key params")
        wanted = {tuple(str(k[f]) for f in fields) for k in keys}
        params = {**s.params, **{p: t.format(**keys[0]) for p, t in rb.params.items()}}
        for f in fields:
            params[rb.in_params[f]] = ",".join(dict.fromkeys(str(k[f]) for k in keys))
        if rb.fields and "fields" in s.option_params:
            params[s.option_params["fields"]] = ",".join(dict.fromkeys([*fields, *rb.fields]))
        pager = s.paginator  # the manifest's page size: a system-wide page_size option is for pulls
        req: PageRequest | None = pager.first(params) if pager else PageRequest(params)
        out: dict[tuple, dict] = {}
        while req is not None:
            body, resp = self._get_page(s, req.url or s.path, req.params or None)
            records = self._records(s, body, rb.record_path or s.record_path, rb.stream)
            for r in records:
                k = tuple(str(r.get(f)) for f in fields)
                if k in wanted:
                    out[k] = r
            req = pager.next(req, body, records, dict(resp.headers)) if pager and records else None
        return list(out.values())

    def _as_outbox(self, wd: WriteDef, record: dict[str, Any]) -> dict[str, Any]:
        """Typed booleans read back as the outbox writes them ('true'/'false'), so they compare as text;
        the manifest's `read_back.etag_field` (if any) as `__etag`."""
        flags = [k for k, t in wd.types.items() if t == "bool" and isinstance(record.get(k), bool)]
        out = {**record, **{k: "true" if record[k] else "false" for k in flags}}
        etag_field = wd.read_back.etag_field if wd.read_back else None
        if etag_field and record.get(etag_field) not in (None, ""):
            out["__etag"] = str(record[etag_field])
        return out

    def close(self) -> None:
        self.client.close()


_TRUE = {"true", "1", "x"}  # the spellings of the mapping's `bool` transform
_FALSE = {"false", "0", ""}


def typed(value: Any, kind: str) -> Any:
    """A write-back value (outbox text, or a python value) as the JSON type the API expects.

    Example:
        >>> typed("true", "bool"), typed(0, "bool"), typed("120.500", "number"), typed("7", "int")
        (True, False, 120.5, 7)
    """
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"{value!r} is not true or false")
    if kind == "int":
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    return str(value)


def _minus(value: datetime | float, seconds: float) -> datetime | float:
    return value - timedelta(seconds=seconds) if isinstance(value, datetime) else value - seconds


def _max_cursor(records: list[dict], inc: Incremental | None, current):
    if inc is None:
        return None
    values = [parse_cursor(dig(r, inc.cursor_field), inc.format) for r in records]
    values = [v for v in values if v is not None]
    if current is not None:
        values.append(current)
    return max(values) if values else None


def _item_results(wd: WriteDef, items: list[WriteItem], body: Any, http_status: int) -> list[ItemOutcome]:
    """Per-item outcomes from a batch response, in request order or matched by key."""
    spec = wd.result
    results = dig(body, spec.path) if spec.path else body
    results = results if isinstance(results, list) else []
    if spec.match == "key":
        fields = list(items[0].key) if items else []
        index = {_key_of(r, fields): r for r in results if isinstance(r, dict)}
        picked = [index.get(_key_of(i.key, fields)) for i in items]
    else:
        picked = [results[n] if n < len(results) else None for n in range(len(items))]
    out = []
    for item, res in zip(items, picked, strict=True):
        if res is None:
            out.append(ItemOutcome(item.ref, "retriable", "no result returned for this item", None, http_status))
            continue
        status = res.get(spec.status_field)
        message = res.get(spec.message_field) if spec.message_field else None
        etag = res.get(spec.etag_field) if spec.etag_field else None
        if status in spec.success_values:
            out.append(ItemOutcome(item.ref, "applied", message, etag, http_status))
        elif status in spec.retriable_values:
            out.append(ItemOutcome(item.ref, "retriable", message or str(status), etag, http_status))
        else:
            out.append(ItemOutcome(item.ref, "rejected", message or f"status {status!r}", etag, http_status))
    return out


def _key_of(record: dict, fields: list[str]) -> tuple:
    return tuple(str(record.get(k)) for k in fields)


class WmsConnector(RestConnector):
    kind = "wms"
    description = "Oracle WMS Cloud (lgfapi) shaped REST: items, inventory, picks; writes item classes"
    default_manifest = "wms"


class TmsConnector(RestConnector):
    kind = "tms"
    description = "Oracle OTM shaped REST: shipments; writes routing profiles per customer"
    default_manifest = "tms"
