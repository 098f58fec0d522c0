"""The declarative REST connector and paginators, with `responses` asserting the exact requests."""

from __future__ import annotations

import json

import pytest
import responses

from basics.errors import ConfigError
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, ConnectorError, FatalError
from connectors.declarative.manifest import Manifest, load_manifest
from connectors.declarative.manifest_connector import RestConnector, typed
from connectors.http.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    dig,
)

pytestmark = pytest.mark.unit
BASE = "https://api.example.com"

MANIFEST = {
    "name": "acme", "base_path": "/api/v1", "check": {"path": "ping"},
    "streams": {
        "items": {"path": "items", "params": {"sort": "updated_at"}, "record_path": "data", "total_path": "meta.total",
                  "primary_key": ["sku"], "paginator": {"kind": "offset", "limit": 2, "has_more_path": "meta.more"},
                  "incremental": {"cursor_field": "updated_at", "param": "filter",
                                  "template": "updated_at ge '{value}'", "lookback_seconds": 60},
                  "option_params": {"fields": "fields"}},
        "stock": {"path": "stock", "primary_key": ["id"], "paginator": {"kind": "page_number", "page_size": 2}},
    },
    "writes": {
        "items": {"method": "POST", "path": "items/bulk", "batch_size": 2,
                  "result": {"path": "results", "match": "key", "retriable_values": ["LOCKED"]},
                  "read_back": {"stream": "items", "params": {"sku": "{sku}"}}},
        "prices": {"method": "PATCH", "path": "prices/{sku}", "mode": "item"},
    },
}


def connector(**opts) -> RestConnector:
    return RestConnector({"base_url": BASE, "max_attempts": 2, "backoff_initial": 0, **opts}, name="acme",
                         manifest=Manifest.model_validate(MANIFEST))


def page(items, more, total=3):
    return {"data": items, "meta": {"more": more, "total": total}}


@responses.activate
def test_full_read_pages_by_keyset_on_the_cursor_and_reports_source_count():
    """The next page of an incremental stream is the cursor filter moved to the page's highest value
    (an edit during the read cannot shift an offset past a record); the boundary record read again
    is dropped by key; the paginator only says whether there is more."""
    url = f"{BASE}/api/v1/items"
    responses.get(url, json=page([{"sku": "A", "updated_at": "2025-01-01T00:00:00Z"},
                                  {"sku": "B", "updated_at": "2025-01-02T00:00:00Z"}], True))
    responses.get(url, json=page([{"sku": "B", "updated_at": "2025-01-02T00:00:00Z"},
                                  {"sku": "C", "updated_at": "2025-01-03T00:00:00Z"}], False, total=2))
    batches = list(connector().read(StreamSpec("items", options={"fields": ["sku", "name"]}), None))
    assert [[r["sku"] for r in b.records] for b in batches] == [["A", "B"], ["C"]]
    assert [b.checkpoint for b in batches] == [
        {"version": 1, "high": "2025-01-02T00:00:00Z",
         "position": {"keyset": "2025-01-02T00:00:00Z", "seen": [["B"]], "next": None}},
        {"version": 1, "since": "2025-01-03T00:00:00Z"}]
    assert [b.source_count for b in batches] == [3, None]  # only the first page counts the whole read
    assert [c.request.url for c in responses.calls] == [
        f"{url}?sort=updated_at&fields=sku%2Cname%2Cupdated_at&offset=0&limit=2",
        f"{url}?sort=updated_at&fields=sku%2Cname%2Cupdated_at&filter=updated_at+ge+%272025-01-02T00%3A00%3A00Z%27"
        "&offset=0&limit=2"]


@responses.activate
def test_a_page_with_nothing_newer_than_the_boundary_continues_with_the_paginator():
    """Many records changed at one instant: the keyset cannot move, so the offset within it does."""
    url = f"{BASE}/api/v1/items"
    same = "2025-01-02T00:00:00Z"
    responses.get(url, json=page([{"sku": "A", "updated_at": same}, {"sku": "B", "updated_at": same}], True))
    responses.get(url, json=page([{"sku": "A", "updated_at": same}, {"sku": "B", "updated_at": same}], True))
    responses.get(url, json=page([{"sku": "C", "updated_at": same}], False))
    records = [r["sku"] for b in connector().read(StreamSpec("items"), None) for r in b.records]
    assert records == ["A", "B", "C"]
    assert [c.request.params.get("offset") for c in responses.calls] == ["0", "0", "2"]


