"""The remaining shipped mappings against their connectors and sandboxes, both ways (see
test_mappings_roundtrip.py for the first five): canonical CSV files, Dynamics 365, SAP ECC over RFC
(with the joins RFC_READ_TABLE cannot do itself) and Northwind over SQL (Order Details joined to Orders).

Forward: `core.sync.pull` into a fresh SQLite store; nothing is quarantined and the canonical counts
equal what the source holds. Reverse: one record written through the entity's reverse map reads back.
"""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
import sqlalchemy as sa
from test_mappings_roundtrip import FAST, config, counts, links, pull_clean, rows, write_and_read_back

from basics.errors import ConfigError
from connectors import registry
from connectors.base import StreamSpec
from connectors.connector_errors import FatalError
from connectors.sap.rfc import SapRfcConnector
from core.store import create_all
from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate
from sandbox.sap_rfc import FakeRfcBackend
from sandbox.server import serve

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def ds():
    """A tiny world; half the customers carry purely numeric ids (SAP-style) so ALPHA padding is exercised."""
    return generate(seed=5, products=3, locations=2, customers=4, weeks=4, numeric_customers=True)


@pytest.fixture
def store(sqlite_db):
    create_all(sqlite_db)
    return sqlite_db


# ---------------------------------------------------------------------------------------------- canonical CSV


def pull_csv(ds, tmp_path, store):
    write_canonical_csv(ds, tmp_path / "drop")
    pull_clean(config(tmp_path, "csv", "csv_folder", "canonical_csv.yaml", {"path": str(tmp_path / "drop")}),
               store, "csv")


def test_canonical_csv_pulls_every_file_of_the_layout(ds, tmp_path, store):
    pull_csv(ds, tmp_path, store)
    assert counts(store, "csv") == ds.counts()  # all nine files, each row once
    customers = {r["id"]: r for r in rows(store, "customer", "csv")}
    assert sorted(customers) == sorted(ds.customers["id"])
    assert "100002" in customers  # a numeric id stays text, without a float's ".0"
    areas = {r["customer_id"]: r for r in rows(store, "customer_sales_area", "csv")}
    first = ds.customer_sales_areas.iloc[0]
    assert (areas[first.customer_id]["current_delivery_priority"], areas[first.customer_id]["sales_org"]) == (
        first.current_delivery_priority, "1010")


# ---------------------------------------------------------------------------------------------- Dynamics 365


def test_dynamics_accounts_link_to_erp_customers_and_write_back(ds, tmp_path, store, monkeypatch):
    from sandbox.dynamics_standin import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, build_app

    pull_csv(ds, tmp_path, store)  # the ERP customers the accounts' account numbers point at
    app = build_app(ds)
    with serve(app) as server:
        # `tables` holds only what write-back reads back: the pull's columns come from the mapping.
        monkeypatch.setenv("D365_SECRET", CLIENT_SECRET)  # the stand-in refuses requests without a token
        opts = {"base_url": server.url, **FAST, "page_size": 3,
                "auth": {"type": "oauth2_client_credentials", "token_url": server.url + TOKEN_PATH,
                         "client_id": CLIENT_ID, "client_secret": "${D365_SECRET}"},
                "tables": {"accounts": {"key": "accountid", "fields": ["accountclassificationcode"]}}}
        pull_clean(config(tmp_path, "dynamics365", "dynamics365", "dynamics365.yaml", opts), store, "dynamics365")
        accounts = app.state.accounts
        assert counts(store, "dynamics365") == {"customer": len(accounts)} == {"customer": len(ds.customers)}
        assert links(store, "dynamics365") == {a["accountid"]: a["accountnumber"] for a in accounts.values()}
        loaded = {r["id"]: r for r in rows(store, "customer", "dynamics365")}
        expected = {"A": "A-X", "B": "B-X", "C": "C-X"}
        assert {c.id: (loaded[c.id]["country"], loaded[c.id]["current_segment"])
                for c in ds.customers.itertuples()} == {c.id: (c.country, expected[c.current_classification])
                                                         for c in ds.customers.itertuples()}
        # The mapping's stream options are the request: its select list and the modifiedon delta column.
        assert next(r for r in app.log if r.path.endswith("/accounts")).query["$select"] == [
            "accountid,accountnumber,name,accountclassificationcode,address1_country,modifiedon"]
        with registry.create("dynamics365", opts) as conn:
            written, back = write_and_read_back(conn, store, "dynamics365", "dynamics365.yaml", "account",
                                                {"segment": "strategic"})  # the engine's customer segment
    assert written == {"accountclassificationcode": 100000009}
    assert back["accountclassificationcode"] == 100000009


