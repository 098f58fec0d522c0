"""A Dynamics 365 / Dataverse-like Web API for accounts: $select, `modifiedon gt` filters,
odata.maxpagesize with @odata.nextLink, PATCH with If-Match (412 on a stale etag, 404 on a missing
record), multipart $batch with one response part per request, and a WhoAmI function.

Every row has a versionnumber that moves on with each update, a person's edit (`app.edit`) too;
`@odata.etag` is `W/"<versionnumber>"` and an ETag header answers a single GET, as Dataverse does.

Like Dataverse, it refuses a request without a valid bearer token (401): it serves OAuth2 client-credentials
tokens at `/oauth2/token` for the client `segbridge` / `s3cret` (CLIENT_ID / CLIENT_SECRET), or for the
`clients` given to `build_app`; `app.require_auth(...)` replaces them. The delta filter may be `gt` or `ge`.
`state.malform(body, content_type, status, times)` makes the next list answers malformed (a proxy's
HTML page with 200, an empty body, truncated JSON, `null`), for the connector's failure path.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.server import Request, Response, SandboxApp, SandboxAuth

API = "/api/data/v9.2"
CLIENT_ID, CLIENT_SECRET = "segbridge", "s3cret"
TOKEN_PATH = "/oauth2/token"
# The org's accountclassificationcode option set: the out-of-the-box value 1 ("Default Value"), 2-4, and
# the custom options an org adds (publisher prefix 10000): 100000000-100000008 for the earlier ABC-XYZ labels
# and 100000009-100000012 for the customer segments (mappings/codelists/dynamics_account_classification.yaml).
CLASSIFICATION = {1, 2, 3, 4, *range(100_000_000, 100_000_013)}
# Dataset ABC class -> the option a customer's account carries (A-X, B-X, C-X in the shipped code list).
CLASS_OPTION = {"A": 1, "B": 100_000_003, "C": 100_000_006}
# Dataverse address1_country is free text: people type country names, not ISO codes.
COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "US": "United States", "GB": "United Kingdom",
                 "PL": "Poland", "IT": "Italy", "ES": "Spain"}


def seed_accounts(dataset: Any = None, count: int = 30) -> list[dict[str, Any]]:
    """Accounts of a Dataset's customers (accountnumber carries the ERP customer number), else `count`
    stand-alone accounts."""
    frame = getattr(dataset, "customers", None)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    if frame is not None and len(frame):
        return [{"accountid": str(uuid.UUID(int=i)), "name": str(c.name), "accountnumber": str(c.id),
                 "accountclassificationcode": CLASS_OPTION.get(str(c.current_classification)),
                 "address1_country": COUNTRY_NAMES.get(str(c.country), str(c.country)), "customertypecode": 3,
                 "modifiedon": (base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "versionnumber": 1}
                for i, c in enumerate(frame.itertuples(index=False), start=1)]
    names = [f"Account {i:04d}" for i in range(1, count + 1)]
    return [{"accountid": str(uuid.UUID(int=i)), "name": name, "accountnumber": f"D{i:05d}",
             "accountclassificationcode": 3, "customertypecode": 3,
             "modifiedon": (base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "versionnumber": 1}
            for i, name in enumerate(names, start=1)]


class DynamicsState:
    def __init__(self, accounts: list[dict]):
        self.accounts = {a["accountid"]: a for a in accounts}
        self.clock = itertools.count(1)
        self.pages: dict[str, list[dict]] = {}
        self.malformed: list[tuple[int, str, str]] = []  # (status, content type, body) for the next list answers

    def malform(self, body: str, content_type: str = "text/html", status: int = 200, times: int = 1) -> None:
        """The next `times` answers to a list request are this body instead of an OData collection."""
        self.malformed += [(status, content_type, body)] * times

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one column of an account in Dynamics: its versionnumber (so its
        `@odata.etag`) and modifiedon move on, as for any update, so an older etag gets 412."""
        if target != "accounts":
            raise KeyError(f"the stand-in has accounts only, not {target}")
        row = self.accounts[str(next(iter(key.values())))]
        row[field] = value
        self.bump(row)

    def bump(self, row: dict) -> None:
        row["versionnumber"] += 1
        row["modifiedon"] = (datetime.now(UTC) + timedelta(seconds=next(self.clock))).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_app(dataset: Any = None, accounts: list[dict] | None = None,
              clients: dict[str, str] | None = None) -> SandboxApp:
    """The stand-in; it accepts only bearer tokens it issued to `clients` (default segbridge / s3cret)."""
    app = SandboxApp("dynamics")
    app.require_auth(SandboxAuth(clients=clients or {CLIENT_ID: CLIENT_SECRET}), token_path=TOKEN_PATH)
    st = app.state = DynamicsState(accounts or seed_accounts(dataset))
    app.edit = st.edit  # a person's edit: app.edit("accounts", {"accountid": guid}, column, value)
    app.route("GET", API + r"/WhoAmI")(lambda req: Response.json({"UserId": "00000000-0000-0000-0000-0000000000aa"}))
    app.route("GET", API + r"/accounts")(lambda req: _list(st, req))
    app.route("GET", API + r"/accounts\((?P<id>[0-9a-f-]+)\)")(lambda req: _get(st, req))
    app.route("PATCH", API + r"/accounts\((?P<id>[0-9a-f-]+)\)")(
        lambda req: _patch(st, req.match["id"], req.header("if-match"), req.json()))
    app.route("POST", API + r"/\$batch")(lambda req: _batch(st, req))
    return app


