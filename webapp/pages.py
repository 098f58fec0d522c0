"""The server-rendered pages: home, exception queue, exception, quarantine, plans, plan review, runs.

Pages read with the `read` action; each form posts to a route guarded by its own action, calls the
same core function as the API and the CLI, and redirects back (post/redirect/get) with a message
or the refusal (a stale version, four eyes) shown on the page. Jinja2 escapes every value.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from basics.errors import SegbridgeError
from core import accounts, plan_review, quarantine, runs, stewardship
from core.reconcile import get_exception, history
from webapp.api import MOVES
from webapp.security import Caller, guard

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))  # autoescape on (Starlette default)
router = APIRouter()
FILTERS = ("status", "system", "kind", "severity", "owner")


def _render(request: Request, template: str, caller: Caller, **context) -> HTMLResponse:
    context.update(user=caller.user, csrf=caller.csrf or "", msg=request.query_params.get("msg"),
                   error=request.query_params.get("error"),
                   may=lambda action: accounts.allowed(caller.user.role, action))
    response = templates.TemplateResponse(request, template, context)
    response.headers["Vary"] = "HX-Request"  # the same URL answers a whole page or an htmx partial
    return response


def _partial(request: Request) -> bool:
    """An htmx request for a fragment (not a history restore, which needs the whole page)."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def _back(url: str, **params) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(url + (sep + query if query else ""), status_code=303)


def _versions(values: list[str]) -> dict[int, int]:
    """Checkbox values 'id:version' -> {id: version}."""
    out = {}
    for v in values:
        ident, _, version = str(v).partition(":")
        out[int(ident)] = int(version or 0)
    return out


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: Caller = guard("read")):
    db = request.app.state.db
    recent = runs.list_runs(db, limit=200)
    last = {}
    for r in recent:
        last.setdefault(r.kind, r)
    suspect = [r for r in recent if r.suspect]
    waiting = plan_review.list_plans(db, "needs_approval", 20)
    return _render(request, "home.html", caller, last=last.values(), suspect=suspect, waiting=waiting,
                   ages=stewardship.open_by_age(db))


def _queue_filter(request: Request) -> stewardship.QueueFilter:
    q = request.query_params
    older = q.get("older_than_days")
    return stewardship.QueueFilter(*[[v for v in q.getlist(k) if v] for k in FILTERS], q.get("key") or None,
                                   int(older) if older and older.isdigit() else None)


@router.get("/exceptions", response_class=HTMLResponse)
def queue_page(request: Request, caller: Caller = guard("read")):
    f = _queue_filter(request)
    page = max(1, int(request.query_params.get("page", "1") or 1))
    sort = request.query_params.get("sort", "last_seen")
    rows, total = stewardship.queue(request.app.state.db, f, page, 50, sort if sort in stewardship.SORTS else "last_seen")
    items = [(e, stewardship.due_at(e.first_seen, e.severity), stewardship.aging(e.first_seen, e.severity, e.status))
             for e in rows]
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "msg", "error")])
    template = "_queue_results.html" if _partial(request) else "queue.html"
    return _render(request, template, caller, items=items, total=total, page=page, f=f, sort=sort, query=query,
                   sorts=list(stewardship.SORTS), cap=stewardship.COUNT_CAP)


def _row(request: Request, caller: Caller, exc_id: int, change) -> HTMLResponse:
    """Do one row action (`change(db, version)`) and answer the row's fresh HTML (htmx swaps it in);
    a refusal (stale version, unknown id) is shown in the row rather than as an error page."""
    db = request.app.state.db
    msg = error = None
    try:
        change(db, int(request.state.form.get("version") or 0))
        msg = "done"
    except (SegbridgeError, ValueError) as exc:
        error = str(exc)
    e = get_exception(db, exc_id)
    return _render(request, "_queue_row.html", caller, e=e, due=stewardship.due_at(e.first_seen, e.severity),
                   aging=stewardship.aging(e.first_seen, e.severity, e.status), row_msg=msg, row_error=error)


