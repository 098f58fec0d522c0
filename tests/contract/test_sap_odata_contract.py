"""sap_odata against the SAP sandbox over real HTTP, loaded with SAP's published metadata (../shared)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.sap.metadata import parse_metadata
from connectors.sap.odata import SapODataConnector
from connectors.testing.suite import ConnectorContract, read_all
from core.mapping import load_mapping
from core.statuses import RunStatus
from sandbox.sap_odata import SERVICES, build_app
from sandbox.server import serve

pytestmark = [pytest.mark.contract, pytest.mark.shared]
MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "sap_s4.yaml"
PSP = "API_PRODUCT_SRV/A_ProductSupplyPlanning"


@pytest.fixture
def server_app(shared):
    return build_app(metadata_dir=shared / "sap" / "odata", page_size=4)


@pytest.fixture
def server(server_app):
    with serve(server_app) as running:
        yield running


@pytest.fixture
def connector(server):
    conn = SapODataConnector({"base_url": server.url, "max_attempts": 3, "backoff_initial": 0, "page_size": 7})
    conn.write_batch_max = 3  # as if the Gateway took three changesets per $batch
    yield conn
    conn.close()


class TestSapODataContract(ConnectorContract):
    streams = ["API_PRODUCT_SRV/A_Product", PSP, "API_BUSINESS_PARTNER/A_CustomerSalesArea"]
    incremental_stream = "API_PRODUCT_SRV/A_Product"
    supports_etags = True  # A_SalesOrder: LastChangeDateTime is ConcurrencyMode=Fixed

    def roundtrip(self, app):
        return WriteItem("so", "API_SALES_ORDER_SRV/A_SalesOrder", {"SalesOrder": "1002"},
                         {"ShippingCondition": "02"}), "09"

    def change_records(self, app, stream):
        return [k[0] for k in app.state.touch("API_PRODUCT_SRV", "A_Product", 2)]

    def write_batch(self, app):
        return WriteBatch([WriteItem("1", PSP, {"Product": "TG01", "Plant": "1010"}, {"ABCIndicator": "A"}),
                           WriteItem("2", PSP, {"Product": "TG02", "Plant": "1010"}, {"MRPType": "ZZ"})])


def test_mapping_properties_exist_and_writes_target_updatable_properties(shared):
    """Every property sap_s4.yaml reads exists in SAP's metadata; every reverse field is updatable."""
    metas = {s: parse_metadata((shared / "sap" / "odata" / f"{s}.edmx").read_bytes(), s) for s in SERVICES}
    mapping = load_mapping(MAPPING)
    for name, entity in mapping.entities.items():
        meta = metas[entity.source.service]
        es = meta.entity_set(entity.source.name)
        sources = [r.source for r in entity.fields.values() if r.source]
        for path in [p for s in sources for p in ([s] if isinstance(s, str) else s)] + list(entity.key):
            assert meta.property_at(es.name, path) is not None, f"{name}: {path} not in {es.name}"
        if entity.reverse:
            target = meta.entity_set(entity.reverse.entity)
            assert sorted(entity.reverse.key) == sorted(target.keys), name
            assert target.not_updatable(list(entity.reverse.fields)) == [], name
            assert target.unknown(list(entity.reverse.fields)) == [], name


