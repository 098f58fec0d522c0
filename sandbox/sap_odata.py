"""SAP S/4HANA OData V2 sandbox: API_PRODUCT_SRV, API_BUSINESS_PARTNER, API_SALES_ORDER_SRV.

Behaves like SAP Gateway where segbridge depends on it: `$metadata` (SAP's published EDMX when
`metadata_dir` points at it, else our minimal copies in sandbox/metadata), CSRF tokens bound to
the session cookie (`x-csrf-token: Fetch`; 403 "CSRF token validation failed"), ETags (If-Match
required: 428 when missing, 412 when stale), `$batch` with changesets (a failing changeset rolls
back and answers alone; the others go on), server paging with `__next`/`$skiptoken`,
`$inlinecount`, `$filter` (typed literals), `$select`/`$expand`, SAP-style error bodies for
unknown entity sets and properties, read-only properties and check-table values. Faults,
throttling and the request log come from sandbox.server.

Example:
    >>> app = build_app(metadata_dir="../shared/sap/odata")          # doctest: +SKIP
    >>> with serve(app) as server: ...
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets as pysecrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from connectors.sap.metadata import EntitySet, ServiceMetadata, parse_metadata
from sandbox import sap_odata_seed
from sandbox.sap_odata_batch import run_batch, single_query
from sandbox.sap_odata_knobs import MALFORMED, delta_answer, delta_link, malformed_answer
from sandbox.sap_odata_query import FilterError, compile_filter, to_python
from sandbox.server import Request, Response, SandboxApp

SERVICES = ("API_PRODUCT_SRV", "API_BUSINESS_PARTNER", "API_SALES_ORDER_SRV")
MINIMAL_METADATA = Path(__file__).parent / "metadata"
SESSION_COOKIE = "SAP_SESSIONID_SBX_100"
# Check tables behind the fields segbridge writes (a value outside them fails like SAP's "check entry").
CHECK_TABLES = {
    "MRPType": ("T438A", {"PD", "VB", "VM", "V1", "V2", "VV", "ND", "X0", "M0", "R1"}),
    "LotSizingProcedure": ("T439A", {"EX", "FX", "HB", "WB", "MB", "TB", "FS"}),
    "ABCIndicator": ("TMABC", {"", "A", "B", "C"}),
    "ShippingCondition": ("TVSB", {"", "01", "02", "03", "04", "05", "06", "10", "11", "12"}),
    "DeliveryPriority": ("TPRIO", {"", "01", "02", "03", "04", "05"}),
}


# Properties with the ALPHA conversion exit (KUNNR, VBELN) and NUMC items (POSNR): SAP keeps and returns
# numeric values padded ('0000100234', '000010'); alphanumeric ones ('C00001') stay as they are. A key
# predicate must name the record as SAP holds it: `A_Customer('100234')` is 404 Not Found while
# `A_Customer('0000100234')` finds it (../shared/reference/wave2_notes.md: address a record exactly as
# the service returned it). A person's edit through `edit()` converts as the SAP GUI does.
ALPHA_FIELDS = {"Customer": 10, "SoldToParty": 10, "ShipToParty": 10, "SalesOrder": 10, "SalesOrderItem": 6}


def alpha_in(name: str, value: Any) -> Any:
    """ALPHA input conversion for `name` (pad purely numeric values with zeros), else the value unchanged."""
    width = ALPHA_FIELDS.get(name)
    if width and isinstance(value, str) and value.isdigit() and len(value) < width:
        return value.zfill(width)
    return value


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, target: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


def sap_error(status: int, code: str, message: str, target: str = "") -> Response:
    """An error body shaped like SAP Gateway's (error.code, message.value, innererror.errordetails)."""
    body = {"error": {"code": code, "message": {"lang": "en", "value": message}, "innererror": {
        "application": {"component_id": "SANDBOX", "service_namespace": "/SAP/", "service_id": "", "service_version": "0001"},
        "transactionid": uuid.uuid4().hex.upper(), "timestamp": datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f"),
        "errordetails": [{"code": code, "message": message, "propertyref": target, "severity": "error",
                          "target": target}]}}}
    return Response.json(body, status)


