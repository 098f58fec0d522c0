"""Shared fixtures of the write-back tests: an in-memory target system, a mapping and seeded stores.

`MemoryConnector` implements the Connector interface faithfully over a `World` (records per
target entity keyed by their key JSON) and logs every write, so tests assert what was sent
and how often. Scripted faults: per-key rejections, retriable answers, a batch that raises.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from basics.yaml_loader import StrictModel
from connectors import registry
from connectors.base import CheckResult, Connector, ItemOutcome, StreamSpec, WriteBatch
from connectors.connector_errors import RetriableError
from core.model import ParameterValue, ProductLocation, Run, SegmentAssignment
from core.settings import SegbridgeConfig
from core.store import upsert

WORLDS: dict[str, World] = {}

MAPPING = """
version: 1
system: memsap
entities:
  supply_planning:
    source: {kind: odata_entity_set, name: A_ProductSupplyPlanning}
    target: product_location
    key: [Product, Plant]
    fields:
      product_id: {from: Product, transforms: [required, strip]}
      location_id: {from: Plant, transforms: [required, strip]}
      current_abc: {from: ABCIndicator, transforms: [strip]}
      current_safety_stock: {from: SafetyStockQuantity, transforms: [{decimal: 3}]}
      current_reorder_point: {from: ReorderThresholdQuantity, transforms: [{decimal: 3}]}
    reverse:
      entity: A_ProductSupplyPlanning
      key:
        Product: {from: product_id, transforms: [required, upper]}
        Plant: {from: location_id, transforms: [required]}
      fields:
        ABCIndicator: {from: abc, transforms: [upper, {max_length: 1}], read_back: current_abc}
        SafetyStockQuantity: {from: safety_stock, transforms: [non_negative, {format_decimal: 3}],
                              read_back: current_safety_stock}
        ReorderThresholdQuantity: {from: reorder_point, transforms: [non_negative, {format_decimal: 3}],
                                   read_back: current_reorder_point}
"""
ENTITY = "A_ProductSupplyPlanning"


def key_json(product: str, plant: str) -> str:
    return json.dumps({"Plant": plant, "Product": product}, sort_keys=True)


@dataclass
class World:
    """The target system's records and a log of every item it received."""

    records: dict[str, dict[str, dict]] = field(default_factory=dict)
    writes: list[tuple[str, str, dict]] = field(default_factory=list)  # (entity, key json, values)
    requests: int = 0
    reads: int = 0  # read_back calls
    reject: dict[str, str] = field(default_factory=dict)  # key json -> message
    retriable: dict[str, int] = field(default_factory=dict)  # key json -> times to answer retriable
    raise_on_request: set[int] = field(default_factory=set)  # request numbers that raise after applying
    fail_before_apply: set[int] = field(default_factory=set)  # request numbers that raise before applying
    conflict: dict[str, int] = field(default_factory=dict)  # key json -> times to answer 412 (If-Match failed)
    etags: dict[str, str] = field(default_factory=dict)  # key json -> ETag read_back returns as __etag
    etags_sent: list[tuple[str, str | None]] = field(default_factory=list)  # (key json, item etag) per item
    before_write: Any = None  # called with the world before a request is applied (a person's edit in between)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, product: str, plant: str, fld: str) -> Any:
        return self.records.get(ENTITY, {}).get(key_json(product, plant), {}).get(fld)


class MemoryOptions(StrictModel):
    world: str


class MemoryConnector(Connector):
    kind = "memory"
    Options = MemoryOptions

    @property
    def world(self) -> World:
        return WORLDS[self.options.world]

    def check(self) -> CheckResult:
        return CheckResult(True, "in memory")

    def discover(self) -> list[StreamSpec]:
        return [StreamSpec(ENTITY, ["Product", "Plant"], writable=True)]

    def read(self, stream, state):
        yield from ()

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        w = self.world
        with w.lock:
            w.requests += 1
            number = w.requests
            if number in w.fail_before_apply:
                raise ConnectionError(f"request {number} lost before it arrived")
            if w.before_write is not None:
                w.before_write(w)
            outcomes = [self._one(w, item) for item in batch.items]
            if number in w.raise_on_request:
                raise ConnectionError(f"connection reset after request {number} was applied")
        return outcomes

    def _one(self, w: World, item) -> ItemOutcome:
        k = json.dumps(item.key, sort_keys=True)
        w.etags_sent.append((k, item.etag))
        if w.conflict.get(k, 0) > 0:
            w.conflict[k] -= 1
            return ItemOutcome(item.ref, "conflict", "precondition failed: the ETag changed", http_status=412)
        if k in w.reject:
            return ItemOutcome(item.ref, "rejected", w.reject[k], http_status=400)
        if w.retriable.get(k, 0) > 0:
            w.retriable[k] -= 1
            return ItemOutcome(item.ref, "retriable", "busy, try later", http_status=503)
        rec = w.records.setdefault(item.target, {}).setdefault(k, dict(item.key))
        rec.update(item.values)
        w.writes.append((item.target, k, dict(item.values)))
        return ItemOutcome(item.ref, "applied", etag=f"W/\"{len(w.writes)}\"")

    def read_back(self, target: str, keys: list[dict]) -> list[dict]:
        w = self.world
        w.reads += 1
        out = []
        for key in keys:
            k = json.dumps(key, sort_keys=True)
            rec = w.records.get(target, {}).get(k)
            if rec is not None:
                out.append({**rec, **({"__etag": w.etags[k]} if k in w.etags else {})})
        return out


