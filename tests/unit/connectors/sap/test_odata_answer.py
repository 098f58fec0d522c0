"""connectors.sap.odata_answer: malformed OData answers are errors naming what came back."""

from __future__ import annotations

import pytest
import requests

from connectors.connector_errors import FatalError
from connectors.sap.odata_answer import collection_answer, first_bytes, json_answer

pytestmark = pytest.mark.unit


def _resp(body: bytes, ctype: str = "application/json", status: int = 200) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp.url = status, body, "https://s4.example.com/sap/x/A_Product?$top=1"
    resp.headers["Content-Type"] = ctype
    return resp


@pytest.mark.parametrize(("body", "ctype", "why"), [
    (b"<html>login</html>", "text/html", "HTML or XML instead of JSON"),
    (b"", "application/json", "empty body"),
    (b'{"d":{"results":[', "application/json", "not valid JSON"),
    (b"null", "application/json", "JSON null instead of an object"),
    (b'{"results":[]}', "application/json", "no `d` object"),
])
def test_each_malformed_answer_names_system_set_url_status_and_body(body, ctype, why):
    with pytest.raises(FatalError) as err:
        json_answer(_resp(body, ctype), system="s4", entity_set="API_PRODUCT_SRV/A_Product")
    message = err.value.message
    assert message.startswith("s4: API_PRODUCT_SRV/A_Product: malformed answer from https://s4.example.com/sap/x/"
                              "A_Product (HTTP 200")
    assert why in message and "$top" not in message


def test_results_must_be_a_list_and_a_good_answer_passes():
    with pytest.raises(FatalError, match="`d.results` is dict, not a list"):
        collection_answer(_resp(b'{"d":{"results":{"a":1}}}'), system="s4", entity_set="X")
    assert collection_answer(_resp(b'{"d":{"results":[{"a":1}]}}'), system="s4", entity_set="X") == {
        "results": [{"a": 1}]}


def test_first_bytes_is_short_and_one_line():
    assert first_bytes(b"") == "(empty body)"
    assert first_bytes(b"a\n  b" + b"x" * 300, limit=10) == repr("a b" + "x" * 5 + "...")
