"""salesforce against the Salesforce-like sandbox over real HTTP."""

from __future__ import annotations

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import LimitExhausted
from connectors.salesforce.rest_api import SalesforceConnector
from connectors.testing.suite import ConnectorContract
from sandbox.salesforce_standin import build_app, seed_accounts
from sandbox.server import serve

pytestmark = pytest.mark.contract


@pytest.fixture
def sf(monkeypatch):
    monkeypatch.setenv("SF_SECRET", "s3cret")
    monkeypatch.setenv("SF_PW", "pw")
    app = build_app(accounts=seed_accounts(count=25), page_size=10)
    with serve(app) as server:
        def make(flow="client_credentials", **extra):
            auth = {"flow": flow, "token_url": server.url + "/services/oauth2/token", "client_id": "segbridge",
                    "client_secret": "${SF_SECRET}"}
            if flow == "password":
                auth.update(username="integration@example.com", password="${SF_PW}")
            return SalesforceConnector({"auth": auth, "max_attempts": 3, "backoff_initial": 0, "backoff_max": 0,
                                        "objects": {"Account": {"fields": ["Id", "Name", "Segment__c",
                                                                           "Service_Level__c", "SystemModstamp"]}},
                                        **extra})
        yield app, make


def ids(batches):
    return [r["Id"] for b in batches for r in b.records]


def test_full_and_incremental_read_no_loss_no_duplicates(sf):
    app, make = sf
    conn = make("password")
    batches = list(conn.read(StreamSpec("Account"), None))
    assert [len(b.records) for b in batches] == [10, 10, 5]
    assert sorted(ids(batches)) == sorted(app.state.objects["Account"]) and len(set(ids(batches))) == 25
    conn.write(WriteBatch([WriteItem("x", "Account", {"Id": "001000000000000004"}, {"Segment__c": "A"})]))
    # The accounts were stamped a minute apart: the 300 s overlap re-reads the last five (upserts), plus the edit.
    again = ids(conn.read(StreamSpec("Account"), batches[-1].checkpoint))
    assert again == [f"001{i:015d}" for i in range(20, 26)] + ["001000000000000004"]


def test_a_row_committed_late_at_the_high_water_mark_is_read_by_the_next_pull(sf):
    """The case a strict `>` loses: a transaction commits after the read with SystemModstamp equal to the
    watermark the read saved."""
    app, make = sf
    conn = make(overlap_seconds=0)
    checkpoint = list(conn.read(StreamSpec("Account"), None))[-1].checkpoint
    late = app.state.objects["Account"]["001000000000000003"]
    late["SystemModstamp"] = app.state.objects["Account"]["001000000000000025"]["SystemModstamp"]
    assert ids(conn.read(StreamSpec("Account"), checkpoint)) == ["001000000000000003", "001000000000000025"]


def test_an_expired_query_locator_restarts_from_the_watermark_over_http(sf):
    """A read stopped mid-way and resumed 16 minutes later meets INVALID_QUERY_LOCATOR (as Salesforce answers
    it: 400 with an errorCode list); the read restarts from the saved lower bound and completes, and the
    next pull does not fail again."""
    app, make = sf
    conn = make()
    reading = conn.read(StreamSpec("Account"), None)
    first = next(reading)
    reading.close()
    app.state.advance(minutes=16)
    rest = list(conn.read(StreamSpec("Account"), first.checkpoint))
    queries = [r.path.rsplit("/", 1)[-1] for r in app.log if "/query" in r.path]
    assert queries[0] == queries[2] == "query" and len(queries) == 5  # query, expired locator, query, 2 pages
    assert sorted(ids(rest)) == sorted(app.state.objects["Account"])
    assert ids(conn.read(StreamSpec("Account"), rest[-1].checkpoint))  # the next pull reads, no error


def test_the_stand_in_answers_an_expired_locator_as_salesforce_does(sf):
    import requests

    app, make = sf
    conn = make()
    first = next(conn.read(StreamSpec("Account"), None))
    app.state.expire_locators()
    resp = requests.get(conn.data_url(first.checkpoint["position"]), headers=conn.session.headers(), timeout=5)
    assert resp.status_code == 400
    assert resp.json() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


@pytest.mark.parametrize(("body", "content_type"), [
    ("<html><body>Service temporarily unavailable</body></html>", "text/html"), ("", "application/json"),
    ('{"totalSize": 25, "records": [{"Id": "00', "application/json"), ("null", "application/json")])
@pytest.mark.parametrize("page", [0, 1])
def test_a_malformed_answer_fails_the_read_with_a_clear_error(sf, body, content_type, page):
    from connectors.connector_errors import FatalError

    app, make = sf
    conn = make()
    reading = conn.read(StreamSpec("Account"), None)
    if page:
        next(reading)
    app.state.malform(body, content_type)
    with pytest.raises(FatalError) as err:
        next(reading)
    text = str(err.value)
    assert "salesforce: Account: GET " in text and "/query" in text and "HTTP 200" in text
    assert (body[:16] in text) if body else "the body is empty" in text


