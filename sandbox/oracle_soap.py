"""An Oracle SOAP stand-in that validates every request body against the service's own XSDs.

Given the folder of the real Fusion SalesPartyService WSDL/XSDs (../shared/oracle/...), it serves
findSalesAccount / getSalesAccount / updateSalesAccount the ADF way (business errors are SOAP
faults with a ServiceErrorMessage detail). Without it, it serves the ISG-style
XX_SEGBRIDGE_CUST_PKG from sandbox/wsdl/ (business errors are HTTP 200 with X_RETURN_STATUS=E).
A request that does not validate gets an env:Client fault naming the schema error, so a client
bug cannot hide behind a lenient server.

What the stand-in does as Oracle does (sources in docs/oracle.md):
- WS-Security UsernameToken is checked when `users` is set; a wrong user or password is answered
  as Oracle's WS-Security layer (OWSM) answers it: HTTP 500 with a SOAP Fault whose code is
  `wsse:FailedAuthentication` (OASIS WSS 1.0 SOAP Message Security, section 12).
- findCriteria: `sortOrder` is honoured (default: PartyId), `fetchStart`/`fetchSize` count rows of
  the sorted, filtered result, and filter values are compared typed (numbers as numbers,
  timestamps as instants), as ADF converts a value to its attribute's type.

Knobs for the failures real systems produce:
- `app.state.edit_during_paging = True`: after the next find's page is served, the first record on
  it is edited (ClassCode, ObjectVersionNumber, LastUpdateDate = now), as a person would while a
  read pages on; `app.state.edited` lists the PartyIds edited.
- `app.state.malformed.append(kind)`: the next answer is broken: `html` (a proxy's page with 200),
  `empty` (200, no body), `truncated` (the real answer cut short), `dtd` (the real answer with a DTD
  declaring an entity), `namespace` (the envelope in a foreign namespace).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import xmlschema
from lxml import etree

from sandbox.server import Request, Response, SandboxApp

WSDL_DIR = Path(__file__).parent / "wsdl"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ADF_TYPES = "http://xmlns.oracle.com/apps/crmCommon/salesParties/salesPartiesService/types/"
ADF_DATA = "http://xmlns.oracle.com/apps/crmCommon/salesParties/salesPartiesService/"
ADF_ERR = "http://xmlns.oracle.com/adf/svc/errors/"
ADF_SVC = "{http://xmlns.oracle.com/adf/svc/types/}"
ISG = "http://xmlns.oracle.com/apps/ar/soaprovider/plsql/xx_segbridge_cust_pkg/"
ADF_PATH = "/crmCommonSalesParties/SalesPartyService"
ISG_PATH = "/webservices/SOAProvider/plsql/xx_segbridge_cust_pkg/"
CATEGORY = "SEGBRIDGE_SEGMENT"
FIELDS = ["PartyId", "PartyNumber", "PartyName", "SalesAccountId", "ClassCategory", "ClassCode",
          "LastUpdateDate", "ObjectVersionNumber"]


@functools.lru_cache(maxsize=4)
def load_schema(folder: str | None) -> xmlschema.XMLSchema:
    """All XSDs of the service in one schema (several files share a namespace, so pass them all)."""
    if folder:
        root = Path(folder)
        files = [root / "SalesPartyService.xsd"] + sorted(p for p in root.glob("*.xsd")
                                                            if p.name != "SalesPartyService.xsd")
    else:
        files = sorted(WSDL_DIR.glob("APPS_XX_SEGBRIDGE_CUST_PKG_*.xsd"))
    return xmlschema.XMLSchema([str(p) for p in files], allow="local")


def seed_customers(dataset: Any = None, count: int = 12, dataset_numbers: bool = False) -> list[dict[str, Any]]:
    """Customers from the generator's Dataset when given, else a small built-in set. With `dataset_numbers`
    the party numbers are the Dataset's customer ids (the EBS customer master shares the ERP's numbers),
    else CDRM_<n> as Fusion numbers parties."""
    names: list[str] = []
    numbers: list[str] = []
    frame = getattr(dataset, "customers", None)
    if frame is not None and len(frame):
        col = "name" if "name" in frame.columns else frame.columns[0]
        names = [str(v) for v in frame[col].tolist()]
        if dataset_numbers and "id" in frame.columns:
            numbers = [str(v) for v in frame["id"].tolist()]
    names = names or [f"Customer {i:03d}" for i in range(1, count + 1)]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [{"PartyId": 300000001000 + i, "PartyNumber": numbers[i - 1] if numbers else f"CDRM_{i}", "PartyName": name,
             "SalesAccountId": 300000002000 + i, "ClassCategory": CATEGORY, "ClassCode": "C",
             "LastUpdateDate": base.replace(day=1 + i % 28).isoformat(), "ObjectVersionNumber": 1}
            for i, name in enumerate(names, start=1)]


class OracleSoapState:
    def __init__(self, customers: list[dict], schema: xmlschema.XMLSchema, users: dict[str, str] | None):
        self.customers = {c["PartyId"]: c for c in customers}
        self.schema = schema
        self.users = users or {}
        # Class codes of the SEGBRIDGE_SEGMENT category: ABC letters, service levels, the customer segment
        # codes and the nine ABC-XYZ codes (AX .. CZ) of mappings/codelists/fusion_customer_segment.yaml.
        self.valid_codes = {"A", "B", "C", "D", "PLATINUM", "GOLD", "SILVER", "BRONZE",
                            "STRATEGIC", "GROWTH", "STANDARD", "UNPROFITABLE"} | {
            a + x for a in "ABC" for x in "XYZ"}
        self.validated: list[tuple[str, bool]] = []  # (operation, valid) per request
        self.fields = _xsd_order(schema, FIELDS)
        self.edit_during_paging = False
        self.edited: list[int] = []
        self.malformed: list[str] = []


def build_app(oracle_dir: str | Path | None = None, dataset: Any = None,
              users: dict[str, str] | None = None) -> SandboxApp:
    """ADF SalesPartyService when `oracle_dir` holds its WSDL/XSDs, else the ISG package."""
    folder = str(oracle_dir) if oracle_dir else None
    app = SandboxApp("oracle_soap")
    app.state = OracleSoapState(seed_customers(dataset, dataset_numbers=not folder), load_schema(folder), users)
    app.route("POST", ADF_PATH if folder else ISG_PATH)(
        lambda req: _malform(app.state, _handle(app.state, req, adf=bool(folder))))
    return app


MALFORMED = ("html", "empty", "truncated", "dtd", "namespace")


def _malform(state: OracleSoapState, resp: Response) -> Response:
    """The answer as the next queued malformation breaks it (see the module docstring)."""
    if not state.malformed:
        return resp
    kind = state.malformed.pop(0)
    xml = {"Content-Type": "text/xml; charset=UTF-8"}
    if kind == "html":
        return Response.text("<html><body><h1>Oracle Access Manager</h1>Please sign in</body></html>",
                             200, content_type="text/html")
    if kind == "empty":
        return Response(200, b"", xml)
    if kind == "truncated":
        return Response(200, resp.body[: len(resp.body) // 2], xml)
    if kind == "dtd":
        decl = b'<!DOCTYPE env:Envelope [<!ENTITY boom "boom">]>'
        return Response(200, resp.body.replace(b"?>", b"?>" + decl, 1), xml)
    if kind == "namespace":
        return Response(200, resp.body.replace(ENV.encode(), b"http://example.invalid/not-soap/"), xml)
    raise ValueError(f"unknown malformation {kind!r}; one of {', '.join(MALFORMED)}")


def _xsd_order(schema: xmlschema.XMLSchema, fields: list[str]) -> list[str]:
    """Fields in the SalesAccount sequence order (zeep parses sequences strictly)."""
    xsd_type = schema.maps.types.get(f"{{{ADF_DATA}}}SalesAccount")
    if xsd_type is None:
        return fields
    order = [e.local_name for e in xsd_type.content.iter_elements()]
    return sorted(fields, key=lambda f: order.index(f) if f in order else len(order))


# ---------------------------------------------------------------------- request handling


def _handle(state: OracleSoapState, req: Request, adf: bool) -> Response:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(req.body, parser)
    except etree.XMLSyntaxError as exc:
        return _fault("env:Client", f"malformed XML: {exc}")
    if root.getroottree().docinfo.doctype:
        return _fault("env:Client", "DTDs are not accepted")
    auth = _check_user(state, root)
    if auth:
        return _auth_fault(auth)
    body = root.find(f"{{{ENV}}}Body")
    op = body[0] if body is not None and len(body) else None
    if op is None:
        return _fault("env:Client", "empty SOAP Body")
    errors = [str(e.reason or e.message) for e in state.schema.iter_errors(op)]
    state.validated.append((etree.QName(op).localname, not errors))
    if errors:
        return _fault("env:Client", f"request does not validate against the XSD: {errors[0]}")
    if adf:
        return _adf_operation(state, etree.QName(op).localname, op)
    # ISG: the body is always InputParameters; the procedure is the namespace's last segment
    return _isg_operation(state, etree.QName(op).namespace.rstrip("/").rsplit("/", 1)[-1].upper(), op)


def _check_user(state: OracleSoapState, root: etree._Element) -> str | None:
    if not state.users:
        return None
    token = root.find(f".//{{{WSSE}}}UsernameToken")
    if token is None:
        return "InvalidSecurity : error in processing the WS-Security security header"
    user = token.findtext(f"{{{WSSE}}}Username")
    password = token.findtext(f"{{{WSSE}}}Password")
    if state.users.get(user or "") != password:
        return "FailedAuthentication : The security token cannot be authenticated."
    return None


def _adf_operation(state: OracleSoapState, name: str, op: etree._Element) -> Response:
    if name == "findSalesAccount":
        rows = _find(state, op.find(f"{{{ADF_TYPES}}}findCriteria"))
        answer = _adf_result(state, name, rows)
        if state.edit_during_paging and rows:
            state.edit_during_paging = False
            _person_edits(state, rows[0]["PartyId"])
        return answer
    if name == "getSalesAccount":
        row = state.customers.get(int(op.findtext(f"{{{ADF_TYPES}}}partyId") or 0))
        if row is None:
            return _fault("env:Server", "JBO-25020: View row with key was not found.", "25020")
        return _adf_result(state, name, [row])
    if name == "updateSalesAccount":
        acct = op.find(f"{{{ADF_TYPES}}}salesAccount")
        values = {etree.QName(c).localname: c.text for c in acct}
        try:
            return _adf_result(state, name, [_update(state, int(values.get("PartyId") or 0), values.get("ClassCode"))])
        except LookupError as exc:
            return _fault("env:Server", exc.args[0], exc.args[1])
    return _fault("env:Client", f"operation {name} is not implemented by the sandbox")


def _isg_operation(state: OracleSoapState, name: str, op: etree._Element) -> Response:
    ns = etree.QName(op).namespace
    args = {etree.QName(c).localname: c.text for c in op}
    if name == "UPDATE_CLASSIFICATION":
        row = next((c for c in state.customers.values() if c["PartyNumber"] == args.get("P_PARTY_NUMBER")), None)
        try:
            if row is None:
                raise LookupError(f"HZ_API_NO_RECORD: no party {args.get('P_PARTY_NUMBER')}", "")
            _update(state, row["PartyId"], args.get("P_CLASS_CODE"))
        except LookupError as exc:
            return _isg_result(ns, "E", f"{exc.args[0]} (FND_MESSAGE_TYPE=E)")
        return _isg_result(ns, "S", None)
    if name == "GET_CUSTOMERS":
        rows = sorted((c for c in state.customers.values() if c["ClassCategory"] == args.get("P_CLASS_CATEGORY")),
                      key=lambda c: c["PartyId"])  # the package orders by PARTY_ID: offsets stay put under edits
        start, size = int(float(args.get("P_OFFSET") or 0)), int(float(args.get("P_LIMIT") or 100))
        return _isg_result(ns, "S", None, rows[start:start + size])
    return _fault("env:Client", f"operation {name} is not implemented by the sandbox")


def _update(state: OracleSoapState, party_id: int, code: str | None) -> dict:
    row = state.customers.get(party_id)
    if row is None:
        raise LookupError(f"JBO-25020: View row with key {party_id} was not found.", "25020")
    if code not in state.valid_codes:
        raise LookupError(f"JBO-27023: ClassCode {code!r} is not a valid code of class category "
                          f"{row['ClassCategory']}.", "27023")
    row.update(ClassCode=code, ObjectVersionNumber=row["ObjectVersionNumber"] + 1,
               LastUpdateDate=datetime.now(UTC).isoformat())
    return row


def _person_edits(state: OracleSoapState, party_id: int) -> None:
    """A person changes a sales account in Fusion while a read pages on: its LastUpdateDate moves to now."""
    row = state.customers[party_id]
    row.update(ClassCode="B" if row["ClassCode"] != "B" else "A", ObjectVersionNumber=row["ObjectVersionNumber"] + 1,
               LastUpdateDate=datetime.now(UTC).isoformat())
    state.edited.append(party_id)


# ---------------------------------------------------------------------- find criteria


def _find(state: OracleSoapState, crit: etree._Element | None) -> list[dict]:
    rows = sorted(state.customers.values(), key=lambda r: r["PartyId"])
    if crit is None:
        return rows
    for attr in reversed(crit.findall(f"{ADF_SVC}sortOrder/{ADF_SVC}sortAttribute")):
        name = attr.findtext(f"{ADF_SVC}name") or ""
        rows.sort(key=lambda r, n=name: _typed(r.get(n)), reverse=attr.findtext(f"{ADF_SVC}descending") == "true")
    groups = crit.findall(f"{ADF_SVC}filter/{ADF_SVC}group")
    if groups:
        rows = [r for r in rows if any(_group_matches(r, g) for g in groups)]
    start = int(crit.findtext(f"{ADF_SVC}fetchStart") or 0)
    size = int(crit.findtext(f"{ADF_SVC}fetchSize") or -1)
    return rows[start:] if size < 0 else rows[start:start + size]


def _typed(value: Any) -> tuple:
    """A value as ADF compares it for its attribute type: numbers as numbers, timestamps as instants."""
    text = "" if value is None else str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (1, (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).timestamp(), "")
    except ValueError:
        return (2, 0.0, text)


def _group_matches(row: dict, group: etree._Element) -> bool:
    adf = ADF_SVC
    for item in group.findall(f"{adf}item"):
        attr, operator = item.findtext(f"{adf}attribute"), item.findtext(f"{adf}operator") or "="
        values = [_typed(v.text or "") for v in item.findall(f"{adf}value")]
        have = _typed(row.get(attr, ""))
        ok = {"=": have in values, ">": bool(values) and have > values[0], "<": bool(values) and have < values[0],
              ">=": bool(values) and have >= values[0], "<=": bool(values) and have <= values[0],
              "<>": have not in values}.get(operator, False)
        if not ok:
            return False
    return True


# ---------------------------------------------------------------------- responses


def _envelope(inner: str, status: int = 200) -> Response:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{ENV}"><env:Body>{inner}'
           "</env:Body></env:Envelope>")
    return Response(status, xml.encode(), {"Content-Type": "text/xml; charset=UTF-8"})


def _adf_result(state: OracleSoapState, op: str, rows: list[dict]) -> Response:
    results = "".join(
        f'<ns0:result xmlns:ns1="{ADF_DATA}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:type="ns1:SalesAccount">' + "".join(_adf_field(row, f) for f in state.fields) + "</ns0:result>"
        for row in rows)
    return _envelope(f'<ns0:{op}Response xmlns:ns0="{ADF_TYPES}">{results}</ns0:{op}Response>')


def _adf_field(row: dict, name: str) -> str:
    value = row.get(name)
    return "" if value is None else f"<ns1:{name}>{escape(str(value))}</ns1:{name}>"


def _isg_result(ns: str, status: str, message: str | None, rows: list[dict] | None = None) -> Response:
    parts = [f"<X_RETURN_STATUS>{status}</X_RETURN_STATUS>", f"<X_MSG_COUNT>{1 if message else 0}</X_MSG_COUNT>"]
    if message:
        parts.append(f"<X_MSG_DATA>{escape(message)}</X_MSG_DATA>")
    if rows is not None:
        items = "".join(
            "<X_CUSTOMERS_ITEM>" + f"<PARTY_ID>{r['PartyId']}</PARTY_ID><PARTY_NUMBER>{r['PartyNumber']}</PARTY_NUMBER>"
            f"<PARTY_NAME>{escape(r['PartyName'])}</PARTY_NAME><CLASS_CATEGORY>{r['ClassCategory']}</CLASS_CATEGORY>"
            f"<CLASS_CODE>{r['ClassCode']}</CLASS_CODE><LAST_UPDATE_DATE>{r['LastUpdateDate']}</LAST_UPDATE_DATE>"
            "</X_CUSTOMERS_ITEM>" for r in rows)
        parts.append(f"<X_CUSTOMERS>{items}</X_CUSTOMERS>")
    return _envelope(f'<OutputParameters xmlns="{ns}">{"".join(parts)}</OutputParameters>')


def _auth_fault(message: str) -> Response:
    """OWSM's answer to a wrong or missing WS-Security token: a SOAP Fault with a wsse fault code."""
    code = message.split(" ", 1)[0]
    return _envelope(f'<env:Fault><faultcode xmlns:wsse="{WSSE}">wsse:{code}</faultcode>'
                     f"<faultstring>{escape(message)}</faultstring></env:Fault>", status=500)


def _fault(code: str, message: str, jbo: str = "") -> Response:
    detail = (f'<detail><tns:ServiceErrorMessage xmlns:tns="{ADF_ERR}"><tns:code>{jbo}</tns:code>'
              f"<tns:message>{escape(message)}</tns:message><tns:severity>SEVERITY_ERROR</tns:severity>"
              "<tns:exceptionClassName>oracle.jbo.JboException</tns:exceptionClassName>"
              "</tns:ServiceErrorMessage></detail>")
    return _envelope(f"<env:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
                     f"{detail}</env:Fault>", status=500)
