"""salesforce over `responses`: exact requests for login, SOQL paging, collections, limits, re-login."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import LimitExhausted
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


def test_soql_quotes_values_and_orders_by_cursor(conn):
    assert conn.soql("Account", "2024-01-01T00:00:00.000Z") == (
        "SELECT Id, Segment__c, SystemModstamp FROM Account WHERE Type = 'O\\'Hara' AND "
        "SystemModstamp > 2024-01-01T00:00:00.000Z ORDER BY SystemModstamp, Id")


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
    assert batches[0].checkpoint == {"since": None, "high": "2024-01-03T00:00:00.000+0000",
                                     "next": "/services/data/v59.0/query/01gX-2"}
    assert batches[1].checkpoint == {"since": "2024-01-04T00:00:00.000+0000"}
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
