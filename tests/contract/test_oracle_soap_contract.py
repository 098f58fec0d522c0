"""oracle_soap against the SOAP sandbox over real HTTP: the real Fusion SalesPartyService WSDL
(requests validated by the sandbox against the real XSDs), and the ISG-style fallback service."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.oracle.soap import OracleSoapConnector
from connectors.testing.suite import ConnectorContract
from sandbox.oracle_soap import ADF_PATH, ISG_PATH, build_app
from sandbox.server import serve

pytestmark = [pytest.mark.contract]
WSDL_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "wsdl"
FAST = {"max_attempts": 3, "backoff_initial": 0, "backoff_max": 0}


@pytest.fixture
def fusion(shared, monkeypatch):
    folder = shared / "oracle" / "fusion_sales_party_service"
    monkeypatch.setenv("FUSION_PW", "pw1")
    app = build_app(folder, users={"INTEG": "pw1"})
    with serve(app) as server:
        conn = OracleSoapConnector({
            "wsdl": str(folder / "SalesPartyService.wsdl"), "endpoint": server.url + ADF_PATH,
            "username": "INTEG", "password": "${FUSION_PW}", **FAST,
            "streams": {"SalesAccount": {"operation": "findSalesAccount", "primary_key": ["PartyId"],
                                         "cursor_field": "LastUpdateDate", "page_size": 5,
                                         "find_attributes": ["PartyId", "PartyNumber", "ClassCategory", "ClassCode",
                                                             "LastUpdateDate"]}},
            "targets": {"SalesAccount": {"operation": "updateSalesAccount", "argument": "salesAccount"}}})
        yield app, conn
        conn.close()


def ids(batches) -> list[int]:
    return [r["PartyId"] for b in batches for r in b.records]


@pytest.mark.shared
def test_full_then_incremental_read_no_loss_no_duplicates(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("SalesAccount"), None))
    assert sorted(ids(batches)) == sorted(app.state.customers)
    assert len(ids(batches)) == len(set(ids(batches))) == 12
    assert [len(b.records) for b in batches] == [5, 5, 2, 0]
    app.state.customers[300000001003]["LastUpdateDate"] = "2030-01-01T00:00:00+00:00"
    again = list(conn.read(StreamSpec("SalesAccount"), batches[-1].checkpoint))
    assert ids(again) == [300000001003]
    assert app.state.validated and all(ok for _, ok in app.state.validated)


@pytest.mark.shared
def test_update_classification_partial_failure_and_read_back(fusion):
    app, conn = fusion
    items = [WriteItem("a", "SalesAccount", {"PartyId": 300000001001}, {"ClassCategory": "SEGBRIDGE_SEGMENT",
                                                                        "ClassCode": "A"}),
             WriteItem("b", "SalesAccount", {"PartyId": 300000001002}, {"ClassCategory": "SEGBRIDGE_SEGMENT",
                                                                        "ClassCode": "ZZ"}),
             WriteItem("c", "SalesAccount", {"PartyId": 42}, {"ClassCode": "B"})]
    outcomes = conn.write(WriteBatch(items))
    assert [(o.ref, o.status) for o in outcomes] == [("a", "applied"), ("b", "rejected"), ("c", "rejected")]
    assert outcomes[1].message == ("JBO-27023: ClassCode 'ZZ' is not a valid code of class category "
                                   "SEGBRIDGE_SEGMENT.")
    assert outcomes[2].message == "JBO-25020: View row with key 42 was not found."
    conn.options.targets["SalesAccount"].read_stream = "SalesAccount"
    back = {r["PartyId"]: r["ClassCode"] for r in conn.read_back("SalesAccount", [{"PartyId": 300000001001},
                                                                                  {"PartyId": 300000001002}])}
    assert back == {300000001001: "A", 300000001002: "C"}
    ops = [(op, ok) for op, ok in app.state.validated]
    assert ops[:3] == [("updateSalesAccount", True)] * 3 and all(ok for _, ok in ops)
    actions = {r.headers["soapaction"] for r in app.log}
    assert '"http://xmlns.oracle.com/apps/crmCommon/salesParties/salesPartiesService/updateSalesAccount"' in actions


@pytest.mark.shared
def test_injected_gateway_503_is_retried_and_wrong_password_fails_check(fusion, monkeypatch):
    app, conn = fusion
    app.inject(status=503, times=2, path=ADF_PATH, retry_after=0)
    assert len(ids(conn.read(StreamSpec("SalesAccount"), None))) == 12
    assert [r.method for r in app.log[:3]] == ["POST"] * 3
    monkeypatch.setenv("FUSION_PW", "wrong")
    bad = OracleSoapConnector(conn.options.model_copy())
    result = bad.check()
    assert not result.ok and "FailedAuthentication" in result.message


def test_isg_fallback_service_return_statuses_and_paging():
    app = build_app()
    with serve(app) as server:
        conn = OracleSoapConnector({
            "wsdl": str(WSDL_DIR / "xx_segbridge_cust_pkg.wsdl"), "endpoint": server.url + ISG_PATH,
            "schema_dir": str(WSDL_DIR), **FAST,
            "streams": {"customers": {"operation": "GET_CUSTOMERS", "style": "isg", "primary_key": ["PARTY_NUMBER"],
                                      "arguments": {"P_CLASS_CATEGORY": "SEGBRIDGE_SEGMENT"},
                                      "result_path": ["X_CUSTOMERS", "X_CUSTOMERS_ITEM"], "page_size": 5,
                                      "offset_param": "P_OFFSET", "limit_param": "P_LIMIT"}},
            "targets": {"customers": {"operation": "UPDATE_CLASSIFICATION", "style": "isg",
                                      "read_stream": "customers"}}})
        numbers = [r["PARTY_NUMBER"] for b in conn.read(StreamSpec("customers"), None) for r in b.records]
        assert numbers == [f"CDRM_{i}" for i in range(1, 13)]
        outcomes = conn.write(WriteBatch([
            WriteItem("1", "customers", {"P_PARTY_NUMBER": "CDRM_1"}, {"P_CLASS_CATEGORY": "SEGBRIDGE_SEGMENT",
                                                                      "P_CLASS_CODE": "A"}),
            WriteItem("2", "customers", {"P_PARTY_NUMBER": "NOPE"}, {"P_CLASS_CATEGORY": "SEGBRIDGE_SEGMENT",
                                                                    "P_CLASS_CODE": "A"})]))
        assert [o.status for o in outcomes] == ["applied", "rejected"]
        assert outcomes[1].message == "X_RETURN_STATUS=E: HZ_API_NO_RECORD: no party NOPE (FND_MESSAGE_TYPE=E)"
        back = conn.read_back("customers", [{"PARTY_NUMBER": "CDRM_1"}])
        assert [(r["PARTY_NUMBER"], r["CLASS_CODE"]) for r in back] == [("CDRM_1", "A")]
        assert all(ok for _, ok in app.state.validated)


@pytest.mark.shared
class TestOracleSoapContract(ConnectorContract):
    """The standard suite against the real SalesPartyService WSDL, the every-fault run included: pages of 4
    so a read spans 4 requests."""

    streams = ["SalesAccount"]
    incremental_stream = "SalesAccount"

    def roundtrip(self, app):  # no ETag in the service: read_back only
        return WriteItem("rt", "SalesAccount", {"PartyId": 300000001003},
                         {"ClassCategory": "SEGBRIDGE_SEGMENT", "ClassCode": "B"}), None

    @pytest.fixture
    def server_app(self, shared, monkeypatch):
        folder = shared / "oracle" / "fusion_sales_party_service"
        monkeypatch.setenv("FUSION_PW", "pw1")
        app = build_app(folder, users={"INTEG": "pw1"})
        with serve(app) as server:
            app.url, app.folder = server.url, folder
            yield app

    @pytest.fixture
    def connector(self, server_app):
        conn = OracleSoapConnector({
            "wsdl": str(server_app.folder / "SalesPartyService.wsdl"), "endpoint": server_app.url + ADF_PATH,
            "username": "INTEG", "password": "${FUSION_PW}", "max_attempts": 4, "backoff_initial": 0,
            "backoff_max": 0, "read_timeout": 2,
            "streams": {"SalesAccount": {"operation": "findSalesAccount", "primary_key": ["PartyId"],
                                         "cursor_field": "LastUpdateDate", "page_size": 4,
                                         "find_attributes": ["PartyId", "PartyNumber", "ClassCategory", "ClassCode",
                                                             "LastUpdateDate"]}},
            "targets": {"SalesAccount": {"operation": "updateSalesAccount", "argument": "salesAccount"}}})
        yield conn
        conn.close()

    def change_records(self, app, stream):
        ids = sorted(app.state.customers)[2:4]
        for party_id in ids:
            app.state.customers[party_id]["LastUpdateDate"] = "2030-01-01T00:00:00+00:00"
        return ids

    def write_batch(self, app):
        def item(ref, party_id, code):
            return WriteItem(ref, "SalesAccount", {"PartyId": party_id},
                             {"ClassCategory": "SEGBRIDGE_SEGMENT", "ClassCode": code})
        return WriteBatch([item("a", 300000001001, "A"), item("b", 300000001002, "ZZ"), item("c", 42, "B")])
