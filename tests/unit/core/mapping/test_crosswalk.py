"""Crosswalk rules: the same customer across SAP, CRM and WMS gets one canonical id; conflicts are never guessed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.mapping.crosswalk import CrosswalkIndex, normalize, resolve
from core.mapping.ingest import load_batch
from core.mapping.spec import CrosswalkSpec
from core.model import Crosswalk, Customer, Quarantine, ReconException
from core.paths import shipped_mapping

pytestmark = pytest.mark.unit


@pytest.fixture
def db(sqlite_db):
    """A SQLite store with the schema created."""
    from core.store import create_all

    create_all(sqlite_db)
    return sqlite_db

NORMALIZED = CrosswalkSpec(rules=[{"kind": "normalized", "normalize": ["strip", "upper", "strip_zeros"]}])


def test_normalize():
    assert normalize(" 0000100234 ", ["strip", "strip_zeros"]) == "100234"
    assert normalize("ab-01", ["upper", "strip_zeros"]) == "AB-01"


def test_normalized_rule_strips_sap_zeros():
    res = resolve("sap", "customer", NORMALIZED, {"0000100234": {}}, CrosswalkIndex())
    assert res.ids == {"0000100234": "100234"} and res.rules == {"0000100234": "normalized"}


def test_existing_link_wins_over_rules():
    res = resolve("sap", "customer", NORMALIZED, {"0000100234": {}}, CrosswalkIndex(existing={"0000100234": "C-1"}))
    assert res.ids == {"0000100234": "C-1"} and res.rules["0000100234"] == "existing"


def test_exact_rule_matches_existing_canonical_id_else_orphan():
    spec = CrosswalkSpec(rules=[{"kind": "exact", "field": "external_id", "normalize": ["strip_zeros"]}],
                         orphans="quarantine")
    index = CrosswalkIndex(canonical_ids={"100234"})
    res = resolve("crm", "customer", spec, {"001A": {"external_id": "0000100234"}, "001B": {"external_id": "999"},
                                           "001C": {"external_id": None}}, index)
    assert res.ids == {"001A": "100234"}
    assert sorted((i.kind, i.source_key) for i in res.issues) == [("orphan", "001B"), ("orphan", "001C")]


def test_file_rule_and_conflict_with_stored_link():
    spec = CrosswalkSpec(rules=[{"kind": "file", "path": "x.csv"}])
    index = CrosswalkIndex(existing={"SHIP-7": "100234"}, file_links={"SHIP-7": "100999", "SHIP-8": "100234"})
    res = resolve("wms", "customer", spec, {"SHIP-7": {}, "SHIP-8": {}}, index)
    kinds = sorted((i.kind, i.source_key, tuple(i.candidates)) for i in res.issues)
    # SHIP-7: file disagrees with the stored link; SHIP-8: would take 100234, which SHIP-7 already holds
    assert kinds == [("conflict", "SHIP-7", ("100234", "100999")), ("conflict", "SHIP-8", ("100234",))]
    assert res.ids == {}


def test_two_source_keys_on_one_id_are_both_conflicts():
    res = resolve("sap", "customer", NORMALIZED, {"0000100234": {}, "100234": {}}, CrosswalkIndex())
    assert res.ids == {}
    assert sorted(i.source_key for i in res.issues if i.kind == "conflict") == ["0000100234", "100234"]


def test_exact_rule_matching_two_ids_is_a_conflict():
    spec = CrosswalkSpec(rules=[{"kind": "exact", "field": "external_id", "match": "crosswalk"}])
    index = CrosswalkIndex(foreign={"0": {"100234": {"C-1", "C-2"}}})
    res = resolve("crm", "customer", spec, {"001A": {"external_id": "100234"}}, index)
    assert res.ids == {} and res.issues[0].kind == "conflict" and res.issues[0].candidates == ["C-1", "C-2"]


def test_sap_customer_and_crm_account_resolve_to_one_id(db):
    from core.mapping import load_mapping

    sap = load_mapping(shipped_mapping("sap_s4.yaml")).entities["customer"]
    crm = load_mapping(shipped_mapping("salesforce.yaml")).entities["account"]
    with db.begin() as conn:
        load_batch(conn, "sap_s4", sap, [{"Customer": "0000100234", "CustomerName": "Acme"}], run_id=1)
        counts = load_batch(conn, "salesforce", crm, [
            {"Id": "001000000000001AAA", "SAP_Customer_Number__c": "100234", "Segment__c": "A-X"},
            {"Id": "001000000000002AAA", "SAP_Customer_Number__c": None, "Segment__c": "C-Z"}], run_id=1)
    assert (counts.read, counts.loaded, counts.quarantined) == (2, 1, 1)
    with db.connect() as conn:
        links = {(r.system, r.source_key): r.canonical_id for r in conn.execute(select(Crosswalk.__table__))}
        customers = conn.execute(select(Customer.__table__)).fetchall()
        orphans = conn.execute(select(ReconException.__table__)).fetchall()
        quarantined = conn.execute(select(Quarantine.__table__)).fetchall()
    assert links == {("sap_s4", "0000100234"): "100234", ("salesforce", "001000000000001AAA"): "100234"}
    assert [(c.id, c.name, c.current_segment) for c in customers] == [("100234", "Acme", "A-X")]
    assert [(o.kind, o.system, o.entity_key) for o in orphans] == [("orphan", "salesforce", "001000000000002AAA")]
    assert [(q.reason_code, q.source_key) for q in quarantined] == [("orphan", "001000000000002AAA")]


def test_a_link_file_is_read_by_the_one_csv_reader_with_a_bom_and_errors_name_the_row(tmp_path):
    from basics.errors import DataError
    from core.mapping.crosswalk import read_file_links

    path = tmp_path / "links.csv"
    path.write_bytes("\ufeffsystem,entity,source_key,canonical_id\nsap,product,SHIP-7,100999\n"
                     "wms,product,SHIP-7,1\nsap,customer,C1,9\n".encode())
    assert read_file_links(path, "sap", "product") == {"SHIP-7": "100999"}  # a BOM does not hide `system`
    path.write_text("system,entity,source_key,canonical_id\nsap,product,SHIP-7,100999\nsap,product,,5\n")
    with pytest.raises(DataError, match=r"links.csv: row 3 has no source_key"):
        read_file_links(path, "sap", "product")
    path.write_text("system,entity,key,canonical_id\n")
    with pytest.raises(DataError, match="lacks column.*source_key"):
        read_file_links(path, "sap", "product")


# --------------------------------------------------------------------------- the index, once per stream


def _accounts(start: int, count: int) -> list[dict]:
    return [{"Id": f"001{i:015d}", "SAP_Customer_Number__c": f"00{100000 + i}", "Segment__c": "Growth"}
            for i in range(start, start + count)]


def _link_loads(db) -> list[str]:
    """Every statement that reads the crosswalk's links (not its count)."""
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(db, "before_cursor_execute",
                 lambda conn, cursor, statement, *a: seen.append(statement)
                 if "FROM crosswalk" in statement and "source_key" in statement.split("FROM")[0] else None)
    return seen


