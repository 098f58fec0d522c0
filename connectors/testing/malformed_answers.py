"""The malformed answers a real system (or the proxy in front of it) sends, and the contract scenario
that each one fails the read with a `ConnectorError` saying where and what, never a traceback.

A malformed answer is a fault for `SandboxApp.inject` (status, body, content type): kept here as plain
parameters so a third-party connector's own stand-in can replay them. The generic ones fit every HTTP
connector; protocol-specific ones (OData's `missing_d` / `results_not_list`, SOAP's `soap_fault` /
`wrong_namespace` / `dtd`) are listed by the contract classes of those connectors. A contract class
picks the names in `malformed_answers`, may add or override parameters in `malformed_faults`, and
limits them to the data requests with `malformed_path` (a regex; e.g. not the OAuth token path).

What the scenario demands: `read` raises a `ConnectorError` (no other exception type: a KeyError or
JSONDecodeError is a traceback for the user) whose message names the stream, the HTTP status and the
first bytes of the body (or says the body was empty), so the person reading the run log knows which
system, which entity, and what came back.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from connectors.base import Connector, ConnectorError

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MALFORMED: dict[str, dict[str, Any]] = {
    # A proxy or load balancer's error page, sent with 200.
    "html_200": {"status": 200, "content_type": "text/html",
                 "body": "<html><head><title>Gateway</title></head><body>Service temporarily unavailable"
                         "</body></html>"},
    "empty_200": {"status": 200, "content_type": "application/json", "body": ""},
    "truncated_json": {"status": 200, "content_type": "application/json",
                       "body": '{"results": [{"id": 1, "code": "P0'},
    "null_body": {"status": 200, "content_type": "application/json", "body": "null"},
    # OData V2: a JSON body without its `d` envelope, or `d.results` that is not a list.
    "missing_d": {"status": 200, "content_type": "application/json", "body": '{"value": []}'},
    "results_not_list": {"status": 200, "content_type": "application/json",
                         "body": '{"d": {"results": {"__count": "1"}}}'},
    # SOAP 1.1: a server fault, an answer in another namespace, a DTD (refused: entity expansion).
    "soap_fault": {"status": 500, "content_type": "text/xml; charset=utf-8",
                   "body": f'<soapenv:Envelope xmlns:soapenv="{_SOAP}"><soapenv:Body><soapenv:Fault>'
                           "<faultcode>soapenv:Server</faultcode><faultstring>JBO-27122: SQL error during "
                           "statement preparation</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"},
    "wrong_namespace": {"status": 200, "content_type": "text/xml; charset=utf-8",
                        "body": '<env:Envelope xmlns:env="urn:not-soap"><env:Body><result/></env:Body></env:Envelope>'},
    "dtd": {"status": 200, "content_type": "text/xml; charset=utf-8",
            "body": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
                    f'<soapenv:Envelope xmlns:soapenv="{_SOAP}"><soapenv:Body>&lol;</soapenv:Body></soapenv:Envelope>'},
}
GENERIC = ["html_200", "empty_200", "truncated_json", "null_body"]
PERSISTENT = 10_000  # times: every retry meets it too, so the read must give up with an error


def mentions_body(message: str, body: str) -> bool:
    """The message shows the body's first bytes (as text, repr or JSON-escaped), or says it was empty."""
    if not body.strip():
        return "empty" in message.lower()
    head = body.strip()[:16]
    return any(form in message for form in (head, repr(head)[1:-1], json.dumps(head)[1:-1]))


class MalformedAnswerScenarios:
    """Mixed into `ConnectorContract`; see the module docstring for the hooks."""

    malformed_answers: ClassVar[list[str]] = []
    """Names from `MALFORMED` (or `malformed_faults`) this connector must refuse cleanly; empty skips."""
    malformed_faults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Extra or overriding fault parameters by name, e.g. a SOAP fault with the system's own text."""
    malformed_path: ClassVar[str] = ".*"
    """Regex of the request paths that answer malformed (leave the token endpoint alone)."""
    malformed_stream: ClassVar[str | None] = None
    """The stream read under a malformed answer (default: the first of `streams`)."""

    def malformed_fault(self, name: str) -> dict[str, Any]:
        """The `inject` parameters of one malformed answer."""
        catalogue = {**MALFORMED, **self.malformed_faults}
        assert name in catalogue, f"unknown malformed answer {name!r}; known: {sorted(catalogue)}"
        return {**catalogue[name], "path": self.malformed_path, "times": PERSISTENT}

    def test_malformed_answers_fail_the_read_clearly(self, connector: Connector, server_app: Any) -> None:
        app = self.fault_app(server_app)  # type: ignore[attr-defined]
        if not self.malformed_answers or app is None:
            pytest.skip("malformed_answers (and a fault_app) not configured")
        name = self.malformed_stream or self.streams[0]  # type: ignore[attr-defined]
        spec = self._spec(connector, name)  # type: ignore[attr-defined]
        for answer in self.malformed_answers:
            fault = app.inject(**self.malformed_fault(answer))
            try:
                list(connector.read(spec, None))
            except ConnectorError as exc:
                text = str(exc)
            except Exception as exc:  # noqa: BLE001 - the scenario's point: no other type may escape
                pytest.fail(f"{answer}: read raised {type(exc).__name__}: {exc} (expected a ConnectorError)")
            else:
                pytest.fail(f"{answer}: read of {name} accepted a malformed answer")
            finally:
                fault.times = 0
            assert name in text, f"{answer}: the error does not name the stream {name!r}: {text}"
            assert str(fault.status) in text, f"{answer}: the error does not give HTTP {fault.status}: {text}"
            assert mentions_body(text, fault.body or ""), f"{answer}: the error lacks the body's first bytes: {text}"
