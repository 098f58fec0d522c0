"""oracle_fusion_rest over `responses`: exact paging requests, quoted q= look-ups, PATCH via self link."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from basics.errors import ConfigError
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError
from connectors.oracle.fusion_rest import FusionRestConnector, quote

pytestmark = pytest.mark.unit
BASE = "https://fa.example.com"
ITEMS = BASE + "/fscmRestApi/resources/11.13.18.05/itemsV2"


def conn() -> FusionRestConnector:
    return FusionRestConnector({"base_url": BASE, "max_attempts": 1, "page_size": 2,
                                "resources": {"itemsV2": {"key": ["ItemNumber", "OrganizationCode"],
                                                          "cursor_field": "LastUpdateDateTime", "q": "OrganizationCode='M1'"}}})


def qs(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_quote_doubles_embedded_quotes():
    assert quote("O'Neil") == "'O''Neil'"


@responses.activate
def test_paging_by_key_from_the_mark_minus_the_overlap():
    responses.add(responses.GET, ITEMS, json={"items": [
        {"ItemNumber": "A", "OrganizationCode": "M1", "LastUpdateDateTime": "2024-01-01T00:00:00+00:00"},
        {"ItemNumber": "A", "OrganizationCode": "M2", "LastUpdateDateTime": "2024-01-02T00:00:00+00:00"}],
        "hasMore": True, "count": 2, "totalResults": 3})
    responses.add(responses.GET, ITEMS, json={"items": [
        {"ItemNumber": "C", "OrganizationCode": "M1", "LastUpdateDateTime": "2024-01-03T00:00:00Z"}],
        "hasMore": False, "count": 1})
    batches = list(conn().read(StreamSpec("itemsV2"), {"since": "2023-12-31T00:10:00Z"}))
    assert [[i["ItemNumber"] for i in b.records] for b in batches] == [["A", "A"], ["C"]]
    assert batches[0].checkpoint == {"version": 1, "since": "2023-12-31T00:10:00Z", "high": "2024-01-02T00:00:00Z",
                                     "position": {"after": "A", "ties": 2}}
    assert batches[1].checkpoint == {"version": 1, "since": "2024-01-03T00:00:00Z"}
    assert [b.source_count for b in batches] == [3, None]
    assert qs(responses.calls[0]) == {"onlyData": "true", "limit": "2", "offset": "0", "totalResults": "true",
                                      "orderBy": "ItemNumber:asc,OrganizationCode:asc",
                                      "q": "OrganizationCode='M1';LastUpdateDateTime >= '2023-12-31T00:05:00Z'"}
    assert qs(responses.calls[1]) == {"onlyData": "true", "limit": "2", "offset": "2",
                                      "orderBy": "ItemNumber:asc,OrganizationCode:asc",
                                      "q": "OrganizationCode='M1';LastUpdateDateTime >= '2023-12-31T00:05:00Z';"
                                           "ItemNumber >= 'A'"}


@responses.activate
def test_a_read_resumes_after_the_saved_key_and_stream_options_shape_the_query():
    responses.add(responses.GET, ITEMS, json={"items": [], "hasMore": False})
    state = {"since": "2024-01-01T00:00:00Z", "high": "2024-02-01T00:00:00Z", "position": {"after": "B'1", "ties": 1}}
    spec = StreamSpec("itemsV2", fields=["ItemDescription", "to_Org/Name"],
                      options={"delta_field": "CreationDateTime", "q": "ItemStatusValue='Active'"})
    [batch] = list(conn().read(spec, state))
    assert batch.checkpoint == {"version": 1, "since": "2024-02-01T00:00:00Z"}
    assert qs(responses.calls[0]) == {
        "onlyData": "true", "limit": "2", "offset": "1", "orderBy": "ItemNumber:asc,OrganizationCode:asc",
        "q": "OrganizationCode='M1';ItemStatusValue='Active';CreationDateTime >= '2023-12-31T23:55:00Z';"
             "ItemNumber >= 'B''1'",
        "fields": "ItemDescription,ItemNumber,OrganizationCode,CreationDateTime"}


def test_an_unknown_stream_option_is_refused_naming_it():
    with pytest.raises(ConfigError, match="stream 'itemsV2' option selct"):
        next(conn().read(StreamSpec("itemsV2", options={"selct": ["A"]}), None))


@responses.activate
def test_the_same_page_twice_is_a_loop_not_a_thousand_requests():
    page = {"items": [{"ItemNumber": "A", "OrganizationCode": "M1"}], "hasMore": True}
    responses.add(responses.GET, ITEMS, json=page)
    responses.add(responses.GET, ITEMS, json=page)
    with pytest.raises(FatalError, match="same page of 1 records twice"):
        list(conn().read(StreamSpec("itemsV2"), None))
    assert len(responses.calls) == 2


@responses.activate
def test_html_with_200_fails_the_stream_naming_url_status_and_first_bytes():
    responses.add(responses.GET, ITEMS, body="<html><body>Sign In</body></html>", content_type="text/html")
    with pytest.raises(FatalError) as caught:
        list(conn().read(StreamSpec("itemsV2"), None))
    message = caught.value.message
    assert message.startswith(f"oracle_fusion_rest.itemsV2: GET {ITEMS}?")
    assert "HTTP 200: the body is not JSON" in message and "'<html><body>Sign In</body></html>'" in message
    assert len(responses.calls) == 1


@responses.activate
def test_a_403_on_write_raises_auth_error_and_counts_requests():
    href = ITEMS + "/X"
    _one_item(href)
    responses.add(responses.PATCH, href, status=403, body="not authorised for itemsV2")
    c = conn()
    items = [WriteItem(str(n), "itemsV2", {"ItemNumber": "A", "OrganizationCode": "M1"}, {"X": 1}) for n in (1, 2)]
    with pytest.raises(AuthError, match="HTTP 403: not authorised"):
        c.write(WriteBatch(items))
    assert len(responses.calls) == 2 and c.requests_sent() == 2


def test_write_batch_max_is_one_item_per_patch():
    assert FusionRestConnector.write_batch_max == 1


@responses.activate
def test_patch_goes_through_the_self_link_with_planning_attributes():
    href = ITEMS + "/00020000000EACED0005ABC"
    responses.add(responses.GET, ITEMS, json={"items": [{"ItemNumber": "A'1", "links": [
        {"rel": "self", "href": href}]}], "hasMore": False})
    responses.add(responses.PATCH, href, json={"ItemNumber": "A'1"}, headers={"ETag": "v2"})
    values = {"MinimumMinmaxQuantity": 10, "MaximumMinmaxQuantity": 40, "FixedLotSizeMultiplier": 5,
              "SafetyStockPlanningMethodValue": "Fixed", "InventoryPlanningMethodValue": "Min-max planning"}
    [outcome] = conn().write(WriteBatch([WriteItem("r", "itemsV2", {"ItemNumber": "A'1", "OrganizationCode": "M1"},
                                                   values, etag="v1")]))
    assert (outcome.status, outcome.etag) == ("applied", "v2")
    assert qs(responses.calls[0]) == {"q": "ItemNumber='A''1';OrganizationCode='M1'"}
    patch = responses.calls[1].request
    assert (patch.method, patch.url, patch.headers["If-Match"]) == ("PATCH", href, "v1")
    assert json.loads(patch.body) == values


@responses.activate
def test_400_is_a_rejection_with_oracles_text():
    href = ITEMS + "/X"
    responses.add(responses.GET, ITEMS, json={"items": [{"links": [{"rel": "self", "href": href}]}]})
    responses.add(responses.PATCH, href, status=400, body="The attribute Foo is not valid or cannot be updated.")
    [outcome] = conn().write(WriteBatch([WriteItem("r", "itemsV2", {"ItemNumber": "A", "OrganizationCode": "M1"},
                                                   {"Foo": 1})]))
    assert (outcome.status, outcome.http_status) == ("rejected", 400)
    assert outcome.message == "HTTP 400: The attribute Foo is not valid or cannot be updated."


def _one_item(href: str) -> None:
    responses.add(responses.GET, ITEMS, json={"items": [{"ItemNumber": "A", "links": [
        {"rel": "self", "href": href}]}], "hasMore": False})


@responses.activate
def test_without_an_etag_the_patch_has_no_if_match():
    href = ITEMS + "/X"
    _one_item(href)
    responses.add(responses.PATCH, href, json={})
    [outcome] = conn().write(WriteBatch([WriteItem("r", "itemsV2", {"ItemNumber": "A", "OrganizationCode": "M1"},
                                                   {"SafetyStockQuantity": 1})]))
    assert outcome.status == "applied" and "If-Match" not in responses.calls[1].request.headers


@responses.activate
def test_a_412_is_a_conflict_naming_the_item():
    href = ITEMS + "/X"
    _one_item(href)
    responses.add(responses.PATCH, href, status=412, body="modified by another user")
    [outcome] = conn().write(WriteBatch([WriteItem("r", "itemsV2", {"ItemNumber": "A", "OrganizationCode": "M1"},
                                                   {"SafetyStockQuantity": 1}, etag='"old"')]))
    assert (outcome.status, outcome.http_status, outcome.etag) == ("conflict", 412, None)
    assert "'ItemNumber': 'A'" in outcome.message and "modified by another user" in outcome.message
    assert responses.calls[1].request.headers["If-Match"] == '"old"'


@responses.activate
def test_read_back_gets_each_item_through_its_self_link_with_the_etag_header():
    href = ITEMS + "/X"
    _one_item(href)
    responses.add(responses.GET, href, json={"ItemNumber": "A", "SafetyStockQuantity": 3}, headers={"ETag": '"e7"'})
    assert conn().read_back("itemsV2", [{"ItemNumber": "A", "OrganizationCode": "M1"}]) == [
        {"ItemNumber": "A", "SafetyStockQuantity": 3, "__etag": '"e7"'}]
    assert qs(responses.calls[1]) == {"onlyData": "true"}


@responses.activate
def test_a_write_after_read_back_patches_the_known_self_link_without_a_second_look_up():
    href = ITEMS + "/X"
    _one_item(href)
    responses.add(responses.GET, href, json={"ItemNumber": "A"}, headers={"ETag": '"e1"'})
    responses.add(responses.PATCH, href, json={}, headers={"ETag": '"e2"'})
    c = conn()
    key = {"ItemNumber": "A", "OrganizationCode": "M1"}
    [held] = c.read_back("itemsV2", [key])
    [outcome] = c.write(WriteBatch([WriteItem("r", "itemsV2", key, {"SafetyStockQuantity": 1}, etag=held["__etag"])]))
    assert outcome.status == "applied"
    assert [(call.request.method, call.request.url.split("?")[0]) for call in responses.calls] == [
        ("GET", ITEMS), ("GET", href), ("PATCH", href)]


@responses.activate
def test_an_older_checkpoint_with_an_offset_reads_again_from_the_mark_minus_the_overlap():
    responses.add(responses.GET, ITEMS, json={"items": [], "hasMore": False})
    list(conn().read(StreamSpec("itemsV2"), {"since": "2024-01-03", "high": "2024-01-05", "offset": 14}))
    sent = qs(responses.calls[0])
    assert (sent["offset"], sent["q"]) == ("0", "OrganizationCode='M1';LastUpdateDateTime >= '2024-01-02T23:55:00Z'")
