"""Oracle SOAP services through zeep: Fusion ADF services (SalesPartyService, ItemServiceV2) and
EBS Integrated SOA Gateway (ISG) PL/SQL services.

Two shapes, one connector:
- `adf`: `findX(findCriteria, findControl)` paged with fetchStart/fetchSize, `updateX(x)` that
  raises a SOAP fault (`JBO-...`, ServiceErrorMessage detail) on a business error.
- `isg`: `PROC(P_..., _soapheaders=SOAHeader)` answering HTTP 200 with `X_RETURN_STATUS` 'S'/'E'/'U'
  and FND message text: a business error is NOT a fault, so every response's status is checked.

The WSDL and its XSDs come from local files (see transport.py for absolute schema URLs); XML is
parsed with DTDs, entities and external references forbidden; the password is an ${ENV_VAR}.

Example options:
    wsdl: vendor/oracle/SalesPartyService.wsdl
    endpoint: https://fa.example.com/crmCommonSalesParties/SalesPartyService
    username: INTEGRATION_USER
    password: ${FUSION_PASSWORD}
    max_attempts: 5            # the HttpOptions keys (retries, TLS, ...) sit flat here too
    streams:
      SalesAccount: {operation: findSalesAccount, primary_key: [PartyId], cursor_field: LastUpdateDate}
    targets:
      SalesAccount: {operation: updateSalesAccount, argument: salesAccount, read_stream: SalesAccount}
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator
from zeep import Client, Settings
from zeep.exceptions import ExternalReferenceForbidden, Fault, ValidationError, XMLSyntaxError
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

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
from connectors.http.client import HttpClient, HttpTransportOptions
from connectors.oracle.transport import SoapTransport

log = logging.getLogger("segbridge.oracle.soap")
OK_STATUSES = frozenset({"S", "SUCCESS"})


class SoapStream(StrictModel):
    """A readable stream: one find (ADF) or query procedure (ISG)."""

    operation: str
    style: Literal["adf", "isg"] = "adf"
    primary_key: list[str] = Field(default_factory=list)
    cursor_field: str | None = Field(None, description="ADF: attribute filtered with '>' for increments")
    page_size: int = Field(100, ge=1, le=5000)
    find_attributes: list[str] = Field(default_factory=list, description="ADF findAttribute: fetch only these")
    filters: list[dict[str, Any]] = Field(default_factory=list, description="ADF items {attribute, operator, value}")
    arguments: dict[str, Any] = Field(default_factory=dict, description="ISG: fixed input parameters")
    result_path: list[str] = Field(default_factory=list, description="ISG: output path to the record list")
    offset_param: str | None = Field(None, description="ISG: input parameter carrying the offset")
    limit_param: str | None = Field(None, description="ISG: input parameter carrying the page size")


class SoapTarget(StrictModel):
    """A writable target: one update operation per item."""

    operation: str
    style: Literal["adf", "isg"] = "adf"
    argument: str | None = Field(None, description="ADF: the parameter wrapping the object (salesAccount)")
    return_status: str = "X_RETURN_STATUS"
    message_fields: list[str] = Field(default_factory=lambda: ["X_MSG_DATA"])
    read_stream: str | None = Field(None, description="Stream used by read_back")
    parameters: dict[str, str] = Field(
        default_factory=dict, description="ISG: record field -> procedure parameter (PARTY_NUMBER: P_PARTY_NUMBER), "
        "so keys and values are named as the read stream returns them and read-back compares like with like")


class OracleSoapOptions(HttpTransportOptions):
    """The SOAP specifics plus the HttpOptions keys (timeouts, retries, TLS, ...), flat; the HTTP
    base URL is `endpoint`."""

    wsdl: str = Field(description="Local path of the WSDL (never fetched over the network)")
    endpoint: str = Field(description="Service URL; replaces the WSDL's soap:address")
    binding: str | None = Field(None, description="{namespace}BindingName; default: the first service port's")
    schema_map: dict[str, str] = Field(default_factory=dict, description="Remote URL prefix -> local file/folder")
    schema_dir: str | None = Field(None, description="Folder searched by file name for remote schema URLs")
    username: str | None = None
    password: str | None = Field(None, description="${ENV_VAR} reference")
    operation_timeout: float = Field(60.0, gt=0, description="Seconds for one SOAP call")
    soap_headers: dict[str, Any] = Field(default_factory=dict, description="e.g. ISG SOAHeader")
    streams: dict[str, SoapStream] = Field(default_factory=dict)
    targets: dict[str, SoapTarget] = Field(default_factory=dict)

    _v = field_validator("password")(lambda v, info: secrets.check_no_literal(v, f"oracle_soap.{info.field_name}"))


class OracleSoapConnector(Connector):
    kind = "oracle_soap"
    Options = OracleSoapOptions
    description = "Oracle Fusion ADF and EBS ISG SOAP services through zeep (local WSDL/XSD)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.http = HttpClient(self.options.http_options(self.options.endpoint))
        self._client: Client | None = None
        self._service = None

    # ------------------------------------------------------------------ client

    @property
    def client(self) -> Client:
        """The zeep Client, built once per connector (parsing a Fusion WSDL is not free)."""
        if self._client is None:
            o = self.options
            transport = SoapTransport(self.http, schema_map=o.schema_map, schema_dir=o.schema_dir,
                                      operation_timeout=o.operation_timeout)
            settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                                xml_huge_tree=False)
            wsse = None
            if o.username:
                wsse = UsernameToken(secrets.resolve(o.username, what="oracle_soap.username"),
                                     secrets.resolve(o.password, what="oracle_soap.password"))
            try:
                self._client = Client(o.wsdl, transport=transport, settings=settings, wsse=wsse)
            except ExternalReferenceForbidden as exc:
                raise FatalError(f"{o.wsdl} imports {exc.url}, which has no local copy (remote loads are refused)",
                                 hint="vendor the file; map its URL prefix in schema_map or put it in schema_dir"
                                 ) from None
        return self._client

    @property
    def service(self):
        if self._service is None:
            self._service = self.client.create_service(self.binding_name(), self.options.endpoint)
        return self._service

    def binding_name(self) -> str:
        if self.options.binding:
            return self.options.binding
        service = next(iter(self.client.wsdl.services.values()))
        return next(iter(service.ports.values())).binding.name.text

    def call(self, operation: str, **kwargs: Any) -> Any:
        if self.options.soap_headers:
            kwargs["_soapheaders"] = self.options.soap_headers
        try:
            return getattr(self.service, operation)(**kwargs)
        except XMLSyntaxError as exc:
            raise FatalError(f"{operation}: the response is not well-formed XML ({exc})") from None

    # ------------------------------------------------------------------ hooks

    def check(self) -> CheckResult:
        try:
            ops = sorted(self.client.service._binding._operations)
            for name, stream in self.options.streams.items():
                next(self._pages(stream, {}, page_size=1), None)
                return CheckResult(True, f"{name}: {stream.operation} answered", {"operations": len(ops)})
            return CheckResult(True, f"WSDL loaded: {len(ops)} operations", {"operations": len(ops)})
        except (ConnectorError, Fault, OSError) as exc:
            return CheckResult(False, f"{type(exc).__name__}: {secrets.redact(str(exc))}")

    def discover(self) -> list[StreamSpec]:
        specs = []
        for name, s in self.options.streams.items():
            specs.append(StreamSpec(name, list(s.primary_key), s.cursor_field, writable=name in self.options.targets,
                                    options={"operation": s.operation, "style": s.style}))
        return specs

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._stream(stream.name)
        state = dict(state or {})
        since = state.get("since")
        high = state.get("high", since)
        start = int(state.get("fetch_start", 0))
        for records in self._pages(cfg, {"since": since, "fetch_start": start}):
            start += len(records)
            if cfg.cursor_field:
                high = _max(high, [r.get(cfg.cursor_field) for r in records])
            yield RecordBatch(records, {"since": since, "fetch_start": start, "high": high})
        yield RecordBatch([], {"since": high} if cfg.cursor_field else {})

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        return [self._write_one(item) for item in batch.items]

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self._target(target)
        stream = self._stream(cfg.read_stream or target)
        if stream.style == "isg":
            wanted = {_key_tuple(k, list(k)) for k in keys}
            fields = list(keys[0]) if keys else []
            return [r for page in self._pages(stream, {}) for r in page if _key_tuple(r, fields) in wanted]
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), 50):
            chunk = keys[i:i + 50]
            groups = [{"conjunction": "Or", "item": [_item(k, "=", v) for k, v in key.items()]} for key in chunk]
            out.extend(r for page in self._pages(stream, {}, groups=groups) for r in page)
        return out

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ reading

    def _pages(self, cfg: SoapStream, pos: dict, page_size: int | None = None,
               groups: list[dict] | None = None) -> Iterator[list[dict]]:
        size = page_size or cfg.page_size
        start = int(pos.get("fetch_start", 0))
        while True:
            records = (self._adf_page(cfg, start, size, pos.get("since"), groups) if cfg.style == "adf"
                       else self._isg_page(cfg, start, size))
            if records:
                yield records
            if len(records) < size or page_size or not (cfg.style == "adf" or cfg.offset_param):
                return
            start += len(records)

    def _adf_page(self, cfg: SoapStream, start: int, size: int, since: Any, groups: list | None) -> list[dict]:
        items = [_item(f["attribute"], f.get("operator", "="), f.get("value")) for f in cfg.filters]
        if since is not None and cfg.cursor_field:
            items.append(_item(cfg.cursor_field, ">", since))
        rows = list(groups or [])
        if items:
            rows = [{"conjunction": "And", "item": items + row["item"]} for row in rows] or [{"item": items}]
        criteria: dict[str, Any] = {"fetchStart": start, "fetchSize": size}
        if rows:
            criteria["filter"] = {"group": rows}
        order = ([cfg.cursor_field] if cfg.cursor_field else []) + cfg.primary_key
        if order:
            criteria["sortOrder"] = {"sortAttribute": [{"name": a, "descending": False} for a in order]}
        if cfg.find_attributes:
            criteria["findAttribute"] = cfg.find_attributes
        result = self.call(cfg.operation, findCriteria=criteria, findControl={"retrieveAllTranslations": False})
        return [_record(r) for r in (result or [])]

    def _isg_page(self, cfg: SoapStream, start: int, size: int) -> list[dict]:
        args = dict(cfg.arguments)
        if cfg.offset_param:
            args[cfg.offset_param] = start
        if cfg.limit_param:
            args[cfg.limit_param] = size
        out = _plain(self.call(cfg.operation, **args))
        status = str(out.get("X_RETURN_STATUS") or "S")
        if status not in OK_STATUSES:
            raise FatalError(f"{cfg.operation} returned X_RETURN_STATUS={status}: {_messages(out, ['X_MSG_DATA'])}")
        for step in cfg.result_path:
            out = (out or {}).get(step) if isinstance(out, dict) else out
        return [_record(r) for r in (out or [])]

    # ------------------------------------------------------------------ writing

    def _write_one(self, item: WriteItem) -> ItemOutcome:
        cfg = self._target(item.target)
        payload = {cfg.parameters.get(k, k): v for k, v in {**item.key, **item.values}.items()}
        try:
            if cfg.style == "adf":
                self.call(cfg.operation, **{cfg.argument or "object": payload})
                return ItemOutcome(item.ref, "applied", http_status=200)
            out = _plain(self.call(cfg.operation, **payload))
        except Fault as fault:
            return ItemOutcome(item.ref, "rejected", _fault_text(fault), http_status=500)
        except ValidationError as exc:
            return ItemOutcome(item.ref, "rejected", f"invalid for {cfg.operation}: {exc}")
        except AuthError:
            raise
        except RetriableError as exc:
            return ItemOutcome(item.ref, "retriable", str(exc))
        status = str(out.get(cfg.return_status) or "")
        if status in OK_STATUSES:
            return ItemOutcome(item.ref, "applied", http_status=200)
        text = _messages(out, cfg.message_fields) or f"{cfg.return_status}={status or 'missing'}"
        return ItemOutcome(item.ref, "rejected", f"{cfg.return_status}={status}: {text}", http_status=200)

    def _stream(self, name: str) -> SoapStream:
        if name not in self.options.streams:
            raise FatalError(f"oracle_soap: no stream {name!r}; configured: {', '.join(self.options.streams)}")
        return self.options.streams[name]

    def _target(self, name: str) -> SoapTarget:
        if name not in self.options.targets:
            raise FatalError(f"oracle_soap: no target {name!r}; configured: {', '.join(self.options.targets)}")
        return self.options.targets[name]


# ---------------------------------------------------------------------- helpers


def _item(attribute: str, operator: str, value: Any) -> dict[str, Any]:
    values = value if isinstance(value, list) else [value]
    return {"attribute": attribute, "operator": operator, "value": [_text(v) for v in values]}


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _plain(obj: Any) -> Any:
    """zeep objects -> plain dicts/lists (nested), keeping None for absent elements."""
    value = serialize_object(obj, target_cls=dict)
    return value if value is not None else {}


def _record(obj: Any) -> dict[str, Any]:
    """A raw record: the elements the service sent (absent optional elements and empty lists dropped)."""
    return {k: v for k, v in _plain(obj).items() if v is not None and v != []}


def _max(current: Any, values: list[Any]) -> Any:
    present = [v for v in values if v is not None] + ([current] if current is not None else [])
    if not present:
        return None
    best = max(present, key=_text)
    return _text(best)


def _key_tuple(record: dict, fields: list[str]) -> tuple:
    return tuple(str(record.get(f)) for f in fields)


def _messages(out: dict, fields: list[str]) -> str:
    """FND message text from ISG output fields (a string or a list of message items)."""
    parts: list[str] = []
    for name in fields:
        value = out.get(name)
        if isinstance(value, dict):
            value = next(iter(value.values()), None)
        if isinstance(value, list):
            parts.extend(str(v if not isinstance(v, dict) else next(iter(v.values()), "")) for v in value)
        elif value:
            parts.append(str(value))
    return "; ".join(p for p in parts if p)


def _fault_text(fault: Fault) -> str:
    """faultstring plus the ADF ServiceErrorMessage text, which carries the JBO code and message."""
    text = fault.message or "SOAP fault"
    if fault.detail is not None:
        extra = [e.text.strip() for e in fault.detail.iter() if isinstance(e.tag, str)
                 and e.tag.endswith("}message") and e.text and e.text.strip() not in text]
        if extra:
            text += " | " + " ".join(extra[:3])
    return text