@responses.activate
def test_incremental_read_filters_from_the_saved_mark_minus_the_manifest_lookback():
    responses.get(f"{BASE}/api/v1/items", json=page([], False, 0))
    batches = list(connector().read(StreamSpec("items"), {"version": 1, "since": "2025-01-03T00:00:00Z"}))
    assert batches[0].records == [] and batches[0].checkpoint == {"version": 1, "since": "2025-01-03T00:00:00Z"}
    assert responses.calls[0].request.params == {"sort": "updated_at", "filter": "updated_at ge '2025-01-02T23:59:00Z'",
                                                 "offset": "0", "limit": "2"}


@responses.activate
def test_a_legacy_watermark_loads_and_the_default_overlap_is_the_systems():
    responses.get(f"{BASE}/api/v1/items", json=page([], False, 0))
    manifest = json.loads(json.dumps(MANIFEST))
    del manifest["streams"]["items"]["incremental"]["lookback_seconds"]
    conn = RestConnector({"base_url": BASE, "max_attempts": 1}, name="acme", manifest=Manifest.model_validate(manifest))
    [batch] = conn.read(StreamSpec("items"), {"watermark": "2025-01-03T00:00:00Z"})
    assert responses.calls[0].request.params["filter"] == "updated_at ge '2025-01-02T23:55:00Z'"  # 300 s
    assert batch.checkpoint == {"version": 1, "since": "2025-01-03T00:00:00Z"}
    assert conn.requests_sent() == 1


@responses.activate
def test_a_stream_option_overrides_the_overlap_and_unknown_options_are_refused():
    responses.get(f"{BASE}/api/v1/items", json=page([], False, 0))
    list(connector().read(StreamSpec("items", options={"overlap_seconds": 0}), {"version": 1, "since": "2025-01-03T00:00:00Z"}))
    assert responses.calls[0].request.params["filter"] == "updated_at ge '2025-01-03T00:00:00Z'"
    with pytest.raises(ConfigError, match="option selct"):
        list(connector().read(StreamSpec("items", options={"selct": ["sku"]}), None))


@responses.activate
def test_full_stream_checkpoint_resumes_at_next_page():
    url = f"{BASE}/api/v1/stock"
    responses.get(url, json=[{"id": 1}, {"id": 2}])
    first = next(connector().read(StreamSpec("stock"), None))
    assert first.checkpoint == {"version": 1, "position": {"params": {"page": 2, "page_size": 2}, "url": None}}
    responses.get(url, json=[{"id": 3}])
    resumed = list(connector().read(StreamSpec("stock"), first.checkpoint))
    assert [r["id"] for b in resumed for r in b.records] == [3]
    assert responses.calls[-1].request.params == {"page": "2", "page_size": "2"}
    legacy = list(connector().read(StreamSpec("stock"), {"resume": {"params": {"page": 2, "page_size": 2}, "url": None}}))
    assert [r["id"] for b in legacy for r in b.records] == [3]


@responses.activate
def test_the_same_next_link_twice_stops_the_read():
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["streams"]["stock"]["paginator"] = {"kind": "next_link", "next_path": "next"}
    manifest["streams"]["stock"]["record_path"] = "data"
    conn = RestConnector({"base_url": BASE, "max_attempts": 1}, name="acme", manifest=Manifest.model_validate(manifest))
    responses.get(f"{BASE}/api/v1/stock", json={"data": [{"id": 1}], "next": f"{BASE}/api/v1/stock?p=2"})
    with pytest.raises(FatalError, match="same page position twice"):
        list(conn.read(StreamSpec("stock"), None))
    assert len(responses.calls) == 2


