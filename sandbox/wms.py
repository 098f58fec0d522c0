"""A stand-in for Oracle WMS Cloud's REST entity API (lgfapi v10), seeded from the generator.

Resources under /wms/lgfapi/v10/entity/: item (per facility; cust_field_1 velocity class,
cust_field_2 picking priority, cust_field_3 segment code, cust_field_4 slotting class), order_hdr,
allocation (picks), inventory, facility. Lists page with `page`/`page_size` and answer
{result_count, page_count, page_nbr, next_page, previous_page, results}; `mod_ts__gte`/`mod_ts__gt`
filter by change time; other query parameters filter by field (`field=v`, `field__in=a,b`, `!=`
negations), and a filter that matches nothing answers 404 as lgfapi does; `fields` projects. Writes:
POST entity/item/bulk_update answers one result per item. Auth: basic (default) or bearer/OAuth2.

Example:
    >>> app = build_app(products=5, locations=1)                 # doctest: +SKIP
    >>> with serve(app) as server: ...
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from sandbox.collection import Collection, next_stamp, project
from sandbox.generator import Dataset, generate
from sandbox.server import Request, Response, SandboxApp, SandboxAuth

BASE = "/wms/lgfapi/v10/entity"
MAX_PAGE = 5000
WRITABLE = {"cust_field_1", "cust_field_2", "cust_field_3", "cust_field_4"}
RESERVED = {"page", "page_size", "fields", "ordering", "mod_ts__gte", "mod_ts__gt", "page_mode"}
SHORT_PICKS = 0.05  # share of order lines picked short
STOCKED_OUT = 0.03  # share of item-facilities with nothing on hand


def stamps(start, n: int, step_seconds: int = 60) -> np.ndarray:
    """`n` distinct UTC timestamps from `start`, `step_seconds` apart, as canonical text."""
    base = np.datetime64(pd.Timestamp(start).tz_localize(None), "s")
    return np.char.add(np.datetime_as_string(base + np.arange(n) * np.timedelta64(step_seconds, "s"), unit="s"), "Z")


def _items(ds: Dataset) -> list[dict]:
    pl = ds.product_locations.merge(ds.products[["id", "name", "weight_kg"]], left_on="product_id", right_on="id")
    n = len(pl)
    slot = np.where(pl["current_velocity_class"] == "A", "GOLDEN", "BULK")
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1), "code": pl["product_id"], "facility_id__code": pl["location_id"],
        "company_id__code": "SEGCO", "description": pl["name"], "unit_cost": pl["unit_cost"],
        "unit_weight": pl["weight_kg"], "cust_field_1": pl["current_velocity_class"],
        "cust_field_2": pl["current_picking_priority"], "cust_field_3": "", "cust_field_4": slot,
        "create_ts": stamps(ds.start, n), "mod_ts": stamps(ds.start, n)})
    return frame.to_dict("records")


def _orders(ds: Dataset) -> list[dict]:
    sh = ds.shipments
    n = len(sh)
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1), "order_nbr": sh["order_id"], "cust_nbr": sh["customer_id"],
        "facility_id__code": sh["location_id"], "ship_via": sh["carrier"],
        "shipped_date": sh["ship_date"].astype(str), "status_id": 90,
        "mod_ts": stamps(ds.start, n, 30)})
    return frame.to_dict("records")


def _allocations(ds: Dataset, rng: np.random.Generator) -> list[dict]:
    """One pick per live order line, picked on its order's ship date (the order leaves the DC with its
    picks); SHORT_PICKS of the lines are picked short (40-90 % of the allocated quantity), so the
    shipment lines show partial deliveries. Allocated when the order was released (`create_ts`)."""
    ol = ds.order_lines[~ds.order_lines["rejected"]]
    n = len(ol)
    shipped_on = ds.shipments.groupby("order_id")["ship_date"].max()
    ship = pd.to_datetime(ol["order_id"].map(shipped_on)).fillna(pd.to_datetime(ol["order_date"]))
    qty = ol["quantity"].to_numpy(float)
    short = rng.random(n) < SHORT_PICKS
    picked = np.where(short, np.floor(qty * rng.uniform(0.4, 0.9, n)), qty)
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1), "order_nbr": ol["order_id"].to_numpy(), "order_seq_nbr": ol["line_no"].to_numpy(),
        "item_code": ol["product_id"].to_numpy(), "facility_id__code": ol["location_id"].to_numpy(),
        "cust_nbr": ol["customer_id"].to_numpy(), "alloc_qty": qty, "picked_qty": picked,
        "pick_date": ship.dt.strftime("%Y-%m-%d").to_numpy(),
        "create_ts": np.char.add(ol["order_date"].astype(str).to_numpy().astype(str), "T08:00:00Z"),
        "mod_ts": stamps(ds.start, n, 1)})
    return frame.to_dict("records")


def _inventory(ds: Dataset, rng: np.random.Generator) -> list[dict]:
    """On hand per item and facility as the WMS holds it at the world's last order day: the stock moved
    that day, so each record's `mod_ts` falls on it (the WMS stamps mod_ts at every stock movement)."""
    pl = ds.product_locations
    n = len(pl)
    last_day = pd.Timestamp(ds.order_lines["order_date"].max()) if len(ds.order_lines) else pd.Timestamp(ds.start)
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1), "item_code": pl["product_id"], "facility_id__code": pl["location_id"],
        "location_code": np.char.add("A-", np.char.zfill(rng.integers(1, 999, n).astype(str), 3)),
        "on_hand_qty": _on_hand(ds, rng), "allocated_qty": rng.integers(0, 50, n).astype(float),
        "mod_ts": stamps(last_day, n, 1 if n < 86_000 else 0)})  # within that day
    return frame.to_dict("records")


