"""sap_rfc end to end against the fake RFC backend (sandbox.sap_rfc), plus the pure helpers."""

from __future__ import annotations

import pytest

from basics.errors import ConfigError
from connectors.base import StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError
from connectors.sap.rfc import SapRfcConnector, alpha_in, alpha_out, field_groups, option_lines
from sandbox.sap_rfc import MARC, ABAPApplicationError, CommunicationError, FakeRfcBackend

pytestmark = pytest.mark.unit
TARGET = "BAPI_MATERIAL_SAVEDATA.PLANTDATA"


@pytest.fixture
def backend() -> FakeRfcBackend:
    return FakeRfcBackend.seeded()


@pytest.fixture
def conn(backend, monkeypatch) -> SapRfcConnector:
    monkeypatch.setenv("SAP_RFC_PW", "secret")
    return SapRfcConnector({"connection": {"ashost": "h", "sysnr": "00", "client": "100", "user": "U",
                                           "passwd": "${SAP_RFC_PW}"}}, connection_factory=backend.connect)


def test_alpha_conversion():
    assert alpha_in("1001", 18) == "000000000000001001"
    assert alpha_in("tg-11", 18) == "TG-11"
    assert alpha_out("0000012345") == "12345"
    assert alpha_out("TG11") == "TG11"


def test_options_split_into_72_char_lines_without_breaking_literals():
    where = "MATNR IN ( " + " , ".join(f"'{n:018d}'" for n in range(6)) + " ) AND NAME1 = 'O''Neil and Sons Ltd'"
    lines = [o["TEXT"] for o in option_lines(where)]
    assert all(len(line) <= 72 for line in lines)
    assert " ".join(lines) == where
    assert any("'O''Neil and Sons Ltd'" in line for line in lines)


def test_field_groups_fit_512_bytes_and_repeat_the_key():
    fields = [(n, ln) for n, ln, _ in MARC]
    groups = field_groups(fields, ["MATNR", "WERKS"], "|")
    widths = [sum(dict(fields)[f] for f in g) + len(g) - 1 for g in groups]
    assert len(groups) == 2 and max(widths) <= 512
    assert all(g[:2] == ["MATNR", "WERKS"] for g in groups)
    assert sorted({f for g in groups for f in g}) == sorted(dict(fields))


def test_fake_refuses_rows_over_512_bytes_like_sap(backend):
    with pytest.raises(ABAPApplicationError) as err:
        backend.call("RFC_READ_TABLE", QUERY_TABLE="MARC", DELIMITER="|")
    assert err.value.key == "DATA_BUFFER_EXCEEDED"


def test_wide_table_read_returns_whole_correct_rows(conn, backend):
    batches = list(conn.read(StreamSpec("MARC"), None))
    rows = [r for b in batches for r in b.records]
    assert len(rows) == len(backend.tables["MARC"]) == 24
    first = next(r for r in rows if r["MATNR"] == "000000000000001001" and r["WERKS"] == "1000")
    assert len(first) == len(MARC)
    assert first["ZZNOTE"] == "note for 000000000000001001/1000, O'Neil"
    assert (first["EISBE"], first["MINBE"], first["DISMM"]) == ("10.000", "20.000", "PD")
    reads = [p for n, p in backend.calls if n == "RFC_READ_TABLE" and p.get("NO_DATA") != "X"]
    assert len(reads) == 2  # two field groups, one page each


def test_group_rows_missing_from_a_page_are_reread_by_key(conn, backend):
    original = backend.read_table

    def shuffled(**params):
        result = original(**params)
        if params.get("FIELDS") and params["FIELDS"][-1]["FIELDNAME"] == "ZZNOTE" and params.get("ROWCOUNT", 0) > 1:
            result["DATA"] = result["DATA"][1:]  # this page lost a row (no ORDER BY in RFC_READ_TABLE)
        return result

    backend.read_table = shuffled
    rows = [r for b in conn.read(StreamSpec("MARC"), None) for r in b.records]
    assert len(rows) == 24 and all(r["ZZNOTE"].startswith("note for") for r in rows)


