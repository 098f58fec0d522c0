"""A pull through SAP delta links end to end: a customer deleted in SAP comes back as a tombstone
and its canonical row goes, in the batch's transaction; the other customers are untouched."""

from __future__ import annotations

import pytest

from core.model import Customer
from core.settings import SegbridgeConfig
from core.statuses import RunStatus
from core.store import create_all, open_store, read_frame
from core.sync import load_state, pull
from sandbox.generator import generate
from sandbox.sap_odata import build_app
from sandbox.server import serve

pytestmark = pytest.mark.e2e


def test_a_customer_deleted_in_sap_leaves_the_store_on_the_next_pull(tmp_path):
    app = build_app(generate(seed=3, products=4, locations=2, customers=6, weeks=2), page_size=4)
    app.state.track_changes("A_Customer")
    db = open_store(f"sqlite:///{tmp_path}/store.db")
    create_all(db)
    with serve(app) as server:
        config = SegbridgeConfig.model_validate({"systems": {"sap": {
            "kind": "sap_odata", "mapping": "sap_s4.yaml", "options": {"base_url": server.url}}}})
        [full] = pull(config, db, entities=["customer"])
        assert full.status == RunStatus.OK, full.message
        before = read_frame(db, Customer).set_index("id").sort_index()
        assert len(before) == 6 and "delta_link" in load_state(db, "sap", "API_BUSINESS_PARTNER/A_Customer",
                                                               "customer")["extra"]
        held = sorted(k for (k,) in app.state.data[("API_BUSINESS_PARTNER", "A_Customer")])
        app.state.delete("API_BUSINESS_PARTNER", "A_Customer", {"Customer": held[0]})
        [delta] = pull(config, db, entities=["customer"])
    assert delta.status == RunStatus.OK, delta.message
    [stream] = delta.streams
    assert (stream.deleted, stream.quarantined) == (1, 0)
    after = read_frame(db, Customer).set_index("id").sort_index()
    gone = held[0].lstrip("0")
    assert gone in before.index and gone not in after.index and len(after) == 5
    cols = ["name", "industry", "current_classification"]
    assert after[cols].equals(before.drop(index=gone)[cols])  # nobody blanked
    db.dispose()