def test_batch_with_one_bad_item_applies_the_rest_with_sap_message(connector, server_app):
    items = [WriteItem(str(n), PSP, {"Product": f"TG0{n}", "Plant": "1010"},
                       {"SafetyStockQuantity": f"{n}1.000", "ABCIndicator": "B"}) for n in range(1, 6)]
    items[2] = WriteItem("3", PSP, {"Product": "TG03", "Plant": "1010"}, {"ABCIndicator": "XYZ"})
    outcomes = connector.write(WriteBatch(items))
    assert [(o.ref, o.status) for o in outcomes] == [("1", "applied"), ("2", "applied"), ("3", "rejected"),
                                                     ("4", "applied"), ("5", "applied")]
    assert outcomes[2].message == ("A_ProductSupplyPlanning {'Product': 'TG03', 'Plant': '1010'}: HTTP 400 "
                                   "/IWBEP/CM_MGW_RT/007: Value 'XYZ' of property ABCIndicator exceeds the maximum "
                                   "length 1")
    assert len([r for r in server_app.log if r.method == "POST"]) == 2  # 5 items, batch_size 3
    back = connector.read_back(PSP, [{"Product": f"TG0{n}", "Plant": "1010"} for n in range(1, 6)])
    assert [(b["Product"], b["SafetyStockQuantity"], b["ABCIndicator"]) for b in back] == [
        ("TG01", "11.000", "B"), ("TG02", "21.000", "B"), ("TG03", "30.000", "A"), ("TG04", "41.000", "B"),
        ("TG05", "51.000", "B")]


def test_expired_csrf_token_is_recovered(connector, server_app):
    item = WriteItem("1", "API_BUSINESS_PARTNER/A_Customer", {"Customer": "17100001"},
                     {"CustomerClassification": "A"})
    assert connector.write(WriteBatch([item]))[0].status == "applied"
    server_app.state.expire_csrf_tokens()
    item.values = {"CustomerClassification": "C"}
    assert connector.write(WriteBatch([item]))[0].status == "applied"
    statuses = [(r.method, r.path.rsplit("/", 1)[-1]) for r in server_app.log if r.path.endswith(("$batch", "SRV/",
                                                                                                    "PARTNER/"))]
    assert statuses[-3:] == [("POST", "$batch"), ("GET", ""), ("POST", "$batch")]
    assert connector.read_back("A_Customer", [{"Customer": "17100001"}])[0]["CustomerClassification"] == "C"


def test_412_is_a_conflict_and_the_persons_edit_stays(connector, server_app):
    key = {"SalesOrder": "1003"}
    [current] = connector.read_back("API_SALES_ORDER_SRV/A_SalesOrder", [key])
    server_app.edit("API_SALES_ORDER_SRV/A_SalesOrder", key, "ShippingCondition", "07")  # a planner in SAP
    item = WriteItem("so", "API_SALES_ORDER_SRV/A_SalesOrder", key, {"ShippingCondition": "02"},
                     etag=current["__etag"])
    outcome = connector.write(WriteBatch([item]))[0]
    assert (outcome.status, outcome.http_status, outcome.etag) == ("conflict", 412, None)
    [now] = connector.read_back("API_SALES_ORDER_SRV/A_SalesOrder", [key])
    assert now["ShippingCondition"] == "07" and now["__etag"] != current["__etag"]
    item.etag = now["__etag"]  # the core re-reads and writes with the fresh ETag
    assert connector.write(WriteBatch([item]))[0].status == "applied"


def test_a_patch_without_if_match_on_a_fixed_entity_is_refused_with_428(server):
    import requests

    url = f"{server.url}/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('0000001004')"
    session = requests.Session()
    token = session.get(url, headers={"x-csrf-token": "Fetch"}).headers["x-csrf-token"]
    resp = session.patch(url, json={"ShippingCondition": "03"}, headers={"x-csrf-token": token})
    assert resp.status_code == 428 and "If-Match" in resp.json()["error"]["message"]["value"]


def test_etag_fetched_when_item_has_none(connector, server_app):
    item = WriteItem("so", "API_SALES_ORDER_SRV/A_SalesOrder", {"SalesOrder": "1005"}, {"DeliveryBlockReason": "01"})
    assert connector.write(WriteBatch([item]))[0].status == "applied"


