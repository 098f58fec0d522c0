"""dynamics365 against the Dataverse-like sandbox over real HTTP: nextLink paging, $batch, If-Match."""

from __future__ import annotations

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.dynamics.dataverse import DynamicsConnector
from connectors.testing.suite import ConnectorContract
from sandbox.dynamics_standin import API, CLIENT_ID, TOKEN_PATH, build_app
from sandbox.server import serve

pytestmark = pytest.mark.contract


def auth(url: str) -> dict:
    """The stand-in's OAuth2 client credentials, as the connector's `auth` (the secret from the environment)."""
    return {"type": "oauth2_client_credentials", "token_url": url + TOKEN_PATH, "client_id": CLIENT_ID,
            "client_secret": "${D365_SECRET}", "scope": url + "/.default"}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("D365_SECRET", "s3cret")


@pytest.fixture
def dyn():
    app = build_app()
    with serve(app) as server:
        conn = DynamicsConnector({"base_url": server.url, "auth": auth(server.url), "max_attempts": 3,
                                  "backoff_initial": 0, "backoff_max": 0, "page_size": 8,
                                  "tables": {"accounts": {"key": "accountid",
                                                          "fields": ["accountnumber", "accountclassificationcode"]}}})
        yield app, conn
        conn.close()


def test_next_link_paging_and_incremental(dyn):
    app, conn = dyn
    batches = list(conn.read(StreamSpec("accounts"), None))
    ids = [r["accountid"] for b in batches for r in b.records]
    assert [len(b.records) for b in batches] == [8, 8, 8, 6] and sorted(ids) == sorted(app.state.accounts)
    first = next(r for r in app.log if r.path.endswith("/accounts"))  # after the token request
    assert first.query["$select"] == ["accountid,accountnumber,accountclassificationcode,modifiedon"]
    assert first.headers["prefer"] == "odata.maxpagesize=8"
    conn.write(WriteBatch([WriteItem("x", "accounts", {"accountid": ids[5]}, {"accountclassificationcode": 1})]))
    again = [r["accountid"] for b in conn.read(StreamSpec("accounts"), batches[-1].checkpoint) for r in b.records]
    # The accounts were modified a minute apart: the 300 s overlap (>=) re-reads the last six, plus the edit.
    assert again == ids[24:] + [ids[5]]


def test_batch_with_partial_failures_stale_etag_and_injected_503(dyn):
    app, conn = dyn
    rows = [r for b in conn.read(StreamSpec("accounts"), None) for r in b.records]
    fault = app.inject(status=503, retry_after=0, times=1, path=r"/\$batch")
    items = [WriteItem(str(i), "accounts", {"accountid": rows[i]["accountid"]}, {"accountclassificationcode": 2},
                       etag=rows[i]["@odata.etag"]) for i in range(6)]
    items[1].values = {"accountclassificationcode": 99}
    items[4].etag = 'W/"77"'
    outcomes = conn.write(WriteBatch(items))
    assert [o.status for o in outcomes] == ["applied", "rejected", "applied", "applied", "conflict", "applied"]
    assert outcomes[1].message == "99 is not a valid value for accountclassificationcode."
    assert (outcomes[4].http_status, outcomes[4].etag) == (412, None)
    assert outcomes[4].message == (f"accounts {{'accountid': '{rows[4]['accountid']}'}} changed since it was read "
                                   "(If-Match W/\"77\" failed, HTTP 412); not written: The version of the existing "
                                   "record doesn't match the RowVersion property provided.")
    assert outcomes[0].etag == 'W/"2"'
    batches = [r for r in app.log if r.path == API + "/$batch"]
    assert fault.times == 0 and len(batches) == 1  # the 503 was answered and retried: one $batch of 6 parts
    assert b"If-Match: W/\"1\"" in batches[0].body
    back = conn.read_back("accounts", [{"accountid": rows[0]["accountid"]}, {"accountid": rows[1]["accountid"]}])
    assert [r["accountclassificationcode"] for r in back] == [2, 3]


def test_mapping_stream_options_and_customer_segment_options(dyn):
    """The mapping's `select`/`delta_field` drive the read (an offset checkpoint becomes a UTC literal the
    sandbox compares correctly); the customer-segment options of the code list are valid option values."""
    from core.mapping import load_mapping
    from core.paths import shipped_mapping
    from core.sync import stream_spec

    app, conn = dyn
    spec = stream_spec(load_mapping(shipped_mapping("dynamics365.yaml")).entities["account"])
    # Accounts 1..30 were modified at 2024-01-01T00:01Z .. 00:30Z; 01:30+01:00 is 00:30Z, less 5 minutes' overlap.
    rows = [r for b in conn.read(spec, {"since": "2024-01-01T01:30:00+01:00"}) for r in b.records]
    assert [r["modifiedon"] for r in rows] == [f"2024-01-01T00:{m}:00Z" for m in range(25, 31)]
    [listed] = [r for r in app.log if r.path.endswith("/accounts")]
    assert listed.query["$select"] == [
        "accountid,accountnumber,name,accountclassificationcode,address1_country,modifiedon"]
    assert listed.query["$filter"] == ["modifiedon ge 2024-01-01T00:25:00Z"]
    assert set(rows[0]) == {"@odata.etag", "accountid", "accountnumber", "name", "accountclassificationcode",
                            "address1_country", "modifiedon"}
    values = [100000009, 100000010, 100000011, 100000012, 100000013]
    outcomes = conn.write(WriteBatch([WriteItem(str(v), "accounts", {"accountid": r["accountid"]},
                                                {"accountclassificationcode": v}) for v, r in zip(values, rows[1:],
                                                                                                   strict=True)]))
    assert [o.status for o in outcomes] == ["applied"] * 4 + ["rejected"]
    assert outcomes[4].message == "100000013 is not a valid value for accountclassificationcode."


