"""oracle_fusion_rest over `responses`: exact paging requests, quoted q= look-ups, PATCH via self link."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import StreamSpec, WriteBatch, WriteItem
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
def test_paging_with_limit_offset_has_more_and_only_data():
    responses.add(responses.GET, ITEMS, json={"items": [{"ItemNumber": "A", "LastUpdateDateTime": "2024-01-01"},
                                                        {"ItemNumber": "B", "LastUpdateDateTime": "2024-01-02"}],
                                              "hasMore": True, "count": 2})
    responses.add(responses.GET, ITEMS, json={"items": [{"ItemNumber": "C", "LastUpdateDateTime": "2024-01-03"}],
                                              "hasMore": False, "count": 1})
    batches = list(conn().read(StreamSpec("itemsV2"), {"since": "2023-12-31"}))
    assert [[i["ItemNumber"] for i in b.records] for b in batches] == [["A", "B"], ["C"]]
    assert batches[0].checkpoint == {"since": "2023-12-31", "high": "2024-01-02", "offset": 2}
    assert batches[1].checkpoint == {"since": "2024-01-03"}
    assert qs(responses.calls[0]) == {"onlyData": "true", "limit": "2", "offset": "0", "totalResults": "true",
                                      "orderBy": "LastUpdateDateTime:asc,ItemNumber:asc,OrganizationCode:asc",
                                      "q": "OrganizationCode='M1';LastUpdateDateTime > '2023-12-31'"}
    assert qs(responses.calls[1])["offset"] == "2"


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
