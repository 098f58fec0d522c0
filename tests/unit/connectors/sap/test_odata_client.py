"""The OData client and sap_odata connector against `responses`: the exact requests SAP receives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.sap.odata import SapODataConnector
from connectors.sap.odata_client import (
    datetime_literal,
    datetimeoffset_literal,
    key_predicate,
    quote_string,
    sap_error_message,
)

pytestmark = pytest.mark.unit
BASE = "https://s4.example.com"
ROOT = f"{BASE}/sap/opu/odata/sap"
META = Path(__file__).resolve().parents[4] / "sandbox" / "metadata"


def _meta(rsps, service: str, token: str = "tok-1"):
    rsps.add(responses.GET, f"{ROOT}/{service}/$metadata", body=(META / f"{service}.xml").read_bytes(),
             headers={"x-csrf-token": token, "Set-Cookie": "SAP_SESSIONID_S4_100=abc; path=/"},
             content_type="application/xml")


def _conn(**kw) -> SapODataConnector:
    return SapODataConnector({"base_url": BASE, "max_attempts": 1, "sap_client": "100", **kw})


def _query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_literals_quote_and_type_dates():
    assert quote_string("O'Neil") == "'O''Neil'"
    when = datetime(2024, 2, 6, 8, 30, tzinfo=UTC)
    assert datetime_literal(when) == "datetime'2024-02-06T08:30:00'"
    assert datetimeoffset_literal(when) == "datetimeoffset'2024-02-06T08:30:00Z'"


def test_sap_error_body_becomes_one_clear_line():
    body = {"error": {"code": "M3/305", "message": {"lang": "en", "value": "Material X does not exist"},
                      "innererror": {"errordetails": [
                          {"code": "M3/305", "message": "Material X does not exist"},
                          {"code": "/IWBEP/CX_MGW_BUSI_EXCEPTION", "message": "Plant 1010 is locked"}]}}}
    assert sap_error_message(400, json.dumps(body)) == (
        "HTTP 400 M3/305: Material X does not exist (/IWBEP/CX_MGW_BUSI_EXCEPTION Plant 1010 is locked)")
    assert sap_error_message(503, "<html><body>Service unavailable</body></html>") == "HTTP 503: Service unavailable"


@responses.activate
def test_read_pages_follow_next_and_report_inlinecount():
    _meta(responses, "API_PRODUCT_SRV")
    url = f"{ROOT}/API_PRODUCT_SRV/A_Product"
    nxt = f"{url}?$skiptoken=2&sap-client=100"
    responses.add(responses.GET, url, json={"d": {"__count": "3", "__next": nxt, "results": [
        {"__metadata": {"uri": "x"}, "Product": "A", "LastChangeDateTime": "/Date(1704067200000+0000)/"},
        {"Product": "B", "LastChangeDateTime": "/Date(1704153600000+0000)/"}]}})
    responses.add(responses.GET, url, json={"d": {"__count": "3", "results": [
        {"Product": "C", "LastChangeDateTime": "/Date(1704110400000+0000)/", "to_Plant": {"__deferred": {}}}]}})
    batches = list(_conn(page_size=5).read(StreamSpec("API_PRODUCT_SRV/A_Product",
                                                      options={"select": ["Product"]}), None))
    assert [[r["Product"] for r in b.records] for b in batches] == [["A", "B"], ["C"]]
    assert [b.source_count for b in batches] == [3, None]  # $inlinecount asked on the first page only
    assert [b.checkpoint for b in batches] == [
        {"version": 1, "high": "2024-01-02T00:00:00Z", "position": {"skip": 0, "got": 2, "url": nxt}},
        {"version": 1, "since": "2024-01-02T00:00:00Z"}]
    assert batches[1].records[0] == {"Product": "C", "LastChangeDateTime": "/Date(1704110400000+0000)/"}
    first, second = responses.calls[1], responses.calls[2]
    assert _query(first) == {"$format": "json", "$inlinecount": "allpages", "$top": "5", "$orderby": "Product",
                             "$select": "Product,LastChangeDateTime", "$skip": "0", "sap-client": "100"}
    assert second.request.url == nxt


@responses.activate
def test_delta_filter_uses_the_property_type_literal_minus_overlap():
    _meta(responses, "API_SALES_ORDER_SRV")
    url = f"{ROOT}/API_SALES_ORDER_SRV/A_SalesOrderItem"
    responses.add(responses.GET, url, json={"d": {"__count": "0", "results": []}})
    stream = StreamSpec("API_SALES_ORDER_SRV/A_SalesOrderItem",
                        options={"delta_field": "to_SalesOrder/LastChangeDateTime", "expand": ["to_SalesOrder"],
                                 "filter": "SalesDocumentRjcnReason eq ''"})
    state = {"field": "to_SalesOrder/LastChangeDateTime", "cursor": "2024-03-01T10:05:00Z"}
    batches = list(_conn(delta_overlap_seconds=300).read(stream, state))
    assert [(b.records, b.source_count) for b in batches] == [([], 0)]
    query = _query(responses.calls[-1])
    assert query["$filter"] == ("(SalesDocumentRjcnReason eq '') and "
                                "to_SalesOrder/LastChangeDateTime ge datetimeoffset'2024-03-01T10:00:00Z'")
    assert query["$expand"] == "to_SalesOrder"


@responses.activate
def test_write_fetches_csrf_with_metadata_and_refetches_once_on_403():
    _meta(responses, "API_PRODUCT_SRV", token="old")
    batch_url = f"{ROOT}/API_PRODUCT_SRV/$batch"
    responses.add(responses.POST, batch_url, status=403, body="CSRF token validation failed",
                  headers={"x-csrf-token": "Required"})
    responses.add(responses.GET, f"{ROOT}/API_PRODUCT_SRV/", headers={"x-csrf-token": "new"}, json={"d": {}})
    answer = (b"--r\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n"
              b"Content-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--c--\r\n--r--\r\n")
    responses.add(responses.POST, batch_url, body=answer, status=202, content_type="multipart/mixed; boundary=r")
    item = WriteItem("c1", "API_PRODUCT_SRV/A_ProductSupplyPlanning", {"Product": "TG11", "Plant": "1010"},
                     {"SafetyStockQuantity": 120.5})
    outcomes = _conn().write(WriteBatch([item]))
    assert [(o.ref, o.status, o.http_status) for o in outcomes] == [("c1", "applied", 204)]
    sent = [(c.request.method, urlsplit(c.request.url).path, c.request.headers.get("x-csrf-token"))
            for c in responses.calls]
    assert sent == [("GET", "/sap/opu/odata/sap/API_PRODUCT_SRV/$metadata", "Fetch"),
                    ("POST", "/sap/opu/odata/sap/API_PRODUCT_SRV/$batch", "old"),
                    ("GET", "/sap/opu/odata/sap/API_PRODUCT_SRV/", "Fetch"),
                    ("POST", "/sap/opu/odata/sap/API_PRODUCT_SRV/$batch", "new")]
    assert responses.calls[3].request.headers["Cookie"] == "SAP_SESSIONID_S4_100=abc"
    body = responses.calls[3].request.body.decode()
    assert "PATCH A_ProductSupplyPlanning(Product='TG11',Plant='1010') HTTP/1.1" in body
    assert '{"SafetyStockQuantity":"120.500"}' in body  # only the changed property, Decimal as a string


@responses.activate
def test_update_sends_if_match_and_only_given_properties():
    _meta(responses, "API_SALES_ORDER_SRV")
    url = f"{ROOT}/API_SALES_ORDER_SRV/A_SalesOrder(SalesOrder='4711')"
    responses.add(responses.PATCH, url, status=204, headers={"ETag": 'W/"new"'})
    conn = _conn()
    result = conn.client.update("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrder": "4711"},
                                {"ShippingCondition": "02"}, etag='W/"old"')
    assert (result.status, result.etag) == (204, 'W/"new"')
    request = responses.calls[-1].request
    assert request.headers["If-Match"] == 'W/"old"'
    assert request.headers["x-csrf-token"] == "tok-1"
    assert json.loads(request.body) == {"ShippingCondition": "02"}


@responses.activate
def test_key_predicate_quotes_and_encodes():
    _meta(responses, "API_PRODUCT_SRV")
    es = _conn().client.metadata("API_PRODUCT_SRV").entity_set("A_ProductSupplyPlanning")
    assert key_predicate(es, {"Product": "O'K/1", "Plant": "1010"}) == \
        "A_ProductSupplyPlanning(Product='O''K%2F1',Plant='1010')"


@responses.activate
def test_unknown_and_read_only_properties_rejected_without_a_request():
    _meta(responses, "API_BUSINESS_PARTNER")
    items = [WriteItem("a", "API_BUSINESS_PARTNER/A_Customer", {"Customer": "1"}, {"CustomerName": "X"}),
             WriteItem("b", "API_BUSINESS_PARTNER/A_Customer", {"Customer": "1"}, {"NoSuchField": "X"})]
    outcomes = _conn().write(WriteBatch(items))
    assert [(o.ref, o.status) for o in outcomes] == [("a", "rejected"), ("b", "rejected")]
    assert "not updatable" in outcomes[0].message and "CustomerName" in outcomes[0].message
    assert "not in $metadata" in outcomes[1].message
    assert len(responses.calls) == 1  # only $metadata


_NO_CONTENT = (b"--r\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n"
               b"Content-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--c--\r\n--r--\r\n")


def _csrf_refusal(rsps, batch_url: str) -> None:
    rsps.add(responses.POST, batch_url, status=403, body="CSRF token validation failed",
             headers={"x-csrf-token": "Required"})


@responses.activate
def test_a_second_csrf_refusal_fetches_again_and_the_third_leaves_items_retriable():
    _meta(responses, "API_PRODUCT_SRV", token="t0")
    batch_url = f"{ROOT}/API_PRODUCT_SRV/$batch"
    for n in (1, 2):
        _csrf_refusal(responses, batch_url)
        responses.add(responses.GET, f"{ROOT}/API_PRODUCT_SRV/", headers={"x-csrf-token": f"t{n}"}, json={"d": {}})
    responses.add(responses.POST, batch_url, body=_NO_CONTENT, status=202, content_type="multipart/mixed; boundary=r")
    item = WriteItem("c1", "API_PRODUCT_SRV/A_ProductSupplyPlanning", {"Product": "TG11", "Plant": "1010"},
                     {"ABCIndicator": "A"})
    conn = _conn()
    assert [o.status for o in conn.write(WriteBatch([item]))] == ["applied"]
    tokens = [(c.request.method, c.request.headers.get("x-csrf-token")) for c in responses.calls]
    assert tokens == [("GET", "Fetch"), ("POST", "t0"), ("GET", "Fetch"), ("POST", "t1"), ("GET", "Fetch"),
                      ("POST", "t2")]
    assert conn.requests_sent() == 6

    responses.reset()
    for n in (3, 4):
        _csrf_refusal(responses, batch_url)
        responses.add(responses.GET, f"{ROOT}/API_PRODUCT_SRV/", headers={"x-csrf-token": f"t{n}"}, json={"d": {}})
    _csrf_refusal(responses, batch_url)
    [out] = conn.write(WriteBatch([item]))
    assert out.status == "retriable" and "refused the CSRF token 3 times" in out.message
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST", "GET", "POST"]


@responses.activate
def test_a_403_that_is_not_csrf_stops_the_apply_as_an_auth_error():
    from connectors.connector_errors import AuthError

    _meta(responses, "API_PRODUCT_SRV")
    responses.add(responses.POST, f"{ROOT}/API_PRODUCT_SRV/$batch", status=403, body="No authorization (S_SERVICE)")
    item = WriteItem("c1", "API_PRODUCT_SRV/A_ProductSupplyPlanning", {"Product": "TG11", "Plant": "1010"},
                     {"ABCIndicator": "A"})
    with pytest.raises(AuthError):
        _conn().write(WriteBatch([item]))
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


@responses.activate
def test_an_unpadded_external_customer_id_is_addressed_as_sap_holds_it():
    _meta(responses, "API_BUSINESS_PARTNER")
    responses.add(responses.POST, f"{ROOT}/API_BUSINESS_PARTNER/$batch", body=_NO_CONTENT, status=202,
                  content_type="multipart/mixed; boundary=r")
    item = WriteItem("c1", "API_BUSINESS_PARTNER/A_Customer", {"Customer": "10100001"}, {"CustomerClassification": "A"})
    assert _conn().write(WriteBatch([item]))[0].status == "applied"
    assert "PATCH A_Customer(Customer='0010100001') HTTP/1.1" in responses.calls[-1].request.body.decode()


def test_options_old_names_and_removed_keys():
    assert _conn(delta_overlap_seconds=60).options.overlap_seconds == 60
    with pytest.raises(ValueError, match="batch_size was removed"):
        _conn(batch_size=100)
    assert SapODataConnector.write_batch_max == 1000


def test_a_deleted_entry_becomes_a_tombstone_with_its_key():
    from connectors.sap.odata_client import clean_record

    raw = {"@odata.context": "$metadata#A_CustomerSalesArea/$deletedEntity",
           "id": "https://s4/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_CustomerSalesArea(Customer='0017100001',"
                 "SalesOrganization='1710',DistributionChannel='10',Division='O%27N')"}
    assert clean_record(raw) == {"Customer": "0017100001", "SalesOrganization": "1710", "DistributionChannel": "10",
                                 "Division": "O'N", "__deleted": True}
    assert clean_record({"Customer": "1", "__metadata": {"etag": "W/1"}}) == {"Customer": "1", "__etag": "W/1"}


def test_a_record_loses_metadata_and_deferred_navigations_and_keeps_expanded_ones_cleaned():
    from connectors.sap.odata_client import clean_record

    raw = {"__metadata": {"uri": "u", "type": "t"}, "SalesOrder": "1", "to_Item": {"__deferred": {"uri": "u/to_Item"}},
           "to_SalesOrder": {"__metadata": {"type": "h", "etag": "W/2"}, "SoldToParty": "17",
                             "to_Partner": {"__deferred": {"uri": "p"}}}}
    assert clean_record(raw) == {"SalesOrder": "1", "to_SalesOrder": {"SoldToParty": "17", "__etag": "W/2"}}
