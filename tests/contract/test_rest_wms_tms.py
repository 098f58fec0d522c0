"""WMS and TMS connectors against their sandboxes over real HTTP: the standard suite, every fault, and
an incremental pull after changing 1 % of the records."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.testing.suite import ConnectorContract, duplicates, read_all
from core.model import Shipment
from core.settings import SegbridgeConfig
from core.store import create_all, engine_for, read_frame
from core.sync import load_state, pull
from sandbox.base import serve
from sandbox.generator import generate
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

    @pytest.fixture
    def server_app(self, dataset):
        app = build_wms(dataset)
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app):
        with registry.create("wms", wms_options(server_app.url)) as conn:
            yield conn

    def change_records(self, app, stream):
        return app.change(stream, 0.05)

    def write_batch(self, app):
        app.locked.add(("P000002", "DC01"))
        return WriteBatch([WriteItem("1", "item", {"code": "P000001", "facility_id__code": "DC01"}, {"cust_field_1": "A"}),
                           WriteItem("2", "item", {"code": "P000002", "facility_id__code": "DC01"}, {"cust_field_1": "B"}),
                           WriteItem("3", "item", {"code": "NOPE", "facility_id__code": "DC01"}, {"cust_field_1": "C"})])


class TestTmsContract(ConnectorContract):
    streams = ["shipments", "orderReleases", "routingProfiles"]
    incremental_stream = "shipments"

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
        gid = next(iter(app.data["orderReleases"].records))
        return WriteBatch([
            WriteItem("r1", "orderReleases.refnums", {"orderReleaseGid": gid, "orderReleaseRefnumQualGid": "SEGBRIDGE_ROUTING"},
                      {"orderReleaseRefnumValue": "EXPEDITE"}),
            WriteItem("p1", "routingProfiles", {"locationGid": "SEG.C00001"}, {"transportModeGid": "AIR", "expediteAllowed": True}),
            WriteItem("p2", "routingProfiles", {"locationGid": "SEG.C00002"}, {"expediteAllowed": "yes"}),
            WriteItem("r2", "orderReleases.refnums", {"orderReleaseGid": "SEG.NOPE", "orderReleaseRefnumQualGid": "X"},
                      {"orderReleaseRefnumValue": "Y"})])


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
        assert [(o.ref, o.status, o.http_status) for o in outcomes] == [
            ("r1", "applied", 201), ("p1", "applied", 200), ("p2", "rejected", 200), ("r2", "rejected", 404)]
        key = batch.items[0].key
        assert conn.read_back("orderReleases.refnums", [key]) == [{**key, "orderReleaseRefnumValue": "EXPEDITE"}]
        assert conn.read_back("routingProfiles", [{"locationGid": "SEG.C00001"}])[0]["transportModeGid"] == "AIR"


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
    engine = engine_for(f"sqlite:///{tmp_path}/s.db")
    create_all(engine)
    with serve(app) as server:
        config = config_for(tmp_path, {"tms": {"kind": "tms", "mapping": "tms.yaml", "options": tms_options(server.url)}})
        first = pull(config, engine, progress=False, entities=["shipment"])[0]
        coll = app.data["shipments"]
        assert first.status == "ok" and first.streams[0].read == len(coll) > 500
        watermark = load_state(engine, "tms", "shipments", "shipment")["watermark"]
        window = {r["shipmentGid"] for r in coll.since("2000-01-01T00:00:00Z")
                  if r["updateDate"]["value"] >= _minus_300(watermark)}
        changed = app.change("shipments", 0.01)
        second = pull(config, engine, progress=False, entities=["shipment"])[0]
    assert len(changed) == len(coll) // 100
    assert second.streams[0].read == len(window | set(changed))
    assert second.streams[0].read < len(coll) // 10
    stored = read_frame(engine, Shipment).set_index("shipment_id")["freight_cost"]
    for gid in changed:
        assert stored[gid] == pytest.approx(coll.get(gid)["totalActualCost"]["value"])
    assert len(stored) == len(coll)


def _minus_300(stamp: str) -> str:
    from datetime import datetime, timedelta

    value = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=300)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_full_pull_ignores_state(tmp_path, dataset):
    app = build_wms(dataset)
    engine = engine_for(f"sqlite:///{tmp_path}/s.db")
    create_all(engine)
    with serve(app) as server:
        config = config_for(tmp_path, {"wms": {"kind": "wms", "mapping": "wms.yaml", "options": wms_options(server.url)}})
        pull(config, engine, progress=False, entities=["outbound_order"])
        again = pull(config, engine, progress=False, entities=["outbound_order"], full=True)[0]
    assert again.streams[0].read == len(app.data["order_hdr"])
    spec_state = load_state(engine, "wms", "order_hdr", "outbound_order")
    assert spec_state == {"watermark": app.data["order_hdr"].newest()}


def test_read_with_page_size_reports_source_count(dataset):
    app = build_wms(dataset)
    with serve(app) as server, registry.create("wms", wms_options(server.url, page_size=10)) as conn:
        records, checkpoint, batches = read_all(conn, StreamSpec("inventory"))
    assert {b.source_count for b in batches} == {len(app.data["inventory"])}
    assert len(batches) == -(-len(records) // 10) and checkpoint == {}
