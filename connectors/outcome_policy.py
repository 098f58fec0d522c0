"""The one outcome policy: what an HTTP status (or a connector error) means for the items of a write,
the same in every connector.

- **retriable** (408, 425, 429, 5xx except 501, network failures): the items may be sent again;
  the HTTP client has already retried the request within its attempts.
- **conflict** (412): the record changed since it was read (If-Match); never resent blindly.
- **rejected** (other 4xx, 501): the system refused the request for good; each item carries the
  system's own message. Not retried: resending the same request gets the same answer.
- **authentication** (401, 403, an `AuthError`, a SOAP authentication fault): raised as `AuthError`,
  so the apply stops sending to that system at once. Sending on would only repeat the refusal
  for every item and can lock the integration user (a login storm).

Connectors call `outcome_for_status` for per-item answers (a composite or `$batch` part) and
`outcomes_for_error` when a whole request failed, instead of deciding statuses themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from connectors.base import ItemOutcome, OutcomeStatus, WriteItem
from connectors.connector_errors import AuthError, ConnectorError, RetriableError

AUTH_STATUSES = frozenset({401, 403})
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Verdict(StrEnum):
    """What a status means before it becomes an item's outcome."""

    SUCCESS = "success"
    RETRIABLE = "retriable"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    AUTH = "auth"


def verdict_for_status(status: int) -> Verdict:
    """The meaning of an HTTP status, the same for every connector."""
    if 200 <= status < 300:
        return Verdict.SUCCESS
    if status in AUTH_STATUSES:
        return Verdict.AUTH
    if status == 412:
        return Verdict.CONFLICT
    if status in RETRIABLE_STATUSES or (status >= 500 and status != 501):
        return Verdict.RETRIABLE
    return Verdict.REJECTED


def outcome_for_status(item: WriteItem, status: int, message: str | None, *, where: str = "",
                       etag: str | None = None) -> ItemOutcome:
    """One item's outcome from its own HTTP status. An authentication status raises `AuthError`
    (stop sending to this system); everything else becomes an outcome with the system's message."""
    verdict = verdict_for_status(status)
    if verdict is Verdict.AUTH:
        raise AuthError(f"{where}: HTTP {status}: {message or 'not authorised'}".lstrip(": "),
                        hint="check the integration user's credentials and authorisations; nothing more was sent")
    if verdict is Verdict.SUCCESS:
        return ItemOutcome(item.ref, OutcomeStatus.APPLIED, message, etag=etag, http_status=status)
    status_of = {Verdict.RETRIABLE: OutcomeStatus.RETRIABLE, Verdict.CONFLICT: OutcomeStatus.CONFLICT}
    return ItemOutcome(item.ref, status_of.get(verdict, OutcomeStatus.REJECTED),
                       message or f"HTTP {status}", http_status=status)


def outcomes_for_error(items: Iterable[WriteItem], exc: ConnectorError) -> list[ItemOutcome]:
    """Outcomes for items whose whole request failed: a transient error leaves them retriable; any
    other refusal puts the system's message on each item (rejected). An `AuthError` is re-raised:
    the apply must stop sending to this system."""
    if isinstance(exc, AuthError):
        raise exc
    status = OutcomeStatus.RETRIABLE if isinstance(exc, RetriableError) else OutcomeStatus.REJECTED
    http_status = getattr(getattr(exc, "response", None), "status_code", None)
    return [ItemOutcome(i.ref, status, exc.message, http_status=http_status) for i in items]
