"""sap_rfc against the RFC stand-in (sandbox.sap_rfc: RFC_READ_TABLE with SAP's 512-byte rows, 72-character
OPTIONS, ROWSKIPS paging; BAPI_MATERIAL_SAVEDATA with commit and rollback), through the shipped contract
suite. The stand-in is not HTTP: it has no fault queue and no malformed answers (those scenarios skip)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import WriteBatch, WriteItem
from connectors.sap.rfc import SapRfcConnector
from connectors.testing.suite import ConnectorContract
from sandbox.sap_rfc import FakeRfcBackend

pytestmark = pytest.mark.contract
TARGET = "BAPI_MATERIAL_SAVEDATA.PLANTDATA"


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


class TestSapRfcContract(ConnectorContract):
    streams = ["MARA", "MARC", "KNA1"]
    incremental_stream = "MARA"

    @pytest.fixture
    def server_app(self) -> FakeRfcBackend:
        return FakeRfcBackend.seeded()

    @pytest.fixture
    def connector(self, server_app, monkeypatch):
        monkeypatch.setenv("SAP_RFC_PW", "secret")
        conn = SapRfcConnector({"connection": {"ashost": "h", "sysnr": "00", "client": "100", "user": "U",
                                               "passwd": "${SAP_RFC_PW}"}, "page_rows": 3},
                               connection_factory=server_app.connect)
        yield conn
        conn.close()

    def change_records(self, backend, stream):
        """Two materials changed today (MM02 sets LAEDA)."""
        rows = backend.tables[stream][:2]
        for row in rows:
            row["LAEDA"] = _today()
        return [row["MATNR"] for row in rows]

    def commit_late(self, backend, stream):
        """The first material, changed on the newest change date there is, committed after the read."""
        rows = backend.tables[stream]
        rows[0]["LAEDA"] = max(r["LAEDA"] for r in rows)
        return rows[0]["MATNR"]

    def edit_during_paging(self, backend, stream):
        return self.change_records(backend, stream)

    def write_batch(self, backend):
        return WriteBatch([WriteItem("1", TARGET, {"MATERIAL": "1001", "PLANT": "1000"}, {"SAFETY_STK": "55.5"}),
                           WriteItem("2", TARGET, {"MATERIAL": "1002", "PLANT": "1000"}, {"MRP_TYPE": "ZZ"}),
                           WriteItem("3", TARGET, {"MATERIAL": "9999", "PLANT": "1000"}, {"ABC_ID": "A"})])

    def roundtrip(self, backend):  # BAPIs take no concurrency token: read_back only
        return WriteItem("rt", TARGET, {"MATERIAL": "1001", "PLANT": "1000"}, {"REORDER_PT": "12"}), "30"


def test_a_late_commit_is_lost_without_the_overlap():
    """The scenario is not vacuous here: with no overlap the day of the mark alone is read again, and a
    material committed late with the day before is missed (the default 300 s reaches into that day)."""
    backend = FakeRfcBackend.seeded()
    conn = SapRfcConnector({"connection": {"ashost": "h"}, "overlap_seconds": 0}, connection_factory=backend.connect)
    spec = next(s for s in conn.discover() if s.name == "MARA")
    done = list(conn.read(spec, None))[-1].checkpoint
    rows = backend.tables["MARA"]
    days = sorted({r["LAEDA"] for r in rows})
    rows[0]["LAEDA"] = days[-2]  # committed late, dated the day before the mark
    again = {r["MATNR"] for b in conn.read(spec, done) for r in b.records}
    assert rows[0]["MATNR"] not in again
    with_overlap = SapRfcConnector({"connection": {"ashost": "h"}}, connection_factory=backend.connect)
    assert rows[0]["MATNR"] in {r["MATNR"] for b in with_overlap.read(spec, done) for r in b.records}
