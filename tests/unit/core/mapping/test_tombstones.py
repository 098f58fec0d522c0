"""Tombstones (`__deleted: True`) remove the canonical rows their keys map to, in the batch's
transaction, without going through field mapping or the quarantine."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.mapping import load_mapping
from core.mapping.ingest import load_batch
from core.mapping.tombstones import delete_rows, split_tombstones
from core.model import Crosswalk, Customer, ProductLocation, Quarantine
from core.paths import shipped_mapping
from core.store import create_all, open_store, read_frame, upsert

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sap():
    return load_mapping(shipped_mapping("sap_s4.yaml")).entities


@pytest.fixture
def db():
    engine = open_store("sqlite://")
    create_all(engine)
    yield engine
    engine.dispose()


def _plant(product: str, plant: str, abc: str = "A") -> dict:
    return {"Product": product, "Plant": plant, "ABCIndicator": abc, "MRPType": "PD", "MinimumLotSizeQuantity": "1"}


def test_split_keeps_a_batch_without_tombstones_as_it_is_and_separates_them_otherwise():
    records = [{"Product": "A"}, {"Product": "B", "__deleted": False}]
    assert split_tombstones(records) == (records, [])
    live, dead = split_tombstones([*records, {"Product": "C", "__deleted": True}])
    assert live == records and dead == [{"Product": "C", "__deleted": True}]
    frame = pd.DataFrame([{"Product": "A", "__deleted": None}, {"Product": "C", "__deleted": True}])
    live, dead = split_tombstones(frame)
    assert live.to_dict("records") == [{"Product": "A"}] and dead == [{"Product": "C", "__deleted": True}]


def test_a_tombstone_deletes_its_row_counts_it_and_is_neither_read_nor_quarantined(db, sap):
    em = sap["product_plant"]
    with db.begin() as conn:
        load_batch(conn, "sap", em, [_plant("TG01", "1010"), _plant("TG02", "1010"), _plant("TG01", "1020")], 1)
    with db.begin() as conn:
        counts = load_batch(conn, "sap", em, [{"Product": "TG01", "Plant": "1010", "__deleted": True},
                                              _plant("TG02", "1010", abc="C")], 1)
    assert (counts.read, counts.loaded, counts.quarantined, counts.deleted) == (1, 1, 0, 1)
    rows = read_frame(db, ProductLocation).sort_values(["product_id", "location_id"])
    assert rows[["product_id", "location_id", "current_abc"]].values.tolist() == [
        ["TG01", "1020", "A"], ["TG02", "1010", "C"]]  # the deleted row gone, the other row untouched
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Quarantine.__table__)).scalar() == 0


def test_the_key_goes_through_the_key_fields_transforms(db, sap):
    em = sap["product_plant"]  # product_id: alpha_strip; a tombstone carries the key as SAP holds it
    with db.begin() as conn:
        load_batch(conn, "sap", em, [_plant("000000000000000042", "1010")], 1)
        assert read_frame(conn, ProductLocation)["product_id"].tolist() == ["42"]
        assert delete_rows(conn, "sap", em, [{"Product": "000000000000000042", "Plant": "1010",
                                              "__deleted": True}]) == 1
        assert read_frame(conn, ProductLocation).empty


def test_a_row_another_system_loaded_last_is_kept(db, sap):
    em = sap["product_plant"]
    with db.begin() as conn:
        load_batch(conn, "sap", em, [_plant("TG01", "1010")], 1)
        upsert(conn, ProductLocation, [{"product_id": "TG01", "location_id": "1010", "source_system": "wms"}])
        assert delete_rows(conn, "sap", em, [{"Product": "TG01", "Plant": "1010", "__deleted": True}]) == 0
        assert len(read_frame(conn, ProductLocation)) == 1


def test_with_a_crosswalk_the_stored_link_names_the_row_and_the_link_stays(db, sap):
    em = sap["customer"]
    with db.begin() as conn:
        load_batch(conn, "sap", em, [{"Customer": "0017100002", "CustomerName": "A"},
                                     {"Customer": "0017100003", "CustomerName": "B"}], 1)
        links = dict(conn.execute(select(Crosswalk.source_key, Crosswalk.canonical_id)).all())
        assert links == {"0017100002": "17100002", "0017100003": "17100003"}
        gone = delete_rows(conn, "sap", em, [{"Customer": "0017100002", "__deleted": True},
                                             {"Customer": "0099999999", "__deleted": True}])  # never loaded
        assert gone == 1
        assert read_frame(conn, Customer)["id"].tolist() == ["17100003"]
        assert dict(conn.execute(select(Crosswalk.source_key, Crosswalk.canonical_id)).all()) == links


def test_a_tombstone_without_its_key_is_skipped_with_a_warning(db, sap, caplog):
    em = sap["product_plant"]
    with db.begin() as conn:
        load_batch(conn, "sap", em, [_plant("TG01", "1010")], 1)
        counts = load_batch(conn, "sap", em, [{"Product": "TG01", "__deleted": True}], 1)
    assert (counts.read, counts.deleted, counts.quarantined) == (0, 0, 0)
    assert len(read_frame(db, ProductLocation)) == 1
    assert "1 deleted records ignored: their key cannot be read" in caplog.text
