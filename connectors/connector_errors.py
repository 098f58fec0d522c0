"""Connector errors: what went wrong and whether trying again can help."""

from __future__ import annotations

from basics.errors import SegbridgeError


class ConnectorError(SegbridgeError):
    """A connector could not do what was asked."""

    retriable = False


class AuthError(ConnectorError):
    """Credentials missing, wrong or expired beyond refresh (never contains the credentials)."""


class RetriableError(ConnectorError):
    """Transient: the network, a 5xx, a timeout. The same request may succeed later."""

    retriable = True


class RateLimited(RetriableError):
    """The system asked us to slow down (HTTP 429, Salesforce REQUEST_LIMIT_EXCEEDED)."""

    def __init__(self, message: str, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """Not worth retrying: a 4xx, a business error, a protocol violation."""


class LimitExhausted(FatalError):
    """A daily/API quota is used up: stop cleanly, keep the state, resume later."""
