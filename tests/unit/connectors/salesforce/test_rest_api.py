"""salesforce over `responses`: exact requests for login, SOQL paging, collections, limits, re-login."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError, LimitExhausted
from connectors.salesforce.rest_api import SalesforceConnector

pytestmark = pytest.mark.unit
INST = "https://acme.my.salesforce.com"
TOKEN = "https://login.salesforce.com/services/oauth2/token"
DATA = INST + "/services/data/v59.0"


@pytest.fixture
def conn(monkeypatch):
    monkeypatch.setenv("SF_SECRET", "shh")
    return SalesforceConnector({
        "auth": {"flow": "client_credentials", "token_url": TOKEN, "client_id": "cid", "client_secret": "${SF_SECRET}"},
        "objects": {"Account": {"fields": ["Id", "Segment__c", "SystemModstamp"], "filters": {"Type": "O'Hara"}}},
        "max_attempts": 1})


def login(rsps, token="T1"):
    rsps.add(responses.POST, TOKEN, json={"access_token": token, "instance_url": INST})


def test_soql_quotes_values_and_writes_the_checkpoint_as_a_utc_datetime_literal(conn):
    """SOQL datetime literals: `YYYY-MM-DDThh:mm:ssZ`, unquoted (SOQL reference, "Date Formats and Date
    Literals"); the API's own `+0000` spelling, or another offset, is converted to UTC with Z; `>=`."""
    assert conn.soql("Account", "2024-01-01T02:00:00.000+0200") == (
        "SELECT Id, Segment__c, SystemModstamp FROM Account WHERE Type = 'O\\'Hara' AND "
        "SystemModstamp >= 2024-01-01T00:00:00Z ORDER BY SystemModstamp, Id")


@responses.activate
def test_query_follows_next_records_url(conn):
    login(responses)
    responses.add(responses.GET, DATA + "/query", json={
        "totalSize": 3, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01gX-2",
        "records": [{"attributes": {"type": "Account"}, "Id": "001A", "SystemModstamp": "2024-01-02T00:00:00.000+0000"},
                    {"attributes": {"type": "Account"}, "Id": "001B", "SystemModstamp": "2024-01-03T00:00:00.000+0000"}]})
    responses.add(responses.GET, DATA + "/query/01gX-2", json={
        "totalSize": 3, "done": True, "records": [{"Id": "001C", "SystemModstamp": "2024-01-04T00:00:00.000+0000"}]})
    batches = list(conn.read(StreamSpec("Account"), None))
    assert [[r["Id"] for r in b.records] for b in batches] == [["001A", "001B"], ["001C"]]
    assert all("attributes" not in r for b in batches for r in b.records)
    assert batches[0].checkpoint == {"version": 1, "high": "2024-01-03T00:00:00Z",
                                     "position": "/services/data/v59.0/query/01gX-2"}
    assert batches[1].checkpoint == {"version": 1, "since": "2024-01-04T00:00:00Z"}
    assert parse_qs(responses.calls[0].request.body) == {"grant_type": ["client_credentials"], "client_id": ["cid"],
                                                         "client_secret": ["shh"]}
    query = parse_qs(urlsplit(responses.calls[1].request.url).query)["q"][0]
    assert query == "SELECT Id, Segment__c, SystemModstamp FROM Account WHERE Type = 'O\\'Hara' ORDER BY SystemModstamp, Id"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer T1"


@responses.activate
def test_collections_patch_200_records_per_request_with_per_record_errors(conn):
    login(responses)
    def answer(request):
        records = json.loads(request.body)["records"]
        return 200, {}, json.dumps([{"id": r["id"], "success": r["id"] != "001X", "errors": [] if r["id"] != "001X"
                                     else [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no",
                                            "fields": ["Segment__c"]}]} for r in records])
    responses.add_callback(responses.PATCH, DATA + "/composite/sobjects", callback=answer)
    items = [WriteItem(str(i), "Account", {"Id": "001X" if i == 7 else f"001{i}"}, {"Segment__c": "A"})
             for i in range(250)]
    outcomes = conn.write(WriteBatch(items))
    assert len(responses.calls) == 3
    bodies = [json.loads(c.request.body) for c in responses.calls[1:]]
    assert [len(b["records"]) for b in bodies] == [200, 50]
    assert bodies[0]["allOrNone"] is False
    assert bodies[0]["records"][0] == {"attributes": {"type": "Account"}, "id": "0010", "Segment__c": "A"}
    assert [o.ref for o in outcomes] == [str(i) for i in range(250)]
    assert outcomes[7].status == "rejected"
    assert outcomes[7].message == "FIELD_CUSTOM_VALIDATION_EXCEPTION: no ['Segment__c']"
    assert sum(o.status == "applied" for o in outcomes) == 249


