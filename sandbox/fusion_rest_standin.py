"""An Oracle Fusion REST stand-in for itemsV2: limit/offset/hasMore paging, q= filters
(`A='x';B>'y'`), onlyData, fields, orderBy, and PATCH on the item's hash-key URL with
attribute validation (unknown attribute, negative quantity -> HTTP 400 with Oracle-like text).

Every item has a change version that moves on with each update, a person's edit (`app.edit`) too.
As in Fusion ("Verify Resource Updates Using the ETag Value"), a single-item GET and a PATCH answer
with an `ETag` header (an opaque serialized change indicator), collection items carry it as the self
link's `properties.changeIndicator`, and a PATCH whose If-Match differs is refused with 412.
q= compares typed, as ADF converts a literal to its attribute's type: numbers as numbers,
date-times as instants (`'2024-05-01T10:00:00Z'` equals `2024-05-01T10:00:00+00:00`).

Knobs for the failures real systems produce:
- `app.state.edit_during_paging = True`: after the next collection page is served, the first item on
  it is edited (its LastUpdateDateTime moves to now, its ETag on), as a person would while a read
  pages on; `app.state.edited` lists the ItemNumbers edited.
- `app.state.malformed.append(kind)`: the next collection answer is broken: `html` (a sign-on page
  with 200), `empty` (200, no body), `truncated` (the real JSON cut short), `null`, `no_items`
  (an object without the `items` list).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.server import Request, Response, SandboxApp

ROOT = "/fscmRestApi/resources/11.13.18.05"
QUANTITIES = ("MinimumMinmaxQuantity", "MaximumMinmaxQuantity", "FixedLotSizeMultiplier", "SafetyStockQuantity",
              "MinimumOrderQuantity", "FixedOrderQuantity")
PLANNING_METHODS = {"Min-max planning", "Reorder point planning", "Not planned"}
_COND = re.compile(r"^(\w+)\s*(=|>=|<=|>|<|!=)\s*'((?:[^']|'')*)'$")


def seed_items(dataset: Any = None, count: int = 30, orgs: tuple[str, ...] = ("M1",)) -> list[dict[str, Any]]:
    numbers: list[str] = []
    frame = getattr(dataset, "products", None)
    if frame is not None and len(frame):
        col = "id" if "id" in frame.columns else frame.columns[0]
        numbers = [str(v) for v in frame[col].tolist()]
    numbers = numbers or [f"AS{i:05d}" for i in range(1, count + 1)]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    items = []
    for n, (number, org) in enumerate(((x, o) for x in numbers for o in orgs), start=1):
        items.append({"ItemId": 300000010000 + n, "ItemNumber": number, "OrganizationId": 204 + orgs.index(org),
                      "OrganizationCode": org, "ItemDescription": f"Item {number}",
                      "InventoryPlanningMethodValue": "Not planned", "MinimumMinmaxQuantity": None,
                      "MaximumMinmaxQuantity": None, "FixedLotSizeMultiplier": None, "SafetyStockQuantity": None,
                      "MinimumOrderQuantity": None, "FixedOrderQuantity": None,
                      "SafetyStockPlanningMethodValue": "Not planned",
                      "LastUpdateDateTime": (base + timedelta(hours=n)).isoformat(timespec="seconds")})
    return items


def uniq_id(item: dict) -> str:
    return "00020000000EACED0005770800" + hashlib.sha1(f"{item['ItemId']}:{item['OrganizationId']}".encode()
                                                         ).hexdigest()[:24].upper()


class FusionState:
    def __init__(self, items: list[dict]):
        self.items = {uniq_id(i): i for i in items}
        self.versions = {uid: 1 for uid in self.items}
        self.reject: dict[str, str] = {}  # ItemNumber -> message (a business rule the item breaks)
        self.edit_during_paging = False
        self.edited: list[str] = []
        self.malformed: list[str] = []

    def etag(self, uid: str) -> str:
        """The item's change indicator (Fusion's is a serialized Java Integer in hex)."""
        return f'"ACED0005737200116A6176612E6C616E672E496E7465676572{self.versions[uid]:08X}"'

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one attribute of an item in Fusion: its change indicator (ETag) moves on."""
        if target != "itemsV2":
            raise KeyError(f"the stand-in has itemsV2 only, not {target}")
        uid = next(u for u, row in self.items.items() if all(str(row.get(k)) == str(v) for k, v in key.items()))
        self.items[uid][field] = value
        self.touch(uid)

    def touch(self, uid: str) -> None:
        self.versions[uid] += 1
        self.items[uid]["LastUpdateDateTime"] = datetime.now(UTC).isoformat(timespec="seconds")


def build_app(dataset: Any = None, items: list[dict] | None = None) -> SandboxApp:
    app = SandboxApp("fusion_rest")
    st = app.state = FusionState(items or seed_items(dataset))
    app.edit = st.edit  # a person's edit: app.edit("itemsV2", {"ItemNumber": n, "OrganizationCode": o}, attr, value)
    app.route("GET", ROOT + r"/itemsV2/?")(lambda req: _collection(st, req))
    app.route("GET", ROOT + r"/itemsV2/(?P<uid>\w+)")(lambda req: _one(st, req))
    app.route("PATCH", ROOT + r"/itemsV2/(?P<uid>\w+)")(lambda req: _patch(st, req))
    return app