@responses.activate
def test_missing_record_list_is_a_clear_error():
    responses.get(f"{BASE}/api/v1/items", json={"oops": []})
    with pytest.raises(FatalError, match="acme.items: HTTP 200: no record list at 'data'"):
        list(connector().read(StreamSpec("items"), None))


@pytest.mark.parametrize("body, content_type, says", [
    ("<html><body>Bad gateway</body></html>", "text/html", "HTTP 200 (text/html) with a body that is not valid JSON: '<html><body>Bad"),
    ("", "application/json", "HTTP 200 (application/json) with an empty body"),
    ('{"data": [{"sku": "A", "upd', "application/json", "HTTP 200 (application/json) with a body that is not valid JSON"),
    ("null", "application/json", "HTTP 200: no record list at 'data' in the response: 'null'"),
    ('{"data": {"sku": "A"}}', "application/json", "no record list at 'data'"),
])
@responses.activate
def test_a_malformed_page_fails_the_stream_naming_it_status_and_body(body, content_type, says):
    responses.get(f"{BASE}/api/v1/items", body=body, content_type=content_type)
    with pytest.raises(ConnectorError) as caught:
        list(connector().read(StreamSpec("items"), None))
    assert str(caught.value).startswith("acme.items: ") and says in str(caught.value)
    # a body that does not parse is retried (a proxy's hiccup heals); one that parses to no list is not
    assert len(responses.calls) == (1 if "record list" in says else 2)


@responses.activate
def test_a_null_body_is_not_an_empty_page_even_where_404_is():
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["streams"]["stock"].update(not_found_is_empty=True, record_path="results")
    conn = RestConnector({"base_url": BASE, "max_attempts": 1}, name="acme", manifest=Manifest.model_validate(manifest))
    responses.get(f"{BASE}/api/v1/stock", body="null", content_type="application/json")
    with pytest.raises(FatalError, match="acme.stock: HTTP 200: no record list"):
        list(conn.read(StreamSpec("stock"), None))
    responses.replace(responses.GET, f"{BASE}/api/v1/stock", json={"detail": "Not found."}, status=404)
    assert [b.records for b in conn.read(StreamSpec("stock"), None)] == [[]]


@responses.activate
def test_batch_write_parses_per_item_results_by_key():
    responses.post(f"{BASE}/api/v1/items/bulk", json={"results": [
        {"sku": "B", "status": "error", "message": "unknown sku"}, {"sku": "A", "status": "success"}]})
    responses.post(f"{BASE}/api/v1/items/bulk", json={"results": [{"sku": "C", "status": "LOCKED"}]})
    items = [WriteItem("1", "items", {"sku": "A"}, {"abc": "A"}), WriteItem("2", "items", {"sku": "B"}, {"abc": "C"}),
             WriteItem("3", "items", {"sku": "C"}, {"abc": "B"})]
    out = connector().write(WriteBatch(items))
    assert [(o.ref, o.status, o.message) for o in out] == [
        ("1", "applied", None), ("2", "rejected", "unknown sku"), ("3", "retriable", "LOCKED")]
    assert json.loads(responses.calls[0].request.body) == {"items": [{"sku": "A", "abc": "A"}, {"sku": "B", "abc": "C"}]}
    assert json.loads(responses.calls[1].request.body) == {"items": [{"sku": "C", "abc": "B"}]}


@responses.activate
def test_batch_write_transient_failure_makes_items_retriable_and_4xx_rejected():
    responses.post(f"{BASE}/api/v1/items/bulk", status=503)
    responses.post(f"{BASE}/api/v1/items/bulk", status=503)
    responses.post(f"{BASE}/api/v1/items/bulk", status=400, json={"message": "bad body"})
    items = [WriteItem(str(n), "items", {"sku": s}, {"abc": "A"}) for n, s in enumerate("ABC")]
    out = connector().write(WriteBatch(items))
    assert [o.status for o in out] == ["retriable", "retriable", "rejected"]
    assert "bad body" in out[2].message and out[2].http_status == 400


