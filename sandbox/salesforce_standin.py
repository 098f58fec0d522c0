"""A Salesforce-like server: OAuth token endpoint, SOQL query with nextRecordsUrl, sObject
Collections PATCH with per-record errors, Bulk API 2.0 ingest (minimal), daily API limits
(403 REQUEST_LIMIT_EXCEEDED) and session expiry (401 INVALID_SESSION_ID).

Query locators expire as Salesforce's do: a `nextRecordsUrl` not used for 15 minutes answers 400
`[{"errorCode": "INVALID_QUERY_LOCATOR", ...}]`. The stand-in's clock is `state.now()`; tests move it
on with `state.advance(minutes=16)` (no sleeping) or expire every locator with `state.expire_locators()`.
`state.malform(body, content_type, status, times)` makes the next query answers malformed (a proxy's
HTML page with 200, an empty body, truncated JSON, `null`), for the connector's failure path.

It understands the SOQL segbridge sends: `SELECT f, ... FROM Obj [WHERE a = 'x' AND b > <datetime>
AND Id IN ('..')] [ORDER BY f, ...]`, with quoted strings unescaped as Salesforce does.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt

from sandbox.server import Request, Response, SandboxApp

V = r"/services/data/v(?P<v>\d+\.\d+)"
SEGMENTS = {f"{a}-{x}" for a in "ABC" for x in "XYZ"}
CUSTOMER_SEGMENTS = {"Strategic", "Growth", "Standard", "Unprofitable"}
PICKLIST = {"Segment__c": {"A", "B", "C", "D"} | SEGMENTS | CUSTOMER_SEGMENTS, "Service_Level__c": {"Platinum", "Gold", "Silver", "Bronze"}}
# Lookup field -> related object, for relationship paths in SOQL (OrderItem: Order.Account.Name).
RELATIONS = {"Order": ("OrderId", "Order"), "Account": ("AccountId", "Account"), "Product2": ("Product2Id", "Product2")}
_TOKEN = re.compile(r"\s*(\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})|'(?:[^'\\]|\\.)*'|\(|\)|,|[<>=!]+|[\w.]+)")


def seed_accounts(dataset: Any = None, count: int = 25) -> list[dict[str, Any]]:
    """Accounts; from a Dataset each carries the customer's SAP number in SAP_Customer_Number__c (the
    external-id field the crosswalk links on), else `C00001`-style numbers."""
    frame = getattr(dataset, "customers", None)
    if frame is not None and len(frame):
        pairs = list(zip(frame["name"].astype(str), frame["id"].astype(str), strict=True))
    else:
        pairs = [(f"Account {i:05d}", f"C{i:05d}") for i in range(1, count + 1)]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [{"Id": f"001{i:015d}", "Name": name, "AccountNumber": f"C{i:05d}", "SAP_Customer_Number__c": number,
             "Segment__c": "C", "Service_Level__c": "Bronze", "SystemModstamp": _ts(base + timedelta(minutes=i))}
            for i, (name, number) in enumerate(pairs, start=1)]


def seed_orders(dataset: Any, accounts: list[dict]) -> dict[str, dict[str, dict]]:
    """Product2, Order and OrderItem records from a Dataset's order lines (empty without one)."""
    lines = getattr(dataset, "order_lines", None)
    if lines is None or not len(lines):
        return {"Product2": {}, "Order": {}, "OrderItem": {}}
    account = {a.get("SAP_Customer_Number__c"): a["Id"] for a in accounts}
    base = datetime(2024, 1, 1, tzinfo=UTC)
    products = {p: {"Id": f"01t{i:015d}", "ProductCode": p, "Name": p}
                for i, p in enumerate(sorted(set(lines["product_id"].astype(str))), start=1)}
    orders: dict[str, dict] = {}
    items: dict[str, dict] = {}
    for n, line in enumerate(lines.itertuples(index=False), start=1):
        order = orders.setdefault(line.order_id, {
            "Id": f"801{len(orders) + 1:015d}", "OrderNumber": line.order_id, "AccountId": account.get(line.customer_id),
            "EffectiveDate": str(line.order_date), "Status": "Activated", "CurrencyIsoCode": line.currency,
            "SystemModstamp": _ts(base + timedelta(minutes=len(orders)))})
        iid = f"802{n:015d}"
        items[iid] = {"Id": iid, "OrderId": order["Id"], "OrderItemNumber": str(line.line_no).zfill(10),
                      "Product2Id": products[str(line.product_id)]["Id"], "Quantity": float(line.quantity),
                      "TotalPrice": float(line.net_value), "SystemModstamp": order["SystemModstamp"]}
    return {"Product2": {p["Id"]: p for p in products.values()}, "Order": {o["Id"]: o for o in orders.values()},
            "OrderItem": items}


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class SalesforceState:
    def __init__(self, accounts: list[dict], page_size: int, dataset: Any = None):
        self.objects: dict[str, dict[str, dict]] = {"Account": {a["Id"]: a for a in accounts},
                                                    **seed_orders(dataset, accounts)}
        self.page_size = page_size
        self.clients: dict[str, str] = {"segbridge": "s3cret"}  # client_id -> secret
        self.users: dict[str, str] = {"integration@example.com": "pw"}
        self.jwt_public_key: str | None = None
        self.tokens: set[str] = set()
        self.cursors: dict[str, tuple[list[dict], int, datetime]] = {}  # locator -> (rows left, totalSize, made)
        self.locator_ttl = timedelta(minutes=15)
        self.offset = timedelta(0)  # how far `advance` moved the clock on
        self.malformed: list[tuple[int, str, str]] = []  # (status, content type, body) for the next query answers
        self.api_remaining: int | None = None  # None = unlimited
        self.api_used = 0
        self.reject: dict[str, tuple[str, str]] = {}  # Id -> (statusCode, message) for writes
        self.jobs: dict[str, dict] = {}
        self.clock = itertools.count(1)

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        """Move the stand-in's clock on (e.g. `minutes=16`): locators idle that long expire."""
        self.offset += timedelta(**delta)

    def expire_locators(self) -> None:
        """Every open query locator expires now, as after 15 idle minutes."""
        self.advance(seconds=self.locator_ttl.total_seconds() + 1)

    def malform(self, body: str, content_type: str = "text/html", status: int = 200, times: int = 1) -> None:
        """The next `times` query answers are this body instead of a query result."""
        self.malformed += [(status, content_type, body)] * times

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one field of a record in Salesforce: SystemModstamp moves on, as on any save."""
        row = self.objects[target][str(key["Id"])]
        row[field] = value
        self.stamp(row)

    def stamp(self, row: dict) -> None:
        row["SystemModstamp"] = _ts(self.now() + timedelta(seconds=next(self.clock)))


def build_app(dataset: Any = None, page_size: int = 2000, accounts: list[dict] | None = None) -> SandboxApp:
    app = SandboxApp("salesforce")
    st = app.state = SalesforceState(accounts or seed_accounts(dataset), page_size, dataset)
    app.edit = st.edit  # a person's edit: app.edit("Account", {"Id": rid}, field, value)
    app.route("POST", r"/services/oauth2/token")(lambda req: _token(st, req))
    routes = [("GET", r"/limits/?", _limits), ("GET", r"/query(All)?/?", _query),
              ("GET", r"/query/(?P<cursor>[\w-]+)", _query_more), ("PATCH", r"/composite/sobjects", _collections),
              ("POST", r"/jobs/ingest/?", _job_create), ("PUT", r"/jobs/ingest/(?P<job>\w+)/batches", _job_upload),
              ("PATCH", r"/jobs/ingest/(?P<job>\w+)", _job_state), ("GET", r"/jobs/ingest/(?P<job>\w+)", _job_get),
              ("GET", r"/jobs/ingest/(?P<job>\w+)/(?P<kind>successfulResults|failedResults|unprocessedrecords)/?",
               _job_results)]
    for method, pattern, fn in routes:
        app.route(method, V + pattern)(_guarded(st, fn))
    return app


def _guarded(st: SalesforceState, fn):
    """Session and API-limit checks every data call goes through, as on the real API."""
    def handler(req: Request) -> Response:
        token = (req.header("authorization") or "").removeprefix("Bearer ")
        if token not in st.tokens:
            return Response.json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
        if st.api_remaining is not None:
            if st.api_remaining <= 0:
                return Response.json([{"message": "TotalRequests Limit exceeded.",
                                       "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403)
            st.api_remaining -= 1
        st.api_used += 1
        resp = fn(st, req)
        resp.headers["Sforce-Limit-Info"] = f"api-usage={st.api_used}/15000"
        return resp
    return handler


def _token(st: SalesforceState, req: Request) -> Response:
    form = {k: v[0] for k, v in parse_qs(req.text).items()}
    grant = form.get("grant_type")
    ok = False
    if grant == "client_credentials":
        ok = st.clients.get(form.get("client_id", "")) == form.get("client_secret")
    elif grant == "password":
        ok = (st.clients.get(form.get("client_id", "")) == form.get("client_secret")
              and st.users.get(form.get("username", "")) == form.get("password"))
    elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        ok = _jwt_ok(st, form.get("assertion", ""))
    if not ok:
        return Response.json({"error": "invalid_grant", "error_description": "authentication failure"}, 400)
    token = "00D" + uuid.uuid4().hex
    st.tokens.add(token)
    host = req.header("host", "127.0.0.1")
    return Response.json({"access_token": token, "instance_url": f"http://{host}", "token_type": "Bearer",
                          "id": f"http://{host}/id/00D/005"})


def _jwt_ok(st: SalesforceState, assertion: str) -> bool:
    try:
        if st.jwt_public_key:
            claims = jwt.decode(assertion, st.jwt_public_key, algorithms=["RS256"],
                                audience=["https://login.salesforce.com", "https://test.salesforce.com"])
        else:
            claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return claims.get("iss") in st.clients and claims.get("sub") in st.users


def _limits(st: SalesforceState, req: Request) -> Response:
    remaining = 15000 - st.api_used if st.api_remaining is None else st.api_remaining
    return Response.json({"DailyApiRequests": {"Max": 15000, "Remaining": remaining}})


# ---------------------------------------------------------------------- SOQL


def _query(st: SalesforceState, req: Request) -> Response:
    if st.malformed:
        return _malformed(st)
    try:
        rows = _run_soql(st, req.arg("q") or "")
    except ValueError as exc:
        return Response.json([{"message": str(exc), "errorCode": "MALFORMED_QUERY"}], 400)
    return _page(st, req, rows)


def _query_more(st: SalesforceState, req: Request) -> Response:
    if st.malformed:
        return _malformed(st)
    held = st.cursors.pop(req.match["cursor"], None)
    if held is None or st.now() - held[2] > st.locator_ttl:
        return Response.json([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}], 400)
    return _page(st, req, held[0], held[1])


def _malformed(st: SalesforceState) -> Response:
    status, content_type, body = st.malformed.pop(0)
    return Response.text(body, status, content_type=content_type)


def _page(st: SalesforceState, req: Request, rows: list[dict], total: int | None = None) -> Response:
    """One page; `totalSize` is the whole query's count on every page (queryMore too), as on the real API."""
    total = len(rows) if total is None else total
    page, rest = rows[:st.page_size], rows[st.page_size:]
    body: dict[str, Any] = {"totalSize": total, "done": not rest, "records": page}
    if rest:
        cursor = f"01g{uuid.uuid4().hex[:12]}-{st.page_size}"
        st.cursors[cursor] = (rest, total, st.now())
        body["nextRecordsUrl"] = f"/services/data/v{req.match['v']}/query/{cursor}"
    return Response.json(body)


