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

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from basics import secrets
from basics.errors import ConfigError
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
from connectors.declarative.manifest import Incremental, Manifest, StreamDef, WriteDef, load_manifest
from connectors.http.client import HttpClient, HttpOptions
from connectors.http.paginators import PageRequest, dig
from connectors.incremental import (
    Checkpoint,
    IncrementalOptions,
    LiteralStyle,
    PageGuard,
    cursor_literal,
    parse_instant,
)
from connectors.outcome_policy import outcome_for_status, outcomes_for_error


class RestOptions(HttpOptions, IncrementalOptions):
    """HTTP options plus the manifest that describes the API, and the shared incremental overlap."""

    manifest: str | None = Field(None, description="Manifest YAML path, or a shipped name (wms, tms)")
    page_size: int | None = Field(None, ge=1, description="Override every stream's page size")


class RestStreamOptions(StrictModel):
    """A mapping's `source.options` for a manifest stream."""

    fields: list[str] | None = Field(None, description="Fields to ask for (the stream's `option_params.fields` "
                                     "parameter); keys and the cursor are always added")
    params: dict[str, Any] = Field(default_factory=dict, description="Extra fixed query parameters")
    page_size: int | None = Field(None, ge=1, description="This stream's page size")
    overlap_seconds: float | None = Field(None, ge=0, description="This stream's re-read window before the "
                                          "high-water mark (default: the manifest's, else the system's 300 s)")


def parse_cursor(value: Any, fmt: str) -> datetime | None:
    """A record's cursor value as an aware UTC instant (epoch seconds too)."""
    if value is None or value == "":
        return None
    if fmt == "epoch":
        return datetime.fromtimestamp(float(value), tz=UTC)
    return parse_instant(value)


def format_cursor(value: datetime, fmt: str) -> str:
    if fmt == "epoch":
        seconds = value.timestamp()
        return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return cursor_literal(value, LiteralStyle.ISO_Z)


class RestConnector(Connector):
    kind = "rest"
    Options = RestOptions
    StreamOptions = RestStreamOptions
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

    def _first_request(self, s: StreamDef, opts: RestStreamOptions, lower: datetime | None) -> PageRequest:
        """The first page: the stream's parameters, the mapping's options, and the cursor filter
        (`>= lower`) when `lower` is set."""
        params = {**s.params, **opts.params}
        for option, param in s.option_params.items():
            value = getattr(opts, option, None) if option in RestStreamOptions.model_fields else None
            if isinstance(value, list):  # a field selection: keys and cursor must always come back
                extra = list(s.primary_key) + ([s.incremental.cursor_field.split(".")[0]] if s.incremental else [])
                params[param] = ",".join(map(str, dict.fromkeys([*value, *extra])))
            elif value is not None:
                params[param] = value
        inc = s.incremental
        if inc and lower is not None:
            params[inc.param] = inc.template.format(value=format_cursor(lower, inc.format))
        pager = self._paginator(s, opts)
        return pager.first(params) if pager else PageRequest(params)

    def _paginator(self, s: StreamDef, opts: RestStreamOptions):
        size = opts.page_size or self.options.page_size
        if s.paginator is None or not size:
            return s.paginator
        attr = "limit" if s.paginator.kind == "offset" else "page_size"
        return s.paginator.model_copy(update={attr: int(size)})

    def _overlap(self, s: StreamDef, opts: RestStreamOptions) -> timedelta:
        """The stream option, else the manifest's `lookback_seconds`, else the system's overlap (300 s)."""
        for seconds in (opts.overlap_seconds, s.incremental.lookback_seconds if s.incremental else None):
            if seconds is not None:
                return timedelta(seconds=seconds)
        return self.options.overlap

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """One batch per page, each with a `connectors.incremental.Checkpoint`.

        Incremental streams page by keyset: the next page is the cursor filter moved up to the highest
        cursor of the page before (`>=`; records at that value already read are dropped by key), so an
        edit during the read moves a record to the end instead of shifting an offset past one not yet
        read. Only while a page holds nothing newer than that value (many records changed at one
        instant) does the paginator's own next page follow. Full streams follow the paginator; their
        checkpoint holds the next page's position."""
        s, where = self._stream(stream.name), f"{self.name}.{stream.name}"
        opts = self.stream_options(stream)
        cp = _legacy(Checkpoint.load(state, where=where), s.incremental)
        pager, guard = self._paginator(s, opts), PageGuard(where)
        position = cp.position if isinstance(cp.position, dict) else None
        top, seen = None, set()
        if s.incremental is not None and position and "keyset" in position:
            top, seen = parse_instant(position["keyset"]), {tuple(k) for k in position.get("seen", [])}
            req: PageRequest | None = (PageRequest(**position["next"]) if position.get("next")
                                       else self._first_request(s, opts, top))
        elif s.incremental is None and position:
            req = PageRequest(**position)
        else:
            req = self._first_request(s, opts, cp.lower_bound(self._overlap(s, opts)))
        total_wanted = position is None
        while req is not None:
            guard.see(req.position())
            body, resp = self._get_page(s, where, req.url or s.path, req.params or None)
            records = self._records(s, body, s.record_path, where, resp)
            more = pager.next(req, body, records, dict(resp.headers)) if pager else None
            # a keyset page's total counts only what lies above its bound: the first page's is the read's
            total = dig(body, s.total_path) if s.total_path and (total_wanted or s.incremental is None) else None
            total_wanted = False
            if s.incremental is None:
                yield RecordBatch(records, (cp.at(more.position()) if more else cp.done()).dump(), _int(total))
                req = more
                continue
            previous = top
            records, cp, top, seen = _keyset_step(s, records, cp, top, seen)
            if more is None or top is None:
                yield RecordBatch(records, cp.done().dump(), _int(total))
                return
            stalled = top == previous  # nothing newer than the boundary: continue within it
            req = more if stalled else self._first_request(s, opts, top)
            mark = {"keyset": format_cursor(top, "iso"), "seen": sorted(list(k) for k in seen),
                    "next": more.position() if stalled else None}
            yield RecordBatch(records, cp.at(mark).dump(), _int(total))

    def _get_page(self, s: StreamDef, where: str, path: str, params: dict | None) -> tuple[Any, Any]:
        """One list page as parsed JSON; a 404 is an empty page where the manifest says the API answers
        so. A body that is not JSON (an HTML error page, an empty or cut-off body) is retried like a 503
        by the client, then fails the stream naming it, the status and the body's first bytes."""
        try:
            resp = self.client.request("GET", path, params=params, raise_for_status=False, expect_json=True)
        except ConnectorError as exc:
            raise type(exc)(f"{where}: {exc.message}", hint=exc.hint) from None
        if s.not_found_is_empty and resp.status_code == 404:
            return {}, resp
        if resp.status_code >= 300:
            err = self.client.error_for(resp)
            raise type(err)(f"{where}: {err.message}", hint=err.hint)
        return resp.parsed_json, resp

    def _records(self, s: StreamDef, body: Any, record_path: str | None, where: str, resp: Any = None,
                 extract: bool = True) -> list[dict]:
        if s.not_found_is_empty and body == {}:
            return []
        records = dig(body, record_path) if record_path and isinstance(body, dict) else (
            body if not record_path else None)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            status = f"HTTP {resp.status_code}: " if resp is not None else ""
            text = resp.text if resp is not None else json.dumps(body)
            raise FatalError(f"{where}: {status}no record list at {record_path or 'the top'!r} in the response: "
                             f"{_excerpt(text)!r}", hint="check record_path in the manifest, and the system's answer")
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
            return outcomes_for_error([item], exc)[0]
        if resp.status_code < 300:
            return outcome_for_status(item, resp.status_code, None, etag=resp.headers.get("ETag"))
        message = (f"{item.target} {item.key} changed since it was read (If-Match {item.etag} failed, HTTP 412); "
                   "not written") if resp.status_code == 412 else self.client.error_for(resp).message
        return outcome_for_status(item, resp.status_code, message, where=f"{self.name}.{item.target}")

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
            return outcomes_for_error(items, exc)
        if resp.status_code >= 300:
            message = self.client.error_for(resp).message
            return [outcome_for_status(i, resp.status_code, message, where=f"{self.name}.{wd.path}") for i in items]
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
        where = f"{self.name}.{rb.stream}"
        body, resp = self._get_page(s, where, path, params)
        records = self._records(s, body, rb.record_path or s.record_path, where, resp, extract=not rb.path)
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
            where = f"{self.name}.{rb.stream}"
            body, resp = self._get_page(s, where, req.url or s.path, req.params or None)
            records = self._records(s, body, rb.record_path or s.record_path, where, resp)
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

    def requests_sent(self) -> int:
        return self.client.attempts

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