def test_the_stand_in_refuses_a_request_without_a_token(dyn):
    import requests

    app, conn = dyn
    resp = requests.get(conn.http.url(API + "/accounts"), timeout=5)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert not [r for r in app.log if r.path == API + "/accounts" and r.headers.get("authorization")]


def test_a_row_committed_late_at_the_high_water_mark_is_read_by_the_next_pull(dyn):
    app, conn = dyn
    conn.options.overlap_seconds = 0
    checkpoint = list(conn.read(StreamSpec("accounts"), None))[-1].checkpoint
    rows = sorted(app.state.accounts.values(), key=lambda r: r["modifiedon"])
    rows[2]["modifiedon"] = rows[-1]["modifiedon"]  # committed late, with the watermark's timestamp
    again = [r["accountid"] for b in conn.read(StreamSpec("accounts"), checkpoint) for r in b.records]
    assert sorted(again) == sorted([rows[2]["accountid"], rows[-1]["accountid"]])


@pytest.mark.parametrize(("body", "content_type"), [
    ("<html><body>Sign in to your account</body></html>", "text/html"), ("", "application/json"),
    ('{"value": [{"accountid": "00', "application/json"), ("null", "application/json")])
def test_a_malformed_answer_fails_the_read_with_a_clear_error(dyn, body, content_type):
    from connectors.connector_errors import FatalError

    app, conn = dyn
    reading = conn.read(StreamSpec("accounts"), None)
    next(reading)
    app.state.malform(body, content_type)
    with pytest.raises(FatalError) as err:
        next(reading)
    text = str(err.value)
    assert "dynamics365: accounts: GET " in text and "$skiptoken=" in text and "HTTP 200" in text
    assert (body[:16] in text) if body else "the body is empty" in text


class TestDynamicsContract(ConnectorContract):
    """The standard suite, the every-fault run included: pages of 6 so a read spans 5 requests."""

    streams = ["accounts"]
    incremental_stream = "accounts"
    supports_etags = True
    replay_restarts = True  # the stand-in's skip tokens are one-shot server cursors: a resumed one is refused

    def roundtrip(self, app):
        rid = list(app.state.accounts)[3]
        return WriteItem("rt", "accounts", {"accountid": rid}, {"accountclassificationcode": 2}), 100_000_003

    @pytest.fixture
    def server_app(self):
        app = build_app()
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app):
        conn = DynamicsConnector({"base_url": server_app.url, "auth": auth(server_app.url), "max_attempts": 4,
                                  "backoff_initial": 0, "backoff_max": 0, "read_timeout": 2, "page_size": 6,
                                  "tables": {"accounts": {"key": "accountid",
                                                          "fields": ["accountnumber", "accountclassificationcode"]}}})
        yield conn
        conn.close()

    malformed_answers = ["html_200", "empty_200", "truncated_json", "null_body"]
    malformed_path = r"/accounts$"

    def commit_late(self, app, stream):
        rows = sorted(app.state.accounts.values(), key=lambda r: r["modifiedon"])
        rows[3]["modifiedon"] = rows[-1]["modifiedon"]
        return rows[3]["accountid"]

    def edit_during_paging(self, app, stream):
        rid = sorted(app.state.accounts.values(), key=lambda r: r["modifiedon"])[0]["accountid"]
        app.edit(stream, {"accountid": rid}, "accountclassificationcode", 2)
        return [rid]

    def change_records(self, app, stream):
        rows = list(app.state.accounts.values())[4:6]
        for row in rows:
            row.update(modifiedon="2030-01-01T00:00:00Z", versionnumber=row["versionnumber"] + 1)
        return [row["accountid"] for row in rows]

    def write_batch(self, app):
        ids = list(app.state.accounts)
        return WriteBatch([WriteItem("1", "accounts", {"accountid": ids[0]}, {"accountclassificationcode": 2}),
                           WriteItem("2", "accounts", {"accountid": ids[1]}, {"accountclassificationcode": 99}),
                           WriteItem("3", "accounts", {"accountid": ids[2]}, {"accountclassificationcode": 1},
                                     etag='W/"77"')])
