"""sandbox.salesforce_standin: a person's edit (`app.edit`) changes the record and its SystemModstamp."""

from __future__ import annotations

import pytest

from sandbox.salesforce_standin import build_app, seed_accounts

pytestmark = pytest.mark.unit


def test_edit_changes_the_field_and_moves_system_modstamp_on():
    app = build_app(accounts=seed_accounts(count=3))
    row = app.state.objects["Account"]["001000000000000002"]
    before = row["SystemModstamp"]
    app.edit("Account", {"Id": "001000000000000002"}, "Segment__c", "A")
    assert row["Segment__c"] == "A" and row["SystemModstamp"] != before