def _run_soql(st: SalesforceState, soql: str) -> list[dict]:
    m = re.fullmatch(r"\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER BY\s+([\w\s,]+?))?\s*",
                     soql, re.I | re.S)
    if not m:
        raise ValueError(f"unexpected SOQL: {soql[:80]}")
    fields = [f.strip() for f in m.group(1).split(",")]
    table = st.objects.get(m.group(2))
    if table is None:
        raise ValueError(f"sObject type '{m.group(2)}' is not supported.")
    rows = [r for r in table.values() if _where(r, m.group(3))]
    order = [f.strip() for f in (m.group(4) or "Id").split(",")]
    rows.sort(key=lambda r: tuple(str(r.get(f) or "") for f in order))
    out = []
    for r in rows:
        record = {"attributes": {"type": m.group(2), "url": f"/services/data/v59.0/sobjects/{m.group(2)}/{r['Id']}"}}
        for f in fields:
            _put(st, record, r, f.split("."))
        out.append(record)
    return out


def _put(st: SalesforceState, out: dict, row: dict | None, path: list[str]) -> None:
    """Set `path` (a field, or a relationship path) of `row` into `out` the way the REST API nests it."""
    if len(path) == 1:
        out[path[0]] = row.get(path[0]) if row else None
        return
    lookup, obj = RELATIONS.get(path[0], (path[0] + "Id", path[0]))
    related = st.objects.get(obj, {}).get((row or {}).get(lookup) or "")
    if related is None:
        out[path[0]] = None
        return
    inner = out.get(path[0]) or {"attributes": {"type": obj}}
    out[path[0]] = inner
    _put(st, inner, related, path[1:])


