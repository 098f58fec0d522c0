"""The web app in a real browser: Debian's chromium driven by Playwright (never a downloaded browser).

A live uvicorn server on 127.0.0.1 (ephemeral port) over a seeded store. A steward filters the
queue, bulk-waives with a reason and sees the audit entry; an approver approves the plan a
planner made; the planner cannot; a stale update is refused. Screenshots of the main pages at
1400 and 800 px go to a temporary folder (printed; set SEGBRIDGE_SCREENSHOTS to choose it).
Without chromium the tests skip with the reason, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from tests.unit.webapp import site
from tests.unit.webapp.test_api import seed_kpis

pytestmark = pytest.mark.e2e
ON_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = next((p for p in (os.environ.get("SEGBRIDGE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p), None)
PAGES = {"home": "/", "queue": "/exceptions?status=open&status=acknowledged", "exception": "/exceptions/1",
         "plan": "/plans/1", "runs": "/runs", "run": "/runs/2", "quarantine": "/quarantine",
         "kpis": "/kpis", "whatif": "/what-if"}


def _browser_or_skip():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None and CHROMIUM is None:
        reason = "no chromium on this machine (apt-get install -y chromium; .ci/run does)"
    if reason:
        if ON_CI:
            pytest.fail(f"CI requires the browser tests: {reason}")
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base url, engine) of a live server on a seeded store."""
    import uvicorn

    from webapp.application import create_app

    folder = tmp_path_factory.mktemp("browser")
    site.build(folder / "template.db")
    db = site.copy_of(folder / "template.db", folder / "store.db")
    seed_kpis(db)  # the KPI page's screenshot shows the table and the charts
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(db, None), log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # condition: uvicorn says it is serving
        if srv.started:
            started.set()
    yield f"http://127.0.0.1:{port}", db
    srv.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots():
    folder = Path(os.environ.get("SEGBRIDGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="segbridge-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _login(browser, base: str, name: str, width: int = 1400):
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", site.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def test_a_steward_filters_the_queue_bulk_waives_and_sees_the_audit(server, browser):
    base, db = server
    page = _login(browser, base, "stu")
    page.goto(base + "/exceptions")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    page.fill("#filters input[name=system]", "crm")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**system=crm**")
    page.wait_for_selector("p.count:text('4 match')")
    rows = page.locator("table.queue tr:has(input[name=id])")
    assert rows.count() == 4
    assert page.evaluate("window.loadedOnce === true")  # htmx swapped the results in, no full reload
    page.check("input[aria-label='select 1']")
    page.check("input[aria-label='select 3']")
    page.select_option("#bulk select[name=action]", "waive")
    page.fill("#bulk input[name=reason]", "CRM test records")
    page.click("#bulk button[type=submit]")
    assert "2 exception(s): waive done" in page.locator(".msg").inner_text()
    page.goto(base + "/exceptions/3")
    audit = page.locator("table.audit").inner_text()
    assert "exception_waived" in audit and "stu" in audit and "CRM test records" in audit


def test_row_actions_swap_the_row_in_place(server, browser):
    base, db = server
    from core.reconcile import get_exception

    page = _login(browser, base, "stu")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/exceptions?system=sap")
    page.evaluate("window.loadedOnce = true")
    page.click("#exc-8 button.row-ack")
    page.wait_for_selector("#exc-8 .msg")
    assert "acknowledged" in page.locator("#exc-8").inner_text()
    page.click("#exc-8 button.row-take")
    page.wait_for_selector("#exc-8 td:text-is('stu')")
    assert page.evaluate("window.loadedOnce === true")
    assert get_exception(db, 8).status == "acknowledged" and get_exception(db, 8).owner == "stu"
    assert not errors  # htmx runs under the CSP (script-src 'self', no inline style or eval)


def test_a_runs_page_loads_its_service_per_segment_after_showing(server, browser):
    base, _ = server
    page = _login(browser, base, "vera")
    page.goto(base + "/runs/2")
    page.wait_for_selector("#service table.service")
    assert "the KPIs computed for this run" in page.locator("#service").inner_text()
    assert "0.970" in page.locator("#service table.service").inner_text()


def test_a_stale_update_is_refused_in_the_browser(server, browser):
    base, _ = server
    first, second = _login(browser, base, "stu"), _login(browser, base, "ada")
    first.goto(base + "/exceptions/6")
    second.goto(base + "/exceptions/6")
    first.select_option("form[action$='/move'] select[name=action]", "ack")
    first.click("form[action$='/move'] button")
    assert "ack done" in first.locator(".msg").inner_text()
    second.select_option("form[action$='/move'] select[name=action]", "waive")
    second.fill("form[action$='/move'] input[name=reason]", "mine")
    second.click("form[action$='/move'] button")
    assert "changed since you loaded them" in second.locator(".error").inner_text()


def test_a_planner_cannot_approve_and_an_approver_can(server, browser):
    base, _ = server
    planner = _login(browser, base, "pia")
    planner.goto(base + "/plans/1")
    planner.fill("form[action$='/approve'] input[name=reason]", "my own plan")
    planner.click("form[action$='/approve'] button")
    assert "may not review plan" in planner.locator(".error").inner_text()
    approver = _login(browser, base, "alma")
    approver.goto(base + "/plans/1")
    approver.fill("form[action$='/approve'] input[name=reason]", "checked with planning")
    approver.click("form[action$='/approve'] button")
    assert "plan 1 approved" in approver.locator(".msg").inner_text()
    assert approver.locator("#plan-status").inner_text() == "approved"


def test_screenshots_of_the_main_pages_at_1400_and_800_px(server, browser, shots):
    base, _ = server
    taken = []
    for width in (1400, 800):
        page = _login(browser, base, "ada", width)
        for name, path in PAGES.items():
            page.goto(base + path)
            target = shots / f"{name}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
            taken.append(target)
    print("screenshots:\n" + "\n".join(str(t) for t in taken))
    assert all(t.stat().st_size > 5000 for t in taken)