@pytest.fixture
def crm_store(db):
    from core.mapping import load_mapping

    with db.begin() as conn:
        conn.execute(Customer.__table__.insert(), [{"id": str(100000 + i), "source_system": "erp"}
                                                   for i in range(1, 41)])
    return db, load_mapping(shipped_mapping("salesforce.yaml")).entities["account"]


def test_a_stream_loads_the_crosswalk_links_once_not_once_per_batch(crm_store):
    """The cause of a CRM pull at a fifth of a bare loop's speed: every batch reloaded every link."""
    db, crm = crm_store
    loads = _link_loads(db)
    for start in range(1, 41, 8):  # five batches of one run
        with db.begin() as conn:
            load_batch(conn, "salesforce", crm, _accounts(start, 8), run_id=7)
    assert len(loads) == 1
    with db.connect() as conn:
        assert conn.execute(select(Crosswalk.__table__)).fetchall().__len__() == 40


def test_the_held_index_is_kept_current_as_links_are_added(crm_store):
    """A key linked in batch 1 is `existing` in batch 3; another key claiming that id later is a conflict."""
    db, crm = crm_store
    with db.begin() as conn:
        load_batch(conn, "salesforce", crm, _accounts(1, 5), run_id=7)
    with db.begin() as conn:
        load_batch(conn, "salesforce", crm, _accounts(6, 5), run_id=7)
    claimant = {"Id": "001999999999999999", "SAP_Customer_Number__c": "00100003", "Segment__c": "Growth"}
    with db.begin() as conn:
        counts = load_batch(conn, "salesforce", crm, [*_accounts(3, 1), claimant], run_id=7)
    assert (counts.loaded, counts.quarantined) == (1, 1)
    with db.connect() as conn:
        [issue] = conn.execute(select(ReconException.__table__)).fetchall()
    assert (issue.kind, issue.entity_key) == ("conflict", "001999999999999999")
    assert "'100003' is already claimed by ['001000000000000003']" in issue.reason


