"""The outbox state machine: every planned change moves pending -> sent -> applied | rejected | failed,
or pending -> conflict | applied when the compare before write (`core.writeback.held_check`) finds the
system no longer holds what the plan saw, or already holds the intended value.

Exactly once rests on three rules, each a committed transaction:
1. a batch's changes are marked `sent` (with the batch id) BEFORE the request goes out;
2. each outcome is recorded right after the answer: applied, rejected (with the system's
   message), or retriable -> back to `pending` with attempts + 1 (`failed` at the maximum);
3. on start-up, changes still `sent` (the process died between 1 and 2) are verified with
   `connector.read_back`: the target holds the intended value -> applied, never resent;
   otherwise -> pending, to be sent again (and compared again before that send).
A 412 answer to an If-Match (`OutcomeStatus.CONFLICT`: the record changed between the read just
before the write and the write) is retriable in the same way: back to pending with attempts + 1,
so the next round reads the record again and decides; `failed` at the maximum.
So a SIGKILL at any point leaves every change either provably applied or safe to send.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import and_, bindparam, select

from connectors.base import Connector, ItemOutcome, OutcomeStatus, WriteItem
from core.model import PlannedChange, utcnow
from core.statuses import ChangeState
from core.store import read_frame
from core.writeback.values import same, to_text

TABLE = PlannedChange.__table__
ToleranceOf = Callable[[str, str], object]  # (entity, field) -> Tolerance | None


@dataclass
class Item:
    """One target record's pending fields, and the outbox rows behind them."""

    item: WriteItem
    change_ids: list[int]
    fields: dict[str, int]  # target field -> change id


def changes_in(db, plan_id: int, state: str, system: str | None = None) -> pd.DataFrame:
    """The plan's changes in one state (ordered by id, so batches are deterministic)."""
    stmt = select(TABLE).where(TABLE.c.plan_id == plan_id, TABLE.c.state == state)
    if system is not None:
        stmt = stmt.where(TABLE.c.system == system)
    return read_frame(db, stmt.order_by(TABLE.c.id))


def state_counts(db, plan_id: int) -> dict[str, dict[str, int]]:
    """system -> state -> number of changes."""
    frame = read_frame(db, select(TABLE.c.system, TABLE.c.state).where(TABLE.c.plan_id == plan_id))
    out: dict[str, dict[str, int]] = {}
    for (system, state), n in frame.groupby(["system", "state"]).size().items():
        out.setdefault(system, {})[state] = int(n)
    return out


def group_items(changes: pd.DataFrame, etags: dict[tuple[str, str], str] | None = None) -> list[Item]:
    """One WriteItem per (entity, target key) carrying all its fields; ref = the first change id."""
    items = []
    for (entity, tkey), grp in changes.groupby(["entity", "target_key"], sort=False):
        ids = [int(i) for i in grp["id"]]
        values = dict(zip(grp["field"], grp["intended_value"], strict=False))
        item = WriteItem(ref=str(ids[0]), target=entity, key=json.loads(tkey), values=values,
                         etag=(etags or {}).get((entity, tkey)))
        items.append(Item(item, ids, dict(zip(grp["field"], ids, strict=False))))
    return items


def mark_sent(db, ids: list[int], batch_id: str) -> None:
    """Commit `sent` for a batch before sending; refuses if another process took any of them."""
    now = utcnow()
    with db.begin() as conn:
        done = conn.execute(TABLE.update().where(TABLE.c.id.in_(ids), TABLE.c.state == ChangeState.PENDING)
                            .values(state=ChangeState.SENT, batch_id=batch_id, updated_at=now)).rowcount
        if done != len(ids):
            from basics.errors import SegbridgeError

            raise SegbridgeError(f"batch {batch_id}: {len(ids) - done} change(s) are no longer pending",
                                 hint="another `segbridge apply` runs on this plan; let it finish")


def requeue(db, ids: list[int], message: str) -> None:
    """Put changes marked `sent` back to pending without counting an attempt: the request was refused
    before anything was written (authentication), so nothing is known about them but that."""
    now = utcnow()
    with db.begin() as conn:
        conn.execute(TABLE.update().where(TABLE.c.id.in_(ids), TABLE.c.state == ChangeState.SENT)
                     .values(state=ChangeState.PENDING, message=message, updated_at=now))