def _keyset_step(s: StreamDef, records: list[dict], cp: Checkpoint, top: datetime | None,
                 seen: set[tuple]) -> tuple[list[dict], Checkpoint, datetime | None, set[tuple]]:
    """Drop the records already read at the boundary cursor value, raise the high-water mark, and
    give the new boundary (the page's highest cursor) with the keys read at it."""
    inc = s.incremental
    assert inc is not None
    keys = [tuple(str(dig(r, k)) for k in s.primary_key) for r in records]
    cursors = [parse_cursor(dig(r, inc.cursor_field), inc.format) for r in records]
    fresh = [r for r, k in zip(records, keys, strict=True) if k not in seen]
    page_top = max((c for c in cursors if c is not None), default=None)
    if page_top is None:
        return fresh, cp, top, seen
    at_top = {k for k, c in zip(keys, cursors, strict=True) if c == page_top}
    return fresh, cp.observe(cursors), page_top, (seen | at_top) if page_top == top else at_top


def _legacy(cp: Checkpoint, inc: Incremental | None) -> Checkpoint:
    """A checkpoint saved before the shared Checkpoint: `{"watermark": ...}` becomes `since`."""
    watermark = cp.extra.get("watermark")
    if watermark is None:
        return cp
    extra = {k: v for k, v in cp.extra.items() if k != "watermark"}
    since = cp.since or parse_cursor(watermark, inc.format if inc else "iso")
    return cp.model_copy(update={"since": since, "extra": extra})


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _excerpt(text: str | None, limit: int = 120) -> str:
    return secrets.redact((text or "")[:limit])


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
    write_batch_max = 100  # the shipped manifest's bulk_update batch (writes.item.batch_size)


class TmsConnector(RestConnector):
    kind = "tms"
    description = "Oracle OTM shaped REST: shipments; writes routing profiles per customer"
    default_manifest = "tms"
    write_batch_max = 100  # the shipped manifest's routingProfiles batch (refnums go one per request)