@responses.activate
def test_request_limit_exceeded_stops_with_resumable_outcomes(conn):
    login(responses)
    responses.add(responses.PATCH, DATA + "/composite/sobjects",
                  json=[{"id": f"001{i}", "success": True, "errors": []} for i in range(200)])
    responses.add(responses.PATCH, DATA + "/composite/sobjects", status=403,
                  json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
    items = [WriteItem(str(i), "Account", {"Id": f"001{i}"}, {"Segment__c": "A"}) for i in range(300)]
    with pytest.raises(LimitExhausted, match="TotalRequests Limit exceeded") as err:
        conn.write(WriteBatch(items))
    statuses = [o.status for o in err.value.outcomes]
    assert statuses == ["applied"] * 200 + ["retriable"] * 100


@responses.activate
def test_expired_session_reauthenticates_once(conn):
    login(responses, "T1")
    login(responses, "T2")
    responses.add(responses.GET, DATA + "/limits", status=401,
                  json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
    responses.add(responses.GET, DATA + "/limits", json={"DailyApiRequests": {"Max": 100, "Remaining": 90}})
    result = conn.check()
    assert result.ok and result.message == "connected; 90 of 100 daily API requests left"
    assert [c.request.headers.get("Authorization") for c in responses.calls] == [None, "Bearer T1", None, "Bearer T2"]


def test_jwt_assertion_is_signed_rs256(monkeypatch):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    monkeypatch.setenv("SF_KEY", pem)
    c = SalesforceConnector({"auth": {"flow": "jwt", "token_url": TOKEN, "client_id": "cid",
                                      "username": "u@x.com", "private_key": "${SF_KEY}"}})
    form = c.session._form()
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"], audience="https://login.salesforce.com")
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (claims["iss"], claims["sub"]) == ("cid", "u@x.com")


def test_http_keys_sit_flat_and_the_base_url_is_the_login_url(conn):
    assert conn.http.options.base_url == TOKEN and conn.http.options.max_attempts == 1
    assert conn.http.options.auth is None  # `auth` is the Salesforce login, never the HttpClient's


def test_validate_reports_a_misspelt_http_key_with_file_line_and_suggestion(tmp_path):
    text = ("systems:\n"
            "  crm:\n"
            "    kind: salesforce\n"
            "    options:\n"
            "      auth:\n"
            "        flow: client_credentials\n"
            "        token_url: https://login.salesforce.com/services/oauth2/token\n"
            "        client_id: cid\n"
            '        client_secret: "${SF_SECRET}"\n'
            "      read_timout: 30\n")
    (tmp_path / "segbridge.yaml").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "read_timout:" in t)
    res = subprocess.run([sys.executable, "-m", "segbridge", "validate"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    err = " ".join(res.stderr.split())
    assert f"segbridge.yaml:{line}:7: systems.crm.options.read_timout: unknown key" in err
    assert "did you mean 'read_timeout'?" in err


def _query_url(call) -> str:
    return parse_qs(urlsplit(call.request.url).query)["q"][0]


@responses.activate
def test_incremental_read_starts_overlap_before_the_watermark_with_ge(conn):
    """A row committed late with the high-water timestamp is read by the next pull: `>=` since - 300 s."""
    login(responses)
    responses.add(responses.GET, DATA + "/query", json={"totalSize": 0, "done": True, "records": []})
    [batch] = list(conn.read(StreamSpec("Account"), {"since": "2024-01-04T00:00:00.000+0000"}))
    assert _query_url(responses.calls[1]).endswith(
        "SystemModstamp >= 2024-01-03T23:55:00Z ORDER BY SystemModstamp, Id")
    assert batch.checkpoint == {"version": 1, "since": "2024-01-04T00:00:00Z"}


@responses.activate
def test_a_saved_mid_read_checkpoint_of_the_old_shape_resumes_at_its_next_records_url(conn):
    login(responses)
    responses.add(responses.GET, DATA + "/query/01gX-4", json={"totalSize": 5, "done": True, "records": [
        {"Id": "001E", "SystemModstamp": "2024-01-05T00:00:00.000+0000"}]})
    state = {"since": None, "high": "2024-01-03T00:00:00.000+0000", "next": "/services/data/v59.0/query/01gX-4"}
    [batch] = list(conn.read(StreamSpec("Account"), state))
    assert [c.request.url for c in responses.calls[1:]] == [DATA + "/query/01gX-4"]
    assert batch.checkpoint == {"version": 1, "since": "2024-01-05T00:00:00Z"}


EXPIRED = [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]


@responses.activate
def test_an_expired_query_locator_restarts_the_read_from_the_watermark(conn):
    """A saved locator older than 15 minutes is gone: the read starts again from since - overlap instead
    of failing this pull and every later one until --full."""
    login(responses)
    responses.add(responses.GET, DATA + "/query/01gOLD-4", status=400, json=EXPIRED)
    responses.add(responses.GET, DATA + "/query", json={"totalSize": 1, "done": True, "records": [
        {"Id": "001E", "SystemModstamp": "2024-01-05T00:00:00.000+0000"}]})
    state = {"version": 1, "since": "2024-01-04T00:00:00Z", "high": "2024-01-04T10:00:00Z",
             "position": "/services/data/v59.0/query/01gOLD-4"}
    batches = list(conn.read(StreamSpec("Account"), state))
    assert [c.request.url.split("?")[0] for c in responses.calls[1:]] == [DATA + "/query/01gOLD-4", DATA + "/query"]
    assert _query_url(responses.calls[2]).endswith("SystemModstamp >= 2024-01-03T23:55:00Z ORDER BY SystemModstamp, Id")
    assert [[r["Id"] for r in b.records] for b in batches] == [["001E"]]
    assert batches[-1].checkpoint == {"version": 1, "since": "2024-01-05T00:00:00Z"}


@responses.activate
def test_locators_that_keep_expiring_fail_the_read_after_a_few_restarts(conn):
    login(responses)
    page = {"totalSize": 9, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01gA-1",
            "records": [{"Id": "001A", "SystemModstamp": "2024-01-05T00:00:00.000+0000"}]}
    responses.add(responses.GET, DATA + "/query", json=page)
    responses.add(responses.GET, DATA + "/query/01gA-1", status=400, json=EXPIRED)
    with pytest.raises(FatalError, match="query locators expired 4 times in one read"):
        list(conn.read(StreamSpec("Account"), None))
    assert len(responses.calls) == 1 + 2 * 4


@responses.activate
def test_the_same_next_records_url_twice_is_a_loop_not_a_thousand_requests(conn):
    login(responses)
    looping = {"totalSize": 9, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01gL-1",
               "records": [{"Id": "001A", "SystemModstamp": "2024-01-05T00:00:00.000+0000"}]}
    responses.add(responses.GET, DATA + "/query", json=looping)
    responses.add(responses.GET, DATA + "/query/01gL-1", json=looping)
    with pytest.raises(FatalError, match="same page position twice"):
        list(conn.read(StreamSpec("Account"), None))
    assert len(responses.calls) == 3


@responses.activate
@pytest.mark.parametrize(("body", "content_type", "says"), [
    ("<html><body>Service temporarily unavailable</body></html>", "text/html", "not JSON; the body begins '<html>"),
    ("", "application/json", "not JSON; the body is empty"),
    ('{"totalSize": 3, "records": [{"Id": "00', "application/json", "not JSON; the body begins '{\"totalSize\": 3"),
    ("null", "application/json", "JSON NoneType, not a query result; the body begins 'null'"),
    ('{"totalSize": 1, "records": {"Id": "001A"}}', "application/json", "no records list"),
])
def test_a_malformed_query_answer_fails_the_stream_naming_object_url_status_and_body(conn, body, content_type, says):
    login(responses)
    responses.add(responses.GET, DATA + "/query", body=body, status=200, content_type=content_type)
    with pytest.raises(FatalError) as err:
        list(conn.read(StreamSpec("Account"), None))
    text = str(err.value)
    assert text.startswith(f"salesforce: Account: GET {DATA}/query?q=SELECT") and "HTTP 200" in text, text
    assert says in text, text


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_an_authentication_refusal_of_a_write_stops_the_apply(conn, status):
    """401 (after the one re-login) and 403 other than REQUEST_LIMIT_EXCEEDED are AuthError: nothing more
    is sent, no item is marked rejected (the outcome policy)."""
    login(responses)
    login(responses)
    code = "INVALID_SESSION_ID" if status == 401 else "INSUFFICIENT_ACCESS"
    responses.add(responses.PATCH, DATA + "/composite/sobjects", status=status,
                  json=[{"errorCode": code, "message": "no access"}])
    items = [WriteItem(str(i), "Account", {"Id": f"001{i}"}, {"Segment__c": "A"}) for i in range(450)]
    with pytest.raises(AuthError, match=f"HTTP {status}: {code}: no access"):
        conn.write(WriteBatch(items))
    assert sum(c.request.method == "PATCH" for c in responses.calls) == (2 if status == 401 else 1)


@responses.activate
def test_a_request_level_400_puts_the_message_on_each_item_and_is_sent_once(conn):
    login(responses)
    responses.add(responses.PATCH, DATA + "/composite/sobjects", status=400,
                  json=[{"errorCode": "JSON_PARSER_ERROR", "message": "Unexpected character"}])
    outcomes = conn.write(WriteBatch([WriteItem(str(i), "Account", {"Id": f"001{i}"}, {"Segment__c": "A"})
                                      for i in range(3)]))
    assert [(o.status, o.message) for o in outcomes] == [
        ("rejected", "salesforce: PATCH composite/sobjects: HTTP 400: JSON_PARSER_ERROR: Unexpected character")] * 3
    assert sum(c.request.method == "PATCH" for c in responses.calls) == 1


def test_the_write_batch_default_is_the_collections_maximum_and_no_connector_batch_size(conn):
    assert SalesforceConnector.write_batch_max == 200
    assert "batch_size" not in SalesforceConnector.Options.model_fields


@responses.activate
def test_without_soql_fields_or_an_objects_entry_the_mapping_fields_are_selected(conn):
    login(responses)
    responses.add(responses.GET, DATA + "/query", json={"totalSize": 0, "done": True, "records": []})
    stream = StreamSpec("OrderItem", ["Id"], fields=["Id", "Order/Account/SAP_Customer_Number__c", "Quantity"],
                        options={"delta_field": "SystemModstamp"})
    list(conn.read(stream, None))
    assert _query_url(responses.calls[1]) == ("SELECT Id, Order.Account.SAP_Customer_Number__c, Quantity, "
                                              "SystemModstamp FROM OrderItem ORDER BY SystemModstamp, Id")


def test_stream_options_are_typed_and_a_misspelt_one_is_refused(conn):
    from basics.errors import ConfigError

    with pytest.raises(ConfigError, match="stream 'Account' option soql_feilds: Extra inputs"):
        list(conn.read(StreamSpec("Account", options={"soql_feilds": ["Id"]}), None))


@responses.activate
def test_records_come_without_attributes_also_inside_related_records(conn):
    login(responses)
    responses.add(responses.GET, DATA + "/query", json={"totalSize": 1, "done": True, "records": [
        {"attributes": {"type": "OrderItem"}, "Id": "802A", "SystemModstamp": "2024-01-02T00:00:00.000+0000",
         "Order": {"attributes": {"type": "Order"}, "Account": {"attributes": {"type": "Account"},
                                                                 "SAP_Customer_Number__c": "100234"}}}]})
    stream = StreamSpec("OrderItem", ["Id"], fields=["Id", "Order/Account/SAP_Customer_Number__c"],
                        options={"delta_field": "SystemModstamp"})
    [batch] = list(conn.read(stream, None))
    assert batch.records == [{"Id": "802A", "SystemModstamp": "2024-01-02T00:00:00.000+0000",
                              "Order": {"Account": {"SAP_Customer_Number__c": "100234"}}}]
