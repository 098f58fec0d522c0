"""dynamics365 against the Dataverse-like sandbox over real HTTP: nextLink paging, $batch, If-Match."""

from __future__ import annotations

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.dynamics.dataverse import DynamicsConnector
from connectors.testing.suite import ConnectorContract
from sandbox.dynamics_standin import API, build_app
from sandbox.server import serve

pytestmark = pytest.mark.contract


@pytest.fixture
def dyn():
    app = build_app()
    with serve(app) as server:
        conn = DynamicsConnector({"base_url": server.url, "max_attempts": 3, "backoff_initial": 0,
                                  "backoff_max": 0, "page_size": 8, "batch_size": 4,
                                  "tables": {"accounts": {"key": "accountid",
                                                          "fields": ["accountnumber", "accountclassificationcode"]}}})
        yield app, conn
        conn.close()


def test_next_link_paging_and_incremental(dyn):
    app, conn = dyn
    batches = list(conn.read(StreamSpec("accounts"), None))
    ids = [r["accountid"] for b in batches for r in b.records]
    assert [len(b.records) for b in batches] == [8, 8, 8, 6] and sorted(ids) == sorted(app.state.accounts)
    first = app.log[0]
    assert first.query["$select"] == ["accountid,accountnumber,accountclassificationcode,modifiedon"]
    assert first.headers["prefer"] == "odata.maxpagesize=8"
    conn.write(WriteBatch([WriteItem("x", "accounts", {"accountid": ids[5]}, {"accountclassificationcode": 1})]))
    again = [r["accountid"] for b in conn.read(StreamSpec("accounts"), batches[-1].checkpoint) for r in b.records]
    assert again == [ids[5]]


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
    assert fault.times == 0 and len(batches) == 2  # the 503 was answered (and retried), then 2 batches of <= 4
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
    # Accounts 1..30 were modified at 2024-01-01T00:01Z .. 00:30Z; 01:25+01:00 is 00:25Z.
    rows = [r for b in conn.read(spec, {"since": "2024-01-01T01:25:00+01:00"}) for r in b.records]
    assert [r["modifiedon"] for r in rows] == [f"2024-01-01T00:{m}:00Z" for m in range(26, 31)]
    assert app.log[0].query["$select"] == [
        "accountid,accountnumber,name,accountclassificationcode,address1_country,modifiedon"]
    assert app.log[0].query["$filter"] == ["modifiedon gt 2024-01-01T00:25:00Z"]
    assert set(rows[0]) == {"@odata.etag", "accountid", "accountnumber", "name", "accountclassificationcode",
                            "address1_country", "modifiedon"}
    values = [100000009, 100000010, 100000011, 100000012, 100000013]
    outcomes = conn.write(WriteBatch([WriteItem(str(v), "accounts", {"accountid": r["accountid"]},
                                                {"accountclassificationcode": v}) for v, r in zip(values, rows,
                                                                                                   strict=True)]))
    assert [o.status for o in outcomes] == ["applied"] * 4 + ["rejected"]
    assert outcomes[4].message == "100000013 is not a valid value for accountclassificationcode."


class TestDynamicsContract(ConnectorContract):
    """The standard suite, the every-fault run included: pages of 6 so a read spans 5 requests."""

    streams = ["accounts"]
    incremental_stream = "accounts"
    supports_etags = True

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
        conn = DynamicsConnector({"base_url": server_app.url, "max_attempts": 4, "backoff_initial": 0,
                                  "backoff_max": 0, "read_timeout": 2, "page_size": 6, "batch_size": 4,
                                  "tables": {"accounts": {"key": "accountid",
                                                          "fields": ["accountnumber", "accountclassificationcode"]}}})
        yield conn
        conn.close()

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
