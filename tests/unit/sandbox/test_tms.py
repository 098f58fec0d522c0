"""sandbox.tms: a person's edit (`app.edit`) changes the record and moves its updateDate on."""

from __future__ import annotations

import pytest

from sandbox.generator import generate
from sandbox.tms import build_app

pytestmark = pytest.mark.unit


def test_edit_changes_the_field_and_moves_update_date_on():
    app = build_app(generate(seed=5, products=4, locations=1, customers=2, weeks=4), auth="")
    gid = next(iter(app.data["routingProfiles"].records))
    before = app.data["routingProfiles"].get(gid)["updateDate"]["value"]
    app.edit("routingProfiles", {"locationGid": gid}, "transportModeGid", "AIR")
    after = app.data["routingProfiles"].get(gid)
    assert after["transportModeGid"] == "AIR" and after["updateDate"]["value"] > before
