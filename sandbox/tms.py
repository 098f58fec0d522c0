"""A stand-in for Oracle Transportation Management's REST API (resources-int v2), seeded from the generator.

Collections /shipments, /orderReleases, /locations (customer locations; `expand=refnums` adds the
reference numbers), /custom-actions/routingProfiles take
`limit`/`offset`/`q`/`fields`/`totalResults` and answer {items, count, hasMore, limit, offset,
totalResults, links}. `q` understands `updateDate ge|gt "<ISO time>"` and `<field> eq "<value>"`.
GIDs are 'SEG.<XID>'; times, costs and weights are objects. Writes: POST
/locations/{gid}/refnums and /orderReleases/{gid}/refnums (one refnum per request; 201 or an error
status; OTM keys refnums by qualifier and value) and POST
/custom-actions/routingProfiles (bulk, one result per item). Auth: OAuth2 client credentials
(default, tokens at /oauth2/token, `expire_tokens()` to force a refresh), bearer or basic.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from sandbox.collection import Collection, next_stamp, project
from sandbox.generator import Dataset, generate
from sandbox.server import Request, Response, SandboxApp, SandboxAuth
from sandbox.wms import stamps

BASE = "/logisticsRestApi/resources-int/v2"
MAX_LIMIT = 5000
OTM_MODE = {"PARCEL": "SMALL_PACKAGE", "LTL": "LTL", "TL": "TL", "AIR": "AIR", "OCEAN": "VESSEL", "RAIL": "RAIL"}
ROUTING_FIELDS = {"transportModeGid": str, "carrierClass": str, "expediteAllowed": bool,
                  "consolidationEligible": bool, "crossDockEligible": bool}
QUALIFIER = "SEGBRIDGE_ROUTING"


def _gid(values) -> np.ndarray:
    return np.char.add("SEG.", np.asarray(values, dtype=str))


def _shipments(ds: Dataset) -> list[dict]:
    sh = ds.shipments
    n = len(sh)
    upd = stamps(ds.start, n, 20)
    start = np.char.add(sh["ship_date"].astype(str).to_numpy().astype(str), "T08:00:00Z")
    end = np.char.add(sh["delivery_date"].astype(str).to_numpy().astype(str), "T16:00:00Z")
    frame = pd.DataFrame({
        "shipmentGid": _gid(sh["shipment_id"]), "shipmentXid": sh["shipment_id"].to_numpy(), "domainName": "SEG",
        "servprovGid": _gid(sh["carrier"]), "transportModeGid": sh["mode"].map(OTM_MODE).to_numpy(),
        "sourceLocationGid": _gid(sh["location_id"]), "destLocationGid": _gid(sh["customer_id"]),
        "startTime": [{"value": v} for v in start], "endTime": [{"value": v} for v in end],
        "totalActualCost": [{"value": float(v), "currency": c} for v, c in zip(sh["freight_cost"], sh["currency"],
                                                                               strict=True)],
        "totalWeight": [{"value": float(v), "unit": "KG"} for v in sh["weight_kg"]],
        "updateDate": [{"value": v} for v in upd]})
    return frame.to_dict("records")


def _releases(ds: Dataset) -> list[dict]:
    sh = ds.shipments
    upd = stamps(ds.start, len(sh), 20)
    return [{"orderReleaseGid": f"SEG.{o}", "orderReleaseXid": o, "sourceLocationGid": f"SEG.{loc}",
             "destLocationGid": f"SEG.{c}", "refnums": {}, "updateDate": {"value": u}}
            for o, loc, c, u in zip(sh["order_id"], sh["location_id"], sh["customer_id"], upd, strict=True)]


def _locations(ds: Dataset) -> list[dict]:
    """Customer ship-to locations (OTM master data); refnums are a child collection keyed by
    (qualifier, value), seeded with a CRM reference only."""
    cu = ds.customers
    upd = stamps(ds.start, len(cu), 30)
    return [{"locationGid": f"SEG.{c}", "locationXid": c, "domainName": "SEG", "locationName": f"Customer {c}",
             "refnums": [{"locationRefnumQualGid": "CRM_ACCOUNT", "locationRefnumValue": c}],
             "updateDate": {"value": u}} for c, u in zip(cu["id"], upd, strict=True)]


def _profiles(ds: Dataset) -> list[dict]:
    cu = ds.customers
    upd = stamps(ds.start, len(cu))
    return [{"locationGid": f"SEG.{c}", "transportModeGid": "LTL", "carrierClass": "STANDARD",
             "expediteAllowed": False, "consolidationEligible": True, "crossDockEligible": False,
             "updateDate": {"value": u}} for c, u in zip(cu["id"], upd, strict=True)]


def _stamp(record: dict, stamp: str) -> None:
    record["updateDate"] = {"value": stamp}


class TmsSandbox(SandboxApp):
    def __init__(self, ds: Dataset):
        super().__init__("tms")
        ts = lambda r: r["updateDate"]["value"]  # noqa: E731
        self.data = {"shipments": Collection(_shipments(ds), key="shipmentGid", ts=ts),
                     "orderReleases": Collection(_releases(ds), key="orderReleaseGid", ts=ts),
                     "routingProfiles": Collection(_profiles(ds), key="locationGid", ts=ts),
                     "locations": Collection(_locations(ds), key="locationGid", ts=ts)}
        self.locked: set[str] = set()  # GIDs refusing writes

    def change(self, entity: str, fraction: float, seed: int = 1) -> list[Any]:
        """Re-rate `fraction` of an entity's records (freight cost +1 or a new mode) with a newer updateDate."""
        coll = self.data[entity]
        picked = coll.sample_keys(fraction, seed)
        stamp = next_stamp(coll.newest())
        for key in picked:
            record = coll.get(key)
            if "totalActualCost" in record:
                cost = record["totalActualCost"]
                values = {"totalActualCost": {**cost, "value": round(cost["value"] + 1, 2)}}
            else:
                values = {"sourceLocationGid": record.get("sourceLocationGid", "") + "X"}
            coll.touch(key, values, _stamp, stamp)
        return picked

    def commit_late(self, entity: str) -> Any:
        """A record committed late with the newest change timestamp (see Collection.commit_late)."""
        return self.data[entity].commit_late(_stamp)

    def edit_oldest(self, entity: str, n: int = 1) -> list[Any]:
        """A person edits the `n` oldest records mid-read (see Collection.edit_oldest)."""
        return self.data[entity].edit_oldest(_stamp, n, next_stamp)

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one field of a record in OTM (`routingProfiles`, `locations`, ...): its
        updateDate moves on. (The custom action and refnum POSTs the manifest writes take no ETag.)"""
        coll = self.data[target]
        coll.touch(str(key["locationGid"] if "locationGid" in key else next(iter(key.values()))), {field: value},
                   _stamp, next_stamp(coll.newest()))


_Q = re.compile(r'^\s*(\w+)\s+(eq|ge|gt)\s+"([^"]*)"\s*$')


def _query(coll: Collection, q: str | None) -> list[dict] | None:
    """The records matching `q`, oldest change first; None when `q` cannot be read."""
    if not q:
        return coll.since(None)
    match = _Q.match(q)
    if not match:
        return None
    field, op, value = match.groups()
    if field == "updateDate" and op in ("ge", "gt"):
        return coll.since(value, strict=op == "gt")
    if op == "eq":
        return [r for r in coll.since(None) if str(r.get(field)) == value]
    return None


def _view(record: dict, req: Request) -> dict:
    if "locationXid" in record:
        expand = "refnums" in (req.arg("expand") or "").split(",")
        body = {k: v for k, v in record.items() if k != "refnums"}
        if expand:  # OTM returns a child collection only when expanded
            body["refnums"] = {"items": [dict(r) for r in record["refnums"]], "count": len(record["refnums"]),
                               "hasMore": False}
        return project(body, req.arg("fields"))
    if "refnums" in record:
        qualifier = req.arg("refnumQualifier", QUALIFIER)
        record = {**{k: v for k, v in record.items() if k != "refnums"},
                  "refnumValue": record["refnums"].get(qualifier)}
    return project(record, req.arg("fields"))


def _collection(app: TmsSandbox, name: str, req: Request) -> Response:
    try:
        limit = min(MAX_LIMIT, max(1, int(req.arg("limit", "25"))))
        offset = max(0, int(req.arg("offset", "0")))
    except ValueError:
        return Response.json({"title": "limit and offset must be integers", "status": 400}, 400)
    rows = _query(app.data[name], req.arg("q"))
    if rows is None:
        return Response.json({"title": f"cannot parse q={req.arg('q')!r}", "status": 400}, 400)
    page = [_view(r, req) for r in rows[offset:offset + limit]]
    more = offset + len(page) < len(rows)
    self_url = f"http://{req.header('host')}{req.path}?{urlencode({k: v[0] for k, v in req.query.items()})}"
    links = [{"rel": "self", "href": self_url}]
    if more:
        nxt = {**{k: v[0] for k, v in req.query.items()}, "offset": offset + len(page)}
        links.append({"rel": "next", "href": f"http://{req.header('host')}{req.path}?{urlencode(nxt)}"})
    body = {"items": page, "count": len(page), "hasMore": more, "limit": limit, "offset": offset, "links": links}
    if req.arg("totalResults") == "true":
        body["totalResults"] = len(rows)
    return Response.json(body, headers={"Content-Type": "application/vnd.oracle.resource+json;type=collection"})


def _add_refnum(app: TmsSandbox, gid: str, req: Request) -> Response:
    coll = app.data["orderReleases"]
    if coll.get(gid) is None:
        return Response.json({"title": f"order release {gid} not found", "status": 404}, 404)
    body = req.json() or {}
    qual, value = body.get("orderReleaseRefnumQualGid"), body.get("orderReleaseRefnumValue")
    if not qual or value is None:
        return Response.json({"title": "orderReleaseRefnumQualGid and orderReleaseRefnumValue are required",
                              "status": 400}, 400)
    if len(str(value)) > 32:
        return Response.json({"title": "orderReleaseRefnumValue is longer than 32", "status": 400}, 400)
    if gid in app.locked:
        return Response.json({"title": f"order release {gid} is planned on a shipment and locked",
                              "status": 409}, 409)
    refnums = {**coll.get(gid)["refnums"], qual: str(value)}
    coll.touch(gid, {"refnums": refnums}, _stamp, next_stamp(coll.newest()))
    return Response.json({"orderReleaseRefnumQualGid": qual, "orderReleaseRefnumValue": str(value)}, 201)


def _refnums(app: TmsSandbox, gid: str) -> Response:
    record = app.data["orderReleases"].get(gid)
    if record is None:
        return Response.json({"title": f"order release {gid} not found", "status": 404}, 404)
    items = [{"orderReleaseRefnumQualGid": q, "orderReleaseRefnumValue": v} for q, v in record["refnums"].items()]
    return Response.json({"items": items, "count": len(items), "hasMore": False})


def _location_refnums(app: TmsSandbox, gid: str, req: Request) -> Response:
    record = app.data["locations"].get(gid)
    if record is None:
        return Response.json({"title": f"location {gid} not found", "status": 404}, 404)
    items = [dict(r) for r in record["refnums"]]
    match = _Q.match(req.arg("q") or "")
    if match and match.group(2) == "eq":
        items = [r for r in items if str(r.get(match.group(1))) == match.group(3)]
    return Response.json({"items": items, "count": len(items), "hasMore": False})


def _add_location_refnum(app: TmsSandbox, gid: str, req: Request) -> Response:
    """POST a location refnum. OTM keys refnums by (qualifier, value): a new value for a qualifier
    adds a row next to the old one; the same pair again changes nothing."""
    coll = app.data["locations"]
    if coll.get(gid) is None:
        return Response.json({"title": f"location {gid} not found", "status": 404}, 404)
    body = req.json() or {}
    unknown = sorted(set(body) - {"locationRefnumQualGid", "locationRefnumValue", "domainName"})
    if unknown:
        return Response.json({"title": f"unknown attributes: {', '.join(unknown)}", "status": 400}, 400)
    qual, value = body.get("locationRefnumQualGid"), body.get("locationRefnumValue")
    if not qual or value in (None, ""):
        return Response.json({"title": "locationRefnumQualGid and locationRefnumValue are required",
                              "status": 400}, 400)
    if len(str(value)) > 240:
        return Response.json({"title": "locationRefnumValue is longer than 240", "status": 400}, 400)
    if gid in app.locked:
        return Response.json({"title": f"location {gid} is locked", "status": 409}, 409)
    row = {"locationRefnumQualGid": qual, "locationRefnumValue": str(value)}
    refnums = coll.get(gid)["refnums"]
    if row in refnums:
        return Response.json(row, 200)
    coll.touch(gid, {"refnums": [*refnums, row]}, _stamp, next_stamp(coll.newest()))
    return Response.json(row, 201)


def _routing(app: TmsSandbox, req: Request) -> Response:
    items = (req.json() or {}).get("items")
    if not isinstance(items, list):
        return Response.json({"title": "body must be {\"items\": [...]}", "status": 400}, 400)
    coll = app.data["routingProfiles"]
    stamp = next_stamp(coll.newest())
    return Response.json({"items": [_route_one(app, coll, i, stamp) for i in items]})


def _route_one(app: TmsSandbox, coll: Collection, item: dict, stamp: str) -> dict:
    gid = str(item.get("locationGid"))
    values = {k: v for k, v in item.items() if k != "locationGid"}
    problem = None
    if coll.get(gid) is None:
        problem = f"location {gid} not found"
    elif set(values) - set(ROUTING_FIELDS):
        problem = f"unknown fields: {', '.join(sorted(set(values) - set(ROUTING_FIELDS)))}"
    elif any(not isinstance(v, ROUTING_FIELDS[k]) for k, v in values.items()):
        problem = "expediteAllowed, consolidationEligible and crossDockEligible must be true or false"
    elif values.get("transportModeGid") not in (None, *OTM_MODE.values()):
        problem = f"unknown transport mode {values['transportModeGid']!r}"
    elif gid in app.locked:
        problem = f"location {gid} is locked"
    if problem:
        return {"locationGid": gid, "status": "FAILED", "message": problem}
    coll.touch(gid, values, _stamp, stamp)
    return {"locationGid": gid, "status": "SUCCEEDED", "message": None}


def build_app(dataset: Dataset | None = None, auth: str = "oauth2", user: str = "tms_client",
              password: str = "tms_secret", token: str = "tms-token", **generate_options: Any) -> TmsSandbox:
    """A TMS sandbox over `dataset` (generated from `generate_options` when not given)."""
    app = TmsSandbox(dataset or generate(**generate_options))
    if auth:
        app.require_auth(SandboxAuth.of_kind(auth, user, password, token))

    @app.route("GET", BASE + r"/locations/(?P<gid>[^/]+)/refnums/?")
    def location_refnums(req: Request) -> Response:
        return _location_refnums(app, req.match["gid"], req)

    @app.route("POST", BASE + r"/locations/(?P<gid>[^/]+)/refnums/?")
    def add_location_refnum(req: Request) -> Response:
        return _add_location_refnum(app, req.match["gid"], req)

    @app.route("GET", BASE + r"/(?P<name>shipments|orderReleases|locations)/?")
    def collection(req: Request) -> Response:
        return _collection(app, req.match["name"], req)

    @app.route("GET", BASE + r"/custom-actions/routingProfiles/?")
    def routing_list(req: Request) -> Response:
        return _collection(app, "routingProfiles", req)

    @app.route("POST", BASE + r"/custom-actions/routingProfiles/?")
    def routing_write(req: Request) -> Response:
        return _routing(app, req)

    @app.route("GET", BASE + r"/orderReleases/(?P<gid>[^/]+)/refnums/?")
    def refnums(req: Request) -> Response:
        return _refnums(app, req.match["gid"])

    @app.route("POST", BASE + r"/orderReleases/(?P<gid>[^/]+)/refnums/?")
    def add_refnum(req: Request) -> Response:
        return _add_refnum(app, req.match["gid"], req)

    return app
