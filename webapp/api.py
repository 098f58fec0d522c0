"""The REST API under /api/v1: the same core functions as the CLI and the pages, JSON in and out.

Every route declares its action (`guard`), listed in the OpenAPI document (`/api/v1/openapi.json`).
Updates carry the `version` the caller saw; a stale one is answered 409 with what changed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from core import accounts, plan_review, quarantine, runs, stewardship
from core.reconcile import get_exception, history
from webapp.security import Caller, guard

router = APIRouter(prefix="/api/v1")
MOVES = {"ack": "acknowledged", "resolve": "resolved", "waive": "waived", "reopen": "open"}


class Move(BaseModel):
    reason: str | None = None
    version: int | None = None


class Assign(BaseModel):
    owner: str | None = None
    version: int | None = None


class Comment(BaseModel):
    text: str = Field(min_length=1, max_length=10000)


class Filter(BaseModel):
    status: list[str] = []
    system: list[str] = []
    kind: list[str] = []
    severity: list[str] = []
    owner: list[str] = []
    key: str | None = None
    older_than_days: int | None = None


class Bulk(BaseModel):
    action: str = Field(description="assign | ack | resolve | waive | reopen")
    ids: list[int] = []
    filter: Filter | None = None
    reason: str | None = None
    owner: str | None = None
    versions: dict[int, int] | None = None


class Reason(BaseModel):
    reason: str = Field(min_length=1)


class Review(BaseModel):
    decision: str = Field(description="approved | rejected")
    ids: list[int] = []
    reason: str | None = None
    versions: dict[int, int] | None = None


class OverrideRequest(BaseModel):
    entity: str
    entity_key: str
    name: str
    value: str
    reason: str


class NewUser(BaseModel):
    name: str
    role: str
    password: str | None = None


class RoleChange(BaseModel):
    role: str


def _db(request: Request):
    return request.app.state.db


def _filter(status, system, kind, severity, owner, key, older_than_days) -> stewardship.QueueFilter:
    return stewardship.QueueFilter(status or [], system or [], kind or [], severity or [], owner or [], key,
                                   older_than_days)


def exception_json(e) -> dict[str, Any]:
    data = e.model_dump()
    data["due_at"] = stewardship.due_at(e.first_seen, e.severity)
    data["aging"] = stewardship.aging(e.first_seen, e.severity, e.status)
    return data


@router.get("/me")
def me(caller: Caller = guard("read")) -> dict:
    return {"name": caller.user.name, "role": caller.user.role,
            "may": sorted(a for a in accounts.PERMISSIONS if accounts.allowed(caller.user.role, a))}


@router.get("/runs")
def list_runs(request: Request, kind: str | None = None, status: str | None = None, limit: int = 50,
              _: Caller = guard("read")) -> list[dict]:
    return [r.__dict__ for r in runs.list_runs(_db(request), kind=kind, status=status, limit=min(limit, 500))]


@router.get("/runs/{run_id}")
def show_run(request: Request, run_id: int, _: Caller = guard("read")) -> dict:
    return runs.get_run(_db(request), run_id).__dict__


@router.post("/runs/{run_id}/release")
def release_run(request: Request, run_id: int, body: Reason, caller: Caller = guard("release_run")) -> dict:
    from core.quality import release_run as release

    release(_db(request), run_id, caller.user.name, body.reason)
    return runs.get_run(_db(request), run_id).__dict__


@router.get("/runs/{run_id}/parameters")
def run_parameters(request: Request, run_id: int, key: str | None = None, name: str | None = None, page: int = 1,
                   size: int = 50, _: Caller = guard("read")) -> list[dict]:
    return plan_review.run_parameters(_db(request), run_id, key, name, page, size)


@router.get("/runs/{run_id}/segments")
def run_segments(request: Request, run_id: int, dimension: str = "segment", _: Caller = guard("read")) -> dict:
    db = _db(request)
    return {"previous_run": plan_review.previous_segment_run(db, run_id),
            "migration": plan_review.segment_migration(db, run_id, dimension)}


@router.get("/kpis")
def list_kpis(request: Request, run: int | None = None, segment: str | None = None, period: str | None = None,
              kpi: str | None = None, page: int = Query(1, ge=1), size: int = Query(100, ge=1, le=1000),
              _: Caller = guard("read")) -> dict:
    """Stored KPI rows (core.kpis.kpi_store.read_kpis) of one segment run, default the latest with KPIs."""
    import json

    from core.kpis.kpi_store import read_kpis

    rows = read_kpis(_db(request), run, segment, period, kpi)
    chunk = rows.iloc[(page - 1) * size: page * size]
    return {"run": int(rows["run_id"].iloc[0]) if len(rows) else run, "total": len(rows), "page": page,
            "size": size, "items": json.loads(chunk.to_json(orient="records"))}


@router.get("/exceptions")
def list_exceptions(request: Request, status: list[str] = Query(None), system: list[str] = Query(None),
                    kind: list[str] = Query(None), severity: list[str] = Query(None), owner: list[str] = Query(None),
                    key: str | None = None, older_than_days: int | None = None, sort: str = "last_seen",
                    page: int = 1, size: int = 50, _: Caller = guard("read")) -> dict:
    f = _filter(status, system, kind, severity, owner, key, older_than_days)
    rows, total = stewardship.queue(_db(request), f, page, size, sort)
    return {"total": min(total, stewardship.COUNT_CAP), "more": total > stewardship.COUNT_CAP, "page": page,
            "items": [exception_json(e) for e in rows]}


@router.get("/exceptions/{exc_id}")
def show_exception(request: Request, exc_id: int, _: Caller = guard("read")) -> dict:
    db = _db(request)
    data = exception_json(get_exception(db, exc_id))
    data["comments"] = [c.model_dump() for c in stewardship.comments(db, exc_id)]
    data["history"] = [h.model_dump() for h in history(db, exc_id)]
    return data


@router.post("/exceptions/{exc_id}/assign")
def assign(request: Request, exc_id: int, body: Assign, caller: Caller = guard("assign")) -> dict:
    versions = {exc_id: body.version} if body.version is not None else None
    stewardship.assign(_db(request), [exc_id], body.owner, caller.user.name, versions)
    return exception_json(get_exception(_db(request), exc_id))


@router.post("/exceptions/{exc_id}/comments")
def comment(request: Request, exc_id: int, body: Comment, caller: Caller = guard("comment")) -> dict:
    return stewardship.add_comment(_db(request), exc_id, body.text, caller.user.name).model_dump()


@router.post("/exceptions/{exc_id}/{move}")
def move_exception(request: Request, exc_id: int, move: str, body: Move, caller: Caller = guard("transition")) -> dict:
    from fastapi import HTTPException

    if move not in MOVES:
        raise HTTPException(404, f"unknown action {move!r}; one of {', '.join(MOVES)}")
    versions = {exc_id: body.version} if body.version is not None else None
    stewardship.move(_db(request), [exc_id], MOVES[move], body.reason, caller.user.name, versions)
    return exception_json(get_exception(_db(request), exc_id))


@router.post("/exceptions-bulk")
def bulk(request: Request, body: Bulk, caller: Caller = guard("transition")) -> dict:
    """Assign or change the status of many exceptions (ids or a filter), all or none. Assigning in
    bulk needs the `assign` action, which every role with `transition` has (core.accounts)."""
    from fastapi import HTTPException

    if body.action not in {*MOVES, "assign"}:
        raise HTTPException(400, f"unknown bulk action {body.action!r}")
    db = _db(request)
    f = stewardship.QueueFilter(**(body.filter.model_dump() if body.filter else {}))
    if body.action == "assign":
        if not accounts.allowed(caller.user.role, "assign"):
            raise HTTPException(403, f"your role ({caller.user.role}) may not assign")
        ids = stewardship.chosen_ids(db, body.ids, f)
        return {"changed": stewardship.assign(db, ids, body.owner, caller.user.name, body.versions)}
    ids = stewardship.chosen_ids(db, body.ids, f, MOVES[body.action])
    return {"changed": stewardship.move(db, ids, MOVES[body.action], body.reason, caller.user.name, body.versions)}


@router.get("/quarantine")
def list_quarantine(request: Request, system: str | None = None, entity: str | None = None,
                    reason: str | None = None, run_id: int | None = None, limit: int = 50,
                    _: Caller = guard("read")) -> list[dict]:
    filters = quarantine.Filters(system, entity, reason, run_id)
    return quarantine.list_records(_db(request), filters, min(limit, 500))


@router.get("/quarantine/{record_id}")
def show_quarantine(request: Request, record_id: int, _: Caller = guard("read")) -> dict:
    return quarantine.get_record(_db(request), record_id)


class Release(BaseModel):
    ids: list[int]
    reason: str = Field(min_length=1)


@router.post("/quarantine/release")
def release_quarantine(request: Request, body: Release, caller: Caller = guard("release_quarantine")) -> dict:
    return {"released": quarantine.release_records(_db(request), body.ids, caller.user.name, body.reason)}


@router.get("/plans")
def list_plans(request: Request, status: str | None = None, limit: int = 50, _: Caller = guard("read")) -> list[dict]:
    return [p.model_dump() for p in plan_review.list_plans(_db(request), status, limit)]


@router.get("/plans/{plan_id}")
def show_plan(request: Request, plan_id: int, _: Caller = guard("read")) -> dict:
    from core.writeback.plan import load_plan

    return load_plan(_db(request), plan_id).model_dump()


@router.get("/plans/{plan_id}/lines")
def plan_lines(request: Request, plan_id: int, page: int = 1, size: int = 100, _: Caller = guard("read")) -> dict:
    rows, total = plan_review.plan_lines(_db(request), plan_id, page, size)
    return {"total": total, "page": page, "items": [r.model_dump() for r in rows]}


@router.post("/plans/{plan_id}/approve")
def approve_plan(request: Request, plan_id: int, body: Reason, caller: Caller = guard("review_plan")) -> dict:
    from core.writeback.approve import approve

    return approve(_db(request), plan_id, body.reason, actor=caller.user.name,
                   config=request.app.state.config).model_dump()


@router.post("/plans/{plan_id}/reject")
def reject_plan(request: Request, plan_id: int, body: Reason, caller: Caller = guard("review_plan")) -> dict:
    return {"rejected": plan_review.reject_plan(_db(request), plan_id, caller.user.name, body.reason)}


@router.post("/plans/{plan_id}/lines/review")
def review_lines(request: Request, plan_id: int, body: Review, caller: Caller = guard("review_plan")) -> dict:
    n = plan_review.review_lines(_db(request), plan_id, body.ids or None, body.decision, caller.user.name,
                                 body.reason, body.versions)
    return {"reviewed": n}


@router.post("/plans/{plan_id}/apply")
def apply_plan(request: Request, plan_id: int, caller: Caller = guard("apply_plan")) -> dict:
    from fastapi import HTTPException

    from core.writeback.apply import apply_plan as apply

    config = request.app.state.config
    if config is None:
        raise HTTPException(409, "this server was started without a segbridge.yaml: apply with `segbridge apply`")
    return apply(config, _db(request), plan_id).as_dict()


@router.get("/overrides")
def list_overrides(request: Request, _: Caller = guard("read")) -> list[dict]:
    return [o.model_dump() for o in plan_review.list_overrides(_db(request))]


@router.post("/overrides")
def request_override(request: Request, body: OverrideRequest, caller: Caller = guard("request_override")) -> dict:
    return plan_review.request_override(_db(request), body.entity, body.entity_key, body.name, body.value,
                                        body.reason, caller.user.name).model_dump()


@router.post("/overrides/{override_id}/approve")
def approve_override(request: Request, override_id: int, caller: Caller = guard("approve_override")) -> dict:
    return plan_review.approve_override(_db(request), override_id, caller.user.name).model_dump()


@router.get("/audit")
def audit(request: Request, entity: str, key: str, _: Caller = guard("read")) -> list[dict]:
    return [a.model_dump() for a in plan_review.audit_trail(_db(request), entity, key)]


def _user_json(u) -> dict:
    return {"name": u.name, "role": u.role, "active": u.active, "created_at": u.created_at}


@router.get("/users")
def list_users(request: Request, _: Caller = guard("manage_users")) -> list[dict]:
    return [_user_json(u) for u in accounts.list_users(_db(request))]


@router.post("/users")
def add_user(request: Request, body: NewUser, caller: Caller = guard("manage_users")) -> dict:
    return _user_json(accounts.add_user(_db(request), body.name, body.role, body.password, caller.user.name))


@router.post("/users/{name}/role")
def set_role(request: Request, name: str, body: RoleChange, caller: Caller = guard("manage_users")) -> dict:
    return _user_json(accounts.set_role(_db(request), name, body.role, caller.user.name))


@router.post("/users/{name}/disable")
def disable_user(request: Request, name: str, caller: Caller = guard("manage_users")) -> dict:
    return _user_json(accounts.set_active(_db(request), name, False, caller.user.name))