def test_links_written_by_someone_else_or_rolled_back_make_the_index_reload(crm_store):
    from core.mapping.ingest import index_cache

    db, crm = crm_store
    with db.begin() as conn:
        load_batch(conn, "salesforce", crm, _accounts(1, 5), run_id=7)
    with pytest.raises(RuntimeError), db.begin() as conn:  # a batch whose transaction rolls back
        load_batch(conn, "salesforce", crm, _accounts(6, 5), run_id=7)
        raise RuntimeError("the checkpoint could not be saved")
    with db.begin() as conn:  # a steward links the account of customer 100007 by hand meanwhile
        conn.execute(Crosswalk.__table__.insert().values(system="salesforce", entity="customer",
                                                         source_key="001000000000000077", canonical_id="100007"))
    with db.begin() as conn:
        counts = load_batch(conn, "salesforce", crm, _accounts(6, 5), run_id=7)
        loads = index_cache(conn).loads
    assert (counts.loaded, counts.quarantined) == (4, 1)  # 100007 is claimed by the steward's link
    with db.connect() as conn:
        links = {r.source_key for r in conn.execute(select(Crosswalk.__table__))}
    assert len(links) == 10 and "001000000000000007" not in links and loads >= 2


def test_an_exact_id_rule_looks_up_the_normalised_value_among_canonical_ids(crm_store):
    """`normalize: [strip, upper, strip_zeros]` applies before the lookup: a CRM user's `c00042` is C00042."""
    db, crm = crm_store
    with db.begin() as conn:
        conn.execute(Customer.__table__.insert().values(id="C00042", source_system="erp"))
        counts = load_batch(conn, "salesforce", crm, [{"Id": "001000000000000042", "SAP_Customer_Number__c": "c00042",
                                                        "Segment__c": "Growth"}], run_id=8)
    assert (counts.loaded, counts.quarantined) == (1, 0)
    with db.connect() as conn:
        assert [(r.source_key, r.canonical_id) for r in conn.execute(select(Crosswalk.__table__))] == [
            ("001000000000000042", "C00042")]


def test_a_re_pull_keeps_the_rule_that_made_a_link_and_rewrites_no_link(crm_store):
    db, crm = crm_store
    for run_id in (9, 10):  # the first pull links, the second meets the same accounts again
        with db.begin() as conn:
            load_batch(conn, "salesforce", crm, _accounts(1, 3), run_id=run_id)
    with db.connect() as conn:
        rules = {r.source_key: r.rule for r in conn.execute(select(Crosswalk.__table__))}
    assert rules == {f"001{i:015d}": "exact" for i in range(1, 4)}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request):
    """A store with the schema created, on SQLite and on PostgreSQL (each asks in its own dialect)."""
    from core.store import create_all

    engine = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")
    create_all(engine)
    return engine


