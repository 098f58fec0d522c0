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


def test_commit_late_gives_the_oldest_record_the_newest_timestamp_and_edit_oldest_moves_it_last():
    app = build_app(generate(seed=5, products=4, locations=1, customers=2, weeks=4), auth="")
    entity = "shipments"
    coll = app.data[entity]
    oldest, newest = coll.since(None)[0:1][0], coll.newest()
    key = app.commit_late(entity)
    assert coll.get(key) is oldest and coll.newest() == newest and coll.since(newest)[0:5][0] is not None
    second = coll.since(None)[0:1][0]
    [edited] = app.edit_oldest(entity)
    assert coll.get(edited) is second and coll.since(None)[len(coll) - 1:len(coll)][0] is second
    assert coll.newest() > newest
