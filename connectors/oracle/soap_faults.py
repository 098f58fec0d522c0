"""What a SOAP Fault from an Oracle service means: an authentication failure (stop the run) or a
refusal of this one request (a business error such as `JBO-27023`, or an invalid request).

Authentication faults are the WS-Security fault codes (OASIS Web Services Security: SOAP Message
Security 1.0, section 12 "Error Handling": `wsse:FailedAuthentication`, `wsse:InvalidSecurityToken`,
...). Oracle's WS-Security layer (OWSM) in front of Fusion answers a wrong password with
`FailedAuthentication` (../shared/reference/wave2_notes.md, "Oracle Fusion SOAP"); repeated failed
logins can lock the integration user, so such a fault is an `AuthError`: the read stops and the
apply stops sending, instead of sending every item and marking each `rejected`.
"""

from __future__ import annotations

from zeep.exceptions import Fault

from basics import secrets
from connectors.connector_errors import AuthError, FatalError

AUTH_FAULTS = frozenset({"FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity",
                         "SecurityTokenUnavailable", "FailedCheck"})


class SoapFault(FatalError):
    """The service answered a SOAP Fault that is not about authentication; `fault_text` is the
    service's own message (faultstring plus the ADF ServiceErrorMessage text)."""

    def __init__(self, message: str, fault_text: str, code: str, status: int | None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.fault_text = fault_text
        self.code = code
        self.status = status


def fault_code(fault: Fault) -> str:
    """The fault code's local name (`wsse:FailedAuthentication` -> `FailedAuthentication`)."""
    code = str(fault.code or "")
    return code.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def is_auth_fault(fault: Fault) -> bool:
    return fault_code(fault) in AUTH_FAULTS or any(name in (fault.message or "") for name in AUTH_FAULTS)


def fault_error(fault: Fault, where: str, status: int | None, body: str | None = None) -> AuthError | SoapFault:
    """The error a fault becomes; `where` names system, stream or target, operation and URL, `body` is
    the answer's first bytes (for the run log; the item outcome carries the fault text alone)."""
    text = fault_text(fault)
    code = str(fault.code or "?")
    if is_auth_fault(fault):
        return AuthError(f"{where}: authentication failed (SOAP fault {code}: {secrets.redact(text)})",
                         hint="check the WS-Security user and its password environment variable; nothing more "
                              "is sent to this system in this run, so repeated failures do not lock the user")
    starts = f"; the body starts {body}" if body else ""
    return SoapFault(f"{where}: HTTP {status or '?'}: SOAP fault {code}: {text}{starts}", text, code, status,
                     hint="the service refused the request; its message says why")


def fault_text(fault: Fault) -> str:
    """faultstring plus the ADF ServiceErrorMessage text, which carries the JBO code and message."""
    text = fault.message or "SOAP fault"
    if fault.detail is not None:
        extra = [e.text.strip() for e in fault.detail.iter() if isinstance(e.tag, str)
                 and e.tag.endswith("}message") and e.text and e.text.strip() not in text]
        if extra:
            text += " | " + " ".join(extra[:3])
    return text
