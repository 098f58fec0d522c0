"""What an OData V2 JSON answer must look like before the connector believes it.

A Gateway behind a proxy or a login page can answer 200 with an HTML page, an empty body, a
truncated JSON document (a connection cut mid-transfer), `null`, a JSON without the `d` envelope,
or a `results` that is not a list. Each is a `FatalError` that names the system, the entity set,
the URL, the HTTP status and the first bytes of the body, so the stream fails with what to look at
instead of a `KeyError`/`JSONDecodeError` traceback or, worse, an empty read taken as "no records".

Example:
    >>> payload = collection_answer(resp, system="s4", entity_set="API_PRODUCT_SRV/A_Product")  # doctest: +SKIP
    >>> payload["results"]
"""

from __future__ import annotations

import json
from typing import Any

import requests

from connectors.connector_errors import FatalError

FIRST_BYTES = 200


def first_bytes(body: bytes | str | None, limit: int = FIRST_BYTES) -> str:
    """The body's start, as text on one line, for an error message."""
    raw = body if isinstance(body, bytes) else (body or "").encode("utf-8")
    text = raw[:limit].decode("utf-8", errors="replace")
    shown = " ".join(text.split())
    return repr(shown + ("..." if len(raw) > limit else "")) if raw else "(empty body)"


def _malformed(why: str, resp: requests.Response, system: str, entity_set: str) -> FatalError:
    url = resp.url.split("?")[0] if resp.url else "?"
    return FatalError(
        f"{system}: {entity_set}: malformed answer from {url} (HTTP {resp.status_code}, "
        f"Content-Type {resp.headers.get('Content-Type') or 'none'}): {why}; body starts {first_bytes(resp.content)}",
        hint="an HTML page usually means a login page or a proxy error page; an empty or cut answer a proxy or "
             "gateway timeout. Open the URL with the integration user to see what the system returns")


def json_answer(resp: requests.Response, *, system: str, entity_set: str) -> dict[str, Any]:
    """The `d` object of an OData V2 JSON answer; FatalError when the answer is not one."""
    if not resp.content or not resp.content.strip():
        raise _malformed("empty body", resp, system, entity_set)
    if resp.content.lstrip()[:1] == b"<":
        raise _malformed("HTML or XML instead of JSON", resp, system, entity_set)
    try:
        data = json.loads(resp.content)
    except ValueError as exc:
        raise _malformed(f"not valid JSON ({exc.msg} at byte {exc.pos})", resp, system, entity_set) from None
    if not isinstance(data, dict):
        raise _malformed(f"JSON {type(data).__name__ if data is not None else 'null'} instead of an object",
                         resp, system, entity_set)
    if not isinstance(data.get("d"), dict):
        raise _malformed("no `d` object (OData V2 JSON wraps every answer in `d`)", resp, system, entity_set)
    return data["d"]


def collection_answer(resp: requests.Response, *, system: str, entity_set: str) -> dict[str, Any]:
    """The `d` of a collection answer, checked to hold a `results` list."""
    payload = json_answer(resp, system=system, entity_set=entity_set)
    if not isinstance(payload.get("results"), list):
        found = type(payload.get("results")).__name__ if "results" in payload else "no results"
        raise _malformed(f"`d.results` is {found}, not a list", resp, system, entity_set)
    return payload