def test_known_ids_asks_once_per_batch_and_finds_exactly_the_stored_ids(any_db):
    from sqlalchemy import event

    from core.mapping.crosswalk import known_ids
    from core.store import upsert

    db = any_db
    upsert(db, Customer, [{"id": str(n), "name": f"C{n}"} for n in range(1, 1201)] + [{"id": "a'b", "name": "q"}])
    statements: list[str] = []
    event.listen(db, "before_cursor_execute", lambda *args: statements.append(args[2]))
    wanted = [str(n) for n in range(1000, 3000)] + ["a'b", "", "1000"]  # 2,000+ values, a quote, a blank, a repeat
    with db.connect() as conn:
        found = known_ids(conn, "customer", wanted)
    assert found == {str(n) for n in range(1000, 1201)} | {"a'b"}
    assert len(statements) == 1  # not one per 500 values
    with db.connect() as conn:
        assert known_ids(conn, "customer", ["", None]) == set()


def test_a_key_claimed_once_by_its_own_stored_link_is_no_conflict_but_a_second_key_is():
    index = CrosswalkIndex(existing={"0000100234": "100234"})
    res = resolve("sap", "customer", NORMALIZED, {"0000100234": {}, "100234 ": {}}, index)
    assert res.ids == {"0000100234": "100234"}
    assert [(i.kind, i.source_key) for i in res.issues] == [("conflict", "100234 ")]


# --------------------------------------------------------------------------- column-wise resolution


def test_normalize_all_is_normalize_of_each_value():
    from core.mapping.crosswalk import normalize_all

    values = [" 0000100234 ", "ab-01", None, 42, "000", "  ", "c00042"]
    ops = ["strip", "upper", "strip_zeros"]
    assert normalize_all(values, ops) == [normalize(v, ops) for v in values] == [
        "100234", "AB-01", None, "42", "0", None, "C00042"]


def test_a_mixed_batch_reports_its_issues_in_the_keys_order_then_the_ids_claimed_twice():
    """Column-wise resolution gives what the rules give one key at a time: issues in the order of the
    batch's keys (the steward's list and the quarantine follow it), reverse conflicts after them."""
    spec = CrosswalkSpec(rules=[{"kind": "file", "path": "x.csv"},
                                {"kind": "exact", "field": "external_id", "normalize": ["strip_zeros"], "match": "id"},
                                {"kind": "exact", "field": "external_id", "match": "crosswalk"}],
                         orphans="quarantine")
    index = CrosswalkIndex(existing={"K1": "100001", "K2": "100002"}, file_links={"K2": "100009", "K5": "100005"},
                           canonical_ids={"100003", "100004"}, foreign={"2": {"X7": {"C-1", "C-2"}}})
    batch = {"K1": {}, "K2": {}, "K3": {"external_id": "0100003"}, "K4": {"external_id": "X7"},
             "K5": {"external_id": None}, "K6": {"external_id": "999"}, "K7": {"external_id": "100003"}}
    res = resolve("crm", "customer", spec, batch, index)
    assert res.ids == {"K1": "100001", "K5": "100005"}
    assert {k: res.rules[k] for k in res.ids} == {"K1": "existing", "K5": "file"}
    assert [(i.kind, i.source_key) for i in res.issues] == [
        ("conflict", "K2"), ("conflict", "K4"), ("orphan", "K6"), ("conflict", "K3"), ("conflict", "K7")]
    assert res.issues[1].candidates == ["C-1", "C-2"] and "'100003' is already claimed" in res.issues[3].detail


def test_added_links_are_the_index_s_own_whether_new_or_moved():
    index = CrosswalkIndex(existing={"K1": "100001"})
    index.add_links({"K2": "100002", "K3": "100003"})  # new keys on new ids: added at once
    index.add_links({"K1": "100004", "K4": "100002"})  # a moved key, a second key on an id: one by one
    assert index.existing == {"K1": "100004", "K2": "100002", "K3": "100003", "K4": "100002"}
    assert index.owners() == {"100001": (), "100002": ("K2", "K4"), "100003": ("K3",), "100004": ("K1",)}
    assert index.rows == 3