def test_paging_and_delta(connector, server_app):
    spec = StreamSpec("API_SALES_ORDER_SRV/A_SalesOrderItem",
                      options={"expand": ["to_SalesOrder"], "delta_field": "to_SalesOrder/LastChangeDateTime",
                               "select": ["SalesOrder", "SalesOrderItem", "Material", "to_SalesOrder/SoldToParty"]})
    records, checkpoint, batches = read_all(connector, spec)
    assert [len(b.records) for b in batches] == [4, 3, 3]  # server pages of 4 inside client pages of 7
    assert [b.source_count for b in batches] == [10, None, None]  # $inlinecount on the first page only
    assert records[0]["to_SalesOrder"]["SoldToParty"] == "0017100001"  # KUNNR comes ALPHA-padded
    assert records[0]["SalesOrder"] == "0000001000" and records[0]["SalesOrderItem"] == "000010"  # VBELN, POSNR
    assert checkpoint == {"version": 1, "since": "2024-01-10T03:00:00Z"}
    touched = server_app.state.touch("API_SALES_ORDER_SRV", "A_SalesOrder", 1)
    again, _, _ = read_all(connector, spec, checkpoint)
    # the touched order, plus the one at the cursor itself (`ge`, re-read by design: loads are upserts)
    assert [r["SalesOrder"] for r in again] == sorted([touched[0][0], "0000001009"])
    skiptokens = [r.query.get("$skiptoken") for r in server_app.log if r.path.endswith("A_SalesOrderItem")]
    assert skiptokens[:2] == [None, ["4"]]


def test_sandbox_rejects_unknown_sets_properties_and_bad_literals(connector):
    from connectors.connector_errors import FatalError

    with pytest.raises(FatalError, match="no entity set 'A_Nope'"):
        list(connector.read(StreamSpec("API_PRODUCT_SRV/A_Nope"), None))
    with pytest.raises(FatalError, match=r"Property LastChangeDateTime .*incompatible|Invalid parametertype"):
        connector.client.get_json(connector.client.path("API_PRODUCT_SRV", "A_Product"),
                                  {"$filter": "LastChangeDateTime ge datetime'2024-01-01T00:00:00'"})
    outcome = connector.write(WriteBatch([WriteItem("x", "API_BUSINESS_PARTNER/A_Customer", {"Customer": "17100001"},
                                                    {"CustomerName": "X"})]))[0]
    assert outcome.status == "rejected" and "not updatable" in outcome.message


def test_sandbox_itself_refuses_read_only_property_and_missing_if_match(server, connector):
    client = connector.client
    client.metadata("API_BUSINESS_PARTNER")
    result = client.update("API_BUSINESS_PARTNER", "A_Customer", {"Customer": "0017100001"}, {"CustomerName": "X"})
    assert result.status == 400 and "CustomerName is not updatable" in result.message
    result = client.update("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrder": "0000001001"},
                           {"ShippingCondition": "02"})
    assert result.status == 428


def test_throttling_and_faults_are_retried(connector, server_app):
    server_app.inject(status=503, times=1, path=r"A_Product$")
    server_app.inject(status=429, retry_after=0, times=1, path=r"\$batch")
    records, _, _ = read_all(connector, StreamSpec("API_PRODUCT_SRV/A_Product"))
    assert len(records) == 10
    outcome = connector.write(WriteBatch([WriteItem("1", PSP, {"Product": "TG01", "Plant": "1020"},
                                                    {"MRPType": "VB"})]))[0]
    assert outcome.status == "applied"


# --------------------------------------------------------------------------- issue 16: what real SAP does

SOI = "API_SALES_ORDER_SRV/A_SalesOrderItem"
CSA = "API_BUSINESS_PARTNER/A_CustomerSalesArea"


def test_a_second_csrf_refusal_in_a_row_is_retried_with_a_fresh_token(connector, server_app):
    connector.client.metadata("API_PRODUCT_SRV")
    server_app.state.refuse_csrf(2)  # the fresh token is refused too (session moved to another server)
    item = WriteItem("1", PSP, {"Product": "TG01", "Plant": "1010"}, {"ABCIndicator": "C"})
    assert connector.write(WriteBatch([item]))[0].status == "applied"
    fetches = [r for r in server_app.log if r.method == "GET" and r.path.endswith("API_PRODUCT_SRV/")]
    assert len(fetches) == 2 and len([r for r in server_app.log if r.method == "POST"]) == 3


