"""Checks of an Oracle answer's body before it is used: a 2xx that is not what the protocol promises
(a proxy's HTML page, an empty body, a truncated document, `null`, a DTD, an envelope in a foreign
namespace) fails the stream with an error naming the URL, the status and the body's first bytes,
instead of a parser traceback or an empty page read as "no more records".

Why refuse DTDs before zeep parses: an entity declaration in a response is the way into entity
expansion and external-entity attacks; zeep's `forbid_dtd` refuses it too, but with a traceback and
no URL. Here it is one sentence.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from lxml import etree

from basics import secrets
from connectors.connector_errors import FatalError

SOAP_ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def head(resp: requests.Response, limit: int = 120) -> str:
    """The body's first bytes, redacted, for an error message."""
    text = (resp.content or b"")[:limit].decode("utf-8", errors="replace")
    return repr(secrets.redact(text)) if text else "(empty body)"


def bad_answer(resp: requests.Response, problem: str, hint: str | None = None) -> FatalError:
    """A FatalError naming method, URL, status, the problem and the body's first bytes."""
    method = resp.request.method if resp.request is not None else "?"
    return FatalError(f"{method} {secrets.redact(resp.url)}: HTTP {resp.status_code}: {problem}; "
                      f"the body starts {head(resp)}",
                      hint=hint or "the system or a proxy in front of it answered something else than the "
                                   "API; check the URL and the proxy, then pull again")


def check_soap_body(resp: requests.Response) -> None:
    """A SOAP answer is a well-formed envelope (SOAP 1.1 or 1.2 namespace) without a DTD."""
    body = resp.content or b""
    if not body.strip():
        raise bad_answer(resp, "an empty body instead of a SOAP envelope")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise bad_answer(resp, "the answer declares a DTD or entities, which segbridge refuses (XML entity "
                               "attacks)", hint="the answer did not come from the SOAP service as it should; "
                                                "check the endpoint and any proxy in front of it")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise bad_answer(resp, f"not well-formed XML (truncated or not XML: {exc})") from None
    if etree.QName(root).localname != "Envelope" or etree.QName(root).namespace not in SOAP_ENVELOPES:
        raise bad_answer(resp, f"the root element is {root.tag}, not a SOAP Envelope")


def json_object(resp: requests.Response, list_key: str | None = None) -> dict[str, Any]:
    """A JSON object answer (with a list under `list_key` when given)."""
    if not (resp.content or b"").strip():
        raise bad_answer(resp, "an empty body instead of JSON")
    try:
        body = json.loads(resp.content)
    except ValueError as exc:
        raise bad_answer(resp, f"the body is not JSON (truncated, or an HTML page: {exc})") from None
    if not isinstance(body, dict):
        raise bad_answer(resp, f"a JSON {type(body).__name__} instead of an object")
    if list_key is not None and not isinstance(body.get(list_key), list):
        what = "no" if list_key not in body else f"a {type(body[list_key]).__name__} as"
        raise bad_answer(resp, f"{what} {list_key!r} list in the answer")
    return body