@router.post("/exceptions/{exc_id}/row/ack", response_class=HTMLResponse)
async def row_ack(request: Request, exc_id: int, caller: Caller = guard("transition")):
    request.state.form = await request.form()
    return _row(request, caller, exc_id, lambda db, version: stewardship.move(
        db, [exc_id], MOVES["ack"], None, caller.user.name, {exc_id: version}))


@router.post("/exceptions/{exc_id}/row/assign", response_class=HTMLResponse)
async def row_assign(request: Request, exc_id: int, caller: Caller = guard("assign")):
    """Assign the exception to the caller ("take")."""
    request.state.form = await request.form()
    return _row(request, caller, exc_id, lambda db, version: stewardship.assign(
        db, [exc_id], caller.user.name, caller.user.name, {exc_id: version}))


@router.post("/exceptions/bulk")
async def queue_bulk(request: Request, caller: Caller = guard("transition")):
    form = await request.form()
    back = "/exceptions?" + str(form.get("query") or "")
    action = str(form.get("action") or "")
    db = request.app.state.db
    try:
        versions = _versions(form.getlist("id"))
        if action == "assign":
            n = stewardship.assign(db, list(versions), str(form.get("owner") or ""), caller.user.name, versions)
        elif action in MOVES:
            n = stewardship.move(db, list(versions), MOVES[action], str(form.get("reason") or "") or None,
                                 caller.user.name, versions)
        else:
            return _back(back, error=f"choose an action (not {action!r})")
        if not versions:
            return _back(back, error="select at least one exception")
    except SegbridgeError as exc:
        return _back(back, error=str(exc))
    return _back(back, msg=f"{n} exception(s): {action} done")


@router.get("/exceptions/{exc_id}", response_class=HTMLResponse)
def exception_page(request: Request, exc_id: int, caller: Caller = guard("read")):
    db = request.app.state.db
    e = get_exception(db, exc_id)
    return _render(request, "exception.html", caller, e=e, due=stewardship.due_at(e.first_seen, e.severity),
                   aging=stewardship.aging(e.first_seen, e.severity, e.status),
                   comments=stewardship.comments(db, exc_id), trail=history(db, exc_id),
                   line=plan_review.plan_line_of(db, e))


@router.post("/exceptions/{exc_id}/move")
async def exception_move(request: Request, exc_id: int, caller: Caller = guard("transition")):
    form = await request.form()
    back = f"/exceptions/{exc_id}"
    try:
        action = str(form.get("action"))
        stewardship.move(request.app.state.db, [exc_id], MOVES[action], str(form.get("reason") or "") or None,
                         caller.user.name, {exc_id: int(form.get("version") or 0)})
    except (SegbridgeError, KeyError, ValueError) as exc:
        return _back(back, error=str(exc))
    return _back(back, msg=f"exception {exc_id}: {action} done")


@router.post("/exceptions/{exc_id}/assign")
async def exception_assign(request: Request, exc_id: int, caller: Caller = guard("assign")):
    form = await request.form()
    try:
        stewardship.assign(request.app.state.db, [exc_id], str(form.get("owner") or ""), caller.user.name,
                           {exc_id: int(form.get("version") or 0)})
    except (SegbridgeError, ValueError) as exc:
        return _back(f"/exceptions/{exc_id}", error=str(exc))
    return _back(f"/exceptions/{exc_id}", msg="assigned")


@router.post("/exceptions/{exc_id}/comment")
async def exception_comment(request: Request, exc_id: int, caller: Caller = guard("comment")):
    form = await request.form()
    try:
        stewardship.add_comment(request.app.state.db, exc_id, str(form.get("text") or ""), caller.user.name)
    except SegbridgeError as exc:
        return _back(f"/exceptions/{exc_id}", error=str(exc))
    return _back(f"/exceptions/{exc_id}", msg="comment added")


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(request: Request, caller: Caller = guard("read")):
    q = request.query_params
    filters = quarantine.Filters(q.get("system") or None, q.get("entity") or None, q.get("reason") or None)
    db = request.app.state.db
    return _render(request, "quarantine.html", caller, records=quarantine.list_records(db, filters, 100),
                   counts=quarantine.reason_counts(db, filters))