def _where(row: dict, clause: str | None) -> bool:
    if not clause:
        return True
    tokens = _TOKEN.findall(clause)
    conditions, i = [], 0
    while i < len(tokens):
        field, op = tokens[i], tokens[i + 1]
        if op.upper() == "IN":
            end = tokens.index(")", i)
            values = [_literal(t) for t in tokens[i + 3:end] if t != ","]
            conditions.append(str(row.get(field)) in values)
            i = end + 1
        else:
            have, want = str(row.get(field) or ""), _literal(tokens[i + 2])
            conditions.append({"=": have == want, "!=": have != want, ">": have > want,
                               ">=": have >= want, "<": have < want}[op])
            i += 3
        if i < len(tokens) and tokens[i].upper() == "AND":
            i += 1
    return all(conditions)


def _literal(token: str) -> str:
    if token.startswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if re.match(r"\d{4}-\d{2}-\d{2}T", token):  # datetime literal -> the stored format
        when = datetime.fromisoformat(token.replace("Z", "+00:00"))
        return _ts(when.astimezone(UTC))
    return token


# ---------------------------------------------------------------------- writes


def _collections(st: SalesforceState, req: Request) -> Response:
    body = req.json()
    records = body.get("records") or []
    if len(records) > 200:
        return Response.json([{"message": "Maximum number of records is 200", "errorCode": "EXCEEDED_ID_LIMIT"}], 400)
    return Response.json([_save(st, r.get("attributes", {}).get("type"), r.get("id"),
                                {k: v for k, v in r.items() if k not in ("attributes", "id")}) for r in records])


