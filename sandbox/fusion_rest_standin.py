"""An Oracle Fusion REST stand-in for itemsV2: limit/offset/hasMore paging, q= filters
(`A='x';B>'y'`), onlyData, fields, orderBy, and PATCH on the item's hash-key URL with
attribute validation (unknown attribute, negative quantity -> HTTP 400 with Oracle-like text).
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
        self.reject: dict[str, str] = {}  # ItemNumber -> message (a business rule the item breaks)


def build_app(dataset: Any = None, items: list[dict] | None = None) -> SandboxApp:
    app = SandboxApp("fusion_rest")
    st = app.state = FusionState(items or seed_items(dataset))
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
    items = [_view(r, req, base) for r in page]
    body = {"items": items, "count": len(items), "hasMore": offset + limit < len(rows), "limit": limit,
            "offset": offset}
    if req.arg("totalResults") == "true":
        body["totalResults"] = len(rows)
    return Response.json(body)


def _one(st: FusionState, req: Request) -> Response:
    row = st.items.get(req.match["uid"])
    if row is None:
        return Response.json({"title": "Not Found"}, 404)
    return Response.json(_view(row, req, f"http://{req.header('host')}{ROOT}/itemsV2"))


def _patch(st: FusionState, req: Request) -> Response:
    row = st.items.get(req.match["uid"])
    if row is None:
        return Response.text("The requested resource was not found.", 404)
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
    row.update(values, LastUpdateDateTime=datetime.now(UTC).isoformat(timespec="seconds"))
    return Response.json(_view(row, req, f"http://{req.header('host')}{ROOT}/itemsV2"))


def _matches(row: dict, q: str | None) -> bool:
    if not q:
        return True
    for cond in q.split(";"):
        m = _COND.match(cond.strip())
        if not m:
            raise ValueError(f"URL request parameter q with value {cond!r} is not valid")
        have, want = str(row.get(m.group(1)) or ""), m.group(3).replace("''", "'")
        if not {"=": have == want, "!=": have != want, ">": have > want, ">=": have >= want,
                "<": have < want, "<=": have <= want}[m.group(2)]:
            return False
    return True


def _view(row: dict, req: Request, base: str) -> dict:
    fields = req.arg("fields")
    data = {k: row[k] for k in fields.split(",") if k in row} if fields else dict(row)
    if req.arg("onlyData") != "true":
        data["links"] = [{"rel": "self", "href": f"{base}/{uniq_id(row)}", "name": "itemsV2", "kind": "item"}]
    return data