registry.register(MemoryConnector)


class FlakyConnector(MemoryConnector):
    """Raises RetriableError for a whole batch on given request numbers."""

    kind = "memory_flaky"

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        w = self.world
        if w.requests + 1 in w.retriable.get("__batches__", set()):
            w.requests += 1
            raise RetriableError("429 too many requests")
        return super().write(batch)


def make_config(tmp_path: Path, world: str, kind: str = "memory", writeback: dict | None = None,
                batch_size: int = 3) -> SegbridgeConfig:
    mapping = tmp_path / "memsap.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return SegbridgeConfig.model_validate({
        "systems": {"sap": {"kind": kind, "mapping": str(mapping), "options": {"world": world},
                            "write": {"batch_size": batch_size}}},
        "writeback": {"out_dir": str(tmp_path / "plans"), "retry_backoff_seconds": 0, **(writeback or {})},
    })


def seed(db, items: list[dict], run_kwargs: dict | None = None) -> int:
    """A segment run with parameters, and the product-locations SAP holds (current values).

    Each item: product, plant, ss (intended), cur_ss, rop, cur_rop, abc, cur_abc, cost.
    """
    with db.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(kind="segment", status="ok",
                                                           **(run_kwargs or {}))).inserted_primary_key[0]
    upsert(db, ProductLocation, [{
        "product_id": i["product"], "location_id": i["plant"], "source_system": "sap", "unit_cost": i.get("cost"),
        "current_safety_stock": i.get("cur_ss"), "current_reorder_point": i.get("cur_rop"),
        "current_abc": i.get("cur_abc")} for i in items])
    params, segs = [], []
    for i in items:
        ek = f"{i['product']}|{i['plant']}"
        params.append({"run_id": run_id, "entity": "product_location", "entity_key": ek, "name": "safety_stock",
                       "value_num": i.get("ss")})
        params.append({"run_id": run_id, "entity": "product_location", "entity_key": ek, "name": "reorder_point",
                       "value_num": i.get("rop")})
        segs.append({"run_id": run_id, "entity": "product_location", "entity_key": ek, "dimension": "abc",
                     "value": i.get("abc", "A")})
    upsert(db, ParameterValue, params)
    upsert(db, SegmentAssignment, segs)
    return int(run_id)


def world_from_store(name: str, items: list[dict]) -> World:
    """A target system holding the items' current values, formatted as SAP would."""
    w = World()
    for i in items:
        rec = {"Product": i["product"], "Plant": i["plant"], "ABCIndicator": i.get("cur_abc"),
               "SafetyStockQuantity": None if i.get("cur_ss") is None else f"{i['cur_ss']:.3f}",
               "ReorderThresholdQuantity": None if i.get("cur_rop") is None else f"{i['cur_rop']:.3f}"}
        w.records.setdefault(ENTITY, {})[key_json(i["product"], i["plant"])] = rec
    WORLDS[name] = w
    return w


def items(n: int, changed: int | None = None) -> list[dict]:
    """n product-locations; the first `changed` get a new safety stock and reorder point."""
    changed = n if changed is None else changed
    out = []
    for k in range(n):
        cur = 10.0 + k
        out.append({"product": f"P{k:04d}", "plant": "1010", "cur_ss": cur, "ss": cur + (1 if k < changed else 0),
                    "cur_rop": 2 * cur, "rop": 2 * cur + (1 if k < changed else 0), "abc": "A", "cur_abc": "A",
                    "cost": 2.0})
    return out


def link(db, system: str, entity: str, pairs: dict[str, str]) -> None:
    """Crosswalk links of one system: source key (as the system writes it) -> canonical id."""
    from core.model import Crosswalk

    upsert(db, Crosswalk, [{"system": system, "entity": entity, "source_key": k, "canonical_id": v}
                               for k, v in pairs.items()])


def multi_config(tmp_path: Path, mappings: dict[str, str | Path], world: str = "multi",
                 writeback: dict | None = None) -> SegbridgeConfig:
    """Several writable systems (memory connectors) with the given mapping files; MAPPING when the path is ''."""
    systems = {}
    for name, path in mappings.items():
        if not path:
            path = tmp_path / "memsap.yaml"
            path.write_text(MAPPING, encoding="utf-8")
        systems[name] = {"kind": "memory", "mapping": str(path), "options": {"world": world},
                         "write": {"batch_size": 50}}
    return SegbridgeConfig.model_validate({
        "systems": systems,
        "writeback": {"out_dir": str(tmp_path / "plans"), "retry_backoff_seconds": 0, **(writeback or {})}})


def segment_run(db, params: list[tuple[str, str, str, object]], segs: list[tuple[str, str, str, str]]) -> int:
    """A successful segment run: params (entity, key, name, value), segments (entity, key, dimension, value)."""
    with db.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(kind="segment", status="ok")).inserted_primary_key[0]
    upsert(db, ParameterValue, [
        {"run_id": run_id, "entity": e, "entity_key": k, "name": n,
         "value_num": v if isinstance(v, int | float) else None, "value_text": None if isinstance(v, int | float) else v}
        for e, k, n, v in params])
    if segs:
        upsert(db, SegmentAssignment, [{"run_id": run_id, "entity": e, "entity_key": k, "dimension": d, "value": v}
                                           for e, k, d, v in segs])
    return int(run_id)
