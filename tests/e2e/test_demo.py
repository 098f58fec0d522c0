"""`segbridge demo` as a new user runs it: a subprocess in an empty folder, exit 0, reports that open."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import create_engine, text

from core.reports.reconcile_report import KINDS
from segbridge.commands.demo_cmd import DEFAULT_PRODUCTS
from segbridge.demo_world import FUSION_SHARE, fusion_wsdl_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


class _Page(HTMLParser):
    """Collects the title, headings and image sources of an HTML page (fails on nothing: we check them)."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None
        self.title = ""

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        self._in = tag if tag in ("h1", "h2", "title") else None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in in ("h1", "h2"):
            self.headings.append(data.strip())

    def handle_endtag(self, tag):
        self._in = None


def test_demo_runs_and_writes_reports(tmp_path):
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    env.pop("SEGBRIDGE_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "segbridge", "demo", "--quiet"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=360)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = tmp_path / "segbridge-demo"
    reports = folder / "reports"
    assert (folder / "segbridge.yaml").is_file()
    assert "${SEGBRIDGE_DEMO_" in (folder / "segbridge.yaml").read_text(encoding="utf-8")
    assert "demo-sap-pass" not in (folder / "segbridge.yaml").read_text(encoding="utf-8")
    systems = yaml.safe_load((folder / "segbridge.yaml").read_text(encoding="utf-8"))["systems"]
    # Oracle SOAP: Fusion SalesPartyService with the external WSDL, else the EBS ISG-style fallback
    soap_system = "oracle_crm" if (fusion_wsdl_dir() / "SalesPartyService.wsdl").is_file() else "oracle_ebs"
    expected = {"sap", "wms", "tms", "salesforce", "oracle", soap_system}
    assert set(systems) == expected and all(s.get("enabled", True) for s in systems.values()), proc.stdout
    assert (systems["oracle"]["mapping"], systems.get("oracle_crm", {}).get("mapping", "oracle_fusion_crm.yaml")) == (
        "oracle_fusion_items.yaml", "oracle_fusion_crm.yaml")
    db = create_engine(f"sqlite:///{folder / 'segbridge.db'}")
    with db.connect() as conn:
        states = {(r.system, r.entity, r.state): r.n for r in conn.execute(text(
            "select system, entity, state, count(*) n from planned_change group by 1, 2, 3"))}
        loaded = {(r.system, r.entity): r.n for r in conn.execute(text(
            "select system, entity, max(loaded) n from entity_count group by 1, 2"))}
        kpis = {r.kpi: (r.value, r.note) for r in conn.execute(text(
            "select kpi, value, note from kpi_value where segment = 'all' and period = 'all' and scope = ''"))}
        # fill rate by units from the WMS's shipment lines (picks, some short), as SQL adds them up
        by_lines = conn.execute(text(
            "select sum(min(coalesce(s.q, 0), o.quantity)) / sum(o.quantity) from order_line o left join "
            "(select order_id, order_line_no, sum(quantity) q from shipment_line group by 1, 2) s "
            "on s.order_id = o.order_id and s.order_line_no = o.line_no where not o.rejected")).scalar()
    db.dispose()
    # The KPIs read line-level shipments (partial picks show: below 1, where order-level shipments of
    # every order would give 1) and on-hand pulled from the WMS: the inventory KPIs are computed.
    assert loaded[("wms", "pick_shipped")] > 0 and loaded[("wms", "stock_on_hand")] == 2 * DEFAULT_PRODUCTS
    assert kpis["fill_rate_units"][0] == pytest.approx(by_lines) and by_lines < 1.0
    assert 0 < kpis["otif"][0] <= kpis["fill_rate_lines"][0] < 1.0
    for name in ("inventory_value_avg", "inventory_turns", "days_of_supply", "stockout_rate"):
        assert kpis[name][0] is not None and kpis[name][0] >= 0 and not kpis[name][1], (name, kpis[name])
    # WMS, TMS (routing refnums on customer locations, routing profiles with JSON booleans) and Oracle
    # apply everything they are sent
    for system in ("wms", "tms", "oracle", "sap"):
        assert {k: n for k, n in states.items() if k[0] == system and k[2] != "applied"} == {}, states
    customers = max(20, DEFAULT_PRODUCTS // 5)
    if soap_system == "oracle_ebs":  # every customer's class written through UPDATE_CLASSIFICATION
        assert {k: n for k, n in states.items() if k[0] == "oracle_ebs"} == {
            ("oracle_ebs", "UPDATE_CLASSIFICATION", "applied"): customers}, states
        assert loaded[("oracle_ebs", "customer")] == customers
    assert {e for s, e, _ in states if s == "tms"} == {"locations.refnums", "routingProfiles"}
    assert states[("oracle", "itemsV2", "applied")] > 0 and states[("wms", "item", "applied")] > 0
    # product-locations per system: the products x 2 DCs in SAP and WMS, a third of the products in Fusion
    assert (loaded[("sap", "product_supply_planning")], loaded[("wms", "item_facility")],
            loaded[("oracle", "item_organization")], loaded[("tms", "location")]) == (
        2 * DEFAULT_PRODUCTS, 2 * DEFAULT_PRODUCTS, -(-DEFAULT_PRODUCTS // FUSION_SHARE), customers)
    printed = proc.stdout.replace("\n", "")
    assert "open first:" in printed and all(str(reports / f) in printed for f in (
        "exceptions.html", "exceptions.xlsx", "exceptions.csv", "engine_report.html"))
    # the closing summary names every system it ran with its kind, the one it did not start and why, the time
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("│ ")]
    ran = {r[1]: (r[3], r[5]) for r in rows if len(r) > 5 and r[1] in {*expected, "oracle_crm", "oracle_ebs"}}
    assert {n for n, (_, status) in ran.items() if status == "ran"} == expected, proc.stdout
    assert {(n, kind) for n, (kind, _) in ran.items()} >= {
        ("sap", "sap_odata"), ("wms", "wms"), ("tms", "tms"), ("salesforce", "salesforce"),
        ("oracle", "oracle_fusion_rest"), (soap_system, "oracle_soap")}, proc.stdout
    not_started = ({"oracle_crm", "oracle_ebs"} - {soap_system}).pop()
    assert ran[not_started][1] == "not" and "not started:" in printed
    assert "segbridge demo finished in" in printed and "s wall (" in printed

    wb = load_workbook(reports / "exceptions.xlsx")
    assert wb.sheetnames == ["Summary", *KINDS]
    assert all(wb[k].freeze_panes == "A2" and wb[k].auto_filter.ref for k in KINDS)
    assert wb["value_mismatch"].max_row >= 2  # the value changed in SAP by hand

    page = _Page()
    page.feed((reports / "exceptions.html").read_text(encoding="utf-8"))
    assert page.title == "segbridge reconciliation report"
    assert "Open exceptions by system and kind" in page.headings
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert (reports / "exceptions.csv").read_text(encoding="utf-8").startswith("id,status,severity,kind")
    kpi_page = (reports / "kpi_dashboard.html").read_text(encoding="utf-8")  # computed after the reconcile
    assert "segbridge KPI dashboard" in kpi_page and "<svg" in kpi_page and "Policy adherence by system" in kpi_page
    engine_report = Path(reports / "engine_report.html")
    if engine_report.exists():
        engine_page = _Page()
        engine_page.feed(engine_report.read_text(encoding="utf-8"))
        assert engine_page.images