def test_delta_read_filters_on_change_date_and_advances_cursor(conn, backend):
    """Change dates are days: the 300 s overlap before the mark (00:00 of its day) reaches into the
    day before, so a row committed late with yesterday's date is read too."""
    batches = list(conn.read(StreamSpec("MARA", options={"fields": ["MATNR", "MTART"]}),
                             {"version": 1, "since": "2024-01-10T00:00:00Z"}))
    rows = [r for b in batches for r in b.records]
    assert sorted(r["LAEDA"] for r in rows) == ["20240109", "20240110", "20240111", "20240112"]
    assert batches[-1].checkpoint == {"version": 1, "since": "2024-01-12T00:00:00Z"}
    options = [p["OPTIONS"] for n, p in backend.calls if n == "RFC_READ_TABLE" and p.get("OPTIONS")]
    assert options[0] == [{"TEXT": "( LAEDA >= '20240109' OR ERSDA >= '20240109' )"}]


def test_a_legacy_cursor_loads_a_zero_overlap_reads_from_the_day_and_a_page_resumes(backend):
    conn = SapRfcConnector({"connection": {"ashost": "h"}, "overlap_seconds": 0, "page_rows": 2},
                           connection_factory=backend.connect)
    stream = StreamSpec("MARA", options={"fields": ["MATNR"]})
    batches = list(conn.read(stream, {"cursor": "20240110"}))
    assert sorted(r["LAEDA"] for b in batches for r in b.records) == ["20240110", "20240111", "20240112"]
    assert batches[0].checkpoint["since"] == "2024-01-10T00:00:00Z"  # the mark stays until the read completes
    assert batches[0].checkpoint["position"] == {"pass": 0, "skip": 2}
    rest = [r["MATNR"] for b in conn.read(stream, batches[0].checkpoint) for r in b.records]
    assert rest == [r["MATNR"] for b in batches[1:] for r in b.records]
    with pytest.raises(ConfigError, match="option feilds"):
        list(conn.read(StreamSpec("MARA", options={"feilds": ["MATNR"]}), None))


def test_bapi_write_commits_good_items_and_rolls_back_the_bad_one(conn, backend):
    items = [WriteItem("1", TARGET, {"MATERIAL": "1001", "PLANT": "1000"}, {"SAFETY_STK": "55.5", "MRP_TYPE": "VB"}),
             WriteItem("2", TARGET, {"MATERIAL": "1002", "PLANT": "1000"}, {"MRP_TYPE": "ZZ", "SAFETY_STK": "9"}),
             WriteItem("3", TARGET, {"MATERIAL": "9999", "PLANT": "1000"}, {"ABC_ID": "A"}),
             WriteItem("4", TARGET, {"MATERIAL": "1003", "PLANT": "1000"}, {"NOPE": "A"})]
    outcomes = conn.write(WriteBatch(items))
    assert [(o.ref, o.status) for o in outcomes] == [("1", "applied"), ("2", "rejected"), ("3", "rejected"),
                                                     ("4", "rejected")]
    assert outcomes[1].message == ("000000000000001002/1000: 00/058 Entry ZZ does not exist in T438A (check entry) "
                                   "(rolled back)")
    assert "does not exist" in outcomes[2].message
    assert (backend.count("BAPI_TRANSACTION_COMMIT"), backend.count("BAPI_TRANSACTION_ROLLBACK")) == (1, 2)
    save = next(p for n, p in backend.calls if n == "BAPI_MATERIAL_SAVEDATA")
    assert save["HEADDATA"] == {"MATERIAL": "000000000000001001", "MRP_VIEW": "X"}
    assert save["PLANTDATAX"] == {"PLANT": "1000", "SAFETY_STK": "X", "MRP_TYPE": "X"}
    back = conn.read_back(TARGET, [{"MATERIAL": "1001", "PLANT": "1000"}, {"MATERIAL": "1002", "PLANT": "1000"}])
    assert [(b["SAFETY_STK"], b["MRP_TYPE"]) for b in back] == [("55.500", "VB"), ("20.000", "PD")]


