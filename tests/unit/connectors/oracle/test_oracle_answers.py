"""connectors.oracle.oracle_answers: bodies that are not what the protocol promises are refused naming
the URL, the status and the first bytes."""

from __future__ import annotations

import pytest
import requests

from connectors.connector_errors import FatalError
from connectors.oracle.oracle_answers import check_soap_body, head, json_object

pytestmark = pytest.mark.unit
URL = "https://fa.example.com/crmCommonSalesParties/SalesPartyService"
ENVELOPE = b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body/></env:Envelope>'


def answer(body: bytes, status: int = 200) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp.url = status, body, URL
    resp.request = requests.Request("POST", URL).prepare()
    return resp


def test_a_sound_envelope_passes_in_either_soap_version():
    check_soap_body(answer(ENVELOPE))
    check_soap_body(answer(ENVELOPE.replace(b"http://schemas.xmlsoap.org/soap/envelope/",
                                            b"http://www.w3.org/2003/05/soap-envelope")))


@pytest.mark.parametrize(("body", "problem"), [
    (b"", "an empty body instead of a SOAP envelope"),
    (b"<html><body>Sign in</body></html>", "the root element is html, not a SOAP Envelope"),
    (ENVELOPE[:40], "not well-formed XML"),
    (b'<!DOCTYPE e [<!ENTITY x "y">]>' + ENVELOPE, "declares a DTD or entities"),
    (ENVELOPE.replace(b"schemas.xmlsoap.org", b"example.invalid"),
     "the root element is {http://example.invalid/soap/envelope/}Envelope"),
])
def test_a_broken_soap_answer_is_refused_naming_url_status_and_first_bytes(body, problem):
    with pytest.raises(FatalError) as caught:
        check_soap_body(answer(body))
    assert caught.value.message.startswith(f"POST {URL}: HTTP 200: ")
    assert problem in caught.value.message and f"the body starts {head(answer(body))}" in caught.value.message


@pytest.mark.parametrize(("body", "problem"), [
    (b"", "an empty body instead of JSON"), (b'{"items": [1', "the body is not JSON"),
    (b"null", "a JSON NoneType instead of an object"), (b'{"count": 0}', "no 'items' list"),
    (b'{"items": {}}', "a dict as 'items' list"),
])
def test_a_broken_json_answer_is_refused(body, problem):
    with pytest.raises(FatalError, match="HTTP 200: ") as caught:
        json_object(answer(body), "items")
    assert problem in caught.value.message


def test_a_sound_json_answer_is_returned():
    assert json_object(answer(b'{"items": [], "hasMore": false}'), "items") == {"items": [], "hasMore": False}
    assert json_object(answer(b'{"ItemNumber": "A"}')) == {"ItemNumber": "A"}


def test_head_is_short_and_says_when_the_body_is_empty():
    assert head(answer(b"x" * 500)) == repr("x" * 120) and head(answer(b"")) == "(empty body)"