@pytest.mark.parametrize("mode_target, url", [("items", "items/bulk"), ("prices", "prices/A")])
@responses.activate
def test_a_401_or_403_on_a_write_stops_the_apply_with_an_auth_error(mode_target, url):
    """The outcome policy: sending on after an authentication refusal only repeats it (and may lock the user)."""
    method = responses.POST if mode_target == "items" else responses.PATCH
    responses.add(method, f"{BASE}/api/v1/{url}", status=403, json={"message": "no authorisation"})
    with pytest.raises(AuthError, match="HTTP 403"):
        connector().write(WriteBatch([WriteItem("1", mode_target, {"sku": "A"}, {"abc": "A"})]))
    assert len(responses.calls) == 1


@responses.activate
def test_item_write_uses_path_template_and_if_match():
    responses.patch(f"{BASE}/api/v1/prices/A%2F1", status=200, headers={"ETag": 'W/"2"'})
    responses.patch(f"{BASE}/api/v1/prices/B", status=412, json={"message": "changed since read"})
    responses.patch(f"{BASE}/api/v1/prices/C", status=200)
    out = connector().write(WriteBatch([WriteItem("1", "prices", {"sku": "A/1"}, {"price": 2.5}, etag='W/"1"'),
                                        WriteItem("2", "prices", {"sku": "B"}, {"price": 3}, etag='W/"5"'),
                                        WriteItem("3", "prices", {"sku": "C"}, {"price": 4})]))
    assert [(o.status, o.etag, o.http_status) for o in out] == [
        ("applied", 'W/"2"', 200), ("conflict", None, 412), ("applied", None, 200)]
    assert out[1].message == "prices {'sku': 'B'} changed since it was read (If-Match W/\"5\" failed, HTTP 412); not written"
    assert responses.calls[0].request.headers["If-Match"] == 'W/"1"'
    assert responses.calls[1].request.headers["If-Match"] == 'W/"5"'
    assert "If-Match" not in responses.calls[2].request.headers
    assert json.loads(responses.calls[0].request.body) == {"sku": "A/1", "price": 2.5}


@responses.activate
def test_read_back_gives_the_manifests_etag_field_as_etag():
    manifest = {**MANIFEST, "writes": {"prices": {"method": "PATCH", "path": "prices/{sku}", "mode": "item",
                                                  "read_back": {"stream": "items", "params": {"sku": "{sku}"},
                                                                "etag_field": "version"}}}}
    conn = RestConnector({"base_url": BASE, "max_attempts": 1}, name="acme", manifest=Manifest.model_validate(manifest))
    responses.get(f"{BASE}/api/v1/items", json=page([{"sku": "A", "price": 2, "version": 7}], False, 1))
    assert conn.read_back("prices", [{"sku": "A"}]) == [{"sku": "A", "price": 2, "version": 7, "__etag": "7"}]


def test_an_etag_field_on_a_batch_write_is_refused():
    writes = {"items": {**MANIFEST["writes"]["items"],
                        "read_back": {"stream": "items", "params": {"sku": "{sku}"}, "etag_field": "version"}}}
    with pytest.raises(ValueError, match="etag_field needs mode: item"):
        Manifest.model_validate({**MANIFEST, "writes": writes})


def test_write_to_unknown_target_is_rejected_per_item():
    out = connector().write(WriteBatch([WriteItem("9", "nope", {"k": 1}, {"v": 1})]))
    assert (out[0].status, out[0].message) == ("rejected", "nope is not writable in acme")


@responses.activate
def test_read_back_queries_by_key():
    responses.get(f"{BASE}/api/v1/items", json=page([{"sku": "A", "abc": "B"}], False, 1))
    assert connector().read_back("items", [{"sku": "A"}]) == [{"sku": "A", "abc": "B"}]
    assert responses.calls[0].request.params == {"sort": "updated_at", "sku": "A"}


