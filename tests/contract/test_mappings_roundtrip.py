"""Every shipped mapping file against its connector and sandbox, both ways.

Forward: `core.sync.pull` into a fresh SQLite store from a tiny generated Dataset; nothing is
quarantined, the canonical row counts equal what the sandbox holds, and customers link across
systems through the crosswalk. Reverse: for every reverse map, a WriteItem built with
`reverse_key`/`reverse_map` for one loaded canonical record is applied by the sandbox and reads back
(`connector.read_back`) with the intended value.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors import registry
from connectors.base import WriteBatch, WriteItem
from core.mapping import load_mapping, reverse_key, reverse_map, reverse_target
from core.model import CANONICAL_ENTITIES, Crosswalk, InventorySnapshot, Quarantine, ShipmentLine
from core.paths import shipped_mapping
from core.settings import SegbridgeConfig
from core.store import create_all, read_frame
from core.sync import pull
from sandbox.generator import generate
from sandbox.server import serve

pytestmark = pytest.mark.contract
FAST = {"max_attempts": 2, "backoff_initial": 0, "backoff_max": 0}
SUITE = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ds():
    """A tiny world; half the customers carry purely numeric ids (SAP-style) so ALPHA padding is exercised."""
    return generate(seed=5, products=3, locations=2, customers=4, weeks=4, numeric_customers=True)


@pytest.fixture
def store(sqlite_db):
    create_all(sqlite_db)
    return sqlite_db


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    for name, value in {"WMS_PASSWORD": "wms_pass", "TMS_SECRET": "tms_secret", "FUSION_PW": "pw1"}.items():
        monkeypatch.setenv(name, value)


def config(tmp_path, system: str, kind: str, mapping: str, options: dict) -> SegbridgeConfig:
    return SegbridgeConfig.model_validate({"database": {"url": f"sqlite:///{tmp_path}/unused.db"},
                                           "systems": {system: {"kind": kind, "mapping": mapping,
                                                                "options": options}}})


def pull_clean(cfg: SegbridgeConfig, db, system: str):
    """Pull one system; it must finish ok with nothing quarantined."""
    result = pull(cfg, db, systems=[system], full=True)[0]
    assert result.status == "ok", result.message
    quarantined = read_frame(db, select(Quarantine.__table__).where(Quarantine.system == system))
    assert quarantined.empty, quarantined[["entity", "source_key", "reason_code", "reason"]].head(10).to_dict("records")
    return result


def counts(db, system: str) -> dict[str, int]:
    """Canonical rows per entity loaded from `system`."""
    out = {}
    with db.connect() as conn:
        for name, model in CANONICAL_ENTITIES.items():
            table = model.__table__
            n = conn.execute(select(func.count()).select_from(table).where(table.c.source_system == system)).scalar()
            if n:
                out[name] = n
    return out


def rows(db, entity: str, system: str) -> list[dict]:
    table = CANONICAL_ENTITIES[entity].__table__
    frame = read_frame(db, select(table).where(table.c.source_system == system))
    return frame.to_dict("records")


def links(db, system: str, entity: str = "customer") -> dict[str, str]:
    frame = read_frame(db, select(Crosswalk.__table__).where(Crosswalk.system == system,
                                                                 Crosswalk.entity == entity))
    return dict(zip(frame["source_key"], frame["canonical_id"], strict=True))


def write_and_read_back(conn, db, system: str, mapping: str, entity: str, params: dict,
                        pick=None) -> tuple[dict, dict]:
    """Write `params` for one loaded canonical record through the entity's reverse map; return
    (written values, the record read back)."""
    em = load_mapping(shipped_mapping(mapping)).entities[entity]
    target = reverse_target(em)
    candidates = rows(db, em.target, system)
    record = dict(pick(candidates) if pick else candidates[0])
    if any(r.source == "source_key" for r in em.reverse.key.values()):
        xw = {v: k for k, v in links(db, system, em.target).items()}
        record["source_key"] = xw[str(record["id"])]
    values = {**record, **params}
    key = reverse_key(em, values)
    written = {k: v for k, v in reverse_map(em, values).items() if k in target.fields and v is not None}
    assert set(written) == {f for f in target.fields if em.reverse.fields[f].source in params}
    outcome = conn.write(WriteBatch([WriteItem("t1", target.entity, key, written)]))
    assert [(o.status, o.message) for o in outcome] == [("applied", None)]
    back = conn.read_back(target.entity, [key])
    assert len(back) == 1, back
    return written, back[0]


# ---------------------------------------------------------------------------------------------- WMS / TMS


@contextmanager
def wms(ds, tmp_path):
    from sandbox.wms import build_app

    app = build_app(ds)
    with serve(app) as server:
        opts = {"base_url": server.url, "page_size": 7, **FAST,
                "auth": {"type": "basic", "username": "wms_user", "password": "${WMS_PASSWORD}"}}
        yield app, config(tmp_path, "wms", "wms", "wms.yaml", opts), opts


def test_wms_pull_and_write_back(ds, tmp_path, store):
    with wms(ds, tmp_path) as (app, cfg, opts):
        pull_clean(cfg, store, "wms")
        items = app.data["item"].records
        assert counts(store, "wms") == {
            "product": len({code for code, _ in items}), "product_location": len(items),
            "order_line": len(app.data["allocation"]), "shipment": len(app.data["order_hdr"]),
            "shipment_line": len(app.data["allocation"]), "inventory_snapshot": len(app.data["inventory"])}
        inventory = {(r["item_code"], r["facility_id__code"]) for r in app.data["inventory"].records.values()}
        assert inventory <= set(items)
        on_hand = read_frame(store, InventorySnapshot)  # dated by the day of mod_ts, quantities as served
        assert {(r.product_id, r.location_id, str(r.snapshot_date), r.on_hand) for r in on_hand.itertuples()} == {
            (r["item_code"], r["facility_id__code"], r["mod_ts"][:10], r["on_hand_qty"])
            for r in app.data["inventory"].records.values()}
        shipped = read_frame(store, ShipmentLine)  # one per pick: the picked quantity on its pick date
        assert sorted(zip(shipped["order_id"], shipped["order_line_no"], shipped["quantity"], strict=True)) == sorted(
            (r["order_nbr"], r["order_seq_nbr"], r["picked_qty"]) for r in app.data["allocation"].records.values())
        with registry.create("wms", opts) as conn:
            params = {"velocity_class": "a", "picking_priority": "1", "segment": "B-Y"}
            written, back = write_and_read_back(conn, store, "wms", "wms.yaml", "item_facility", params)
    assert written == {"cust_field_1": "A", "cust_field_2": "1", "cust_field_3": "B-Y", "cust_field_4": "GOLDEN"}
    assert {k: back[k] for k in written} == written


@contextmanager
def tms(ds, tmp_path):
    from sandbox.tms import build_app

    app = build_app(ds)
    with serve(app) as server:
        opts = {"base_url": server.url, "page_size": 9, **FAST,
                "auth": {"type": "oauth2_client_credentials", "token_url": server.url + "/oauth2/token",
                         "client_id": "tms_client", "client_secret": "${TMS_SECRET}"}}
        yield app, config(tmp_path, "tms", "tms", "tms.yaml", opts), opts


def test_tms_pull_and_write_back(ds, tmp_path, store):
    with tms(ds, tmp_path) as (app, cfg, opts):
        pull_clean(cfg, store, "tms")
        customers = {gid.split(".")[-1] for gid in app.data["locations"].records} | {
            gid.split(".")[-1] for gid in app.data["routingProfiles"].records}
        assert counts(store, "tms") == {"customer": len(customers), "shipment": len(app.data["shipments"])}
        profiles = links(store, "tms")
        assert profiles == {gid: gid.split(".")[-1].lstrip("0") or "0" if gid.split(".")[-1].isdigit()
                            else gid.split(".")[-1] for gid in app.data["routingProfiles"].records}
        with registry.create("tms", opts) as conn:
            params = {"transport_mode": "PARCEL", "carrier_class": "premium", "expedite_allowed": True,
                      "cross_dock": True}
            written, back = write_and_read_back(conn, store, "tms", "tms.yaml", "routing_profile", params)
            assert written == {"transportModeGid": "SMALL_PACKAGE", "carrierClass": "PREMIUM",
                               "expediteAllowed": True, "crossDockEligible": True}
            # flags read back as the outbox writes them (reconciliation compares text)
            assert {k: back[k] for k in written} == {**written, "expediteAllowed": "true", "crossDockEligible": "true"}
            assert back["consolidationEligible"] == "true"  # not an engine parameter: left as the TMS holds it
            written, back = write_and_read_back(conn, store, "tms", "tms.yaml", "location",
                                                {"service_level_class": "gold"})
            assert written == {"locationRefnumValue": "GOLD"}
            assert (back["locationRefnumQualGid"], back["locationRefnumValue"]) == ("SEGBRIDGE_ROUTING", "GOLD")
        pull_clean(cfg, store, "tms")
    service = rows(store, "customer", "tms")
    assert [r["current_service_level"] for r in service if isinstance(r["current_service_level"], str)] == ["GOLD"]


# ---------------------------------------------------------------------------------------------- SAP S/4 OData


@contextmanager
def sap(ds, tmp_path, shared):
    from sandbox.sap_odata import build_app

    app = build_app(ds, metadata_dir=shared / "sap" / "odata", page_size=5)
    with serve(app) as server:
        opts = {"base_url": server.url, "page_size": 5, **FAST}
        yield app, config(tmp_path, "sap_s4", "sap_odata", "sap_s4.yaml", opts), opts


def test_sap_s4_pull_and_write_back(ds, tmp_path, store, shared):
    with sap(ds, tmp_path, shared) as (app, cfg, opts):
        pull_clean(cfg, store, "sap_s4")
        held = {name: len(app.state.rows(service, name)) for service, name in app.state.data}
        plants = {r["Plant"] for r in app.state.rows("API_PRODUCT_SRV", "A_ProductPlant")}
        assert counts(store, "sap_s4") == {
            "product": held["A_Product"], "location": len(plants), "product_location": held["A_ProductPlant"],
            "customer": held["A_Customer"], "customer_sales_area": held["A_CustomerSalesArea"],
            "order_line": held["A_SalesOrderItem"]}
        # Numeric customer numbers come ALPHA-padded and link to the unpadded canonical id.
        assert links(store, "sap_s4") == {("0000" + c if c.isdigit() else c): c for c in ds.customers["id"]}
        with registry.create("sap_odata", opts) as conn:
            numeric = lambda rs: next(r for r in rs if str(r.get("id") or r.get("customer_id")).isdigit())  # noqa: E731
            written, back = write_and_read_back(conn, store, "sap_s4", "sap_s4.yaml", "customer",
                                                {"classification": "a"}, pick=numeric)
            assert written == {"CustomerClassification": "A"} and back["CustomerClassification"] == "A"
            assert back["Customer"].startswith("0000")
            params = {"abc": "B", "delivery_priority": "HIGH", "transport_class": "EXPRESS", "segment": "strategic"}
            written, back = write_and_read_back(conn, store, "sap_s4", "sap_s4.yaml", "customer_sales_area",
                                                params, pick=numeric)
            assert written == {"CustomerABCClassification": "B", "DeliveryPriority": "01", "ShippingCondition": "03",
                               "AdditionalCustomerGroup1": "STR"}
            assert {k: back[k] for k in written} == written
            params = {"abc": "C", "safety_stock": 12.5, "reorder_point": 40, "mrp_type": "VB", "lot_sizing": "FX",
                      "order_multiple": 5, "max_qty": 900}
            written, back = write_and_read_back(conn, store, "sap_s4", "sap_s4.yaml", "product_supply_planning",
                                                params)
            assert written["SafetyStockQuantity"] == "12.500" and written["ReorderThresholdQuantity"] == "40.000"
            assert {k: back[k] for k in written} == written


# ---------------------------------------------------------------------------------------------- Salesforce


@contextmanager
def salesforce(ds, tmp_path):
    from sandbox.salesforce_standin import build_app

    app = build_app(ds, page_size=5)
    with serve(app) as server:
        opts = {"auth": {"flow": "client_credentials", "token_url": server.url + "/services/oauth2/token",
                         "client_id": "segbridge", "client_secret": "${SF_SECRET}"},
                **FAST, "objects": {"Account": {"fields": ["Id", "Segment__c", "Service_Level__c"]}}}
        yield app, config(tmp_path, "salesforce", "salesforce", "salesforce.yaml", opts), opts


def test_salesforce_links_to_sap_and_writes_back(ds, tmp_path, store, shared, monkeypatch):
    monkeypatch.setenv("SF_SECRET", "s3cret")
    with sap(ds, tmp_path, shared) as (_, sap_cfg, _opts):
        pull_clean(sap_cfg, store, "sap_s4")
    with salesforce(ds, tmp_path) as (app, cfg, opts):
        pull_clean(cfg, store, "salesforce")
        objects = app.state.objects
        assert counts(store, "salesforce") == {"customer": len(objects["Account"]),  # upserts over SAP's rows
                                               "order_line": len(objects["OrderItem"])}
        # The same customer in SAP and Salesforce resolves to one canonical id.
        sap_links, sf_links = links(store, "sap_s4"), links(store, "salesforce")
        by_number = {a["SAP_Customer_Number__c"]: a["Id"] for a in objects["Account"].values()}
        for sap_key, cid in sap_links.items():
            assert sf_links[by_number[cid]] == cid, sap_key
        everyone = read_frame(store, select(CANONICAL_ENTITIES["customer"].__table__))
        assert sorted(everyone["id"]) == sorted(ds.customers["id"])  # one canonical row per customer
        lines = {(r["order_id"], r["line_no"]): r for r in rows(store, "order_line", "salesforce")}
        first = ds.order_lines.iloc[0]
        assert lines[(first.order_id, first.line_no)]["customer_id"] == first.customer_id
        with registry.create("salesforce", opts) as conn:
            written, back = write_and_read_back(conn, store, "salesforce", "salesforce.yaml", "account",
                                                {"segment": "strategic", "service_level": "platinum"})
    assert written == {"Segment__c": "Strategic", "Service_Level__c": "Platinum"}
    assert {k: back[k] for k in written} == written


# ---------------------------------------------------------------------------------------------- Oracle Fusion


def test_oracle_fusion_pull_and_write_back(ds, tmp_path, store, shared):
    from sandbox.fusion_rest_standin import build_app as build_rest
    from sandbox.oracle_soap import ADF_PATH
    from sandbox.oracle_soap import build_app as build_soap

    folder = shared / "oracle" / "fusion_sales_party_service"
    rest, soap = build_rest(ds), build_soap(folder, ds, users={"INTEG": "pw1"})
    with serve(rest) as rest_server, serve(soap) as soap_server:
        rest_opts = {"base_url": rest_server.url, **FAST, "page_size": 5,
                     "resources": {"itemsV2": {"key": ["ItemNumber", "OrganizationCode"],
                                               "cursor_field": "LastUpdateDateTime"}}}
        soap_opts = {"wsdl": str(folder / "SalesPartyService.wsdl"), "endpoint": soap_server.url + ADF_PATH,
                     "username": "INTEG", "password": "${FUSION_PW}", **FAST,
                     "streams": {"findSalesAccount": {"operation": "findSalesAccount", "primary_key": ["PartyId"],
                                                      "cursor_field": "LastUpdateDate", "page_size": 5}},
                     "targets": {"updateSalesAccount": {"operation": "updateSalesAccount", "argument": "salesAccount",
                                                        "read_stream": "findSalesAccount"}}}
        cfg = SegbridgeConfig.model_validate({"database": {"url": f"sqlite:///{tmp_path}/unused.db"}, "systems": {
            "fusion_items": {"kind": "oracle_fusion_rest", "mapping": "oracle_fusion_items.yaml", "options": rest_opts},
            "oracle_fusion": {"kind": "oracle_soap", "mapping": "oracle_fusion_crm.yaml", "options": soap_opts}}})
        items = list(rest.state.items.values()) if isinstance(rest.state.items, dict) else rest.state.items
        parties = soap.state.customers
        result = pull(cfg, store, systems=["fusion_items"])
        assert result[0].status == "ok", result[0].message
        result = pull(cfg, store, systems=["oracle_fusion"])
        assert result[0].status == "ok", result[0].message
        quarantined = read_frame(store, select(Quarantine.__table__))
        assert quarantined.empty, quarantined[["system", "entity", "reason_code", "reason"]].to_dict("records")
        assert counts(store, "fusion_items") == {"product": len({i["ItemNumber"] for i in items}),
                                                 "product_location": len(items)}
        assert counts(store, "oracle_fusion") == {"customer": len(parties)}
        assert links(store, "oracle_fusion") == {str(p["PartyId"]): p["PartyNumber"] for p in parties.values()}
        with registry.create("oracle_soap", soap_opts) as conn:
            written, back = write_and_read_back(conn, store, "oracle_fusion", "oracle_fusion_crm.yaml", "sales_account",
                                                {"segment": "B-Z"})
        assert written == {"ClassCode": "BZ"} and back["ClassCode"] == "BZ"
        with registry.create("oracle_fusion_rest", rest_opts) as conn:
            written, back = write_and_read_back(conn, store, "fusion_items", "oracle_fusion_items.yaml",
                                                "item_organization", {"min_qty": 5, "max_qty": 80.5, "moq": 2})
        assert written == {"MinimumMinmaxQuantity": 5.0, "MaximumMinmaxQuantity": 80.5, "MinimumOrderQuantity": 2.0}
        assert {k: back[k] for k in written} == written
