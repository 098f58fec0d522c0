"""One outcome policy: the same status means the same thing in every connector."""

from __future__ import annotations

import pytest

from connectors.base import OutcomeStatus, WriteItem
from connectors.connector_errors import AuthError, FatalError, RetriableError
from connectors.outcome_policy import Verdict, outcome_for_status, outcomes_for_error, verdict_for_status

ITEM = WriteItem(ref="7", target="A_Product", key={"Product": "1"}, values={"x": 1})


@pytest.mark.parametrize("status, verdict", [(200, Verdict.SUCCESS), (204, Verdict.SUCCESS), (400, Verdict.REJECTED),
                                             (404, Verdict.REJECTED), (401, Verdict.AUTH), (403, Verdict.AUTH),
                                             (412, Verdict.CONFLICT), (429, Verdict.RETRIABLE),
                                             (500, Verdict.RETRIABLE), (503, Verdict.RETRIABLE),
                                             (501, Verdict.REJECTED), (408, Verdict.RETRIABLE)])
def test_verdicts(status, verdict):
    assert verdict_for_status(status) is verdict


def test_item_outcomes_carry_the_systems_message():
    out = outcome_for_status(ITEM, 400, "Material 1 does not exist")
    assert (out.ref, out.status, out.message, out.http_status) == ("7", OutcomeStatus.REJECTED,
                                                                   "Material 1 does not exist", 400)
    assert outcome_for_status(ITEM, 412, None).status is OutcomeStatus.CONFLICT
    assert outcome_for_status(ITEM, 204, None, etag='W/"2"').etag == 'W/"2"'


def test_authentication_stops_instead_of_becoming_item_outcomes():
    with pytest.raises(AuthError, match="HTTP 401"):
        outcome_for_status(ITEM, 401, "bad token", where="PATCH /x")
    with pytest.raises(AuthError):
        outcomes_for_error([ITEM], AuthError("wrong password"))


def test_a_failed_request_puts_its_message_on_each_item():
    items = [ITEM, WriteItem(ref="8", target="A_Product", key={"Product": "2"}, values={})]
    rejected = outcomes_for_error(items, FatalError("HTTP 400: bad $batch"))
    assert [(o.ref, o.status, o.message) for o in rejected] == [("7", "rejected", "HTTP 400: bad $batch"),
                                                                 ("8", "rejected", "HTTP 400: bad $batch")]
    assert {o.status for o in outcomes_for_error(items, RetriableError("timeout"))} == {OutcomeStatus.RETRIABLE}