@responses.activate
def test_check_reports_auth_failure_without_raising(monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", "sekret-token")
    responses.get(f"{BASE}/api/v1/ping", status=401, body="bad token sekret-token")
    result = connector(auth={"type": "bearer", "token": "${ACME_TOKEN}"}).check()
    assert not result.ok and "authentication failed" in result.message and "sekret-token" not in result.message


def test_discover_lists_streams_keys_and_writability():
    specs = {s.name: s for s in connector().discover()}
    assert (specs["items"].primary_key, specs["items"].cursor_field, specs["items"].writable) == (
        ["sku"], "updated_at", True)
    assert specs["stock"].writable is False and specs["prices"].writable is True


def test_shipped_manifests_load():
    assert set(load_manifest("wms").streams) == {"item", "order_hdr", "allocation", "inventory"}
    tms = load_manifest("tms")
    assert set(tms.writes) == {"locations.refnums", "routingProfiles"}
    assert tms.writes["routingProfiles"].types == {"expediteAllowed": "bool", "consolidationEligible": "bool",
                                                   "crossDockEligible": "bool"}
    assert load_manifest("wms").writes["item"].read_back.in_params == {"code": "code__in",
                                                                       "facility_id__code": "facility_id__code__in"}


def batched(**read_back) -> RestConnector:
    spec = json.loads(json.dumps(MANIFEST))
    spec["streams"]["items"]["not_found_is_empty"] = True
    spec["writes"]["items"]["read_back"] = {"stream": "items", "in_params": {"sku": "sku__in", "site": "site__in"},
                                            **read_back}
    return RestConnector({"base_url": BASE, "max_attempts": 2, "backoff_initial": 0}, name="acme",
                         manifest=Manifest.model_validate(spec))


@responses.activate
def test_batched_read_back_asks_for_many_keys_per_request_and_keeps_only_those_asked():
    url = f"{BASE}/api/v1/items"
    responses.get(url, json=page([{"sku": "A", "site": "S1", "abc": "A"}, {"sku": "A", "site": "S2", "abc": "C"}],
                                 True, 4))
    responses.get(url, json=page([{"sku": "B", "site": "S2", "abc": "B"}], False, 4))
    responses.get(url, status=404, json={"detail": "Not found."})  # lgfapi: a filter that matches nothing
    keys = [{"sku": "A", "site": "S1"}, {"sku": "B", "site": "S2"}, {"sku": "C", "site": "S1"}]
    back = batched(batch_size=2, fields=["abc"]).read_back("items", keys)
    assert back == [{"sku": "A", "site": "S1", "abc": "A"}, {"sku": "B", "site": "S2", "abc": "B"}]
    assert [c.request.params for c in responses.calls] == [
        {"sort": "updated_at", "sku__in": "A,B", "site__in": "S1,S2", "fields": "sku,site,abc", "offset": "0",
         "limit": "2"},
        {"sort": "updated_at", "sku__in": "A,B", "site__in": "S1,S2", "fields": "sku,site,abc", "offset": "2",
         "limit": "2"},
        {"sort": "updated_at", "sku__in": "C", "site__in": "S1", "fields": "sku,site,abc", "offset": "0",
         "limit": "2"}]


@responses.activate
def test_read_back_without_in_params_falls_back_to_one_request_per_key():
    responses.get(f"{BASE}/api/v1/items", json=page([{"sku": "A", "abc": "B"}], False, 1))
    responses.get(f"{BASE}/api/v1/items", json=page([{"sku": "B", "abc": "C"}], False, 1))
    assert connector().read_back("items", [{"sku": "A"}, {"sku": "B"}]) == [{"sku": "A", "abc": "B"},
                                                                          {"sku": "B", "abc": "C"}]
    assert [c.request.params for c in responses.calls] == [{"sort": "updated_at", "sku": "A"},
                                                           {"sort": "updated_at", "sku": "B"}]


def test_read_back_names_a_list_filter_for_every_key_field_or_none():
    with pytest.raises(ValueError, match="either in_params"):
        batched(path="items/{sku}")


def test_typed_turns_outbox_text_into_json_types():
    assert [typed(v, "bool") for v in ("true", "false", "1", "0", 1, 0, True, "X", "")] == [
        True, False, True, False, True, False, True, True, False]
    assert (typed("120.500", "number"), typed("7", "int"), typed(7.0, "int"), typed(3, "string")) == (
        120.5, 7, 7, "3")
    for value, kind in (("yes", "bool"), (2, "bool"), ("7.5", "int"), ("abc", "number")):
        with pytest.raises(ValueError):
            typed(value, kind)


@responses.activate
def test_item_mode_can_leave_path_keys_out_of_the_body():
    spec = json.loads(json.dumps(MANIFEST))
    spec["writes"]["refnums"] = {"method": "POST", "path": "sites/{site}/refnums", "mode": "item",
                                 "path_keys_in_body": False, "types": {"flag": "bool"}}
    conn = RestConnector({"base_url": BASE, "max_attempts": 2, "backoff_initial": 0}, name="acme",
                         manifest=Manifest.model_validate(spec))
    responses.post(f"{BASE}/api/v1/sites/S%201/refnums", status=201, json={})
    out = conn.write(WriteBatch([WriteItem("1", "refnums", {"site": "S 1", "qual": "Q"}, {"value": "V", "flag": "0"}),
                                 WriteItem("2", "refnums", {"site": "S 2", "qual": "Q"}, {"flag": "maybe"})]))
    assert [(o.status, o.http_status, o.message) for o in out] == [
        ("applied", 201, None), ("rejected", None, "flag: 'maybe' is not true or false")]
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body) == {"qual": "Q", "value": "V", "flag": False}