@router.post("/quarantine/release")
async def quarantine_release(request: Request, caller: Caller = guard("release_quarantine")):
    form = await request.form()
    try:
        n = quarantine.release_records(request.app.state.db, [int(i) for i in form.getlist("record")],
                                       caller.user.name, str(form.get("reason") or ""))
    except (SegbridgeError, ValueError) as exc:
        return _back("/quarantine", error=str(exc))
    return _back("/quarantine", msg=f"{n} record(s) released")


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, caller: Caller = guard("read")):
    return _render(request, "plans.html", caller, plans=plan_review.list_plans(request.app.state.db, None, 100))


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: int, caller: Caller = guard("read")):
    from core.writeback.plan import load_plan

    db = request.app.state.db
    page = max(1, int(request.query_params.get("page", "1") or 1))
    lines, total = plan_review.plan_lines(db, plan_id, page, 200)
    return _render(request, "plan.html", caller, plan=load_plan(db, plan_id), lines=lines, total=total, page=page,
                   trail=plan_review.audit_trail(db, "plan", str(plan_id)))


@router.post("/plans/{plan_id}/approve")
async def plan_approve(request: Request, plan_id: int, caller: Caller = guard("review_plan")):
    from core.writeback.approve import approve

    form = await request.form()
    try:
        approve(request.app.state.db, plan_id, str(form.get("reason") or ""), actor=caller.user.name,
                config=request.app.state.config)
    except SegbridgeError as exc:
        return _back(f"/plans/{plan_id}", error=str(exc))
    return _back(f"/plans/{plan_id}", msg=f"plan {plan_id} approved")


@router.post("/plans/{plan_id}/lines")
async def plan_lines_review(request: Request, plan_id: int, caller: Caller = guard("review_plan")):
    form = await request.form()
    try:
        versions = _versions(form.getlist("line"))
        decision = str(form.get("decision") or "")
        ids = list(versions) or None
        if ids is None and form.get("scope") != "all":
            return _back(f"/plans/{plan_id}", error="select lines, or choose the whole plan")
        n = plan_review.review_lines(request.app.state.db, plan_id, ids, decision, caller.user.name,
                                     str(form.get("reason") or "") or None, versions or None)
    except (SegbridgeError, ValueError) as exc:
        return _back(f"/plans/{plan_id}", error=str(exc))
    return _back(f"/plans/{plan_id}", msg=f"{n} line(s) {decision}")


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, caller: Caller = guard("read")):
    return _render(request, "runs.html", caller, runs=runs.list_runs(request.app.state.db, limit=200))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, caller: Caller = guard("read")):
    db = request.app.state.db
    q = request.query_params
    page = max(1, int(q.get("page", "1") or 1))
    params = plan_review.run_parameters(db, run_id, q.get("key") or None, q.get("name") or None, page, 50)
    return _render(request, "run.html", caller, run=runs.get_run(db, run_id), params=params, page=page,
                   key=q.get("key") or "", pname=q.get("name") or "",
                   migration=plan_review.segment_migration(db, run_id))


@router.get("/runs/{run_id}/service", response_class=HTMLResponse)
def run_service(request: Request, run_id: int, caller: Caller = guard("read")):
    """Promised vs achieved service per segment: loaded by the run's page after it shows (htmx), so
    the page's first render never waits for a pass over a big run's parameters."""
    db = request.app.state.db
    rows, source = plan_review.service_per_segment(db, run_id)
    template = "_service.html" if _partial(request) else "service.html"
    return _render(request, template, caller, run=runs.get_run(db, run_id), service=rows, source=source)


