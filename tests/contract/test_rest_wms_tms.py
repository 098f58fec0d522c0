"""WMS and TMS connectors against their sandboxes over real HTTP: the standard suite, every fault, and
an incremental pull after changing 1 % of the records."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.testing.suite import GENERIC, ConnectorContract, duplicates, read_all
from core.model import Shipment
from core.settings import SegbridgeConfig
from core.store import create_all, open_store, read_frame
from core.sync import load_state, pull
from sandbox.generator import generate
from sandbox.server import serve
from sandbox.tms import build_app as build_tms
from sandbox.wms import build_app as build_wms

pytestmark = pytest.mark.contract
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 10}


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=5, products=12, locations=2, customers=8, weeks=16)


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("WMS_PASSWORD", "wms_pass")
    monkeypatch.setenv("TMS_SECRET", "tms_secret")


def wms_options(url: str, **extra) -> dict:
    return {"base_url": url, "auth": {"type": "basic", "username": "wms_user", "password": "${WMS_PASSWORD}"},
            "page_size": 25, **FAST, **extra}


def tms_options(url: str, **extra) -> dict:
    return {"base_url": url, "page_size": 40, **FAST, **extra,
            "auth": {"type": "oauth2_client_credentials", "token_url": url + "/oauth2/token",
                     "client_id": "tms_client", "client_secret": "${TMS_SECRET}"}}


class TestWmsContract(ConnectorContract):
    streams = ["item", "order_hdr", "allocation", "inventory"]
    incremental_stream = "item"
    malformed_answers = GENERIC
    malformed_stream = "order_hdr"

    def commit_late(self, app, stream):
        return app.commit_late(stream)

    def edit_during_paging(self, app, stream):
        return app.edit_oldest(stream, 2)

    def roundtrip(self, app):  # lgfapi bulk_update takes no ETag: read_back only
        return WriteItem("rt", "item", {"code": "P000003", "facility_id__code": "DC01"}, {"cust_field_1": "B"}), "C"

    @pytest.fixture
    def server_app(self, dataset):
        app = build_wms(dataset)
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app):
        with registry.create("wms", wms_options(server_app.url, page_size=10)) as conn:  # items page too
            yield conn

    def change_records(self, app, stream):
        return app.change(stream, 0.05)

    def write_batch(self, app):
        app.locked.add(("P000002", "DC01"))
        return WriteBatch([WriteItem("1", "item", {"code": "P000001", "facility_id__code": "DC01"}, {"cust_field_1": "A"}),
                           WriteItem("2", "item", {"code": "P000002", "facility_id__code": "DC01"}, {"cust_field_1": "B"}),
                           WriteItem("3", "item", {"code": "NOPE", "facility_id__code": "DC01"}, {"cust_field_1": "C"})])


class TestTmsContract(ConnectorContract):
    streams = ["shipments", "orderReleases", "locations", "routingProfiles"]
    incremental_stream = "shipments"
    malformed_answers = GENERIC
    malformed_path = r"/shipments$"  # the OAuth token endpoint answers as usual

    def commit_late(self, app, stream):
        return app.commit_late(stream)

    def edit_during_paging(self, app, stream):
        return app.edit_oldest(stream, 2)

    def roundtrip(self, app):  # the routingProfiles custom action takes no ETag: read_back only
        return WriteItem("rt", "routingProfiles", {"locationGid": "SEG.C00004"}, {"transportModeGid": "AIR"}), "TL"

    @pytest.fixture
    def server_app(self, dataset):
        app = build_tms(dataset)
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app):
        with registry.create("tms", tms_options(server_app.url)) as conn:
            yield conn

    def change_records(self, app, stream):
        return app.change(stream, 0.05)

    def write_batch(self, app):
        return WriteBatch([
            WriteItem("r1", "locations.refnums", {"locationGid": "SEG.C00003", "locationRefnumQualGid": "SEGBRIDGE_ROUTING"},
                      {"locationRefnumValue": "EXPEDITE"}),
            WriteItem("p1", "routingProfiles", {"locationGid": "SEG.C00001"}, {"transportModeGid": "AIR", "expediteAllowed": True}),
            WriteItem("p2", "routingProfiles", {"locationGid": "SEG.C00002"}, {"expediteAllowed": "yes"}),
            WriteItem("r2", "locations.refnums", {"locationGid": "SEG.NOPE", "locationRefnumQualGid": "X"},
                      {"locationRefnumValue": "Y"})])


def test_wms_write_outcomes_and_read_back(dataset):
    app = build_wms(dataset)
    app.locked.add(("P000002", "DC01"))
    with serve(app) as server, registry.create("wms", wms_options(server.url)) as conn:
        out = TestWmsContract().write_batch(app)
        outcomes = conn.write(out)
        assert [(o.status, o.message) for o in outcomes] == [
            ("applied", None), ("rejected", "item is locked by an active cycle count"),
            ("rejected", "item NOPE not found in facility DC01")]
        back = conn.read_back("item", [{"code": "P000001", "facility_id__code": "DC01"}])
        assert [r["cust_field_1"] for r in back] == ["A"]


def test_tms_write_outcomes_and_read_back(dataset):
    app = build_tms(dataset)
    with serve(app) as server, registry.create("tms", tms_options(server.url)) as conn:
        batch = TestTmsContract().write_batch(app)
        outcomes = conn.write(batch)
        assert [(o.ref, o.status, o.http_status, o.message) for o in outcomes] == [
            ("r1", "applied", 201, None), ("p1", "applied", 200, None),
            ("p2", "rejected", None, "expediteAllowed: 'yes' is not true or false"),
            ("r2", "rejected", 404, "POST " + server.url + "/logisticsRestApi/resources-int/v2/locations/SEG.NOPE/refnums:"
             " HTTP 404: " + '{"title": "location SEG.NOPE not found", "status": 404}')]
        # the refnum is a child of the customer location: the body carries only qualifier and value
        post = [r for r in app.log if r.method == "POST" and r.path.endswith("/locations/SEG.C00003/refnums")]
        assert [r.json() for r in post] == [{"locationRefnumQualGid": "SEGBRIDGE_ROUTING", "locationRefnumValue": "EXPEDITE"}]
        key = batch.items[0].key
        assert conn.read_back("locations.refnums", [key]) == [{**key, "locationRefnumValue": "EXPEDITE"}]
        assert conn.read_back("routingProfiles", [{"locationGid": "SEG.C00001"}])[0]["transportModeGid"] == "AIR"
        assert app.data["routingProfiles"].get("SEG.C00002")["expediteAllowed"] is False  # never sent


def test_tms_routing_flags_from_the_outbox_go_as_json_booleans(dataset):
    """Write-back values arrive as outbox text ("true"/"false") or 1/0; OTM gets real JSON booleans and
    they read back as the outbox text, so reconciliation compares like with like."""
    app = build_tms(dataset)
    with serve(app) as server, registry.create("tms", tms_options(server.url)) as conn:
        out = conn.write(WriteBatch([
            WriteItem("a", "routingProfiles", {"locationGid": "SEG.C00001"},
                      {"expediteAllowed": "true", "consolidationEligible": "false", "crossDockEligible": 1}),
            WriteItem("b", "routingProfiles", {"locationGid": "SEG.C00002"},
                      {"expediteAllowed": 0, "consolidationEligible": "1", "crossDockEligible": "0"})]))
        assert [(o.ref, o.status, o.message) for o in out] == [("a", "applied", None), ("b", "applied", None)]
        [body] = [r.json() for r in app.log if r.method == "POST" and r.path.endswith("/routingProfiles")]
        assert body == {"items": [
            {"locationGid": "SEG.C00001", "expediteAllowed": True, "consolidationEligible": False,
             "crossDockEligible": True},
            {"locationGid": "SEG.C00002", "expediteAllowed": False, "consolidationEligible": True,
             "crossDockEligible": False}]}
        back = conn.read_back("routingProfiles", [{"locationGid": "SEG.C00001"}])
        assert {k: back[0][k] for k in ("expediteAllowed", "consolidationEligible", "crossDockEligible")} == {
            "expediteAllowed": "true", "consolidationEligible": "false", "crossDockEligible": "true"}


def test_tms_locations_lift_the_routing_refnum(dataset):
    app = build_tms(dataset)
    with serve(app) as server, registry.create("tms", tms_options(server.url)) as conn:
        conn.write(WriteBatch([WriteItem("r", "locations.refnums", {"locationGid": "SEG.C00002",
                                                                   "locationRefnumQualGid": "SEGBRIDGE_ROUTING"},
                                         {"locationRefnumValue": "GOLD"})]))
        records = [r for b in conn.read(StreamSpec("locations"), None) for r in b.records]
    lifted = {r["locationGid"]: r["routingRefnumValue"] for r in records}
    assert lifted == {gid: ("GOLD" if gid == "SEG.C00002" else None) for gid in app.data["locations"].records}
    get = [r for r in app.log if r.method == "GET" and r.path.endswith("/locations")]
    assert get[0].query["expand"] == ["refnums"]


def test_wms_read_back_is_batched_by_in_filters(dataset):
    """Reconcile reads 200 keys at a time: the WMS answers them in 2 list requests (100 keys each, lgfapi
    `code__in` / `facility_id__code__in`), not 200; a key the WMS lacks is simply absent."""
    big = generate(seed=5, products=120, locations=2, customers=8, weeks=4)
    app = build_wms(big)
    keys = [{"code": c, "facility_id__code": f} for c, f in list(app.data["item"].records)[:199]]
    keys.append({"code": "NOPE", "facility_id__code": "DC01"})
    with serve(app) as server, registry.create("wms", wms_options(server.url)) as conn:
        app.log.clear()
        back = conn.read_back("item", keys)
    gets = [r for r in app.log if r.method == "GET"]
    assert len(gets) == 2
    assert [r.query["code__in"][0].split(",") for r in gets] == [
        list(dict.fromkeys(k["code"] for k in part)) for part in (keys[:100], keys[100:])]
    assert [r.query["fields"][0] for r in gets] == [
        "code,facility_id__code,cust_field_1,cust_field_2,cust_field_3,cust_field_4"] * 2
    assert {(r["code"], r["facility_id__code"]) for r in back} == {(k["code"], k["facility_id__code"])
                                                                   for k in keys[:199]}
    held = app.data["item"].records
    assert all(r["cust_field_1"] == held[(r["code"], r["facility_id__code"])]["cust_field_1"] for r in back)


def test_wms_read_back_of_unknown_keys_is_empty_not_an_error(dataset):
    """lgfapi answers 404 when a filter matches nothing; read back treats that as no records."""
    app = build_wms(dataset)
    with serve(app) as server, registry.create("wms", wms_options(server.url)) as conn:
        assert conn.read_back("item", [{"code": "NOPE", "facility_id__code": "DC01"}]) == []
        assert conn.read_back("item", []) == []


def inject_faults(app, path: str) -> None:
    app.inject(status=429, retry_after=1, path=path)
    app.inject(status=503, path=path)
    app.inject(status=0, delay=1.0, path=path)  # beyond the 0.5 s read timeout
    app.inject(drop=True, path=path)
    app.inject(status=200, body="<html>gateway hiccup</html>", path=path)


@pytest.mark.parametrize("kind", ["wms", "tms"])
def test_every_fault_still_reads_exactly_the_sandbox_records(dataset, kind):
    app = build_wms(dataset) if kind == "wms" else build_tms(dataset)
    stream = "order_hdr" if kind == "wms" else "shipments"
    with serve(app) as server:
        opts = (wms_options if kind == "wms" else tms_options)(server.url, read_timeout=0.5)
        with registry.create(kind, opts) as conn:
            spec = {s.name: s for s in conn.discover()}[stream]
            inject_faults(app, stream)
            records = []
            for n, batch in enumerate(conn.read(spec, None)):
                records.extend(batch.records)
                if n == 1:  # mid-stream: the same faults again, and the OAuth token expires
                    inject_faults(app, stream)
                    if app.auth.clients:
                        app.auth.expire_tokens()
            assert all(f.times == 0 for f in app.faults)
    keys = [r[spec.primary_key[0]] for r in records]
    assert duplicates(records, spec.primary_key) == []
    assert sorted(keys) == sorted(app.data[stream].records)
    if kind == "tms":
        assert conn.client.tokens.fetches == 2


def config_for(tmp_path, systems: dict) -> SegbridgeConfig:
    return SegbridgeConfig.model_validate({"database": {"url": f"sqlite:///{tmp_path}/s.db"}, "systems": systems})


def test_incremental_pull_after_changing_one_percent_reads_only_those_plus_lookback(tmp_path):
    ds = generate(seed=8, products=20, locations=2, customers=10, weeks=30)
    app = build_tms(ds)
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    with serve(app) as server:
        config = config_for(tmp_path, {"tms": {"kind": "tms", "mapping": "tms.yaml", "options": tms_options(server.url)}})
        first = pull(config, db, entities=["shipment"])[0]
        coll = app.data["shipments"]
        assert first.status == "ok" and first.streams[0].read == len(coll) > 500
        watermark = load_state(db, "tms", "shipments", "shipment")["since"]
        window = {r["shipmentGid"] for r in coll.since("2000-01-01T00:00:00Z")
                  if r["updateDate"]["value"] >= _minus_300(watermark)}
        changed = app.change("shipments", 0.01)
        second = pull(config, db, entities=["shipment"])[0]
    assert len(changed) == len(coll) // 100
    assert second.streams[0].read == len(window | set(changed))
    assert second.streams[0].read < len(coll) // 10
    stored = read_frame(db, Shipment).set_index("shipment_id")["freight_cost"]
    for gid in changed:
        assert stored[gid] == pytest.approx(coll.get(gid)["totalActualCost"]["value"])
    assert len(stored) == len(coll)


def _minus_300(stamp: str) -> str:
    from datetime import datetime, timedelta

    value = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=300)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_full_pull_ignores_state(tmp_path, dataset):
    app = build_wms(dataset)
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    with serve(app) as server:
        config = config_for(tmp_path, {"wms": {"kind": "wms", "mapping": "wms.yaml", "options": wms_options(server.url)}})
        pull(config, db, entities=["outbound_order"])
        again = pull(config, db, entities=["outbound_order"], full=True)[0]
    assert again.streams[0].read == len(app.data["order_hdr"])
    spec_state = load_state(db, "wms", "order_hdr", "outbound_order")
    assert spec_state == {"version": 1, "since": app.data["order_hdr"].newest()}


def test_read_with_page_size_reports_source_count(dataset):
    app = build_wms(dataset)
    with serve(app) as server, registry.create("wms", wms_options(server.url, page_size=10)) as conn:
        records, checkpoint, batches = read_all(conn, StreamSpec("inventory"))
    assert {b.source_count for b in batches} == {len(app.data["inventory"])}
    assert len(batches) == -(-len(records) // 10) and checkpoint == {"version": 1}