def test_partial_failure_reports_every_rejection_with_the_message(sf):
    app, make = sf
    app.state.reject["001000000000000002"] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Segment locked by sales ops")
    conn = make()
    items = [WriteItem(str(i), "Account", {"Id": f"001{i:015d}"}, {"Segment__c": "B", "Service_Level__c": "Gold"})
             for i in range(1, 6)] + [WriteItem("bad", "Account", {"Id": "001000000000000006"}, {"Segment__c": "Q"})]
    outcomes = conn.write(WriteBatch(items))
    assert [o.status for o in outcomes] == ["applied", "rejected", "applied", "applied", "applied", "rejected"]
    assert outcomes[1].message == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Segment locked by sales ops"
    assert outcomes[5].message == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Segment__c: bad value for restricted "
                                   "picklist field: Q ['Segment__c']")
    back = {r["Id"]: r["Segment__c"] for r in conn.read_back("Account", [{"Id": i.key["Id"]} for i in items])}
    assert back == {"001000000000000001": "B", "001000000000000002": "C", "001000000000000003": "B",
                    "001000000000000004": "B", "001000000000000005": "B", "001000000000000006": "C"}


def test_bulk_api_2_for_large_writes(sf):
    app, make = sf
    conn = make(bulk_above=3, bulk_poll_seconds=0)
    items = [WriteItem(str(i), "Account", {"Id": f"001{i:015d}"}, {"Segment__c": "A" if i != 3 else "Z"})
             for i in range(1, 11)]
    outcomes = conn.write(WriteBatch(items))
    assert [o.status for o in outcomes].count("applied") == 9
    assert outcomes[2].status == "rejected" and "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in outcomes[2].message
    paths = [(r.method, r.path.split("/jobs/")[-1].split("/")[-1]) for r in app.log if "/jobs/" in r.path]
    assert [m for m, _ in paths[:3]] == ["POST", "PUT", "PATCH"]


def test_limit_exhausted_mid_read_keeps_resumable_state_then_resumes(sf):
    app, make = sf
    conn = make()
    app.state.api_remaining = 2  # first page + second page, then the limit
    seen, checkpoint = [], None
    with pytest.raises(LimitExhausted) as err:
        for batch in conn.read(StreamSpec("Account"), None):
            seen.extend(r["Id"] for r in batch.records)
            checkpoint = batch.checkpoint
    assert err.value.state == checkpoint and len(seen) == 20
    app.state.api_remaining = None
    rest = ids(conn.read(StreamSpec("Account"), checkpoint))
    assert sorted(seen + rest) == sorted(app.state.objects["Account"]) and len(rest) == 5


def test_expired_session_and_injected_503_recover(sf):
    app, make = sf
    conn = make()
    assert conn.check().ok
    app.state.expire_sessions()
    app.inject(status=503, times=1, path="/composite/sobjects", retry_after=0)
    outcomes = conn.write(WriteBatch([WriteItem("1", "Account", {"Id": "001000000000000001"}, {"Segment__c": "D"})]))
    assert [o.status for o in outcomes] == ["applied"]
    assert conn.session.logins == 2
    assert app.state.objects["Account"]["001000000000000001"]["Segment__c"] == "D"


class TestSalesforceContract(ConnectorContract):
    """The standard suite, the every-fault run included: pages of 4 so a read spans 7 requests."""

    streams = ["Account"]
    incremental_stream = "Account"
    replay_restarts = True  # a query locator is a server cursor: a resumed one may be gone (INVALID_QUERY_LOCATOR)
    # supports_etags stays False: writes go through sObject Collections, which take no conditional
    # headers; the core's read-before-write is the only guard (docs/crm.md).

    def roundtrip(self, app):
        return WriteItem("rt", "Account", {"Id": "001000000000000003"}, {"Segment__c": "B"}), "A"

    @pytest.fixture
    def server_app(self):
        app = build_app(accounts=seed_accounts(count=25), page_size=4)
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app, monkeypatch):
        monkeypatch.setenv("SF_SECRET", "s3cret")
        conn = SalesforceConnector({
            "auth": {"flow": "client_credentials", "token_url": server_app.url + "/services/oauth2/token",
                     "client_id": "segbridge", "client_secret": "${SF_SECRET}"},
            "max_attempts": 4, "backoff_initial": 0, "backoff_max": 0, "read_timeout": 2,
            "objects": {"Account": {"fields": ["Id", "Name", "Segment__c", "Service_Level__c", "SystemModstamp"]}}})
        yield conn
        conn.close()

    malformed_answers = ["html_200", "empty_200", "truncated_json", "null_body"]
    malformed_path = r"/query"

    def commit_late(self, app, stream):
        rows = sorted(app.state.objects[stream].values(), key=lambda r: r["SystemModstamp"])
        rows[3]["SystemModstamp"] = rows[-1]["SystemModstamp"]
        return rows[3]["Id"]

    def edit_during_paging(self, app, stream):
        rid = sorted(app.state.objects[stream])[0]
        app.edit(stream, {"Id": rid}, "Segment__c", "B")
        return [rid]

    def change_records(self, app, stream):
        rows = list(app.state.objects[stream].values())[3:5]
        for row in rows:
            row["SystemModstamp"] = "2030-01-01T00:00:00.000+0000"
        return [row["Id"] for row in rows]

    def write_batch(self, app):
        return WriteBatch([WriteItem("1", "Account", {"Id": "001000000000000001"}, {"Segment__c": "A"}),
                           WriteItem("2", "Account", {"Id": "001000000000000002"}, {"Segment__c": "Q"}),
                           WriteItem("3", "Account", {"Id": "001000000000000099"}, {"Segment__c": "B"})])