def kpi_sections(rows) -> list[dict]:
    """The KPI dashboard's sections (charts as inline SVG, tables) from core.reports.kpi_dashboard:
    the page shows the very charts of `segbridge kpis --dashboard`, drawn by the same functions."""
    from core.reports import kpi_dashboard as dash

    if not len(rows):
        return []
    return [dash.trend_section(rows), dash.service_section(rows), dash.migration_section(rows),
            dash.adherence_section(rows), dash.quality_section(rows)]


@router.get("/kpis", response_class=HTMLResponse)
def kpis_page(request: Request, caller: Caller = guard("read")):
    from core.kpis.kpi_store import read_kpis

    db, q = request.app.state.db, request.query_params
    run = int(q["run"]) if q.get("run", "").isdigit() else None
    f = {k: q.get(k) or None for k in ("segment", "period", "kpi")}
    page = max(1, int(q["page"])) if q.get("page", "").isdigit() else 1
    whole = read_kpis(db, run)
    rows = read_kpis(db, run, **f)
    chunk = rows.iloc[(page - 1) * 100: page * 100]
    chunk = chunk.astype(object).where(chunk.notna(), None)
    query = urlencode([(k, v) for k, v in q.multi_items() if k not in ("page", "msg", "error")])
    return _render(request, "kpis.html", caller, run=int(whole["run_id"].iloc[0]) if len(whole) else run,
                   rows=chunk.to_dict("records"), total=len(rows), page=page, f=f, query=query,
                   sections=kpi_sections(whole), kpis=sorted(set(whole["kpi"])),
                   segments=sorted(set(whole["segment"])), periods=sorted(set(whole["period"])))


WHAT_IF_MAX_BYTES = 200_000


def what_if(db, config, candidate_text: str):
    """Compare a pasted or uploaded candidate policy with the current one on the store's data, the
    function behind `segbridge segment --what-if` (core.planning.whatif.compare); nothing is saved.
    The text is read through the policy loader (a private temporary file), so a typo gets the same
    line-numbered message as on the command line."""
    import tempfile

    from basics.errors import ConfigError
    from core.planning.policy import load_policy
    from core.planning.whatif import compare
    from core.planning_store import load_frames, resolve_policy

    if not candidate_text.strip():
        raise ConfigError("paste or upload a candidate policy YAML", hint="start from your current policy file")
    if len(candidate_text.encode("utf-8")) > WHAT_IF_MAX_BYTES:
        raise ConfigError(f"the candidate policy is larger than {WHAT_IF_MAX_BYTES:,} bytes")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidate.yaml"
        path.write_text(candidate_text, encoding="utf-8")
        try:
            candidate = load_policy(path)
        except SegbridgeError as exc:  # the message names the file: not the server's temporary folder
            raise ConfigError(exc.message.replace(str(path), "candidate.yaml"), hint=exc.hint) from None
    return compare(load_frames(db), resolve_policy(config), candidate)


@router.get("/what-if", response_class=HTMLResponse)
def what_if_form(request: Request, caller: Caller = guard("what_if")):
    return _render(request, "whatif.html", caller, text="", result=None, failure=None)


@router.post("/what-if", response_class=HTMLResponse)
async def what_if_page(request: Request, caller: Caller = guard("what_if")):
    form = await request.form()
    upload = form.get("file")
    text = str(form.get("policy") or "")
    if upload is not None and hasattr(upload, "read"):
        data = await upload.read(WHAT_IF_MAX_BYTES + 1)
        text = data.decode("utf-8", errors="replace") if data else text
    result = failure = None
    try:
        result = what_if(request.app.state.db, request.app.state.config, text)
    except SegbridgeError as exc:
        failure = str(exc)
    rows = [] if result is None else list(zip(map(str, result.migration.index),
                                              result.migration.to_numpy().tolist(), strict=True))
    return _render(request, "whatif.html", caller, text=text, result=result, failure=failure, migration_rows=rows)
