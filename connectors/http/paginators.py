"""Paginators: how a REST collection hands out its next page (page number, offset, cursor, next link,
Link header). Each one is a pydantic model (so the declarative manifest can name it in YAML) that
turns the previous response into the next request, and can say where it stands so a read can resume.

Example:
    >>> pager = OffsetPaginator(kind="offset", limit=100)
    >>> req = pager.first({"q": "x"})
    >>> req.params
    {'q': 'x', 'offset': 0, 'limit': 100}
    >>> pager.next(req, {}, records=[{}] * 100, headers={}).params["offset"]
    100
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from basics.yaml_loader import StrictModel


@dataclass
class PageRequest:
    """The next request: a path or absolute URL (None = the stream's path) and its query parameters."""

    params: dict[str, Any] = field(default_factory=dict)
    url: str | None = None

    def position(self) -> dict[str, Any]:
        """A JSON-safe resume position."""
        return {"params": self.params, "url": self.url}


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^=\]]+)=([^\]]*)\]")


def dig(body: Any, path: str | None) -> Any:
    """The value at a dotted path: `data.items`, `links[0].href`, `links[rel=next].href`; None if absent.

    Example:
        >>> dig({"links": [{"rel": "self"}, {"rel": "next", "href": "/p2"}]}, "links[rel=next].href")
        '/p2'
    """
    if not path:
        return body
    current = body
    for name, index, key, value in _SEGMENT.findall(path):
        if current is None:
            return None
        if name:
            current = current.get(name) if isinstance(current, dict) else None
        elif index:
            i = int(index)
            current = current[i] if isinstance(current, list) and i < len(current) else None
        else:
            items = current if isinstance(current, list) else []
            current = next((x for x in items if isinstance(x, dict) and str(x.get(key)) == value), None)
    return current


class PageNumberPaginator(StrictModel):
    """`?page=1&page_size=100`; stops on a short page or when `total_pages_path` says so."""

    kind: Literal["page_number"]
    page_param: str = "page"
    size_param: str = "page_size"
    page_size: int = Field(100, ge=1)
    start: int = Field(1, ge=0, description="Number of the first page (0 or 1)")
    total_pages_path: str | None = Field(None, description="Body path of the page count, e.g. page_count")

    def first(self, params: dict[str, Any]) -> PageRequest:
        return PageRequest({**params, self.page_param: self.start, self.size_param: self.page_size})

    def next(self, req: PageRequest, body: Any, records: list, headers: dict) -> PageRequest | None:
        page = int(req.params[self.page_param])
        total = dig(body, self.total_pages_path) if self.total_pages_path else None
        if len(records) < self.page_size or (total is not None and page - self.start + 1 >= int(total)):
            return None
        return PageRequest({**req.params, self.page_param: page + 1})


class OffsetPaginator(StrictModel):
    """`?offset=0&limit=100`; stops on a short page or when `has_more_path` is false."""

    kind: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    has_more_path: str | None = Field(None, description="Body path of a more-pages flag, e.g. hasMore")

    def first(self, params: dict[str, Any]) -> PageRequest:
        return PageRequest({**params, self.offset_param: 0, self.limit_param: self.limit})

    def next(self, req: PageRequest, body: Any, records: list, headers: dict) -> PageRequest | None:
        more = dig(body, self.has_more_path) if self.has_more_path else None
        if more is False or len(records) < self.limit or (more is None and not records):
            return None
        return PageRequest({**req.params, self.offset_param: int(req.params[self.offset_param]) + len(records)})


class CursorPaginator(StrictModel):
    """The body names the next page's cursor (`next_cursor`), sent back as `cursor_param`."""

    kind: Literal["cursor"]
    cursor_path: str = Field(description="Body path of the next cursor, e.g. meta.next_cursor")
    cursor_param: str = "cursor"
    size_param: str | None = "limit"
    page_size: int = Field(100, ge=1)

    def first(self, params: dict[str, Any]) -> PageRequest:
        return PageRequest({**params, **({self.size_param: self.page_size} if self.size_param else {})})

    def next(self, req: PageRequest, body: Any, records: list, headers: dict) -> PageRequest | None:
        cursor = dig(body, self.cursor_path)
        if cursor in (None, "") or not records:
            return None
        return PageRequest({**req.params, self.cursor_param: cursor})


class NextLinkPaginator(StrictModel):
    """The body carries the next page's URL (`next_page`, `links[rel=next].href`, `nextRecordsUrl`)."""

    kind: Literal["next_link"]
    next_path: str = Field(description="Body path of the next URL")
    size_param: str | None = Field(None, description="Page-size parameter sent on the first request")
    page_size: int = Field(100, ge=1)

    def first(self, params: dict[str, Any]) -> PageRequest:
        return PageRequest({**params, **({self.size_param: self.page_size} if self.size_param else {})})

    def next(self, req: PageRequest, body: Any, records: list, headers: dict) -> PageRequest | None:
        url = dig(body, self.next_path)
        return PageRequest({}, str(url)) if url else None


class LinkHeaderPaginator(StrictModel):
    """RFC 8288 `Link: <https://...?page=2>; rel="next"` (GitHub style)."""

    kind: Literal["link_header"]
    size_param: str | None = "per_page"
    page_size: int = Field(100, ge=1)

    def first(self, params: dict[str, Any]) -> PageRequest:
        return PageRequest({**params, **({self.size_param: self.page_size} if self.size_param else {})})

    def next(self, req: PageRequest, body: Any, records: list, headers: dict) -> PageRequest | None:
        url = parse_link_header(headers.get("Link") or headers.get("link") or "").get("next")
        return PageRequest({}, url) if url else None


def parse_link_header(value: str) -> dict[str, str]:
    """rel -> URL from a Link header.

    Example:
        >>> parse_link_header('<https://x/p?page=2>; rel="next", <https://x/p?page=9>; rel="last"')["next"]
        'https://x/p?page=2'
    """
    out = {}
    for part in value.split(","):
        match = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
        if match:
            rel = re.search(r'rel\s*=\s*"?([^";]+)"?', match.group(2))
            if rel:
                for name in rel.group(1).split():
                    out[name] = match.group(1)
    return out


Paginator = Annotated[PageNumberPaginator | OffsetPaginator | CursorPaginator | NextLinkPaginator
                      | LinkHeaderPaginator, Field(discriminator="kind")]