def _collection(st: FusionState, req: Request) -> Response:
    try:
        rows = [i for i in st.items.values() if _matches(i, req.arg("q"))]
    except ValueError as exc:
        return Response.json({"title": "Bad Request", "detail": str(exc)}, 400)
    for spec in reversed((req.arg("orderBy") or "ItemId").split(",")):
        name, _, direction = spec.partition(":")
        rows.sort(key=lambda r, n=name: str(r.get(n) or ""), reverse=direction == "desc")
    limit, offset = int(req.arg("limit", "25")), int(req.arg("offset", "0"))
    page = rows[offset:offset + limit]
    base = f"http://{req.header('host')}{ROOT}/itemsV2"
    items = [_view(st, r, req, base) for r in page]
    body = {"items": items, "count": len(items), "hasMore": offset + limit < len(rows), "limit": limit,
            "offset": offset}
    if req.arg("totalResults") == "true":
        body["totalResults"] = len(rows)
    if st.edit_during_paging and page:
        st.edit_during_paging = False
        st.edited.append(page[0]["ItemNumber"])
        st.touch(uniq_id(page[0]))
    return _malform(st, Response.json(body))


MALFORMED = ("html", "empty", "truncated", "null", "no_items")


def _malform(st: FusionState, resp: Response) -> Response:
    """The answer as the next queued malformation breaks it (see the module docstring)."""
    if not st.malformed:
        return resp
    kind = st.malformed.pop(0)
    if kind == "html":
        return Response.text("<html><body><h1>Oracle Identity Cloud Service</h1>Sign In</body></html>", 200,
                             content_type="text/html")
    answers = {"empty": b"", "truncated": resp.body[: len(resp.body) // 2], "null": b"null",
               "no_items": b'{"count": 0, "hasMore": false}'}
    if kind not in answers:
        raise ValueError(f"unknown malformation {kind!r}; one of {', '.join(MALFORMED)}")
    return Response(200, answers[kind], {"Content-Type": "application/json"})


def _one(st: FusionState, req: Request) -> Response:
    row = st.items.get(req.match["uid"])
    if row is None:
        return Response.json({"title": "Not Found"}, 404)
    uid = req.match["uid"]
    return Response.json(_view(st, row, req, f"http://{req.header('host')}{ROOT}/itemsV2"),
                         headers={"ETag": st.etag(uid)})


def _patch(st: FusionState, req: Request) -> Response:
    row = st.items.get(req.match["uid"])
    if row is None:
        return Response.text("The requested resource was not found.", 404)
    uid = req.match["uid"]
    sent = req.header("if-match")
    if sent and sent not in ("*", st.etag(uid)):
        return Response.text("The request failed because the resource was modified by another user since it was "
                             "retrieved (ETag mismatch).", 412)
    values = req.json() or {}
    for name, value in values.items():
        if name not in row or name in ("ItemId", "OrganizationId", "ItemNumber", "OrganizationCode"):
            return Response.text(f"The attribute {name} is not valid or cannot be updated.", 400)
        if name in QUANTITIES and value is not None and float(value) < 0:
            return Response.text(f"The value of the attribute {name} must be greater than or equal to 0.", 400)
        if name == "InventoryPlanningMethodValue" and value not in PLANNING_METHODS:
            return Response.text(f"The value {value} is not valid for the attribute {name}.", 400)
    if row["ItemNumber"] in st.reject:
        return Response.text(st.reject[row["ItemNumber"]], 400)
    row.update(values)
    st.touch(uid)
    return Response.json(_view(st, row, req, f"http://{req.header('host')}{ROOT}/itemsV2"),
                         headers={"ETag": st.etag(uid)})


def _matches(row: dict, q: str | None) -> bool:
    if not q:
        return True
    for cond in q.split(";"):
        m = _COND.match(cond.strip())
        if not m:
            raise ValueError(f"URL request parameter q with value {cond!r} is not valid")
        have, want = _typed(row.get(m.group(1))), _typed(m.group(3).replace("''", "'"))
        if not {"=": have == want, "!=": have != want, ">": have > want, ">=": have >= want,
                "<": have < want, "<=": have <= want}[m.group(2)]:
            return False
    return True


def _typed(value: Any) -> tuple:
    """A value as ADF compares it: numbers as numbers, date-times as instants, else text."""
    text = "" if value is None else str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        pass
    if "T" in text:
        try:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (1, (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).timestamp(), "")
        except ValueError:
            pass
    return (2, 0.0, text)


def _view(st: FusionState, row: dict, req: Request, base: str) -> dict:
    fields = req.arg("fields")
    data = {k: row[k] for k in fields.split(",") if k in row} if fields else dict(row)
    if req.arg("onlyData") != "true":
        uid = uniq_id(row)
        data["links"] = [{"rel": "self", "href": f"{base}/{uid}", "name": "itemsV2", "kind": "item",
                          "properties": {"changeIndicator": st.etag(uid).strip('"')}}]
    return data