def _save(st: SalesforceState, sobject: str | None, rid: str | None, values: dict) -> dict:
    table = st.objects.get(sobject or "")
    if table is None or rid not in table:
        return _failed(rid, "ENTITY_IS_DELETED" if table else "INVALID_TYPE", "entity is deleted or not found")
    if rid in st.reject:
        code, message = st.reject[rid]
        return _failed(rid, code, message)
    for field, value in values.items():
        if field not in table[rid]:
            return _failed(rid, "INVALID_FIELD", f"No such column '{field}' on sobject of type {sobject}", [field])
        if field in PICKLIST and value not in PICKLIST[field]:
            return _failed(rid, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{field}: bad value for restricted picklist field: {value}", [field])
    table[rid].update(values)
    st.stamp(table[rid])
    return {"id": rid, "success": True, "errors": []}


def _failed(rid: str | None, code: str, message: str, fields: list | None = None) -> dict:
    return {"id": rid, "success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}


def _job_create(st: SalesforceState, req: Request) -> Response:
    spec = req.json()
    job = {"id": "750" + uuid.uuid4().hex[:15], "object": spec["object"], "operation": spec["operation"],
           "state": "Open", "csv": "", "results": {}}
    st.jobs[job["id"]] = job
    return Response.json(_job_view(job))


def _job_upload(st: SalesforceState, req: Request) -> Response:
    job = st.jobs.get(req.match["job"])
    if job is None or job["state"] != "Open":
        return Response.json([{"errorCode": "INVALIDJOBSTATE", "message": "job is not open"}], 400)
    job["csv"] += req.text
    return Response(201)


def _job_state(st: SalesforceState, req: Request) -> Response:
    job = st.jobs[req.match["job"]]
    job["state"] = req.json()["state"]
    if job["state"] == "UploadComplete":
        rows = list(csv.DictReader(io.StringIO(job["csv"])))
        ok, failed = [], []
        for row in rows:
            values = {k: (None if v == "#N/A" else v) for k, v in row.items() if k != "Id" and v != ""}
            res = _save(st, job["object"], row["Id"], values)
            (ok if res["success"] else failed).append((row, res))
        job["results"] = {"successfulResults": [{"sf__Id": r["Id"], "sf__Created": "false", **r} for r, _ in ok],
                          "failedResults": [{"sf__Id": r["Id"], "sf__Error": f"{x['errors'][0]['statusCode']}:"
                                             f"{x['errors'][0]['message']}", **r} for r, x in failed],
                          "unprocessedrecords": []}
        job.update(state="JobComplete", processed=len(rows), failed=len(failed))
    return Response.json(_job_view(job))


def _job_get(st: SalesforceState, req: Request) -> Response:
    return Response.json(_job_view(st.jobs[req.match["job"]]))


def _job_results(st: SalesforceState, req: Request) -> Response:
    rows = st.jobs[req.match["job"]]["results"].get(req.match["kind"], [])
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Response.text(out.getvalue(), content_type="text/csv")


def _job_view(job: dict) -> dict:
    return {"id": job["id"], "object": job["object"], "operation": job["operation"], "state": job["state"],
            "numberRecordsProcessed": job.get("processed", 0), "numberRecordsFailed": job.get("failed", 0)}
