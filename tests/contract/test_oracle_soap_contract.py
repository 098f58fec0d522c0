"""oracle_soap against the SOAP sandbox over real HTTP: the real Fusion SalesPartyService WSDL
(requests validated by the sandbox against the real XSDs), and the ISG-style fallback service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError
from connectors.incremental import parse_instant
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


def now() -> str:
    return datetime.now(UTC).isoformat()


def finds(app) -> list[etree._Element]:
    """The findCriteria of every findSalesAccount request the stand-in received."""
    out = []
    for req in app.log:
        crit = etree.fromstring(req.body).find(".//{*}findCriteria")
        if crit is not None:
            out.append(crit)
    return out


def items(crit) -> list[tuple[str, str, list[str]]]:
    return [(i.findtext("{*}attribute"), i.findtext("{*}operator"), [v.text for v in i.findall("{*}value")])
            for i in crit.iter("{*}item")]


@pytest.mark.shared
def test_full_then_incremental_read_no_loss_no_duplicates(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("SalesAccount"), None))
    assert ids(batches) == sorted(app.state.customers)  # keyset: in key order, each once
    assert [len(b.records) for b in batches] == [5, 5, 2]
    high = batches[-1].checkpoint["since"]
    app.state.customers[300000001003]["LastUpdateDate"] = now()
    again = list(conn.read(StreamSpec("SalesAccount"), batches[-1].checkpoint))
    at_mark = [p for p, c in app.state.customers.items() if parse_instant(c["LastUpdateDate"]) == parse_instant(high)]
    assert sorted(ids(again)) == sorted([300000001003, *at_mark])  # the overlap re-reads the mark
    assert app.state.validated and all(ok for _, ok in app.state.validated)


@pytest.mark.shared
def test_pages_by_party_id_and_reads_increments_from_the_mark_minus_the_overlap(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("SalesAccount", fields=["PartyNumber", "PartyName", "ClassCode"],
                                        options={"equals": {"ClassCategory": "SEGBRIDGE_SEGMENT"}}), None))
    crits = finds(app)
    assert [c.findtext("{*}fetchStart") for c in crits] == ["0", "0", "0"]
    assert [[a.findtext("{*}name") for a in c.iter("{*}sortAttribute")] for c in crits] == [["PartyId"]] * 3
    assert items(crits[0]) == [("ClassCategory", "=", ["SEGBRIDGE_SEGMENT"])]
    assert items(crits[1])[-1] == ("PartyId", ">", [str(ids(batches)[4])])
    assert [a.text for a in crits[0].findall("{*}findAttribute")] == [
        "PartyId", "PartyNumber", "ClassCategory", "ClassCode", "LastUpdateDate", "PartyName"]
    assert all("PartyName" in r for b in batches for r in b.records)
    app.log.clear()
    since = parse_instant(batches[-1].checkpoint["since"])
    list(conn.read(StreamSpec("SalesAccount"), batches[-1].checkpoint))
    lower = (since - timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert items(finds(app)[0]) == [("LastUpdateDate", ">=", [lower])]


@pytest.mark.shared
def test_a_record_committed_late_at_the_high_water_mark_is_read(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("SalesAccount"), None))
    mark = batches[-1].checkpoint["since"]
    late = {**app.state.customers[300000001001], "PartyId": 300000001099, "PartyNumber": "CDRM_99",
            "LastUpdateDate": parse_instant(mark).isoformat()}
    app.state.customers[late["PartyId"]] = late
    again = list(conn.read(StreamSpec("SalesAccount"), batches[-1].checkpoint))
    assert 300000001099 in ids(again)


@pytest.mark.shared
def test_an_edit_during_paging_loses_no_account_in_the_full_and_next_incremental_read(fusion):
    app, conn = fusion
    app.state.edit_during_paging = True
    full = list(conn.read(StreamSpec("SalesAccount"), None))
    [edited] = app.state.edited
    assert edited in ids(full[:1])  # edited after page 1 was served
    again = list(conn.read(StreamSpec("SalesAccount"), full[-1].checkpoint))
    assert set(ids(full)) | set(ids(again)) == set(app.state.customers)
    assert len(ids(full)) == len(set(ids(full))) == 12
    latest = {r["PartyId"]: r["ClassCode"] for b in again for r in b.records}
    assert latest[edited] == app.state.customers[edited]["ClassCode"]


@pytest.mark.shared
def test_a_wrong_password_stops_the_read_with_an_auth_error(fusion, monkeypatch):
    app, conn = fusion
    monkeypatch.setenv("FUSION_PW", "wrong-pw")
    bad = OracleSoapConnector(conn.options.model_copy())
    with pytest.raises(AuthError) as caught:
        list(bad.read(StreamSpec("SalesAccount"), None))
    message = str(caught.value)
    assert "oracle_soap.SalesAccount: findSalesAccount at http://127.0.0.1:" in message
    assert "authentication failed (SOAP fault wsse:FailedAuthentication" in message and "wrong-pw" not in message
    assert len(app.log) == 1


@pytest.mark.shared
def test_an_authentication_fault_on_apply_stops_sending(fusion, monkeypatch):
    app, conn = fusion
    monkeypatch.setenv("FUSION_PW", "wrong-pw")
    bad = OracleSoapConnector(conn.options.model_copy())
    batch = WriteBatch([WriteItem(str(i), "SalesAccount", {"PartyId": 300000001001 + i},
                                  {"ClassCategory": "SEGBRIDGE_SEGMENT", "ClassCode": "A"}) for i in range(3)])
    with pytest.raises(AuthError, match="FailedAuthentication"):
        bad.write(batch)
    assert len(app.log) == 1 and bad.requests_sent() == 1
    assert all(c["ClassCode"] == "C" for c in app.state.customers.values())


@pytest.mark.shared
@pytest.mark.parametrize(("kind", "problem"), [
    ("html", "the root element is html, not a SOAP Envelope"), ("empty", "an empty body"),
    ("truncated", "not well-formed XML"), ("dtd", "declares a DTD or entities"),
    ("namespace", "the root element is {http://example.invalid/not-soap/}Envelope")])
def test_a_malformed_answer_fails_the_stream_clearly(fusion, kind, problem):
    app, conn = fusion
    app.state.malformed.append(kind)
    with pytest.raises(FatalError) as caught:
        list(conn.read(StreamSpec("SalesAccount"), None))
    message = caught.value.message
    assert message.startswith(f"oracle_soap.SalesAccount: findSalesAccount: POST {conn.options.endpoint}: HTTP 200: ")
    assert problem in message and "the body starts " in message
    assert "Traceback" not in str(caught.value)


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
    assert not result.ok and "AuthError" in result.message and "FailedAuthentication" in result.message


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
            app.state.customers[party_id]["LastUpdateDate"] = now()
        return ids

    # the malformed answers of connectors.testing.malformed_answers this connector refuses cleanly
    malformed_answers = ["html_200", "empty_200", "truncated_json", "null_body", "soap_fault", "wrong_namespace",
                         "dtd"]
    malformed_path = ADF_PATH

    def commit_late(self, app, stream):
        rows = sorted(app.state.customers.values(), key=lambda r: r["PartyId"])
        newest = max(rows, key=lambda r: parse_instant(r["LastUpdateDate"]))
        late = next(r for r in rows if r is not newest)
        late["LastUpdateDate"] = newest["LastUpdateDate"]
        return late["PartyId"]

    def edit_during_paging(self, app, stream):
        first = min(app.state.customers)  # on the first page: reads page by PartyId
        app.state.customers[first].update(ClassCode="A", LastUpdateDate=now())
        return [first]

    def write_batch(self, app):
        def item(ref, party_id, code):
            return WriteItem(ref, "SalesAccount", {"PartyId": party_id},
                             {"ClassCategory": "SEGBRIDGE_SEGMENT", "ClassCode": code})
        return WriteBatch([item("a", 300000001001, "A"), item("b", 300000001002, "ZZ"), item("c", 42, "B")])


def test_a_wrong_password_fails_the_pull_in_one_sentence_and_closes_the_run(tmp_path, monkeypatch):
    """Through the CLI as a user runs it: the pull fails with the authentication fault in one line, no zeep
    traceback, exit code 1, and the run is recorded `failed`, not left `running`."""
    import yaml
    from typer.testing import CliRunner

    from core.store import open_store
    from segbridge.cli import build_app as cli

    app = build_app(users={"SEGBRIDGE": "right-pw"})
    monkeypatch.setenv("EBS_PW", "wrong-pw")
    with serve(app) as server:
        options = {"wsdl": str(WSDL_DIR / "xx_segbridge_cust_pkg.wsdl"), "endpoint": server.url + ISG_PATH,
                   "schema_dir": str(WSDL_DIR), "username": "SEGBRIDGE", "password": "${EBS_PW}", **FAST,
                   "streams": {"GET_CUSTOMERS": {"operation": "GET_CUSTOMERS", "style": "isg",
                                                 "primary_key": ["PARTY_NUMBER"],
                                                 "result_path": ["X_CUSTOMERS", "X_CUSTOMERS_ITEM"],
                                                 "offset_param": "P_OFFSET", "limit_param": "P_LIMIT"}}}
        url = f"sqlite:///{tmp_path}/s.db"
        (tmp_path / "segbridge.yaml").write_text(yaml.safe_dump({"database": {"url": url}, "systems": {
            "ebs": {"kind": "oracle_soap", "mapping": "oracle_ebs_soap.yaml", "options": options}}}))
        res = CliRunner().invoke(cli(), ["-c", str(tmp_path / "segbridge.yaml"), "pull", "ebs", "--no-progress"])
    output = " ".join(res.output.split())
    assert res.exit_code == 1 and "Traceback" not in res.output and "wrong-pw" not in res.output, res.output
    assert "authentication failed (SOAP fault wsse:FailedAuthentication" in output, output
    assert len(app.log) == 1  # one login attempt, not one per page or retry
    db = open_store(url)
    with db.connect() as conn:
        statuses = [r[0] for r in conn.exec_driver_sql("select status from run where kind = 'pull'")]
    db.dispose()
    assert statuses == ["failed"]