def _etag(row: dict) -> str:
    return f'W/"{row["versionnumber"]}"'


def _view(row: dict, select: str | None) -> dict:
    cols = select.split(",") if select else list(row)
    return {"@odata.etag": _etag(row), **{c: row.get(c) for c in cols}}


def _list(st: DynamicsState, req: Request) -> Response:
    if st.malformed:
        status, content_type, body = st.malformed.pop(0)
        return Response.text(body, status, content_type=content_type)
    token = req.arg("$skiptoken")
    if token:
        rows = st.pages.pop(token, None)
        if rows is None:
            return Response.json({"error": {"code": "0x80060888", "message": "invalid skiptoken"}}, 400)
    else:
        rows = sorted(st.accounts.values(), key=lambda r: (r["modifiedon"], r["accountid"]))
        flt = req.arg("$filter")
        if flt:
            m = re.fullmatch(r"(\w+) (gt|ge) (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)", flt)
            if not m:
                return Response.json({"error": {"code": "0x80060888", "message": f"unsupported $filter {flt}"}}, 400)
            col, op, at = m.groups()
            rows = [r for r in rows if (str(r.get(col)) > at if op == "gt" else str(r.get(col)) >= at)]
        rows = [_view(r, req.arg("$select")) for r in rows]
    size = int(re.search(r"odata.maxpagesize=(\d+)", req.header("prefer") or "maxpagesize=5000").group(1))
    body: dict[str, Any] = {"@odata.context": f"{API}/$metadata#accounts", "value": rows[:size]}
    if len(rows) > size:
        key = uuid.uuid4().hex
        st.pages[key] = rows[size:]
        body["@odata.nextLink"] = f"http://{req.header('host')}{API}/accounts?$skiptoken={key}"
    return Response.json(body, headers={"Preference-Applied": f"odata.maxpagesize={size}"})


def _get(st: DynamicsState, req: Request) -> Response:
    row = st.accounts.get(req.match["id"])
    if row is None:
        return _error(404, "0x80040217", f"account With Id = {req.match['id']} Does Not Exist")
    return Response.json(_view(row, req.arg("$select")), headers={"ETag": _etag(row), "OData-Version": "4.0"})


def _patch(st: DynamicsState, rid: str, if_match: str | None, values: dict) -> Response:
    row = st.accounts.get(rid)
    if row is None:
        return _error(404, "0x80040217", f"account With Id = {rid} Does Not Exist")
    if if_match not in (None, "*") and if_match != _etag(row):
        return _error(412, "0x80060882", "The version of the existing record doesn't match the RowVersion property "
                                         "provided.")
    for name, value in values.items():
        if name not in row or name in ("accountid", "modifiedon", "versionnumber"):
            return _error(400, "0x80060888", f"Could not find a property named '{name}' on type "
                                             "'Microsoft.Dynamics.CRM.account'.")
        if name == "accountclassificationcode" and value not in CLASSIFICATION:
            return _error(400, "0x8004431a", f"{value} is not a valid value for accountclassificationcode.")
    row.update(values)
    st.bump(row)
    return Response(204, b"", {"OData-Version": "4.0", "ETag": _etag(row)})


def _batch(st: DynamicsState, req: Request) -> Response:
    m = re.search(r"boundary=([^;]+)", req.header("content-type") or "")
    if not m:
        return _error(400, "0x80048d19", "multipart boundary missing")
    answers = []
    for part in req.text.split(f"--{m.group(1)}")[1:]:
        if part.startswith("--"):
            break
        inner = part.split("\r\n\r\n", 1)[1]
        head, _, body = inner.partition("\r\n\r\n")
        lines = head.split("\r\n")
        method, url = lines[0].split()[:2]
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
        rid = re.search(r"accounts\(([0-9a-f-]+)\)", url)
        if method != "PATCH" or not rid:
            resp = _error(400, "0x80048d19", f"unsupported batch request {method} {url}")
        else:
            resp = _patch(st, rid.group(1), headers.get("if-match"), json.loads(body.strip() or "{}"))
        answers.append(resp)
    boundary = f"batchresponse_{uuid.uuid4().hex}"
    out = "".join(f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                  f"HTTP/1.1 {r.status} {'OK' if r.status < 300 else 'Error'}\r\n"
                  + "".join(f"{k}: {v}\r\n" for k, v in r.headers.items()) + "\r\n" + r.body.decode() + "\r\n"
                  for r in answers) + f"--{boundary}--\r\n"
    return Response(200, out.encode(), {"Content-Type": f"multipart/mixed; boundary={boundary}", "OData-Version": "4.0"})


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status)