def _on_hand(ds: Dataset, rng: np.random.Generator) -> np.ndarray:
    """Half a week to six weeks of each product-location's mean weekly demand (at least a few units),
    STOCKED_OUT of them at zero: days of supply and stockouts in the demo look like a warehouse's."""
    pl = ds.product_locations
    lines = ds.order_lines[~ds.order_lines["rejected"]]
    weeks = max(1.0, (pd.Timestamp(lines["order_date"].max()) - pd.Timestamp(ds.start)).days / 7) if len(lines) else 1.0
    demand = lines.groupby(["product_id", "location_id"])["quantity"].sum() / weeks
    weekly = pd.MultiIndex.from_arrays([pl["product_id"], pl["location_id"]]).map(demand.to_dict()).to_numpy(float)
    qty = np.ceil(np.nan_to_num(weekly) * rng.uniform(0.5, 6.0, len(pl))) + rng.integers(0, 5, len(pl))
    return np.where(rng.random(len(pl)) < STOCKED_OUT, 0.0, qty)


class WmsSandbox(SandboxApp):
    """The WMS app plus its data, and helpers tests use (change records, refuse some writes)."""

    def __init__(self, ds: Dataset):
        super().__init__("wms")
        rng = np.random.default_rng(ds.seed + 7)
        self.data = {
            "item": Collection(_items(ds), key=lambda r: (r["code"], r["facility_id__code"]), ts="mod_ts"),
            "order_hdr": Collection(_orders(ds), key="order_nbr", ts="mod_ts"),
            "allocation": Collection(_allocations(ds, np.random.default_rng(ds.seed + 11)), key="id", ts="mod_ts"),
            "inventory": Collection(_inventory(ds, rng), key="id", ts="mod_ts"),
            "facility": Collection([{"id": i + 1, "code": c, "mod_ts": "2020-01-01T00:00:00Z"}
                                    for i, c in enumerate(ds.locations["id"])], key="code", ts="mod_ts"),
        }
        self.locked: set[tuple[str, str]] = set()  # items refusing writes ("locked by cycle count")

    def change(self, entity: str, fraction: float, seed: int = 1) -> list[Any]:
        """Edit `fraction` of an entity's records (a new description / quantity) with a newer mod_ts."""
        coll = self.data[entity]
        picked = coll.sample_keys(fraction, seed)
        stamp = next_stamp(coll.newest())
        for key in picked:
            record = coll.get(key)
            field = "description" if "description" in record else next(iter(k for k in record if k.endswith("qty")))
            value = f"{record[field]} (rev)" if field == "description" else float(record[field]) + 1
            coll.touch(key, {field: value}, _stamp, stamp)
        return picked

    def commit_late(self, entity: str) -> Any:
        """A record committed late with the newest change timestamp (see Collection.commit_late)."""
        return self.data[entity].commit_late(_stamp)

    def edit_oldest(self, entity: str, n: int = 1) -> list[Any]:
        """A person edits the `n` oldest records mid-read (see Collection.edit_oldest)."""
        return self.data[entity].edit_oldest(_stamp, n, next_stamp)

    def edit(self, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes one field of a record in the WMS UI: mod_ts moves on (lgfapi has no ETag)."""
        coll = self.data[target]
        record_key = (str(key["code"]), str(key["facility_id__code"])) if target == "item" else next(iter(key.values()))
        coll.touch(record_key, {field: value}, _stamp, next_stamp(coll.newest()))


def _stamp(record: dict, stamp: str) -> None:
    record["mod_ts"] = stamp


def _page(app: WmsSandbox, entity: str, req: Request) -> Response:
    coll = app.data.get(entity)
    if coll is None:
        return Response.json({"detail": f"entity {entity} not available in this sandbox"}, 404)
    try:
        size = min(MAX_PAGE, max(1, int(req.arg("page_size", "100"))))
        page = max(1, int(req.arg("page", "1")))
    except ValueError:
        return Response.json({"detail": "page and page_size must be integers"}, 400)
    since, strict = (req.arg("mod_ts__gt"), True) if req.arg("mod_ts__gt") else (req.arg("mod_ts__gte"), False)
    view = coll.since(since, strict)
    filters = {k: v[0] for k, v in req.query.items() if k not in RESERVED}
    if filters:
        view = [r for r in view if all(_matches(r, k, v) for k, v in filters.items())]
    total = len(view)
    if total == 0 and (filters or since):  # lgfapi: "if, after filtering, no data is found, a 404"
        return Response.json({"detail": "Not found."}, 404)
    pages = max(1, math.ceil(total / size))
    rows = [project(r, req.arg("fields")) for r in view[(page - 1) * size:page * size]]
    link = lambda n: f"http://{req.header('host')}{req.path}?{urlencode({**_flat(req), 'page': n})}"  # noqa: E731
    return Response.json({"result_count": total, "page_count": pages, "page_nbr": page,
                          "next_page": link(page + 1) if page < pages else None,
                          "previous_page": link(page - 1) if page > 1 else None, "results": rows})


def _matches(record: dict, name: str, value: str) -> bool:
    """One lgfapi filter: `field=value`, `field__in=a,b` (a list), and `!=` negations of either."""
    negate = name.endswith("!")
    name = name.rstrip("!")
    if name.endswith("__in"):
        hit = str(record.get(name[:-4])) in value.split(",")
    else:
        hit = str(record.get(name)) == value
    return hit != negate


def _flat(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in req.query.items()}


def _bulk_update(app: WmsSandbox, req: Request) -> Response:
    body = req.json() or {}
    items = body.get("items")
    if not isinstance(items, list):
        return Response.json({"detail": "body must be {\"items\": [...]}"}, 400)
    coll = app.data["item"]
    stamp = next_stamp(coll.newest())
    results = [_update_one(app, coll, item, stamp) for item in items]
    return Response.json({"results": results})


def _update_one(app: WmsSandbox, coll: Collection, item: dict, stamp: str) -> dict:
    key = (str(item.get("code")), str(item.get("facility_id__code")))
    out = {"code": key[0], "facility_id__code": key[1]}
    values = {k: v for k, v in item.items() if k not in ("code", "facility_id__code")}
    bad = sorted(set(values) - WRITABLE)
    if coll.get(key) is None:
        return {**out, "status": "error", "message": f"item {key[0]} not found in facility {key[1]}"}
    if bad:
        return {**out, "status": "error", "message": f"fields not updatable: {', '.join(bad)}"}
    if key in app.locked:
        return {**out, "status": "error", "message": "item is locked by an active cycle count"}
    too_long = [k for k, v in values.items() if v is not None and len(str(v)) > 16]
    if too_long:
        return {**out, "status": "error", "message": f"value too long for {too_long[0]} (max 16)"}
    coll.touch(key, {k: ("" if v is None else str(v)) for k, v in values.items()}, _stamp, stamp)
    return {**out, "status": "success", "message": None}


def build_app(dataset: Dataset | None = None, auth: str = "basic", user: str = "wms_user",
              password: str = "wms_pass", token: str = "wms-token", **generate_options: Any) -> WmsSandbox:
    """A WMS sandbox over `dataset` (generated from `generate_options` when not given)."""
    ds = dataset or generate(**generate_options)
    app = WmsSandbox(ds)
    if auth:
        app.require_auth(SandboxAuth.of_kind(auth, user, password, token))

    @app.route("GET", BASE + r"/(?P<entity>[a-z_]+)/?")
    def list_entity(req: Request) -> Response:
        return _page(app, req.match["entity"], req)

    @app.route("POST", BASE + r"/item/bulk_update/?")
    def bulk_update(req: Request) -> Response:
        return _bulk_update(app, req)

    return app
