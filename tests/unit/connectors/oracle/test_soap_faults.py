"""connectors.oracle.soap_faults: WS-Security fault codes are authentication failures, other faults
refusals carrying the service's text."""

from __future__ import annotations

import pytest
from lxml import etree
from zeep.exceptions import Fault

from connectors.connector_errors import AuthError
from connectors.oracle.soap_faults import SoapFault, fault_code, fault_error, fault_text

pytestmark = pytest.mark.unit
DETAIL = etree.fromstring('<detail><e:ServiceErrorMessage xmlns:e="http://xmlns.oracle.com/adf/svc/errors/">'
                          "<e:message>Class code ZZ is unknown</e:message></e:ServiceErrorMessage></detail>")


@pytest.mark.parametrize("code", ["wsse:FailedAuthentication", "{urn:x}InvalidSecurityToken", "InvalidSecurity"])
def test_ws_security_codes_are_auth_errors(code):
    error = fault_error(Fault("The security token cannot be authenticated.", code=code), "erp.s: op at URL", 500)
    assert isinstance(error, AuthError)
    assert error.message.startswith("erp.s: op at URL: authentication failed (SOAP fault ")


def test_the_auth_code_in_the_faultstring_counts_too():
    assert isinstance(fault_error(Fault("FailedAuthentication : token", code="env:Client"), "w", 500), AuthError)


def test_a_business_fault_carries_the_services_text_and_status():
    error = fault_error(Fault("JBO-27023: invalid", code="env:Server", detail=DETAIL), "erp.s: op at URL", 500)
    assert isinstance(error, SoapFault) and not isinstance(error, AuthError)
    assert error.fault_text == "JBO-27023: invalid | Class code ZZ is unknown" == fault_text(error_fault())
    assert (error.code, error.status) == ("env:Server", 500)
    assert error.message == "erp.s: op at URL: HTTP 500: SOAP fault env:Server: JBO-27023: invalid | Class code ZZ " \
                            "is unknown"


def error_fault() -> Fault:
    return Fault("JBO-27023: invalid", code="env:Server", detail=DETAIL)


def test_fault_code_is_the_local_name():
    assert fault_code(Fault("x", code="ns0:FailedCheck")) == "FailedCheck"
    assert fault_code(Fault("x", code=None)) == ""