def test_csrf_refused_every_time_leaves_the_items_retriable_never_rejected(connector, server_app):
    connector.client.metadata("API_PRODUCT_SRV")
    server_app.state.refuse_csrf(3)
    items = [WriteItem(str(n), PSP, {"Product": f"TG0{n}", "Plant": "1010"}, {"ABCIndicator": "C"}) for n in (1, 2)]
    outcomes = connector.write(WriteBatch(items))
    assert [o.status for o in outcomes] == ["retriable", "retriable"]
    assert "CSRF token 3 times" in outcomes[0].message
    assert server_app.state.entity("API_PRODUCT_SRV", "A_ProductSupplyPlanning",
                                   {"Product": "TG01", "Plant": "1010"})["ABCIndicator"] != "C"


def test_external_ids_without_leading_zeros_address_the_key_sap_holds(connector, server_app):
    """The mapping strips zeros ('17100001'); SAP holds '0017100001' and answers 404 to the stripped key."""
    import requests

    url = f"{server_app_url(connector)}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_Customer('17100001')"
    assert requests.get(url, params={"$format": "json"}).status_code == 404  # the stand-in holds keys as SAP
    key = {"Customer": "17100001", "SalesOrganization": "1710", "DistributionChannel": "10", "Division": "00"}
    [out] = connector.write(WriteBatch([WriteItem("1", CSA, key, {"CustomerABCClassification": "A"})]))
    assert out.status == "applied", out.message
    held = dict(key, Customer="0017100001")
    assert server_app.state.entity("API_BUSINESS_PARTNER", "A_CustomerSalesArea", held)["CustomerABCClassification"] == "A"
    [back] = connector.read_back(CSA, [key])
    assert back["Customer"] == "0017100001"


def server_app_url(connector) -> str:
    return connector.http.options.base_url.rstrip("/")


def test_select_carries_the_mappings_fields_and_nav_paths_bring_their_expand(connector, server_app):
    spec = StreamSpec(SOI, fields=["SalesOrder", "Material", "to_SalesOrder/SoldToParty"])
    records, _, _ = read_all(connector, spec)
    sent = [r for r in server_app.log if r.path.endswith("A_SalesOrderItem")]
    first = sent[0].query
    assert first["$select"] == ["SalesOrder,SalesOrderItem,Material,to_SalesOrder/SoldToParty"]
    assert first["$expand"] == ["to_SalesOrder"] and first["$inlinecount"] == ["allpages"]
    assert all("$inlinecount" not in r.query for r in sent[1:]) and len(sent) > 1
    assert set(records[0]) == {"SalesOrder", "SalesOrderItem", "Material", "to_SalesOrder"}


def test_a_gateway_refusing_nav_filters_is_read_through_the_changed_parents(connector, server_app):
    spec = StreamSpec(SOI, options={"delta_field": "to_SalesOrder/LastChangeDateTime"})
    full, checkpoint, _ = read_all(connector, spec)
    server_app.state.refuse_nav_filter = True
    [(order,)] = server_app.state.touch("API_SALES_ORDER_SRV", "A_SalesOrder", 1)
    again, checkpoint2, _ = read_all(connector, spec, checkpoint)
    assert {r["SalesOrder"] for r in again} == {order, "0000001009"} and 0 < len(again) < len(full)
    assert checkpoint2["extra"]["mode"] == "parent" and checkpoint2["since"] > checkpoint["since"]
    parent_reads = [r for r in server_app.log if r.path.endswith("A_SalesOrder")]
    assert parent_reads[-1].query["$filter"][0].startswith("LastChangeDateTime ge datetimeoffset'")