def test_manifest_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncheck: {path: p}\nstreams:\n  a:\n    path: a\n    primary_key: [id]\n"
                    "    paginater: {kind: offset}\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert f"{path}:7:5: streams.a.paginater: unknown key" in exc.value.message
    assert exc.value.hint == "did you mean 'paginator'?"
    with pytest.raises(ConfigError, match="shipped manifest: tms, wms"):
        load_manifest("nosuch")


# ----------------------------------------------------------------------------- paginators


def test_page_number_paginator():
    p = PageNumberPaginator(kind="page_number", page_size=2, total_pages_path="pages")
    req = p.first({"a": 1})
    assert req.params == {"a": 1, "page": 1, "page_size": 2}
    nxt = p.next(req, {"pages": 3}, [{}, {}], {})
    assert nxt.params["page"] == 2
    assert p.next(nxt.__class__({**nxt.params, "page": 3}), {"pages": 3}, [{}, {}], {}) is None
    assert p.next(req, {}, [{}], {}) is None  # short page


def test_offset_paginator_stops_on_has_more_false_or_short_page():
    p = OffsetPaginator(kind="offset", limit=2, has_more_path="hasMore")
    req = p.first({})
    assert p.next(req, {"hasMore": True}, [{}, {}], {}).params == {"offset": 2, "limit": 2}
    assert p.next(req, {"hasMore": False}, [{}, {}], {}) is None
    assert p.next(req, {}, [{}], {}) is None


def test_cursor_paginator():
    p = CursorPaginator(kind="cursor", cursor_path="meta.next", page_size=5)
    req = p.first({"q": "x"})
    assert req.params == {"q": "x", "limit": 5}
    assert p.next(req, {"meta": {"next": "abc"}}, [{}], {}).params == {"q": "x", "limit": 5, "cursor": "abc"}
    assert p.next(req, {"meta": {"next": None}}, [{}], {}) is None


def test_next_link_paginator_with_filtered_path():
    p = NextLinkPaginator(kind="next_link", next_path="links[rel=next].href")
    body = {"links": [{"rel": "self", "href": "/a"}, {"rel": "next", "href": "https://h/a?offset=10"}]}
    assert p.next(p.first({}), body, [{}], {}).url == "https://h/a?offset=10"
    assert p.next(p.first({}), {"links": []}, [{}], {}) is None


def test_link_header_paginator():
    p = LinkHeaderPaginator(kind="link_header", page_size=50)
    headers = {"Link": '<https://h/x?page=2>; rel="next", <https://h/x?page=5>; rel="last"'}
    assert p.next(p.first({}), None, [{}], headers).url == "https://h/x?page=2"
    assert p.next(p.first({}), None, [{}], {"Link": '<https://h/x?page=5>; rel="last"'}) is None


def test_dig_paths():
    body = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert dig(body, "a.b[1].c") == 2
    assert dig(body, "a.x.y") is None
    assert dig(body, None) is body
