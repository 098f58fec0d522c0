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
      findSalesAccount: {operation: findSalesAccount, primary_key: [PartyId], cursor_field: LastUpdateDate}
    targets:
      updateSalesAccount: {operation: updateSalesAccount, argument: salesAccount, read_stream: findSalesAccount}

Reads page by key (oracle_keyset: `PartyId > last read`, sorted by the key), never by `fetchStart`
over `LastUpdateDate`, so an edit during the read cannot shift a record past a page boundary; an
incremental read filters `cursor >= high-water mark - overlap` (connectors.incremental).
A SOAP Fault with a WS-Security code is an AuthError (soap_faults); an answer that is not a sound
SOAP envelope fails the stream with URL, status and first bytes (oracle_answers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import ExternalReferenceForbidden, Fault, ValidationError
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from basics import secrets
from basics.errors import ConfigError
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
from connectors.http.client import HttpClient, HttpTransportOptions
from connectors.incremental import Checkpoint, IncrementalOptions, LiteralStyle, PageGuard, cursor_literal
from connectors.oracle.oracle_answers import head
from connectors.oracle.oracle_keyset import Keyset
from connectors.oracle.soap_faults import SoapFault, fault_error
from connectors.oracle.transport import SoapTransport
from connectors.outcome_policy import outcomes_for_error

log = logging.getLogger("segbridge.oracle.soap")
OK_STATUSES = frozenset({"S", "SUCCESS"})


class SoapStream(StrictModel):
    """A readable stream: one find (ADF) or query procedure (ISG)."""

    operation: str
    style: Literal["adf", "isg"] = "adf"
    primary_key: list[str] = Field(default_factory=list, description="ADF: the stable key reads page by")
    cursor_field: str | None = Field(None, description="ADF: change timestamp filtered with '>=' for increments")
    page_size: int = Field(100, ge=1, le=5000)
    find_attributes: list[str] = Field(default_factory=list, description=(
        "ADF findAttribute: fetch only these (plus the fields the mapping reads, the key and the cursor)"))
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


class OracleSoapOptions(HttpTransportOptions, IncrementalOptions):
    """The SOAP specifics plus the HttpOptions keys (timeouts, retries, TLS, ...) and `overlap_seconds`,
    flat; the HTTP base URL is `endpoint`."""

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


class OracleSoapStreamOptions(StrictModel):
    """A mapping's `source.options` for an oracle_soap stream."""

    equals: dict[str, str] = Field(default_factory=dict, description=(
        "ADF: attribute = value conditions ANDed to every find, e.g. {ClassCategory: SEGBRIDGE_SEGMENT}"))
    arguments: dict[str, Any] = Field(default_factory=dict, description=(
        "ISG: input parameters added to the stream's own, e.g. {P_CLASS_CATEGORY: SEGBRIDGE_SEGMENT}"))


class OracleSoapConnector(Connector):
    kind = "oracle_soap"
    Options = OracleSoapOptions
    StreamOptions = OracleSoapStreamOptions
    write_batch_max = 1  # updateSalesAccount holds one salesAccount (SalesPartyService.xsd); an ISG call one party
    description = "Oracle Fusion ADF and EBS ISG SOAP services through zeep (local WSDL/XSD)"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.http = HttpClient(self.options.http_options(self.options.endpoint))
        self._client: Client | None = None
        self._transport: SoapTransport | None = None
        self._service = None

    # ------------------------------------------------------------------ client

    @property
    def client(self) -> Client:
        """The zeep Client, built once per connector (parsing a Fusion WSDL is not free)."""
        if self._client is None:
            o = self.options
            self._transport = SoapTransport(self.http, schema_map=o.schema_map, schema_dir=o.schema_dir,
                                            operation_timeout=o.operation_timeout)
            settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                                xml_huge_tree=False)
            wsse = None
            if o.username:
                wsse = UsernameToken(secrets.resolve(o.username, what="oracle_soap.username"),
                                     secrets.resolve(o.password, what="oracle_soap.password"))
            try:
                self._client = Client(o.wsdl, transport=self._transport, settings=settings, wsse=wsse)
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

    def call(self, operation: str, *, what: str | None = None, **kwargs: Any) -> Any:
        """One SOAP call. Every failure is a ConnectorError naming the system, the stream or target
        (`what`), the operation and the URL: an authentication fault an AuthError, another fault a
        SoapFault, an answer that does not fit the WSDL a FatalError; never a zeep traceback."""
        if self.options.soap_headers:
            kwargs["_soapheaders"] = self.options.soap_headers
        where = f"{self.name}{'.' + what if what else ''}: {operation} at {secrets.redact(self.options.endpoint)}"
        try:
            return getattr(self.service, operation)(**kwargs)
        except Fault as fault:
            raise fault_error(fault, where, self._last_status(), self._last_head()) from None
        except ConnectorError as exc:
            exc.message = f"{self.name}{'.' + what if what else ''}: {operation}: {exc.message}"
            exc.args = (exc.message,)
            raise
        except ValidationError as exc:  # zeep refused to build the request: nothing was sent
            raise FatalError(f"{where}: the request does not fit the WSDL: {secrets.redact(str(exc))[:300]}",
                             hint="check the stream's arguments and options against the operation's input") from None
        except (ZeepError, ValueError, TypeError) as exc:
            body = f"; the body starts {self._last_head()}" if self._last_head() else ""
            raise FatalError(f"{where}: HTTP {self._last_status() or '?'}: the answer does not fit the WSDL: "
                             f"{type(exc).__name__}: {secrets.redact(str(exc))[:300]}{body}",
                             hint="check that the WSDL is the service's own (a wrong namespace is a wrong service "
                                  "or version)") from None

    def _last_head(self) -> str | None:
        last = getattr(self._transport, "last", None)
        return head(last) if last is not None else None

    def _last_status(self) -> int | None:
        last = getattr(self._transport, "last", None)
        return last.status_code if last is not None else None

    def requests_sent(self) -> int | None:
        return self.http.attempts

    # ------------------------------------------------------------------ hooks

    def check(self) -> CheckResult:
        try:
            ops = sorted(self.client.service._binding._operations)
            for name, stream in self.options.streams.items():
                if stream.style == "adf":
                    self._find(stream, name, {"fetchStart": 0, "fetchSize": 1})
                else:
                    self._isg_page(stream, name, OracleSoapStreamOptions(), 0, 1)
                return CheckResult(True, f"{name}: {stream.operation} answered", {"operations": len(ops)})
            return CheckResult(True, f"WSDL loaded: {len(ops)} operations", {"operations": len(ops)})
        except (ConnectorError, OSError) as exc:
            return CheckResult(False, f"{type(exc).__name__}: {secrets.redact(str(exc))}")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(name, list(s.primary_key), s.cursor_field, writable=name in self.options.targets)
                for name, s in self.options.streams.items()]

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self._stream(stream.name)
        opts = self.stream_options(stream)
        where = f"{self.name}.{stream.name}"
        cp = Checkpoint.load(state, where=where)
        if cfg.style == "isg":
            yield from self._read_isg(cfg, stream.name, opts, cp)
            return
        keys = cfg.primary_key or stream.primary_key
        if not keys:
            raise ConfigError(f"{where}: an ADF stream needs primary_key: reads page by it",
                              hint="set streams.<name>.primary_key, e.g. [PartyId]")
        lower = cp.lower_bound(self.options.overlap) if cfg.cursor_field else None
        guard, pos = PageGuard(where), Keyset.load(cp.position)
        while True:
            guard.see(pos.dump())
            records = self._find(cfg, stream.name, self._criteria(cfg, opts, stream, keys, pos, lower))
            guard.page(records)
            if cfg.cursor_field:
                cp = cp.observe(r.get(cfg.cursor_field) for r in records)
            pos = pos.advance(records, keys[0], where)
            last = len(records) < cfg.page_size
            yield RecordBatch(records, (cp.done() if last else cp.at(pos.dump())).dump())
            if last:
                return

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        """One call per item; an authentication fault raises AuthError, so nothing more is sent."""
        return [self._write_one(item) for item in batch.items]

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self._target(target)
        name = cfg.read_stream or target
        stream = self._stream(name)
        if stream.style == "isg":
            wanted = {_key_tuple(k, list(k)) for k in keys}
            fields = list(keys[0]) if keys else []
            records = [r for b in self.read(StreamSpec(name), None) for r in b.records]
            return [r for r in records if _key_tuple(r, fields) in wanted]
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), 50):
            chunk = keys[i:i + 50]
            groups = [{"conjunction": "Or", "item": [_item(k, "=", v) for k, v in key.items()]} for key in chunk]
            out.extend(self._find(stream, name, {"fetchStart": 0, "fetchSize": len(chunk),
                                                 "filter": {"group": groups}}))
        return out

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ reading

    def _criteria(self, cfg: SoapStream, opts: OracleSoapStreamOptions, stream: StreamSpec, keys: list[str],
                  pos: Keyset, lower: datetime | None) -> dict[str, Any]:
        """findCriteria of the next page: the stream's filters, `cursor >= lower`, `key > last read`,
        sorted by the key only (a stable order), from fetchStart 0 (or the ties of a composite key)."""
        items = [_item(f["attribute"], f.get("operator", "="), f.get("value")) for f in cfg.filters]
        items += [_item(a, "=", v) for a, v in opts.equals.items()]
        if lower is not None:
            items.append(_item(cfg.cursor_field, ">=", cursor_literal(lower, LiteralStyle.ISO_Z)))
        start = 0
        condition = pos.condition(unique=len(keys) == 1)
        if condition:
            operator, value, start = condition
            items.append(_item(keys[0], operator, value))
        criteria: dict[str, Any] = {"fetchStart": start, "fetchSize": cfg.page_size,
                                    "sortOrder": {"sortAttribute": [{"name": k, "descending": False} for k in keys]}}
        if items:
            criteria["filter"] = {"group": [{"item": items}]}
        if cfg.find_attributes:
            extra = [*stream.fields, *keys, *([cfg.cursor_field] if cfg.cursor_field else [])]
            criteria["findAttribute"] = list(dict.fromkeys([*cfg.find_attributes, *(f for f in extra if "/" not in f)]))
        return criteria

    def _find(self, cfg: SoapStream, what: str, criteria: dict[str, Any]) -> list[dict]:
        result = self.call(cfg.operation, what=what, findCriteria=criteria,
                           findControl={"retrieveAllTranslations": False})
        return [_record(r) for r in (result or [])]

    def _read_isg(self, cfg: SoapStream, name: str, opts: OracleSoapStreamOptions,
                  cp: Checkpoint) -> Iterator[RecordBatch]:
        """ISG procedures page by their offset parameter; the package must order by a stable key
        (XX_SEGBRIDGE_CUST_PKG orders by PARTY_ID), so edits during the read move nothing."""
        guard = PageGuard(f"{self.name}.{name}")
        start = cp.position if isinstance(cp.position, int) else 0
        while True:
            guard.see(start)
            records = self._isg_page(cfg, name, opts, start, cfg.page_size)
            guard.page(records)
            start += len(records)
            last = len(records) < cfg.page_size or not cfg.offset_param
            yield RecordBatch(records, (cp.done() if last else cp.at(start)).dump())
            if last:
                return

    def _isg_page(self, cfg: SoapStream, what: str, opts: OracleSoapStreamOptions, start: int,
                  size: int) -> list[dict]:
        args = {**cfg.arguments, **opts.arguments}
        if cfg.offset_param:
            args[cfg.offset_param] = start
        if cfg.limit_param:
            args[cfg.limit_param] = size
        out = _plain(self.call(cfg.operation, what=what, **args))
        status = str(out.get("X_RETURN_STATUS") or "S")
        if status not in OK_STATUSES:
            raise FatalError(f"{self.name}.{what}: {cfg.operation} returned X_RETURN_STATUS={status}: "
                             f"{_messages(out, ['X_MSG_DATA'])}")
        for step in cfg.result_path:
            out = (out or {}).get(step) if isinstance(out, dict) else out
        return [_record(r) for r in (out or [])]

    # ------------------------------------------------------------------ writing

    def _write_one(self, item: WriteItem) -> ItemOutcome:
        cfg = self._target(item.target)
        payload = {cfg.parameters.get(k, k): v for k, v in {**item.key, **item.values}.items()}
        try:
            if cfg.style == "adf":
                self.call(cfg.operation, what=item.target, **{cfg.argument or "object": payload})
                return ItemOutcome(item.ref, OutcomeStatus.APPLIED, http_status=200)
            out = _plain(self.call(cfg.operation, what=item.target, **payload))
        except SoapFault as exc:  # the service's own refusal of this item (JBO-...)
            return ItemOutcome(item.ref, OutcomeStatus.REJECTED, exc.fault_text, http_status=exc.status)
        except ConnectorError as exc:  # an AuthError is raised again here: the apply stops sending
            return outcomes_for_error([item], exc)[0]
        status = str(out.get(cfg.return_status) or "")
        if status in OK_STATUSES:
            return ItemOutcome(item.ref, OutcomeStatus.APPLIED, http_status=200)
        text = _messages(out, cfg.message_fields) or f"{cfg.return_status}={status or 'missing'}"
        return ItemOutcome(item.ref, OutcomeStatus.REJECTED, f"{cfg.return_status}={status}: {text}", http_status=200)

    def _stream(self, name: str) -> SoapStream:
        if name not in self.options.streams:
            raise FatalError(f"{self.name}: no stream {name!r}; configured: {', '.join(self.options.streams)}",
                             hint="name the stream in options.streams as the mapping's source.name")
        return self.options.streams[name]

    def _target(self, name: str) -> SoapTarget:
        if name not in self.options.targets:
            raise FatalError(f"{self.name}: no target {name!r}; configured: {', '.join(self.options.targets)}",
                             hint="name the target in options.targets as the mapping's reverse.entity")
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
