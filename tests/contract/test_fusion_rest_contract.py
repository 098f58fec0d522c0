"""oracle_fusion_rest against the itemsV2 sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError
from connectors.incremental import parse_instant
from connectors.oracle.fusion_rest import FusionRestConnector
from connectors.testing.suite import ConnectorContract
from sandbox.fusion_rest_standin import ROOT, build_app
from sandbox.server import SandboxAuth, serve

pytestmark = pytest.mark.contract


@pytest.fixture
def fusion():
    app = build_app()
    with serve(app) as server:
        conn = FusionRestConnector({"base_url": server.url, "max_attempts": 3, "backoff_initial": 0,
                                    "backoff_max": 0, "page_size": 7,
                                    "resources": {"itemsV2": {"key": ["ItemNumber", "OrganizationCode"],
                                                              "cursor_field": "LastUpdateDateTime"}}})
        yield app, conn
        conn.close()


def key(n: int) -> dict:
    return {"ItemNumber": f"AS{n:05d}", "OrganizationCode": "M1"}


def test_full_read_with_injected_429_then_incremental(fusion):
    app, conn = fusion
    app.inject(status=429, retry_after=0, times=1, path=ROOT + "/itemsV2")
    batches = list(conn.read(StreamSpec("itemsV2"), None))
    numbers = [r["ItemNumber"] for b in batches for r in b.records]
    assert len(numbers) == len(set(numbers)) == 30 and [len(b.records) for b in batches] == [7, 7, 7, 7, 2]
    conn.write(WriteBatch([WriteItem("1", "itemsV2", key(9), {"FixedLotSizeMultiplier": 6})]))
    again = [r["ItemNumber"] for b in conn.read(StreamSpec("itemsV2"), batches[-1].checkpoint) for r in b.records]
    assert again == ["AS00009", "AS00030"]  # the change, and the high-water mark's item again (overlap)


def numbers(batches) -> list[str]:
    return [r["ItemNumber"] for b in batches for r in b.records]


def queries(app) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in app.log if r.method == "GET"]


def test_pages_by_key_and_reads_increments_from_the_mark_minus_the_overlap(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("itemsV2", fields=["ItemDescription"]), None))
    sent = queries(app)
    assert sent[0] == {"onlyData": "true", "limit": "7", "offset": "0", "totalResults": "true",
                       "orderBy": "ItemNumber:asc,OrganizationCode:asc",
                       "fields": "ItemDescription,ItemNumber,OrganizationCode,LastUpdateDateTime"}
    assert (sent[1]["q"], sent[1]["offset"]) == ("ItemNumber >= 'AS00007'", "1") and "totalResults" not in sent[1]
    assert [b.source_count for b in batches] == [30, None, None, None, None]
    app.log.clear()
    list(conn.read(StreamSpec("itemsV2"), batches[-1].checkpoint))
    assert queries(app)[0]["q"] == "LastUpdateDateTime >= '2024-01-02T05:55:00Z'"  # 06:00 (item 30) - 300 s


def test_an_item_committed_late_at_the_high_water_mark_is_read(fusion):
    app, conn = fusion
    batches = list(conn.read(StreamSpec("itemsV2"), None))
    mark = parse_instant(batches[-1].checkpoint["since"])
    late = next(r for r in app.state.items.values() if r["ItemNumber"] == "AS00004")
    late["LastUpdateDateTime"] = mark.isoformat(timespec="seconds")
    assert "AS00004" in numbers(conn.read(StreamSpec("itemsV2"), batches[-1].checkpoint))


def test_an_edit_during_paging_loses_no_item_in_the_full_and_next_incremental_read(fusion):
    app, conn = fusion
    app.state.edit_during_paging = True
    full = list(conn.read(StreamSpec("itemsV2"), None))
    [edited] = app.state.edited
    assert edited in numbers(full[:1])
    again = list(conn.read(StreamSpec("itemsV2"), full[-1].checkpoint))
    everything = {r["ItemNumber"] for r in app.state.items.values()}
    assert set(numbers(full)) | set(numbers(again)) == everything
    assert len(numbers(full)) == len(set(numbers(full))) == 30 and edited in numbers(again)


@pytest.mark.parametrize(("kind", "problem"), [
    ("html", "the body is not JSON"), ("empty", "an empty body"), ("truncated", "the body is not JSON"),
    ("null", "a JSON NoneType instead of an object"), ("no_items", "no 'items' list")])
def test_a_malformed_answer_fails_the_stream_clearly(fusion, kind, problem):
    app, conn = fusion
    app.state.malformed.append(kind)
    with pytest.raises(FatalError) as caught:
        list(conn.read(StreamSpec("itemsV2"), None))
    message = caught.value.message
    assert message.startswith(f"oracle_fusion_rest.itemsV2: GET {conn.options.base_url}{ROOT}/itemsV2?")
    assert ": HTTP 200: " in message and problem in message and "the body starts " in message


def test_a_401_on_apply_stops_sending(fusion):
    app, conn = fusion
    app.require_auth(SandboxAuth(basic=("INTEG", "right")))
    items = [WriteItem(str(n), "itemsV2", key(n), {"FixedLotSizeMultiplier": 6}) for n in (1, 2, 3)]
    with pytest.raises(AuthError, match="HTTP 401"):
        conn.write(WriteBatch(items))
    assert len(app.log) == 1 and conn.requests_sent() == 1


def test_planning_parameters_partial_failure_and_read_back(fusion):
    app, conn = fusion
    app.state.reject["AS00003"] = "The item is locked by change order CO-118."
    good = {"InventoryPlanningMethodValue": "Min-max planning", "MinimumMinmaxQuantity": 12,
            "MaximumMinmaxQuantity": 48, "FixedLotSizeMultiplier": 6, "SafetyStockQuantity": 8}
    items = [WriteItem("1", "itemsV2", key(1), good), WriteItem("2", "itemsV2", key(2), {"MinimumMinmaxQuantity": -4}),
             WriteItem("3", "itemsV2", key(3), good), WriteItem("4", "itemsV2", key(99), good)]
    outcomes = conn.write(WriteBatch(items))
    assert [o.status for o in outcomes] == ["applied", "rejected", "rejected", "rejected"]
    assert outcomes[1].message == ("HTTP 400: The value of the attribute MinimumMinmaxQuantity must be greater than "
                                   "or equal to 0.")
    assert outcomes[2].message == "HTTP 400: The item is locked by change order CO-118."
    assert outcomes[3].message == "no item in itemsV2 match {'ItemNumber': 'AS00099', 'OrganizationCode': 'M1'}"
    [back] = conn.read_back("itemsV2", [key(1)])
    assert {k: back[k] for k in good} == good
    patches = [r.path for r in app.log if r.method == "PATCH"]
    assert all(p.startswith(ROOT + "/itemsV2/00020000000EACED0005770800") for p in patches) and len(patches) == 3


class TestFusionRestContract(ConnectorContract):
    """The standard suite, the every-fault run included: pages of 6 so a read spans 5 requests."""

    streams = ["itemsV2"]
    incremental_stream = "itemsV2"
    supports_etags = True

    def roundtrip(self, app):
        return WriteItem("rt", "itemsV2", key(5), {"SafetyStockQuantity": 8}), 20

    @pytest.fixture
    def server_app(self):
        app = build_app()
        with serve(app) as server:
            app.url = server.url
            yield app

    @pytest.fixture
    def connector(self, server_app):
        conn = FusionRestConnector({"base_url": server_app.url, "max_attempts": 4, "backoff_initial": 0,
                                    "backoff_max": 0, "read_timeout": 2, "page_size": 6,
                                    "resources": {"itemsV2": {"key": ["ItemNumber", "OrganizationCode"],
                                                              "cursor_field": "LastUpdateDateTime"}}})
        yield conn
        conn.close()

    def change_records(self, app, stream):
        rows = list(app.state.items.values())[2:4]
        for row in rows:
            row["LastUpdateDateTime"] = datetime.now(UTC).isoformat(timespec="seconds")
        return [(row["ItemNumber"], row["OrganizationCode"]) for row in rows]

    # the malformed answers of connectors.testing.malformed_answers this connector refuses cleanly
    malformed_answers = ["html_200", "empty_200", "truncated_json", "null_body"]
    malformed_path = ROOT + "/itemsV2"

    def commit_late(self, app, stream):
        rows = sorted(app.state.items.values(), key=lambda r: (r["ItemNumber"], r["OrganizationCode"]))
        newest = max(rows, key=lambda r: parse_instant(r["LastUpdateDateTime"]))
        late = next(r for r in rows if r is not newest)
        late["LastUpdateDateTime"] = newest["LastUpdateDateTime"]
        return (late["ItemNumber"], late["OrganizationCode"])

    def edit_during_paging(self, app, stream):
        uid, first = min(app.state.items.items(), key=lambda kv: (kv[1]["ItemNumber"], kv[1]["OrganizationCode"]))
        app.state.touch(uid)  # on the first page: reads page by ItemNumber
        return [(first["ItemNumber"], first["OrganizationCode"])]

    def write_batch(self, app):
        return WriteBatch([WriteItem("1", "itemsV2", key(1), {"FixedLotSizeMultiplier": 6}),
                           WriteItem("2", "itemsV2", key(2), {"MinimumMinmaxQuantity": -4}),
                           WriteItem("3", "itemsV2", key(99), {"FixedLotSizeMultiplier": 6})])
