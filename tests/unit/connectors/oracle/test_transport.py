"""connectors.oracle.transport: WSDL/XSD loaded only from local copies (remote schema URLs rewritten),
envelopes posted through the HttpClient, and non-SOAP error answers turned into typed errors."""

from __future__ import annotations

import pytest
import requests
import responses

from connectors.connector_errors import AuthError, FatalError, RateLimited, RetriableError
from connectors.http.client import HttpClient, HttpOptions
from connectors.oracle.transport import SoapTransport, is_soap_envelope

pytestmark = pytest.mark.unit
ENDPOINT = "https://ebs.example.test:8005/webservices/SOAProvider/plsql/inv_item/"
ENVELOPE = (b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soapenv:Body/></soapenv:Envelope>")


def _transport(tmp_path, **kw) -> SoapTransport:
    http = HttpClient(HttpOptions(base_url="https://ebs.example.test:8005", max_attempts=1))
    return SoapTransport(http, **kw)


def _response(status: int, body: bytes, ctype: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp.url = status, body, ENDPOINT
    resp.headers["Content-Type"] = ctype
    return resp


def test_local_path_by_longest_prefix_then_by_file_name(tmp_path):
    (tmp_path / "xsd").mkdir()
    (tmp_path / "xsd" / "types.xsd").write_text("<x/>")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "other.xsd").write_text("<x/>")
    t = _transport(tmp_path, schema_map={"http://host:8005/": str(tmp_path / "none.xsd"),
                                         "http://host:8005/xsd": str(tmp_path / "xsd")},
                   schema_dir=tmp_path / "flat")
    assert t.local_path("http://host:8005/xsd/types.xsd") == tmp_path / "xsd" / "types.xsd"
    assert t.local_path("http://host:8005/a.xsd") == tmp_path / "none.xsd"
    assert t.local_path("http://elsewhere/x/other.xsd") == tmp_path / "flat" / "other.xsd"
    assert t.local_path("http://elsewhere/x/missing.xsd") is None


def test_load_rewrites_mapped_schema_locations_and_keeps_the_rest(tmp_path):
    (tmp_path / "types.xsd").write_text("<schema/>")
    wsdl = tmp_path / "svc.wsdl"
    wsdl.write_bytes(b'<definitions><import schemaLocation="http://host:8005/xsd/types.xsd"/>'
                     b'<address location="http://host:8005/soap/svc"/></definitions>')
    t = _transport(tmp_path, schema_map={"http://host:8005/xsd/types.xsd": str(tmp_path / "types.xsd")})
    text = t.load(str(wsdl))
    assert f'schemaLocation="{(tmp_path / "types.xsd").resolve().as_uri()}"'.encode() in text
    assert b'location="http://host:8005/soap/svc"' in text
    assert t.load(wsdl.as_uri()) == text
    assert t.load("http://host:8005/xsd/types.xsd") == b"<schema/>"


def test_load_refuses_the_network_and_missing_files(tmp_path):
    t = _transport(tmp_path)
    with pytest.raises(FatalError, match="no local copy"):
        t.load("https://ebs.example.test:8005/svc?wsdl")
    with pytest.raises(FatalError, match="no such file"):
        t.load(str(tmp_path / "absent.wsdl"))


@responses.activate
def test_post_sends_the_envelope_and_lets_a_soap_fault_through(tmp_path):
    fault = ENVELOPE.replace(b"<soapenv:Body/>", b"<soapenv:Body><soapenv:Fault/></soapenv:Body>")
    responses.post(ENDPOINT, body=ENVELOPE, content_type="text/xml; charset=utf-8")
    responses.post(ENDPOINT, status=500, body=fault, content_type="text/xml")
    t = _transport(tmp_path, operation_timeout=7)
    resp = t.post(ENDPOINT, ENVELOPE, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "GET_ITEM"})
    sent = responses.calls[0].request
    assert (sent.method, sent.url, sent.body) == ("POST", ENDPOINT, ENVELOPE)
    assert sent.headers["SOAPAction"] == "GET_ITEM" and sent.headers["Content-Type"].startswith("text/xml")
    assert resp.content == ENVELOPE
    assert t.post(ENDPOINT, ENVELOPE, {}).status_code == 500  # zeep parses the fault


@pytest.mark.parametrize(("status", "ctype", "error"), [
    (429, "text/html", RateLimited), (503, "text/html", RetriableError), (500, "text/html", RetriableError),
    (401, "text/xml", AuthError), (403, "text/html", AuthError), (404, "text/html", FatalError),
])
def test_check_status_types_non_soap_errors(status, ctype, error):
    with pytest.raises(error, match=f"HTTP {status}"):
        SoapTransport.check_status(_response(status, b"<html>gateway</html>", ctype))


def test_check_status_passes_success_and_soap_faults():
    SoapTransport.check_status(_response(200, ENVELOPE, "text/xml"))
    SoapTransport.check_status(_response(500, ENVELOPE, "application/soap+xml"))
    assert is_soap_envelope(_response(500, ENVELOPE, "text/xml"))
    assert not is_soap_envelope(_response(500, ENVELOPE, "text/html"))
    assert not is_soap_envelope(_response(500, b"<html/>", "text/xml"))


@pytest.mark.parametrize(("status", "body"), [(200, b"<html>Sign in</html>"), (200, b""),
                                              (500, ENVELOPE.replace(b"?>", b"?><!DOCTYPE x>", 1))])
def test_check_status_refuses_an_answer_that_is_not_a_sound_envelope(status, body):
    with pytest.raises(FatalError, match=f"HTTP {status}: .*the body starts"):
        SoapTransport.check_status(_response(status, body, "text/xml"))