# ---------------------------------------------------------------------------------------------- SAP ECC (RFC)


@pytest.fixture
def ecc(ds, monkeypatch):
    """The fake ECC seeded from the Dataset, reached through the connector's default connection factory
    (what pyrfc.Connection would be), so core.sync builds the connector from configuration."""
    backend = FakeRfcBackend.seeded(ds)
    monkeypatch.setattr("connectors.sap.rfc._pyrfc_connection", backend.connect)
    monkeypatch.setenv("SAP_RFC_PW", "secret")
    opts = {"connection": {"ashost": "ecc", "sysnr": "00", "client": "100", "user": "SEGBRIDGE",
                           "passwd": "${SAP_RFC_PW}"}, "page_rows": 5, "join_chunk": 3}
    return backend, opts


def test_sap_ecc_rfc_pull_with_joins_and_bapi_write_back(ds, tmp_path, store, ecc):
    backend, opts = ecc
    pull_clean(config(tmp_path, "sap_ecc", "sap_rfc", "sap_ecc_rfc.yaml", opts), store, "sap_ecc")
    t = backend.tables
    receipts = [r for r in t["EKBE"] if r["VGABE"] == "1"]
    assert len(receipts) < len(t["EKBE"])  # invoices in the PO history are not receipts
    assert counts(store, "sap_ecc") == {
        "product": len(t["MARA"]), "product_location": len(t["MARC"]), "customer": len(t["KNA1"]),
        "customer_sales_area": len(t["KNVV"]), "order_line": len(t["VBAP"]), "shipment": len(t["LIKP"]),
        "receipt": len(receipts)}
    assert counts(store, "sap_ecc") == {
        k: v for k, v in ds.counts().items() if k not in ("location", "supplier")}
    # Header fields joined by key: order date and customer (VBAK), vendor, PO date and the FIRST schedule
    # line's date (EKET ETENR 0001, although a later line is stored before it).
    lines = {(r["order_id"], r["line_no"]): r for r in rows(store, "order_line", "sap_ecc")}
    assert {(str(int(x.order_id[2:])), x.line_no): (x.order_date, x.customer_id, x.quantity)
            for x in ds.order_lines.itertuples()} == {
        k: (v["order_date"], v["customer_id"], v["quantity"]) for k, v in lines.items()}
    got = {r["po_id"]: (r["supplier_id"], r["order_date"], r["promised_date"], r["receipt_date"])
           for r in rows(store, "receipt", "sap_ecc")}
    assert got == {str(4_500_000_000 + int(x.po_id[2:])): (x.supplier_id, x.order_date, x.promised_date,
                                                           x.receipt_date) for x in ds.receipts.itertuples()}
    assert any(r["ETENR"] == "0002" for r in t["EKET"])
    ships = {r["shipment_id"]: r for r in rows(store, "shipment", "sap_ecc")}
    first = ds.shipments.iloc[0]
    assert (ships[str(80_000_000 + 1)]["customer_id"], ships[str(80_000_000 + 1)]["ship_date"]) == (
        first.customer_id, first.ship_date)
    # Joined tables are read by the page's keys, 3 per IN list, in quoted OPTIONS lines of <= 72 characters.
    vbak = [p for n, p in backend.calls if n == "RFC_READ_TABLE" and p["QUERY_TABLE"] == "VBAK"
            and p.get("NO_DATA") != "X"]
    assert len(vbak) == sum(-(-n // 3) for n in (5, len(t["VBAP"]) - 5))  # two VBAP pages, chunks of 3
    texts = [o["TEXT"] for p in vbak for o in p["OPTIONS"]]
    assert texts[0] == "VBELN IN ( '0000000001' , '0000000002' , '0000000003' )"
    assert all(len(x) <= 72 for x in texts)
    with registry.create("sap_rfc", opts) as conn:
        params = {"abc": "B", "safety_stock": 12.5, "reorder_point": 40, "mrp_type": "VB", "lot_sizing": "FX",
                  "order_multiple": 5, "max_qty": 900}
        written, back = write_and_read_back(conn, store, "sap_ecc", "sap_ecc_rfc.yaml", "marc", params)
    assert written == {"ABC_ID": "B", "MRP_TYPE": "VB", "LOTSIZEKEY": "FX", "SAFETY_STK": "12.500",
                       "REORDER_PT": "40.000", "ROUND_VAL": "5.000", "MAX_STOCK": "900.000"}
    assert {k: back[k] for k in written} == written
    assert (backend.count("BAPI_TRANSACTION_COMMIT"), backend.count("BAPI_TRANSACTION_ROLLBACK")) == (1, 0)


def test_rfc_join_must_be_unique_or_say_which_row_wins(ecc):
    backend, opts = ecc
    conn = SapRfcConnector(opts, connection_factory=backend.connect)
    ambiguous = {"fields": ["EBELN", "EBELP"], "join": {"table": "EKET", "by": ["EBELN"], "fields": ["EINDT"]}}
    with pytest.raises(FatalError, match="leaves key field.s. EBELP, ETENR open"):
        list(conn.read(StreamSpec("EKBE", options=ambiguous), None))
    yaml_on = {"fields": ["VBELN"], "join": {"table": "VBAK", True: ["VBELN"], "fields": ["AUDAT"]}}
    with pytest.raises(ConfigError, match="YAML reads as true; write `by:`"):  # a typed stream option
        list(conn.read(StreamSpec("VBAP", options=yaml_on), None))
    assert backend.count("RFC_READ_TABLE") == 0  # refused before anything was read


# ---------------------------------------------------------------------------------------------- Northwind (SQL)

NW_TABLES = {"Products": {"key": ["ProductID"]}, "Order Details": {"key": ["OrderID", "ProductID"]},
             "Orders": {"key": ["OrderID"]}, "Customers": {"key": ["CustomerID"]},
             "Suppliers": {"key": ["SupplierID"]}}


@pytest.fixture
def northwind_db(shared, tmp_path):
    path = tmp_path / "northwind.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.executescript((shared / "datasets/northwind/sqlite_jpwhite3/create.sql").read_text(encoding="utf-8"))
    conn.close()
    return path


def assert_northwind_loaded(store, customers: int) -> None:
    assert counts(store, "northwind") == {"product": 77, "product_location": 77, "customer": customers,
                                          "supplier": 29, "order_line": 2155, "shipment": 830}
    lines = {(r["order_id"], r["line_no"]): r for r in rows(store, "order_line", "northwind")}
    first = lines[("10248", "11")]  # Order Details 10248/11 of Orders 10248 (VINET, 1996-07-04)
    assert (first["customer_id"], first["order_date"], first["requested_date"], first["quantity"]) == (
        "VINET", date(1996, 7, 4), date(1996, 8, 1), 12.0)
    assert sum(r["quantity"] for r in lines.values()) == 51317
    countries = {r["country"] for r in rows(store, "customer", "northwind")} | {
        r["country"] for r in rows(store, "supplier", "northwind")}
    assert {"DE", "GB", "US", "CH", "VE", "SE", "NL"} <= countries and "Switzerland" not in countries


@pytest.mark.shared
def test_northwind_sqlite_pulls_whole_with_order_details_joined_to_orders(northwind_db, tmp_path, store):
    opts = {"url": f"sqlite:///{northwind_db}", "page_size": 500, "tables": NW_TABLES}
    result = pull_clean(config(tmp_path, "northwind", "sql", "northwind_sql.yaml", opts), store, "northwind")
    details = next(s for s in result.streams if s.entity == "order_details")
    assert (details.read, details.batches) == (2155, 5)  # keyset pages of 500 over the joined read
    assert_northwind_loaded(store, customers=93)


def copy_tables(source: sa.Engine, target: sa.Engine, names: list[str]) -> None:
    """The SQLite Northwind tables, same (quoted, mixed-case) names, generic column types, into `target`."""
    meta, copy = sa.MetaData(), sa.MetaData()
    meta.reflect(source, only=names)
    for name in names:
        table = meta.tables[name]
        sa.Table(name, copy, *(sa.Column(c.name, c.type.as_generic(), primary_key=c.primary_key, autoincrement=False)
                               for c in table.c))
    copy.create_all(target)
    with source.connect() as src, target.begin() as dst:
        for name in names:
            data = [dict(r._mapping) for r in src.execute(sa.select(meta.tables[name]))]
            dst.execute(copy.tables[name].insert(), data)


@pytest.mark.shared
@pytest.mark.postgres
def test_northwind_postgres_pulls_whole_with_order_details_joined_to_orders(northwind_db, tmp_path, store,
                                                                            pg_db):
    lite = sa.create_engine(f"sqlite:///{northwind_db}")
    copy_tables(lite, pg_db, list(NW_TABLES))
    lite.dispose()
    with pg_db.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    opts = {"url": pg_db.url.render_as_string(hide_password=False), "page_size": 500, "tables": NW_TABLES,
            "connect_args": {"options": f"-csearch_path={schema}"}}
    pull_clean(config(tmp_path, "northwind", "sql", "northwind_sql.yaml", opts), store, "northwind")
    assert_northwind_loaded(store, customers=93)


# ---------------------------------------------------------------------------------------------- Oracle EBS (ISG)


def test_oracle_ebs_isg_fallback_pulls_and_writes_back(ds, tmp_path, store, monkeypatch):
    """The demo's stand-in for Fusion SalesPartyService (no external WSDL needed): oracle_ebs_soap.yaml
    over the ISG-style XX_SEGBRIDGE_CUST_PKG, with the options `segbridge demo` writes."""
    from sandbox.oracle_soap import build_app
    from segbridge.demo_world import DEMO_SECRETS, _ebs_soap_options

    monkeypatch.setenv("SEGBRIDGE_DEMO_EBS_PASSWORD", DEMO_SECRETS["SEGBRIDGE_DEMO_EBS_PASSWORD"])
    app = build_app(dataset=ds, users={"SEGBRIDGE": DEMO_SECRETS["SEGBRIDGE_DEMO_EBS_PASSWORD"]})
    with serve(app) as server:
        opts = {**_ebs_soap_options(server.url), **FAST}
        opts["streams"]["GET_CUSTOMERS"]["page_size"] = 3  # a read spans several P_OFFSET pages
        pull_clean(config(tmp_path, "oracle_ebs", "oracle_soap", "oracle_ebs_soap.yaml", opts), store, "oracle_ebs")
        assert counts(store, "oracle_ebs") == {"customer": len(ds.customers)}
        # party numbers are the ERP customer numbers: each party links to the generated customer
        assert links(store, "oracle_ebs") == {c: c for c in ds.customers["id"]}
        assert {r["current_segment"] for r in rows(store, "customer", "oracle_ebs")} == {"C"}
        with registry.create("oracle_soap", opts) as conn:
            written, back = write_and_read_back(conn, store, "oracle_ebs", "oracle_ebs_soap.yaml", "customer",
                                                {"segment": "strategic"})
    assert written == {"CLASS_CODE": "STRATEGIC"} and back["CLASS_CODE"] == "STRATEGIC"
    assert app.state.validated and all(ok for _, ok in app.state.validated)  # every request matched the XSDs
