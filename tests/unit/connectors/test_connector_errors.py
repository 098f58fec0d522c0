"""connectors.connector_errors: which errors are worth retrying, and what they carry."""

from __future__ import annotations

import pytest

from basics.errors import SegbridgeError
from connectors.connector_errors import (
    AuthError,
    ConnectorError,
    FatalError,
    LimitExhausted,
    RateLimited,
    RetriableError,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("cls", "retriable"), [
    (ConnectorError, False), (AuthError, False), (FatalError, False), (LimitExhausted, False),
    (RetriableError, True), (RateLimited, True),
])
def test_retriable_flag(cls, retriable):
    err = cls("x")
    assert err.retriable is retriable
    assert isinstance(err, ConnectorError) and isinstance(err, SegbridgeError)


def test_hierarchy():
    assert issubclass(RateLimited, RetriableError)
    assert issubclass(LimitExhausted, FatalError)
    assert not issubclass(AuthError, RetriableError)


def test_rate_limited_carries_retry_after_and_a_hint():
    err = RateLimited("HTTP 429 from sap", retry_after=12.5, hint="lower requests_per_second")
    assert err.retry_after == 12.5 and err.hint == "lower requests_per_second"
    assert str(err) == "HTTP 429 from sap\n  hint: lower requests_per_second"
    assert RateLimited("slow down").retry_after is None


def test_message_and_hint_reach_the_user():
    err = AuthError("token endpoint refused the client credentials", hint="check CRM_CLIENT_SECRET")
    assert err.message == "token endpoint refused the client credentials"
    with pytest.raises(ConnectorError, match="refused"):
        raise err