class SapODataSandbox:
    """State behind the app: metadata, entities, CSRF sessions; one lock for consistency."""

    def __init__(self, metadata: dict[str, ServiceMetadata], page_size: int, csrf: bool,
                 auth: tuple[str, str] | None, service_root: str):
        self.metadata = metadata
        self.page_size = page_size
        self.csrf = csrf
        self.auth = auth
        self.root = service_root.rstrip("/")
        self.data: dict[tuple[str, str], dict[tuple, dict[str, Any]]] = {}
        self.sessions: dict[str, str] = {}
        self.lock = threading.RLock()
        self.clock = datetime.now(UTC).replace(microsecond=0)
        self.csrf_refusals = 0           # refuse this many modifying requests next (a session timeout)
        self.refuse_nav_filter = False   # 400 on $filter over a navigation path, as some Gateways do
        self.malformed: list[tuple[str, str, int]] = []  # (kind, path regex, times) answers to send
        self.tracked: set[str] = set()   # entity sets that give delta links (sap:change-tracking)
        self.changes: list[tuple[int, str, str, tuple, bool]] = []  # (seq, service, set, key, deleted)

    # ------------------------------------------------------------------ knobs for tests

    def refuse_csrf(self, times: int) -> None:
        """The next `times` modifying requests get 403 `x-csrf-token: Required` whatever token they
        carry, and the session's token is forgotten: a Gateway that refuses a fresh token again
        (session timeout, another application server)."""
        with self.lock:
            self.csrf_refusals = times
            self.sessions.clear()

    def malform(self, kind: str, path: str = ".*", times: int = 1) -> None:
        """Answer the next `times` GETs whose path matches with a malformed 200 (`MALFORMED` kinds)."""
        if kind not in MALFORMED:
            raise ValueError(f"unknown malformed answer {kind!r}; one of {sorted(MALFORMED)}")
        self.malformed.append((kind, path, times))

    def track_changes(self, *set_names: str) -> None:
        """These entity sets give a delta link on the last page and answer `!deltatoken` reads."""
        self.tracked.update(set_names)

    def changed(self, service: str, set_name: str, key: tuple, deleted: bool = False) -> None:
        with self.lock:
            self.changes.append((len(self.changes) + 1, service, set_name, key, deleted))

    def delete(self, service: str, set_name: str, key: dict[str, Any]) -> None:
        """A record deleted in SAP (a delta read gives its tombstone)."""
        with self.lock:
            es = self.metadata[service].entity_sets[set_name]
            held = tuple(str(alpha_in(k, key[k])) for k in es.keys)
            del self.data[(service, set_name)][held]
            self.changed(service, set_name, held, deleted=True)

    # ------------------------------------------------------------------ data

    def load(self, seed: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        for service, sets in seed.items():
            if service not in self.metadata:
                continue
            for name, rows in sets.items():
                es = self.metadata[service].entity_sets.get(name)
                if es is None:
                    continue
                table = self.data.setdefault((service, name), {})
                for row in rows:
                    entity = {k: alpha_in(k, v) for k, v in row.items() if k in es.properties}
                    table[tuple(str(entity[k]) for k in es.keys)] = entity

    def expire_csrf_tokens(self) -> None:
        """Forget every issued token (as after a session timeout): the next write gets 403."""
        with self.lock:
            self.sessions.clear()

    def touch(self, service: str, set_name: str, count: int) -> list[tuple]:
        """Change `count` entities as a user in SAP would (new LastChangeDateTime); returns their keys."""
        with self.lock:
            keys = sorted(self.data.get((service, set_name), {}))[:count]
            for key in keys:
                self.data[(service, set_name)][key]["LastChangeDateTime"] = self.tick()
                self.changed(service, set_name, key)
            return keys

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one property in SAP (`target` is `SERVICE/EntitySet`): the entity's change
        time, and so its ETag, moves on, so a write holding the ETag read before is refused with 412."""
        service, _, set_name = target.rpartition("/")
        with self.lock:
            es = self.metadata[service].entity_sets[set_name]
            entity = self.entity(service, set_name, {k: alpha_in(k, v) for k, v in key.items()})
            if entity is None:
                raise KeyError(f"{target} {key} does not exist")
            entity[field] = alpha_in(field, value)
            self.stamp(es, entity)
            self.changed(service, set_name, tuple(str(entity[k]) for k in es.keys))

    def stamp(self, es: EntitySet, entity: dict[str, Any]) -> None:
        """A new change time on the entity (its ETag property too, when that is another one)."""
        now = self.tick()
        if "LastChangeDateTime" in es.properties:
            entity["LastChangeDateTime"] = now
        if es.etag_property and es.etag_property != "LastChangeDateTime":
            entity[es.etag_property] = now

    def entity(self, service: str, set_name: str, key: dict[str, str]) -> dict[str, Any] | None:
        es = self.metadata[service].entity_sets[set_name]
        return self.data.get((service, set_name), {}).get(tuple(str(key.get(k)) for k in es.keys))

    def rows(self, service: str, set_name: str) -> list[dict[str, Any]]:
        return list(self.data.get((service, set_name), {}).values())

    def etag(self, es: EntitySet, entity: dict[str, Any]) -> str | None:
        prop = es.etag_property
        if not prop:
            return None
        when = to_python(es.properties[prop].edm_type, entity.get(prop))
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z" if when else ""
        return f"W/\"datetimeoffset'{quote(stamp, safe='.-')}'\""

    def tick(self) -> str:
        """A fresh, strictly increasing change timestamp (`/Date(ms+0000)/`)."""
        with self.lock:
            self.clock = max(self.clock + timedelta(milliseconds=1), datetime.now(UTC))
            return f"/Date({int(self.clock.timestamp() * 1000)}+0000)/"


# --------------------------------------------------------------------------- key predicates and JSON


def parse_key(es: EntitySet, text: str) -> dict[str, str]:
    """`Product='A',Plant='1010'` (or `'A'` for a single key) -> values; 400 on anything else."""
    values, rest = {}, text.strip()
    while rest:
        name, eq, after = rest.partition("=")
        if not eq or not after.startswith("'"):
            if len(es.keys) == 1 and rest.startswith("'"):
                name, after = es.keys[0], rest
            else:
                raise HttpError(400, "/IWBEP/CM_MGW_RT/020", f"Invalid key predicate '{text}'")
        i = 1
        while True:
            i = after.find("'", i)
            if i < 0:
                raise HttpError(400, "/IWBEP/CM_MGW_RT/020", f"Invalid key predicate '{text}'")
            if after[i:i + 2] == "''":
                i += 2
                continue
            break
        values[name.strip()] = after[1:i].replace("''", "'")
        rest = after[i + 1:].lstrip(",").strip()
    if sorted(values) != sorted(es.keys):
        raise HttpError(400, "/IWBEP/CM_MGW_RT/020", f"Key predicate of {es.name} needs {', '.join(es.keys)}")
    return values


def _default(prop) -> Any:
    """What SAP returns for a property nobody filled: blanks, zeros with the scale, false, null dates."""
    if prop.edm_type == "Edm.Decimal":
        return sap_odata_seed.dec(0, prop.scale or 0)
    return {"Edm.String": "", "Edm.Boolean": False}.get(prop.edm_type)


class Handler:
    """Executes one OData request (top-level or inside a `$batch`) against the sandbox state."""

    error = staticmethod(sap_error)

    def __init__(self, state: SapODataSandbox, base_url: str, service: str):
        self.state, self.base_url, self.service = state, base_url, service
        self.meta = state.metadata[service]
        self.journal: list[tuple[dict[str, Any], dict[str, Any]]] | None = None

    def entity_set(self, name: str) -> EntitySet:
        es = self.meta.entity_sets.get(name)
        if es is None:
            raise HttpError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for the segment '{name}'")
        return es

    def navigate(self, es: EntitySet, entity: dict[str, Any], nav: str) -> Any:
        target = self.meta.set_of_type(es.navigation.get(nav, ""))
        if target is None:
            raise HttpError(400, "/IWBEP/CM_MGW_RT/004", f"Property {nav} not found in type {es.type_name}")
        if all(k in entity for k in target.keys):
            return self.state.entity(self.service, target.name, {k: entity[k] for k in target.keys}), target
        rows = [r for r in self.state.rows(self.service, target.name) if all(r.get(k) == entity.get(k) for k in es.keys)]
        return rows, target

    def value(self, es: EntitySet, entity: dict[str, Any], path: str) -> Any:
        nav, _, prop = path.partition("/")
        if not prop:
            return entity.get(path)
        child, target = self.navigate(es, entity, nav)
        return self.value(target, child, prop) if isinstance(child, dict) else None

    def to_json(self, es: EntitySet, entity: dict[str, Any], select: list[str] | None,
                expand: list[str]) -> dict[str, Any]:
        uri = f"{self.base_url}/{es.name}({','.join(f'{k}={_quoted(entity[k])}' for k in es.keys)})"
        meta = {"id": uri, "uri": uri, "type": es.type_name}
        if (etag := self.state.etag(es, entity)) is not None:
            meta["etag"] = etag
        out: dict[str, Any] = {"__metadata": meta}
        top = [s for s in select or [] if "/" not in s]
        for name, prop in es.properties.items():
            if select is None or name in top or "*" in top:
                out[name] = entity.get(name, _default(prop))
        for nav in es.navigation:
            if nav in expand:
                child, target = self.navigate(es, entity, nav)
                sub = [s.split("/", 1)[1] for s in select or [] if s.startswith(nav + "/")] or None
                out[nav] = (self.to_json(target, child, sub, []) if isinstance(child, dict)
                            else {"results": [self.to_json(target, c, sub, []) for c in child or []]})
            elif select is None:
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        return out

    # ------------------------------------------------------------------ reads

    def collection(self, es: EntitySet, query: dict[str, str]) -> Response:
        expand = [e.strip() for e in query.get("$expand", "").split(",") if e.strip()]
        select = [s.strip() for s in query["$select"].split(",")] if query.get("$select") else None
        for path in (select or []) + expand:
            if path != "*" and self.meta.property_at(es.name, path) is None and path not in es.navigation:
                raise HttpError(400, "/IWBEP/CM_MGW_RT/004", f"Property {path} not found in type {es.type_name}")
        if "!deltatoken" in query:
            return delta_answer(self, es, query, select)
        rows = self.state.rows(self.service, es.name)
        if self.state.refuse_nav_filter and "/" in query.get("$filter", ""):
            raise HttpError(400, "/IWBEP/CM_MGW_RT/022",
                            "Filter on navigation properties is not supported by this service implementation")
        if query.get("$filter"):
            try:
                test = compile_filter(query["$filter"], lambda p: self.meta.property_at(es.name, p))
            except FilterError as exc:
                raise HttpError(400, "/IWBEP/CM_MGW_RT/022", str(exc)) from None
            rows = [r for r in rows if test(lambda p, r=r: self.value(es, r, p))]
        for clause in reversed([o.split() for o in query.get("$orderby", ",".join(es.keys)).split(",") if o.strip()]):
            prop = self.meta.property_at(es.name, clause[0])
            rows.sort(key=lambda r, p=clause[0], t=prop: _sortable(t, self.value(es, r, p)),
                      reverse=clause[-1].lower() == "desc")
        skip, top = int(query.get("$skip") or 0), query.get("$top")
        window = rows[skip:skip + int(top)] if top else rows[skip:]
        offset = int(query.get("$skiptoken") or 0)
        page = window[offset:offset + self.state.page_size]
        body: dict[str, Any] = {"results": [self.to_json(es, r, select, expand) for r in page]}
        if query.get("$inlinecount") == "allpages":
            body["__count"] = str(len(rows))
        if offset + len(page) < len(window):
            nxt = {k: v for k, v in query.items() if k != "$skiptoken"} | {"$skiptoken": str(offset + len(page))}
            body["__next"] = f"{self.base_url}/{es.name}?{urlencode(nxt, safe='$,/')}"
        elif es.name in self.state.tracked:
            body["__delta"] = delta_link(self.base_url, es, self.state)
        return Response.json({"d": body})

    def single(self, es: EntitySet, key: dict[str, str], query: dict[str, str]) -> Response:
        entity = self.find(es, key)
        select = [s.strip() for s in query["$select"].split(",")] if query.get("$select") else None
        expand = [e.strip() for e in query.get("$expand", "").split(",") if e.strip()]
        etag = self.state.etag(es, entity)
        return Response.json({"d": self.to_json(es, entity, select, expand)}, headers={"ETag": etag} if etag else {})

    def find(self, es: EntitySet, key: dict[str, str]) -> dict[str, Any]:
        entity = self.state.entity(self.service, es.name, key)
        if entity is None:
            raise HttpError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for the segment '{es.name}'")
        return entity

    # ------------------------------------------------------------------ writes

    def update(self, es: EntitySet, key: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        if not es.updatable:
            raise HttpError(405, "/IWBEP/CM_MGW_RT/025", f"Update of entity set {es.name} is not supported")
        entity = self.find(es, key)
        etag = self.state.etag(es, entity)
        if etag is not None:
            sent = headers.get("if-match")
            if not sent:
                raise HttpError(428, "/IWBEP/CM_MGW_RT/013", f"Precondition required: {es.name} needs If-Match")
            if sent not in ("*", etag):
                raise HttpError(412, "/IWBEP/CM_MGW_RT/012",
                                "Precondition failed: the entity was changed by another user; read it again")
        try:
            values = json.loads(body or b"{}")
            if not isinstance(values, dict):
                raise ValueError
        except ValueError:
            raise HttpError(400, "/IWBEP/CM_MGW_RT/005", "Malformed JSON in request body") from None
        for name, value in values.items():
            self.check_property(es, entity, name, value)
        if self.journal is not None:
            self.journal.append((entity, dict(entity)))
        entity.update({k: v for k, v in values.items() if k not in es.keys and k != "__metadata"})
        self.state.stamp(es, entity)
        self.state.changed(self.service, es.name, tuple(str(entity[k]) for k in es.keys))
        new = self.state.etag(es, entity)
        return Response(204, b"", {"ETag": new} if new else {})

    def check_property(self, es: EntitySet, entity: dict[str, Any], name: str, value: Any) -> None:
        if name == "__metadata":
            return
        prop = es.properties.get(name)
        if prop is None:
            raise HttpError(400, "/IWBEP/CM_MGW_RT/004", f"Property {name} is invalid", name)
        if name in es.keys:
            if str(value) != str(entity.get(name)):
                raise HttpError(400, "/IWBEP/CM_MGW_RT/018", f"Key property {name} cannot be changed", name)
            return
        if not prop.updatable:
            raise HttpError(400, "/IWBEP/CM_MGW_RT/019", f"Property {name} is not updatable (read-only)", name)
        if prop.edm_type == "Edm.String":
            if not isinstance(value, str):
                raise HttpError(400, "/IWBEP/CM_MGW_RT/006", f"Invalid value for property {name}: expected a string", name)
            if prop.max_length and len(value) > prop.max_length:
                raise HttpError(400, "/IWBEP/CM_MGW_RT/007",
                                f"Value '{value}' of property {name} exceeds the maximum length {prop.max_length}", name)
        elif prop.edm_type == "Edm.Decimal":
            self.check_decimal(name, prop, value)
        if name in CHECK_TABLES and value not in CHECK_TABLES[name][1]:
            raise HttpError(400, "00/058", f"Entry {value} does not exist in {CHECK_TABLES[name][0]} (check entry)", name)

    @staticmethod
    def check_decimal(name: str, prop, value: Any) -> None:
        if not isinstance(value, str):
            raise HttpError(400, "/IWBEP/CM_MGW_RT/006",
                            f"Invalid value for property {name}: Edm.Decimal must be sent as a string", name)
        number = to_python("Edm.Decimal", value)
        if number is None:
            raise HttpError(400, "/IWBEP/CM_MGW_RT/006", f"Invalid value '{value}' for property {name}", name)
        scale = prop.scale or 0
        digits = len(number.quantize(1).copy_abs().to_integral_value().to_eng_string().lstrip("0"))
        if -number.as_tuple().exponent > scale or (prop.precision and digits > prop.precision - scale):
            raise HttpError(400, "/IWBEP/CM_MGW_RT/006",
                            f"Value {value} of property {name} does not fit Decimal({prop.precision},{scale})", name)

    # ------------------------------------------------------------------ dispatch

    def execute(self, method: str, rel: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        try:
            with self.state.lock:
                return self._execute(method, rel, query, headers, body)
        except HttpError as exc:
            return sap_error(exc.status, exc.code, exc.message, exc.target)

    def _execute(self, method: str, rel: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        name, paren, key_text = rel.strip("/").partition("(")
        es = self.entity_set(name)
        if not paren:
            if method != "GET":
                raise HttpError(405, "/IWBEP/CM_MGW_RT/025", f"{method} on the entity set {name} is not supported")
            return self.collection(es, query)
        if not key_text.endswith(")"):
            raise HttpError(400, "/IWBEP/CM_MGW_RT/020", f"Invalid key predicate in '{rel}'")
        key = parse_key(es, key_text[:-1])
        if method == "GET":
            return self.single(es, key, query)
        if method in ("PATCH", "MERGE", "PUT"):
            return self.update(es, key, headers, body)
        raise HttpError(405, "/IWBEP/CM_MGW_RT/025", f"{method} on {name} is not supported")


def _sortable(prop, value: Any) -> tuple:
    """A stored value in an order SAP sorts by: dates and numbers by value, text as text; blanks first."""
    typed = to_python(prop.edm_type, value) if prop is not None else value
    return (typed is not None and typed != "", typed if typed not in (None, "") else "")


def _quoted(value: Any) -> str:
    return "'" + quote(str(value).replace("'", "''"), safe="") + "'"


# --------------------------------------------------------------------------- the app


def load_metadata(metadata_dir: str | Path | None) -> dict[str, ServiceMetadata]:
    """SAP's published EDMX (`<dir>/<SERVICE>.edmx`) when a directory is given, else our minimal copies."""
    out = {}
    for service in SERVICES:
        if metadata_dir is not None:
            path = Path(metadata_dir) / f"{service}.edmx"
        else:
            path = MINIMAL_METADATA / f"{service}.xml"
        out[service] = _parsed(str(path), service)
    return out


@functools.lru_cache(maxsize=16)
def _parsed(path: str, service: str) -> ServiceMetadata:
    """Parsed once per process: SAP's EDMX files are large and the parse is read-only."""
    return parse_metadata(Path(path).read_bytes(), service)


def _session(req: Request) -> str | None:
    for chunk in (req.header("cookie") or "").split(";"):
        name, _, value = chunk.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return None


def _authorised(state: SapODataSandbox, req: Request) -> bool:
    if state.auth is None:
        return True
    kind, _, token = (req.header("authorization") or "").partition(" ")
    try:
        user, _, password = base64.b64decode(token).decode().partition(":")
    except ValueError:
        return False
    return kind.lower() == "basic" and (user, password) == state.auth


def _csrf(state: SapODataSandbox, req: Request, sid: str) -> tuple[Response | None, dict[str, str]]:
    """Issue a token on `Fetch`; refuse a modifying request whose token is not this session's."""
    sent = req.header("x-csrf-token") or ""
    if req.method in ("GET", "HEAD"):
        if sent.lower() == "fetch":
            with state.lock:
                return None, {"x-csrf-token": state.sessions.setdefault(sid, pysecrets.token_urlsafe(18))}
        return None, {}
    with state.lock:
        if state.csrf_refusals > 0:
            state.csrf_refusals -= 1
            state.sessions.pop(sid, None)
            return Response.text("CSRF token validation failed", 403, headers={"x-csrf-token": "Required"}), {}
    if state.csrf and (not sent or state.sessions.get(sid) != sent):
        return Response.text("CSRF token validation failed", 403, headers={"x-csrf-token": "Required"}), {}
    return None, {}


def _service_document(state: SapODataSandbox, service: str) -> Response:
    return Response.json({"d": {"EntitySets": sorted(state.metadata[service].entity_sets)}})


def _handle(state: SapODataSandbox, req: Request) -> Response:
    if not _authorised(state, req):
        return Response.text("Logon failed", 401, headers={"WWW-Authenticate": 'Basic realm="SAP NetWeaver"'})
    sid, cookie = _session(req), {}
    if sid is None:
        sid = uuid.uuid4().hex
        cookie = {"Set-Cookie": f"{SESSION_COOKIE}={sid}; path=/; HttpOnly"}
    service, rest = req.match["service"], req.match["rest"] or "/"
    if service not in state.metadata:
        return sap_error(404, "/IWFND/MED/170", f"No service found for namespace '', name '{service}', version '0001'")
    malformed = malformed_answer(state, req)
    if malformed is not None:
        return malformed
    refused, extra = _csrf(state, req, sid)
    if refused is not None:
        refused.headers.update(cookie)
        return refused
    base_url = f"http://{req.header('host', '127.0.0.1')}{state.root}/{service}"
    handler = Handler(state, base_url, service)
    if rest in ("/", ""):
        resp = _service_document(state, service)
    elif rest == "/$metadata":
        resp = Response(200, state.metadata[service].raw, {"Content-Type": "application/xml"})
    elif rest == "/$batch":
        resp = run_batch(handler, req) if req.method == "POST" else \
            sap_error(405, "/IWBEP/CM_MGW_RT/025", "$batch needs POST")
    else:
        resp = handler.execute(req.method, rest, single_query(req.query), req.headers, req.body)
    resp.headers.update({**extra, **cookie, "dataserviceversion": "2.0"})
    return resp


def build_app(dataset: Any = None, metadata_dir: str | Path | None = None, *, page_size: int = 1000,
              csrf: bool = True, auth: tuple[str, str] | None = None, requests_per_second: float | None = None,
              service_root: str = "/sap/opu/odata/sap", **_: Any) -> SandboxApp:
    """The SAP OData sandbox app; `app.state` holds the data (`app.state.expire_csrf_tokens()` etc.)."""
    state = SapODataSandbox(load_metadata(metadata_dir), page_size, csrf, auth, service_root)
    state.load(sap_odata_seed.from_dataset(dataset) if dataset is not None else sap_odata_seed.fallback())
    app = SandboxApp("sap")
    app.state = state
    app.edit = state.edit  # a person's edit in SAP: app.edit("SERVICE/EntitySet", key, field, value)
    app.requests_per_second = requests_per_second
    pattern = re.escape(state.root) + r"/(?P<service>[A-Za-z0-9_]+)(?P<rest>/.*)?"
    for method in ("GET", "HEAD", "POST", "PATCH", "MERGE", "PUT", "DELETE"):
        app.route(method, pattern)(lambda req: _handle(state, req))
    return app