def test_lost_connection_mid_write_is_retriable(conn, backend):
    backend.fail_next.append(CommunicationError("partner not reached", "RFC_COMMUNICATION_FAILURE"))
    outcome = conn.write(WriteBatch([WriteItem("1", TARGET, {"MATERIAL": "1001", "PLANT": "1000"},
                                               {"ABC_ID": "A"})]))[0]
    assert outcome.status == "retriable" and "nothing committed" in outcome.message


def test_a_logon_refusal_mid_write_stops_the_apply(conn, backend):
    """The outcome policy: an authentication failure is raised, not turned into a rejection per item."""
    from sandbox.sap_rfc import LogonError

    backend.fail_next.append(LogonError("Name or password is incorrect", "RFC_LOGON_FAILURE"))
    with pytest.raises(AuthError, match="RFC_LOGON_FAILURE"):
        conn.write(WriteBatch([WriteItem("1", TARGET, {"MATERIAL": "1001", "PLANT": "1000"}, {"ABC_ID": "A"}),
                               WriteItem("2", TARGET, {"MATERIAL": "1002", "PLANT": "1000"}, {"ABC_ID": "B"})]))
    assert backend.count("BAPI_MATERIAL_SAVEDATA") == 1


def test_missing_pyrfc_names_the_sdk(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyrfc(name, *args, **kwargs):
        if name == "pyrfc":
            raise ImportError("No module named 'pyrfc'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyrfc)
    with pytest.raises(FatalError) as err:
        SapRfcConnector({"connection": {"ashost": "h"}}).call("RFC_PING")
    assert "pyrfc" in err.value.message and "NW RFC SDK" in err.value.hint


def test_bad_logon_is_a_failed_check_not_an_exception(backend):
    conn = SapRfcConnector({"connection": {"passwd": "${SAP_BAD}"}}, connection_factory=backend.connect)
    import os

    os.environ["SAP_BAD"] = "wrong"
    result = conn.check()
    assert not result.ok and "LogonError" in result.message


def test_literal_password_refused():
    with pytest.raises(ValueError, match="ENV_VAR"):
        SapRfcConnector({"connection": {"passwd": "plain"}})


def test_delta_rereads_the_lines_of_a_changed_header(monkeypatch):
    """Only VBAK changed for order 2 (a new sold-to): its VBAP lines come again, with the new header."""
    vbak = [{"VBELN": f"{n:010d}", "ERDAT": "20240101", "AEDAT": "20240115" if n == 2 else "00000000",
             "KUNNR": "NEW" if n == 2 else f"C{n}"} for n in (1, 2, 3)]
    vbap = [{"VBELN": f"{n:010d}", "POSNR": f"{p:06d}", "MATNR": "M1", "ERDAT": "20240101",
             "AEDAT": "20240116" if (n, p) == (3, 10) else "00000000"} for n in (1, 2, 3) for p in (10, 20)]
    backend = FakeRfcBackend(tables={"VBAK": vbak, "VBAP": vbap})
    monkeypatch.setenv("SAP_RFC_PW", "secret")
    conn = SapRfcConnector({"connection": {"ashost": "h", "sysnr": "00", "client": "100", "user": "U",
                                           "passwd": "${SAP_RFC_PW}"}}, connection_factory=backend.connect)
    stream = StreamSpec("VBAP", options={"fields": ["VBELN", "POSNR", "MATNR"],
                                         "join": {"table": "VBAK", "by": ["VBELN"], "fields": ["KUNNR"]}})
    batches = list(conn.read(stream, {"cursor": "20240110"}))
    rows = sorted((r["VBELN"][-1], r["POSNR"], r["KUNNR"]) for b in batches for r in b.records)
    assert rows == [("2", "000010", "NEW"), ("2", "000020", "NEW"), ("3", "000010", "C3")]
    assert batches[-1].checkpoint == {"version": 1, "since": "2024-01-16T00:00:00Z"}
    assert [b.records for b in conn.read(stream, {"version": 1, "since": "2024-01-18T00:00:00Z"})] == [[]]
