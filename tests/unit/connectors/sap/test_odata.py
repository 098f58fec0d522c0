"""connectors.sap.odata: the sap_odata connector against the SAP sandbox on 127.0.0.1 (reads with
delta cursors, validated $batch writes, 412 -> conflict, read-back) and its value helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.sap.metadata import Property
from connectors.sap.odata import SapODataConnector, json_value, path_value, same_value, split_target
from connectors.testing.suite import read_all
from sandbox.sap_odata import build_app
from sandbox.server import serve

pytestmark = pytest.mark.unit
PSP = "API_PRODUCT_SRV/A_ProductSupplyPlanning"
SO = "API_SALES_ORDER_SRV/A_SalesOrder"


@pytest.fixture
def app():
    return build_app(page_size=4)


@pytest.fixture
def conn(app):
    with serve(app) as running:
        connector = SapODataConnector({"base_url": running.url, "max_attempts": 2, "backoff_initial": 0,
                                       "page_size": 4, "overlap_seconds": 0})
        connector.write_batch_max = 2  # as if the Gateway took two changesets per $batch
        yield connector
        connector.close()


def _posts(app) -> int:
    return len([r for r in app.log if r.method == "POST"])


def test_helpers():
    assert split_target(PSP) == ("API_PRODUCT_SRV", "A_ProductSupplyPlanning")
    assert split_target("A_Product") == (None, "A_Product")
    assert path_value({"to_SalesOrder": {"LastChangeDateTime": "x"}}, "to_SalesOrder/LastChangeDateTime") == "x"
    assert path_value({"a": "flat"}, "a/b") is None
    dec = Property("SafetyStockQuantity", "Edm.Decimal", precision=13, scale=3)
    assert json_value(dec, 12.5) == "12.500" and json_value(dec, Decimal("1")) == "1.000"
    assert json_value(dec, "12.5") == "12.5" and json_value(dec, True) is True and json_value(None, 3) == 3
    assert same_value("10", "10.000") and same_value("AB ", "AB") and not same_value("A", "B")
    assert same_value(None, "") and not same_value("1", "1.001")


def test_check_and_discover(conn):
    result = conn.check()
    assert result.ok and result.details["service"] == "API_PRODUCT_SRV"
    specs = {s.name: s for s in conn.discover()}
    assert specs[PSP].primary_key == ["Product", "Plant"]
    assert specs["API_PRODUCT_SRV/A_Product"].cursor_field == "LastChangeDateTime"


def test_full_read_then_delta_read_after_changes(conn, app):
    spec = StreamSpec("API_PRODUCT_SRV/A_Product")
    records, checkpoint, batches = read_all(conn, spec)
    assert len(records) == 10 and [b.source_count for b in batches] == [10, None, None]  # counted once
    assert checkpoint["since"].endswith("Z") and "position" not in checkpoint
    assert "since" not in batches[0].checkpoint and batches[0].checkpoint["position"]  # only the last advances
    changed = [k[0] for k in app.state.touch("API_PRODUCT_SRV", "A_Product", 2)]
    again, _, _ = read_all(conn, spec, checkpoint)
    got = {r["Product"] for r in again}
    assert set(changed) <= got and len(again) < len(records)  # the cursor's own record may come again


def test_writes_are_validated_then_batched(conn, app):
    items = [WriteItem("1", PSP, {"Product": "TG01", "Plant": "1010"}, {"SafetyStockQuantity": 12.5}),
             WriteItem("2", PSP, {"Product": "TG02", "Plant": "1010"}, {"NoSuchProperty": "x"}),
             WriteItem("3", PSP, {"Product": "TG02", "Plant": "1010"}, {"Plant": "2020"}),
             WriteItem("4", "NoSuchSet", {"X": "1"}, {"Y": "2"}),
             WriteItem("5", PSP, {"Product": "TG03", "Plant": "1010"}, {"ABCIndicator": "C"}),
             WriteItem("6", PSP, {"Product": "TG04", "Plant": "1010"}, {"ABCIndicator": "A"})]
    outcomes = conn.write(WriteBatch(items))
    assert [(o.ref, o.status) for o in outcomes] == [("1", "applied"), ("2", "rejected"), ("3", "rejected"),
                                                     ("4", "rejected"), ("5", "applied"), ("6", "applied")]
    assert "not in $metadata" in outcomes[1].message and "not updatable" in outcomes[2].message
    assert app.state.entity("API_PRODUCT_SRV", "A_ProductSupplyPlanning",
                            {"Product": "TG01", "Plant": "1010"})["SafetyStockQuantity"] == "12.500"
    assert _posts(app) == 2  # three valid items, batch_size 2


def test_read_back_omits_missing_entities(conn):
    held = conn.read_back(PSP, [{"Product": "TG01", "Plant": "1010"}, {"Product": "NOPE", "Plant": "1010"}])
    assert [(r["Product"], r["Plant"], r["SafetyStockQuantity"]) for r in held] == [("TG01", "1010", "10.000")]


def test_a_stale_etag_is_a_conflict_and_nothing_is_re_read_or_re_sent(conn, app):
    key = {"SalesOrder": "1000"}
    stale = 'W/"datetimeoffset\'2020-01-01T00%3A00%3A00.0000000Z\'"'
    [out] = conn.write(WriteBatch([WriteItem("1", SO, key, {"ShippingCondition": "02"}, etag=stale)]))
    assert (out.status, out.http_status, out.etag) == ("conflict", 412, None)
    assert "changed in SAP since it was read" in out.message and "1000" in out.message
    held = {"SalesOrder": "0000001000"}  # VBELN as SAP holds it (ALPHA)
    assert app.state.entity("API_SALES_ORDER_SRV", "A_SalesOrder", held).get("ShippingCondition") != "02"
    assert [r.method for r in app.log if "A_SalesOrder(" in r.path] == []  # no GET, no second PATCH outside $batch
    assert _posts(app) == 1  # the one $batch; no re-read batch


def test_an_entity_with_concurrency_mode_fixed_gets_its_etag_fetched_when_the_item_has_none(conn, app):
    key = {"SalesOrder": "1000"}
    [fresh] = conn.write(WriteBatch([WriteItem("2", SO, key, {"ShippingCondition": "02"})]))
    assert fresh.status == "applied", fresh.message  # the sandbox answers 428 to a PATCH without If-Match
    held = {"SalesOrder": "0000001000"}
    assert app.state.entity("API_SALES_ORDER_SRV", "A_SalesOrder", held)["ShippingCondition"] == "02"


def test_the_removed_on_conflict_option_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="on_conflict was removed"):
        SapODataConnector({"base_url": "http://127.0.0.1:9", "on_conflict": "reapply"})


def _batch_bodies(app) -> list[str]:
    return [r.body.decode() for r in app.log if r.method == "POST" and r.path.endswith("$batch")]


def test_if_match_carries_the_items_etag_and_is_absent_where_there_is_none(conn, app):
    [held] = conn.read_back(SO, [{"SalesOrder": "1001"}])
    assert held["__etag"].startswith('W/"datetimeoffset')
    out = conn.write(WriteBatch([WriteItem("1", SO, {"SalesOrder": "1001"}, {"ShippingCondition": "02"},
                                           etag=held["__etag"]),
                                 WriteItem("2", PSP, {"Product": "TG01", "Plant": "1010"}, {"ABCIndicator": "A"})]))
    assert [o.status for o in out] == ["applied", "applied"], [o.message for o in out]
    bodies = _batch_bodies(app)
    assert len(bodies) == 3  # read_back, then one $batch per service: no ETag fetch for an item that has one
    so_part = next(b for b in bodies[1:] if "PATCH A_SalesOrder(" in b)
    psp_part = next(b for b in bodies[1:] if "PATCH A_ProductSupplyPlanning(" in b)
    assert f"If-Match: {held['__etag']}" in so_part and "If-Match" not in psp_part


def test_a_read_resumes_from_any_mid_read_checkpoint_without_losing_records(conn, app):
    spec = StreamSpec("API_PRODUCT_SRV/A_ProductSupplyPlanning")
    records, _, batches = read_all(conn, spec)
    keys = [(r["Product"], r["Plant"]) for r in records]
    for n, batch in enumerate(batches[:-1]):
        rest, _, _ = read_all(conn, spec, batch.checkpoint)
        assert [(r["Product"], r["Plant"]) for r in rest] == keys[sum(len(b.records) for b in batches[:n + 1]):]


def test_the_same_next_link_twice_stops_the_read(conn, app):
    from connectors.connector_errors import FatalError

    loop = {"d": {"results": [{"Product": "TG01"}], "__next": f"{conn.http.options.base_url}/sap/opu/odata/sap/"
                                                            "API_PRODUCT_SRV/A_Product?$skiptoken=1"}}
    import json

    app.inject(status=200, body=json.dumps(loop), times=3, path=r"A_Product$")
    with pytest.raises(FatalError, match="same page position twice"):
        read_all(conn, StreamSpec("API_PRODUCT_SRV/A_Product"))