def test_a_set_without_timestamp_reads_only_children_of_changed_parents(connector, server_app):
    spec = StreamSpec(PSP, options={"parent": {"entity_set": "A_Product", "keys": {"Product": "Product"}}})
    full, checkpoint, _ = read_all(connector, spec)
    assert len(full) == 20 and checkpoint["since"]
    again, _, _ = read_all(connector, spec, checkpoint)
    assert {r["Product"] for r in again} <= {"TG10"}  # only the product at the high-water mark (ge, overlap)
    [(product,)] = server_app.state.touch("API_PRODUCT_SRV", "A_Product", 1)
    changed, _, _ = read_all(connector, spec, checkpoint)
    assert {r["Product"] for r in changed} == {product, "TG10"} and len(changed) == 4


def test_delta_links_and_tombstones(connector, server_app):
    server_app.state.track_changes("A_Customer")
    spec = StreamSpec("API_BUSINESS_PARTNER/A_Customer")
    full, checkpoint, _ = read_all(connector, spec)
    assert "!deltatoken" in checkpoint["extra"]["delta_link"]
    server_app.state.delete("API_BUSINESS_PARTNER", "A_Customer", {"Customer": "17100002"})
    server_app.edit("API_BUSINESS_PARTNER/A_Customer", {"Customer": "17100003"}, "CustomerClassification", "A")
    delta, checkpoint2, _ = read_all(connector, spec, checkpoint)
    assert sorted((r["Customer"], r.get("__deleted", False)) for r in delta) == [
        ("0017100002", True), ("0017100003", False)]
    assert checkpoint2["extra"]["delta_link"] != checkpoint["extra"]["delta_link"]
    assert server_app.log[-1].query.get("!deltatoken")  # followed the link, no $filter read


def test_write_batches_never_straddle_services_and_stay_within_the_request_budget(server_app, server):
    import math

    conn = SapODataConnector({"base_url": server.url, "max_attempts": 1})
    conn.write_batch_max = 4
    items = [WriteItem(f"p{n}", PSP, {"Product": f"TG{n:02d}", "Plant": "1010"}, {"ABCIndicator": "B"})
             for n in range(1, 11)]
    items += [WriteItem(f"c{n}", "API_BUSINESS_PARTNER/A_Customer", {"Customer": f"1710000{n}"},
                        {"CustomerClassification": "A"}) for n in range(1, 6)]
    before = len(server_app.log)
    outcomes = conn.write(WriteBatch(items))
    assert {o.status for o in outcomes} == {"applied"}
    sent = server_app.log[before:]
    batches = [r for r in sent if r.path.endswith("$batch")]
    for req in batches:
        body = req.body.decode()
        assert ("A_Customer(" in body) != ("A_ProductSupplyPlanning(" in body)  # one service per $batch
    budget = math.ceil(len(items) / 4) + 2 + 2  # + one $metadata/CSRF per service touched + 2
    assert len(sent) <= budget and conn.requests_sent() == len(sent)


@pytest.mark.parametrize("kind", ["html", "empty", "truncated", "null", "no_d", "results_not_list"])
def test_malformed_answers_fail_the_stream_naming_system_set_url_status_and_body(connector, server_app, kind):
    from connectors.connector_errors import FatalError

    connector.client.metadata("API_PRODUCT_SRV")
    server_app.state.malform(kind, r"A_Product$")
    with pytest.raises(FatalError) as err:
        read_all(connector, StreamSpec("API_PRODUCT_SRV/A_Product"))
    message = err.value.message
    assert "sap_odata: API_PRODUCT_SRV/A_Product: malformed answer from http://" in message
    assert "/API_PRODUCT_SRV/A_Product (HTTP 200" in message and "body starts" in message


