"""oracle_soap over `responses`: offline WSDL loading, exact requests, typed errors, return statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from basics.errors import ConfigError
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError, RetriableError
from connectors.oracle.soap import OracleSoapConnector

pytestmark = pytest.mark.unit
WSDL_DIR = Path(__file__).resolve().parents[4] / "sandbox" / "wsdl"
EBS = "http://ebs.example.invalid:8005/webservices/SOAProvider/plsql/xx_segbridge_cust_pkg/"
URL = "https://ebs.example.com/webservices/SOAProvider/plsql/xx_segbridge_cust_pkg/"
NS = "http://xmlns.oracle.com/apps/ar/soaprovider/plsql/xx_segbridge_cust_pkg/update_classification/"


def isg(monkeypatch, **extra) -> OracleSoapConnector:
    monkeypatch.setenv("EBS_PW", "welcome1")
    return OracleSoapConnector({
        "wsdl": str(WSDL_DIR / "xx_segbridge_cust_pkg.wsdl"), "endpoint": URL,
        "schema_map": {EBS: str(WSDL_DIR)}, "username": "SYSADMIN", "password": "${EBS_PW}",
        "soap_headers": {"header": {"Responsibility": "RECEIVABLES_MANAGER", "RespApplication": "AR",
                                    "SecurityGroup": "STANDARD", "NLSLanguage": "AMERICAN", "Org_Id": "204"}},
        "max_attempts": 2, "backoff_initial": 0, "backoff_max": 0,
        "targets": {"party": {"operation": "UPDATE_CLASSIFICATION", "style": "isg"}}, **extra})


def envelope(inner: str) -> str:
    return (f'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>{inner}'
            "</env:Body></env:Envelope>")


def out(status: str, msg: str = "") -> str:
    return envelope(f'<OutputParameters xmlns="{NS}"><X_RETURN_STATUS>{status}</X_RETURN_STATUS>'
                    f"<X_MSG_DATA>{msg}</X_MSG_DATA></OutputParameters>")


ITEM = WriteItem("r1", "party", {"P_PARTY_NUMBER": "1001"}, {"P_CLASS_CATEGORY": "SEG", "P_CLASS_CODE": "A"})


def test_absolute_schema_urls_load_from_local_copies(monkeypatch):
    conn = isg(monkeypatch)
    ops = sorted(conn.client.service._binding._operations)
    assert ops == ["GET_CUSTOMERS", "UPDATE_CLASSIFICATION"]


def test_unmapped_remote_schema_is_refused(monkeypatch):
    conn = isg(monkeypatch, schema_map={})
    with pytest.raises(FatalError, match="has no local copy"):
        conn.client  # noqa: B018


@responses.activate
def test_request_carries_username_token_soaheader_and_parameters(monkeypatch):
    responses.add(responses.POST, URL, body=out("S"), content_type="text/xml")
    outcomes = isg(monkeypatch).write(WriteBatch([ITEM]))
    assert [(o.ref, o.status) for o in outcomes] == [("r1", "applied")]
    sent = responses.calls[0].request
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert sent.headers["SOAPAction"] == f'"{EBS}"'
    assert "<wsse:Username>SYSADMIN</wsse:Username>" in body
    assert "#PasswordText\">welcome1</wsse:Password>" in body
    assert ("<ns0:Responsibility>RECEIVABLES_MANAGER</ns0:Responsibility><ns0:RespApplication>AR"
            "</ns0:RespApplication>") in body
    assert ("<ns0:P_PARTY_NUMBER>1001</ns0:P_PARTY_NUMBER><ns0:P_CLASS_CATEGORY>SEG</ns0:P_CLASS_CATEGORY>"
            "<ns0:P_CLASS_CODE>A</ns0:P_CLASS_CODE>") in body
    assert sent.url == URL


@responses.activate
def test_return_status_e_is_a_rejection_with_the_fnd_message(monkeypatch):
    responses.add(responses.POST, URL, body=out("E", "HZ_API_NO_RECORD: no party 1001"), content_type="text/xml")
    [outcome] = isg(monkeypatch).write(WriteBatch([ITEM]))
    assert outcome.status == "rejected"
    assert outcome.message == "X_RETURN_STATUS=E: HZ_API_NO_RECORD: no party 1001"


@responses.activate
def test_html_503_is_retriable_not_a_fault(monkeypatch):
    responses.add(responses.POST, URL, body="<html>Service Unavailable</html>", status=503, content_type="text/html")
    responses.add(responses.POST, URL, body="<html>Service Unavailable</html>", status=503, content_type="text/html")
    [outcome] = isg(monkeypatch).write(WriteBatch([ITEM]))
    assert outcome.status == "retriable"
    assert "HTTP 503" in outcome.message
    assert len(responses.calls) == 2  # the shared client retried before giving up


@responses.activate
def test_html_500_is_retriable_before_zeep_parses(monkeypatch):
    responses.add(responses.POST, URL, body="<html>proxy error</html>", status=500, content_type="text/html")
    conn = isg(monkeypatch)
    with pytest.raises(RetriableError, match="not a SOAP response"):
        conn.call("UPDATE_CLASSIFICATION", P_PARTY_NUMBER="1", P_CLASS_CATEGORY="S", P_CLASS_CODE="A")


@responses.activate
def test_soap_fault_becomes_a_rejection_with_its_text(monkeypatch):
    fault = envelope("<env:Fault><faultcode>env:Server</faultcode><faultstring>ORA-20001: party locked"
                     "</faultstring></env:Fault>")
    responses.add(responses.POST, URL, body=fault, status=500, content_type="text/xml")
    [outcome] = isg(monkeypatch).write(WriteBatch([ITEM]))
    assert (outcome.status, outcome.message, outcome.http_status) == ("rejected", "ORA-20001: party locked", 500)


@responses.activate
def test_response_with_a_dtd_is_refused_with_a_clear_message(monkeypatch):
    evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + out("S")
    responses.add(responses.POST, URL, body=evil, content_type="text/xml")
    with pytest.raises(FatalError) as caught:
        isg(monkeypatch).call("UPDATE_CLASSIFICATION", what="party", P_PARTY_NUMBER="1", P_CLASS_CATEGORY="S",
                              P_CLASS_CODE="A")
    assert caught.value.message.startswith(f"oracle_soap.party: UPDATE_CLASSIFICATION: POST {URL}: HTTP 200: "
                                           "the answer declares a DTD or entities")
    assert "'<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM" in caught.value.message


AUTH_FAULT = envelope('<env:Fault><faultcode xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
                      'wssecurity-secext-1.0.xsd">wsse:FailedAuthentication</faultcode><faultstring>FailedAuthentication'
                      ' : The security token cannot be authenticated.</faultstring></env:Fault>')


@responses.activate
def test_an_authentication_fault_on_write_raises_auth_error_and_sends_nothing_more(monkeypatch):
    responses.add(responses.POST, URL, body=AUTH_FAULT, status=500, content_type="text/xml")
    conn = isg(monkeypatch)
    with pytest.raises(AuthError) as caught:
        conn.write(WriteBatch([ITEM, ITEM, ITEM]))
    assert caught.value.message == (f"oracle_soap.party: UPDATE_CLASSIFICATION at {URL}: authentication failed "
                                    "(SOAP fault wsse:FailedAuthentication: FailedAuthentication : The security "
                                    "token cannot be authenticated.)")
    assert "welcome1" not in str(caught.value)
    assert len(responses.calls) == 1 and conn.requests_sent() == 1


@responses.activate
def test_an_http_401_on_write_raises_auth_error(monkeypatch):
    responses.add(responses.POST, URL, status=401, body="")
    with pytest.raises(AuthError, match="HTTP 401"):
        isg(monkeypatch).write(WriteBatch([ITEM, ITEM]))
    assert len(responses.calls) == 1


GET_NS = "http://xmlns.oracle.com/apps/ar/soaprovider/plsql/xx_segbridge_cust_pkg/get_customers/"
READER = {"customers": {"operation": "GET_CUSTOMERS", "style": "isg", "arguments": {"P_LIMIT": 2},
                        "result_path": ["X_CUSTOMERS", "X_CUSTOMERS_ITEM"], "page_size": 2,
                        "offset_param": "P_OFFSET"}}


@responses.activate
def test_a_soap_fault_on_read_fails_the_stream_naming_operation_url_and_status(monkeypatch):
    fault = envelope("<env:Fault><faultcode>env:Server</faultcode><faultstring>ORA-06550: line 1, column 7: "
                     "PLS-00306</faultstring></env:Fault>")
    responses.add(responses.POST, URL, body=fault, status=500, content_type="text/xml")
    with pytest.raises(FatalError) as caught:
        list(isg(monkeypatch, streams=READER).read(StreamSpec("customers", options={
            "arguments": {"P_CLASS_CATEGORY": "SEG"}}), None))
    assert caught.value.message == (f"oracle_soap.customers: GET_CUSTOMERS at {URL}: HTTP 500: SOAP fault env:Server: "
                                    "ORA-06550: line 1, column 7: PLS-00306; the body starts "
                                    f"{fault[:120]!r}")


@responses.activate
def test_isg_reads_take_the_mapping_arguments_and_resume_at_the_offset(monkeypatch):
    rows = "".join(f"<X_CUSTOMERS_ITEM><PARTY_NUMBER>P{i}</PARTY_NUMBER></X_CUSTOMERS_ITEM>" for i in (3,))
    responses.add(responses.POST, URL, body=envelope(f'<OutputParameters xmlns="{GET_NS}"><X_RETURN_STATUS>S'
                                                     f"</X_RETURN_STATUS><X_CUSTOMERS>{rows}</X_CUSTOMERS>"
                                                     "</OutputParameters>"), content_type="text/xml")
    spec = StreamSpec("customers", options={"arguments": {"P_CLASS_CATEGORY": "SEGBRIDGE_SEGMENT"}})
    [batch] = list(isg(monkeypatch, streams=READER).read(spec, {"version": 1, "position": 2}))
    assert [r["PARTY_NUMBER"] for r in batch.records] == ["P3"] and batch.checkpoint == {"version": 1}
    body = responses.calls[0].request.body
    body = body.decode() if isinstance(body, bytes) else body
    assert ("<ns0:P_CLASS_CATEGORY>SEGBRIDGE_SEGMENT</ns0:P_CLASS_CATEGORY><ns0:P_OFFSET>2</ns0:P_OFFSET>"
            "<ns0:P_LIMIT>2</ns0:P_LIMIT>") in body


def test_an_unknown_stream_option_is_refused_naming_it(monkeypatch):
    with pytest.raises(ConfigError, match="stream 'customers' option class_category: Extra inputs"):
        next(isg(monkeypatch, streams=READER).read(StreamSpec("customers", options={"class_category": "X"}), None))


def test_write_batch_max_is_one_item_per_call():
    assert OracleSoapConnector.write_batch_max == 1


def test_literal_password_is_refused():
    with pytest.raises(ValueError, match="ENV_VAR"):
        OracleSoapConnector({"wsdl": "x.wsdl", "endpoint": URL, "password": "welcome1"})
