"""sandbox.wms: a person's edit (`app.edit`) changes the record and moves its mod_ts on."""

from __future__ import annotations

import pytest

from sandbox.generator import generate
from sandbox.wms import build_app

pytestmark = pytest.mark.unit


def test_edit_changes_the_field_and_moves_mod_ts_on():
    app = build_app(generate(seed=5, products=4, locations=1, customers=2, weeks=4), auth="")
    key = ("P000001", "DC01")
    before = dict(app.data["item"].get(key))
    app.edit("item", {"code": "P000001", "facility_id__code": "DC01"}, "cust_field_1", "Z")
    after = app.data["item"].get(key)
    assert after["cust_field_1"] == "Z" and after["mod_ts"] > before["mod_ts"]
