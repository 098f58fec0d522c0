"""connectors.testing.malformed_answers: the scenario passes a connector that turns every malformed
answer into a ConnectorError naming stream, status and body, and fails one that lets a parser's
exception escape or accepts `null` as an empty page. Over real HTTP against a SandboxApp."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from connectors.base import CheckResult, Connector, ConnectorError, RecordBatch, StreamSpec
from connectors.testing.malformed_answers import GENERIC, MALFORMED, PERSISTENT, mentions_body
from connectors.testing.suite import ConnectorContract
from sandbox.server import Response, SandboxApp, serve

pytestmark = pytest.mark.unit


class JsonList(Connector):
    """Reads `GET /items` -> {"results": [...]}; `careful` decides how it meets a malformed body."""

    kind = "json_list"

    def __init__(self, url: str, careful: bool = True):
        super().__init__({}, name="demo")
        self.url, self.careful = url, careful

    def check(self):
        return CheckResult(True, "ok")

    def discover(self):
        return [StreamSpec("items", ["id"])]

    def read(self, stream, state):
        resp = requests.get(self.url + "/items", timeout=5)
        if not self.careful:
            yield RecordBatch((resp.json() or {}).get("results", []))
            return
        try:
            body = json.loads(resp.text)
        except ValueError:
            body = ...
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ConnectorError(f"demo.{stream.name}: GET /items: HTTP {resp.status_code}: not a record list: "
                                 f"{resp.text[:80]!r}" if resp.text else
                                 f"demo.{stream.name}: GET /items: HTTP {resp.status_code}: empty body")
        yield RecordBatch(body["results"])


@pytest.fixture
def server_app():
    app = SandboxApp("demo")

    @app.route("GET", r"/items")
    def items(req):
        return Response.json({"results": [{"id": 1}, {"id": 2}]})

    with serve(app) as server:
        app.url = server.url
        yield app


class Contract(ConnectorContract):
    streams = ["items"]
    malformed_answers = GENERIC + ["missing_d"]
    malformed_faults = {"missing_d": {"status": 200, "body": '{"value": []}', "content_type": "application/json"}}


def test_a_careful_connector_passes_every_malformed_answer(server_app):
    Contract().test_malformed_answers_fail_the_read_clearly(JsonList(server_app.url), server_app)
    assert all(f.times == 0 for f in server_app.faults)  # each fault is withdrawn after its read


def test_a_connector_letting_a_parser_error_escape_fails_the_scenario(server_app):
    with pytest.raises(pytest.fail.Exception, match="html_200: read raised JSONDecodeError"):
        Contract().test_malformed_answers_fail_the_read_clearly(JsonList(server_app.url, careful=False), server_app)


def test_a_connector_reading_null_as_no_records_fails_the_scenario(server_app):
    class NullOnly(Contract):
        malformed_answers = ["null_body"]

    with pytest.raises(pytest.fail.Exception, match="null_body: read of items accepted"):
        NullOnly().test_malformed_answers_fail_the_read_clearly(JsonList(server_app.url, careful=False), server_app)


def test_an_error_without_the_status_fails_the_scenario(server_app):
    class Vague(JsonList):
        def read(self, stream, state):
            raise ConnectorError(f"demo.{stream.name}: something went wrong")
            yield  # a generator, like every read

    with pytest.raises(AssertionError, match="HTTP 200"):
        Contract().test_malformed_answers_fail_the_read_clearly(Vague(server_app.url), server_app)


def test_fault_parameters_and_body_mentions():
    contract: Any = Contract()
    contract.malformed_path = r"/items"
    assert contract.malformed_fault("empty_200") == {**MALFORMED["empty_200"], "path": r"/items", "times": PERSISTENT}
    assert set(GENERIC) <= set(MALFORMED) and {"missing_d", "soap_fault", "wrong_namespace", "dtd"} <= set(MALFORMED)
    with pytest.raises(AssertionError, match="unknown malformed answer 'nope'"):
        contract.malformed_fault("nope")
    assert mentions_body("HTTP 200: empty body", "") and not mentions_body("HTTP 200", "")
    assert mentions_body("""HTTP 200: '{"results": [{"id": 1, "code": "P0'""", MALFORMED["truncated_json"]["body"])
    assert mentions_body('HTTP 200: "{\\"results\\": [{\\"id\\": 1, \\"code\\": \\"P0"', '{"results": [{"id": 1')