def record_outcomes(db, items: list[Item], outcomes: list[ItemOutcome], max_attempts: int) -> dict[str, int]:
    """Commit each item's outcome on all its changes; returns counts per resulting state."""
    by_ref = {o.ref: o for o in outcomes}
    rows, counts = [], {s: 0 for s in (ChangeState.APPLIED, ChangeState.REJECTED, ChangeState.PENDING,
                                       ChangeState.FAILED)}
    current = attempts_of(db, [i for it in items for i in it.change_ids])
    for it in items:
        outcome = by_ref.get(it.item.ref)
        if outcome is None:
            continue  # no answer for this item: it stays `sent` and is verified by read-back
        for cid in it.change_ids:
            state, attempts = _next_state(outcome.status, current.get(cid, 0), max_attempts)
            counts[state] += 1
            rows.append({"cid": cid, "st": state, "att": attempts, "msg": _message(outcome, state),
                         "now": utcnow()})
    _write_states(db, rows)
    return counts


def attempts_of(db, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    with db.connect() as conn:
        return dict(conn.execute(select(TABLE.c.id, TABLE.c.attempts).where(TABLE.c.id.in_(ids))).fetchall())


def _next_state(status: OutcomeStatus, attempts: int, max_attempts: int) -> tuple[ChangeState, int]:
    """A write outcome as the change's next state: retriable goes back to pending until the last attempt.

    A conflict outcome (HTTP 412: the record changed after the read just before this write) also goes
    back to pending: the next round reads it again and writes with the fresh ETag, or files a conflict.
    """
    attempts += 1
    if status == OutcomeStatus.APPLIED:
        return ChangeState.APPLIED, attempts
    if status == OutcomeStatus.REJECTED:
        return ChangeState.REJECTED, attempts
    if status == OutcomeStatus.CONFLICT:  # 412: read again next round, then write with the fresh ETag or conflict
        return (ChangeState.FAILED if attempts >= max_attempts else ChangeState.PENDING), attempts
    return (ChangeState.FAILED if attempts >= max_attempts else ChangeState.PENDING), attempts


def _message(outcome: ItemOutcome, state: ChangeState) -> str | None:
    text = outcome.message or None
    if outcome.http_status and text:
        text = f"HTTP {outcome.http_status}: {text}"
    if state == ChangeState.FAILED:
        text = f"gave up after retries: {text or 'retriable error'}"
    return text


def settle_pending(db, rows: list[dict]) -> None:
    """Final states decided before sending (conflict, already applied): rows of cid, st, att, msg, now."""
    _write_states(db, rows, ChangeState.PENDING)


def _write_states(db, rows: list[dict], from_state: ChangeState = ChangeState.SENT) -> None:
    """Set state, attempts and message of changes still in `from_state` (one executemany, committed)."""
    if not rows:
        return
    stmt = (TABLE.update().where(and_(TABLE.c.id == bindparam("cid"), TABLE.c.state == from_state))
            .values(state=bindparam("st"), attempts=bindparam("att"), message=bindparam("msg"),
                    updated_at=bindparam("now")))
    with db.begin() as conn:
        conn.execute(stmt, rows)


def verify_sent(db, connector: Connector, sent: pd.DataFrame, tolerance_of: ToleranceOf,
                max_attempts: int, batch_size: int) -> dict[str, int]:
    """Resolve changes left `sent` by reading the targets back: applied if they hold the value, else pending."""
    counts = {ChangeState.APPLIED: 0, ChangeState.PENDING: 0, ChangeState.FAILED: 0}
    if sent.empty:
        return counts
    rows = []
    for entity, grp in sent.groupby("entity", sort=False):
        held = read_held(connector, entity, list(pd.unique(grp["target_key"])), batch_size)
        for r in grp.itertuples(index=False):
            value = held.get(r.target_key, {}).get(r.field, _MISSING)
            if value is not _MISSING and same(value, r.intended_value, tolerance_of(entity, r.field)):
                state, attempts, msg = ChangeState.APPLIED, int(r.attempts), "verified by read-back after an interrupted send"
            else:
                state, attempts = (ChangeState.FAILED, r.attempts + 1) if r.attempts + 1 >= max_attempts else (
                    ChangeState.PENDING, r.attempts + 1)
                msg = "not applied by the interrupted send; queued again" if state == ChangeState.PENDING else (
                    "interrupted sends never reached the target; gave up")
            counts[state] += 1
            rows.append({"cid": int(r.id), "st": state, "att": int(attempts), "msg": msg, "now": utcnow()})
    _write_states(db, rows)
    return counts


_MISSING = object()


def read_held(connector: Connector, entity: str, keys: list[str], batch_size: int) -> dict[str, dict]:
    """target_key JSON -> the record the system holds now (absent when it holds none)."""
    out: dict[str, dict] = {}
    parsed = [json.loads(k) for k in keys]
    fields = sorted(parsed[0]) if parsed else []
    for start in range(0, len(parsed), max(1, batch_size)):
        for rec in connector.read_back(entity, parsed[start:start + batch_size]):
            tkey = json.dumps({f: to_text(rec.get(f)) for f in fields}, sort_keys=True)
            out[tkey] = rec
    return out