def test_an_incremental_pull_of_the_shipped_mapping_reads_little_and_asks_each_parent_once(shared):
    """Every stream of mappings/sap_s4.yaml, full then incremental after 24 changed orders: sets without a
    timestamp read only the rows of changed parents, and A_Product is asked once for both A_ProductPlant
    entities. (Before: the incremental pull read 28 % of the full pull; A_ProductPlant was read in full twice.)"""
    from core.sync import stream_spec
    from sandbox.generator import generate

    app = build_app(generate(seed=3, products=60, locations=3, customers=20, weeks=12), metadata_dir=shared / "sap" / "odata")
    specs = {name: stream_spec(e) for name, e in load_mapping(MAPPING).entities.items()}
    with serve(app) as running:
        conn = SapODataConnector({"base_url": running.url})
        full = {name: read_all(conn, spec) for name, spec in specs.items()}
        app.state.touch("API_SALES_ORDER_SRV", "A_SalesOrder", 24)
        start = len(app.log)
        again = {name: read_all(conn, spec, full[name][1]) for name, spec in specs.items()}
        sent = app.log[start:]
    read_full = sum(len(r) for r, _, _ in full.values())
    read_again = sum(len(r) for r, _, _ in again.values())
    assert read_again / read_full < 0.12, (read_again, read_full)
    for name in ("plant", "product_plant", "product_supply_planning"):  # only the product at the mark (ge)
        assert len(again[name][0]) <= 3 < len(full[name][0]), name
    assert len([r for r in sent if r.path.endswith("/A_Product")]) == 2  # `product` itself, then one parent query
    assert len(sent) <= len(specs) + 3


def _reads_per_set(log) -> dict[str, int]:
    """GET requests per entity set in a stand-in's request log (pages, parent and newest-timestamp queries)."""
    return dict(Counter(r.path.rsplit("/", 1)[-1] for r in log if r.method == "GET" and "/A_" in r.path))


def test_a_pull_of_the_shipped_mapping_reads_each_entity_set_once(shared, tmp_path):
    """core.sync's pull of mappings/sap_s4.yaml, full then incremental after 24 changed orders: `plant` is
    `read_with: product_plant`, so A_ProductPlant is asked once per pull and both entities load from it.
    (Before: 2 requests to A_ProductPlant in either pull, and a second newest-timestamp query to A_Product;
    a full pull sent 15 requests, now 13, an incremental one 11, now 10.)"""
    from core.model import Location, ProductLocation
    from core.settings import SegbridgeConfig
    from core.store import create_all, open_store, read_frame
    from core.sync import pull
    from sandbox.generator import generate

    app = build_app(generate(seed=3, products=60, locations=3, customers=20, weeks=12), metadata_dir=shared / "sap" / "odata")
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    with serve(app) as running:
        config = SegbridgeConfig.model_validate({"systems": {"sap": {
            "kind": "sap_odata", "mapping": "sap_s4.yaml", "options": {"base_url": running.url}}}})
        [full] = pull(config, db)
        full_sent = _reads_per_set(app.log)
        app.state.touch("API_SALES_ORDER_SRV", "A_SalesOrder", 24)
        start = len(app.log)
        [again] = pull(config, db)
        again_sent = _reads_per_set(app.log[start:])
    assert full.status == again.status == RunStatus.OK
    assert full_sent == {"A_Product": 3, "A_ProductPlant": 1, "A_ProductSupplyPlanning": 1, "A_Customer": 1,
                         "A_CustomerSalesArea": 1, "A_SalesOrderItem": 3}  # A_Product: its page, 2 newest queries
    assert again_sent["A_ProductPlant"] == 1 and again_sent["A_Product"] == 2  # changed products, then their plants
    streams = {s.entity: s for s in full.streams}
    assert streams["plant"].read == streams["product_plant"].read == 180 and streams["plant"].requests == 0
    assert len(read_frame(db, Location)) == 3  # the plants of generate(locations=3), each once
    assert len(read_frame(db, ProductLocation)) == 180
    db.dispose()


def test_an_html_page_instead_of_metadata_names_the_url_status_and_body(connector, server_app):
    from connectors.connector_errors import FatalError

    server_app.state.malform("html", r"\$metadata$")
    with pytest.raises(FatalError) as err:
        read_all(connector, StreamSpec("API_PRODUCT_SRV/A_Product"))
    assert "sap_odata: $metadata of API_PRODUCT_SRV is not" in err.value.message
    assert "/API_PRODUCT_SRV/$metadata answered HTTP 200, body starts '<html>" in err.value.message
