"""connectors.http.paginators: each paginator's first and next request, stop rules, resume position,
dig paths and Link headers (more cases in connectors/declarative/test_manifest_connector.py)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from connectors.http.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    dig,
    parse_link_header,
)

pytestmark = pytest.mark.unit


def test_a_manifest_names_its_paginator_by_kind():
    adapter = TypeAdapter(Paginator)
    assert isinstance(adapter.validate_python({"kind": "offset", "limit": 10}), OffsetPaginator)
    assert isinstance(adapter.validate_python({"kind": "cursor", "cursor_path": "next"}), CursorPaginator)
    assert isinstance(adapter.validate_python({"kind": "link_header"}), LinkHeaderPaginator)
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "offset", "limit": 0})
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "scroll"})


def test_page_request_position_is_json_safe():
    assert PageRequest({"page": 2}).position() == {"params": {"page": 2}, "url": None}
    assert PageRequest({}, "https://h/x?p=3").position() == {"params": {}, "url": "https://h/x?p=3"}


def test_page_numbers_from_zero_until_a_short_page():
    p = PageNumberPaginator(kind="page_number", page_param="p", size_param="n", page_size=3, start=0)
    req = p.first({})
    assert req.params == {"p": 0, "n": 3}
    second = p.next(req, {}, [1, 2, 3], {})
    assert second.params == {"p": 1, "n": 3} and second.url is None
    assert p.next(second, {}, [1, 2], {}) is None


def test_page_count_in_the_body_stops_on_the_last_page():
    p = PageNumberPaginator(kind="page_number", page_size=1, total_pages_path="meta.pages")
    assert p.next(PageRequest({"page": 1, "page_size": 1}), {"meta": {"pages": 1}}, [1], {}) is None
    assert p.next(PageRequest({"page": 1, "page_size": 1}), {"meta": {"pages": 2}}, [1], {}).params["page"] == 2


def test_offset_moves_by_the_records_received_and_stops_on_an_empty_page():
    p = OffsetPaginator(kind="offset", offset_param="skip", limit_param="take", limit=2)
    req = p.first({"q": "a"})
    assert req.params == {"q": "a", "skip": 0, "take": 2}
    assert p.next(req, {}, [1, 2], {}).params == {"q": "a", "skip": 2, "take": 2}
    assert p.next(req, {}, [], {}) is None


def test_cursor_stops_on_an_empty_cursor_or_page_and_can_omit_the_size():
    p = CursorPaginator(kind="cursor", cursor_path="next", cursor_param="after", size_param=None)
    req = p.first({})
    assert req.params == {}
    assert p.next(req, {"next": "c2"}, [1], {}).params == {"after": "c2"}
    assert p.next(req, {"next": ""}, [1], {}) is None
    assert p.next(req, {"next": "c3"}, [], {}) is None


def test_next_link_sends_the_size_only_first():
    p = NextLinkPaginator(kind="next_link", next_path="nextRecordsUrl", size_param="top", page_size=7)
    assert p.first({"x": 1}).params == {"x": 1, "top": 7}
    nxt = p.next(p.first({}), {"nextRecordsUrl": "/services/data/v59.0/query/01g-2000"}, [1], {})
    assert (nxt.params, nxt.url) == ({}, "/services/data/v59.0/query/01g-2000")


def test_link_header_in_lower_case_and_several_rels():
    p = LinkHeaderPaginator(kind="link_header", size_param=None)
    assert p.first({"a": 1}).params == {"a": 1}
    assert p.next(p.first({}), None, [1], {"link": "<https://h/p?page=4>; rel=next"}).url == "https://h/p?page=4"
    links = parse_link_header('<https://h/1>; rel="prev first", <https://h/9>; rel="last"')
    assert links == {"prev": "https://h/1", "first": "https://h/1", "last": "https://h/9"}
    assert parse_link_header("") == {} and parse_link_header("garbage") == {}


def test_dig_handles_missing_indexes_and_filters_on_non_lists():
    body = {"items": [{"id": 1}], "meta": None, "n": 0}
    assert dig(body, "items[0].id") == 1
    assert dig(body, "items[3].id") is None
    assert dig(body, "meta.next") is None
    assert dig(body, "items[id=1]") == {"id": 1}
    assert dig(body, "n[id=1]") is None
    assert dig(body, "n") == 0
