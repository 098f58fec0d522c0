"""Applying a plan through the outbox: batches per system, exactly once, resumable after any crash.

`apply_plan` holds the write lease `write:<system>` of every target system for the whole apply
(a second writer, whatever started it, gets `LeaseHeld` naming the holder before anything is
recorded). It first resolves changes a previous run left `sent` (read-back), then sends pending
changes in batches of the system's size, one WriteItem per target record with all its fields,
recording every outcome as it comes (see `core.writeback.outbox`). Just before each batch goes
out its records are read back and compared with what the plan saw (`core.writeback.held_check`):
a field a person changed since the plan is a `conflict`, not written, and a steward exception. Retriable items are retried
in later rounds up to `writeback.max_attempts`. Finally the canonical current values of applied
changes are updated (`core.writeback.current`) so the next plan shows zero changes.

Progress goes to an optional `basics.progress` callback, one label `apply <system>` counting
that system's open changes as they reach a final state; a set `stop_event` ends the apply after
the batch in flight (the plan stays `applying`, a rerun finishes it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import insert, update

from basics.errors import BlockedError, SegbridgeError
from basics.progress import ProgressCallback, ProgressCounter
from connectors.base import AuthError, OutcomeStatus
from core import runs
from core.lease import WRITE, hold, lease_name
from core.model import AuditEvent, Plan, utcnow
from core.settings import SegbridgeConfig
from core.statuses import APPLICABLE, ChangeState, PlanStatus, RunKind, RunStatus, Trigger
from core.writeback import outbox
from core.writeback.plan import load_plan
from core.writeback.writeback_settings import WritebackConfig, writeback_config

log = logging.getLogger("segbridge.writeback")
STATES = [ChangeState.APPLIED, ChangeState.REJECTED, ChangeState.FAILED, ChangeState.PENDING, ChangeState.CONFLICT]


@dataclass
class ApplySummary:
    """What one apply did: per system counts of final states, requests sent, recovered items."""

    plan_id: int
    run_id: int | None
    dry_run: bool = False
    systems: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: int = 0
    items: int = 0
    verified: int = 0
    requeued: int = 0
    seconds: float = 0.0
    status: PlanStatus = PlanStatus.APPLIED
    stopped: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    """system -> why its apply stopped early (authentication refused, the system failed); its
    remaining changes stay pending, a rerun sends them."""
    batches: int = 0

    def total(self, state: str) -> int:
        return sum(c.get(state, 0) for c in self.systems.values())

    @property
    def ok(self) -> bool:
        """No change was rejected or failed and no system stopped early (conflicts are not errors: a
        person's edit was kept)."""
        return self.total(ChangeState.REJECTED) == 0 and self.total(ChangeState.FAILED) == 0 and not self.errors

    @property
    def conflicts(self) -> int:
        """Changes not written because the system's value changed since the plan (steward exceptions)."""
        return self.total(ChangeState.CONFLICT)

    def run_counts(self) -> dict:
        """The apply run's counts: one block of change states per system, and the request totals."""
        return {"plan_id": self.plan_id, "requests": self.requests, "items": self.items,
                "verified": self.verified, "requeued": self.requeued, **self.systems}

    def as_dict(self) -> dict:
        return {"plan_id": self.plan_id, "run_id": self.run_id, "dry_run": self.dry_run, "systems": self.systems,
                "requests": self.requests, "items": self.items, "verified": self.verified,
                "requeued": self.requeued, "seconds": round(self.seconds, 3), "status": self.status,
                "stopped": self.stopped, "errors": self.errors}

    @property
    def message(self) -> str | None:
        """The systems that stopped early and why (the apply run's message), or None."""
        return "; ".join(self.errors.values()) or None


def latest_plan_id(db) -> int:
    with db.connect() as conn:
        pid = conn.execute(Plan.__table__.select().with_only_columns(Plan.__table__.c.id)
                           .order_by(Plan.__table__.c.id.desc()).limit(1)).scalar()
    if pid is None:
        raise SegbridgeError("there is no plan to apply", hint="make one with `segbridge plan`")
    return int(pid)


def check_applicable(plan: Plan) -> None:
    """Refuse plans that need approval or are blocked, with what to do about it."""
    if plan.status == PlanStatus.NEEDS_APPROVAL:
        raise BlockedError(f"plan {plan.id} needs approval: {plan.reason}",
                           hint=f"review plans/plan-{plan.id}.csv, then `segbridge approve {plan.id} --reason ...`")
    if plan.status == PlanStatus.BLOCKED:
        raise BlockedError(f"plan {plan.id} is blocked: {plan.reason}",
                           hint="release the suspect run with `segbridge runs release`, then plan again")
    if plan.status not in APPLICABLE | {PlanStatus.APPLIED}:
        raise SegbridgeError(f"plan {plan.id} is {plan.status} and cannot be applied")


def apply_plan(config: SegbridgeConfig, db, plan_id: int | None = None, dry_run: bool = False,
               progress: ProgressCallback | None = None, stop_event: threading.Event | None = None,
               trigger: str = Trigger.MANUAL) -> ApplySummary:
    """Apply a plan (default: the latest) exactly once; safe to rerun after a crash at any point.

    `progress` hears `apply <system>` per target system (None: silent); a set `stop_event` ends
    the apply after the batch in flight (None: never stopped).
    """
    plan = load_plan(db, plan_id if plan_id is not None else latest_plan_id(db))
    check_applicable(plan)
    started = time.monotonic()
    if dry_run:
        return _dry_run(config, db, plan, started)
    stop = stop_event if stop_event is not None else threading.Event()  # never set: never stopped
    open_items = _open_items(db, plan.id)
    with ExitStack() as leases:  # every target's write lease first: a held one refuses before any run row
        for system in sorted(open_items):
            leases.enter_context(hold(db, lease_name(WRITE, system), on_lost=stop))
        run_id = _start(db, plan, trigger)
        summary = ApplySummary(plan.id, run_id)
        wb = writeback_config(config)
        for system in sorted(open_items):
            if stop.is_set():
                break
            counter = ProgressCounter(progress, f"apply {system}", total=open_items[system])
            _apply_system(config, db, wb, plan, system, run_id, summary, counter, stop)
        summary.stopped = stop.is_set()
        _finish(db, plan, summary, started)
    return summary


def _open_items(db, plan_id: int) -> dict[str, int]:
    """system -> changes not final yet (pending or sent); every system of the plan is listed."""
    return {system: c.get(ChangeState.PENDING, 0) + c.get(ChangeState.SENT, 0)
            for system, c in outbox.state_counts(db, plan_id).items()}


def _apply_system(config, db, wb: WritebackConfig, plan: Plan, system: str, run_id: int,
                  summary: ApplySummary, counter: ProgressCounter, stop: threading.Event) -> None:
    """Under the system's write lease: recover, then send rounds of batches until nothing is pending.

    Changes left `sent` are verified only while holding `write:<system>`, so a live writer's
    batch in flight is never taken for a crash leftover (the lease is reused when `apply_plan`
    holds it already).
    """
    with hold(db, lease_name(WRITE, system), on_lost=stop):
        try:
            _apply_system_held(config, db, wb, plan, system, run_id, summary, counter, stop)
        except AuthError as exc:  # one refusal is enough: sending on would repeat it per batch (login storm)
            summary.errors[system] = (f"{system}: authentication failed: {exc.message}; nothing more was sent "
                                      f"to {system}, its remaining changes stay pending (fix the credentials or "
                                      "the user's authorisations, then apply again)")
        except Exception as exc:  # noqa: BLE001 - one system's failure never keeps the others from their changes
            from core.sync import failure_message

            summary.errors[system] = f"{system}: {failure_message(exc)}; its remaining changes stay pending"
            log.debug("apply to %s failed", system, exc_info=True)
        if system in summary.errors:
            log.error("apply %s", summary.errors[system])
            summary.systems[system] = {s: outbox.state_counts(db, plan.id).get(system, {}).get(s, 0) for s in STATES}


def _apply_system_held(config, db, wb: WritebackConfig, plan: Plan, system: str, run_id: int,
                       summary: ApplySummary, counter: ProgressCounter, stop: threading.Event) -> None:
    from core.connector_factory import connector_for

    sc = config.system(system)
    size = wb.batch_size_of(config, system)
    def tol(entity, fld):
        return (wb.tolerance(system, entity, fld, None))
    written: dict = {}
    with _current_updated(config, db, system, plan.id, written, counter), connector_for(config, system) as conn, \
            _counting_requests(conn, summary):
        recovered = outbox.verify_sent(db, conn, outbox.changes_in(db, plan.id, ChangeState.SENT, system),
                                       tol, wb.max_attempts, size)
        summary.verified += recovered[ChangeState.APPLIED]
        summary.requeued += recovered[ChangeState.PENDING]
        counter.advance(recovered[ChangeState.APPLIED] + recovered[ChangeState.FAILED])
        if not sc.write.enabled:
            log.warning("write-back to %s is disabled (systems.%s.write.enabled); its changes stay pending",
                        system, system)
        round_no = 0
        while sc.write.enabled and not stop.is_set():
            pending = outbox.changes_in(db, plan.id, ChangeState.PENDING, system)
            if pending.empty:
                break
            if round_no and wb.retry_backoff_seconds:
                time.sleep(min(wb.retry_backoff_seconds * round_no, 10.0))
            round_no += 1
            _send_round(Round(config, db, conn, wb, system, run_id, size, tol, written), pending, summary,
                        counter, stop)
    summary.systems[system] = {s: outbox.state_counts(db, plan.id).get(system, {}).get(s, 0) for s in STATES}


@contextmanager
def _current_updated(config, db, system: str, plan_id: int, written: dict, counter: ProgressCounter):
    """Whatever ends a system's apply (done, stopped, refused), the canonical current values of what
    was applied are updated, so the next plan does not propose those changes again."""
    from core.writeback.current import update_current

    try:
        yield
    finally:
        counter.finish()
        update_current(config, db, system, plan_id, written)


@contextmanager
def _counting_requests(conn, summary: ApplySummary):
    """Add the requests this system's apply really sent to the summary: the connector's own count
    (`requests_sent`: read-backs, token and retry requests included) where it keeps one, else the
    number of write batches."""
    before_sent, before_batches = conn.requests_sent(), summary.batches
    try:
        yield
    finally:
        after = conn.requests_sent()
        if after is not None:
            summary.requests += after - (before_sent or 0)
        else:
            summary.requests += summary.batches - before_batches


@dataclass
class Round:
    """What one system's send rounds share."""

    config: SegbridgeConfig
    db: object
    conn: object
    wb: WritebackConfig
    system: str
    run_id: int
    size: int
    tol: object
    written: dict  # (entity, target_key) -> ETag the system returned


def _send_round(r: Round, pending, summary: ApplySummary, counter: ProgressCounter, stop: threading.Event) -> None:
    """Send every pending item once, in batches; each batch: compare with what the system holds now
    (conflicts and values already there settle without a write), mark sent, write, record outcomes."""
    from core.writeback.current import etags_for
    from core.writeback.held_check import check_batch, settle

    items = outbox.group_items(pending, {**etags_for(r.config, r.db, r.system, pending), **r.written})
    for start in range(0, len(items), r.size):
        if stop.is_set():
            return
        checked = check_batch(r.conn, r.system, items[start:start + r.size], pending, r.tol)
        settled = settle(r.db, checked, r.wb.max_attempts, r.run_id, r.config)
        counter.advance(sum(settled.get(st, 0) for st in (ChangeState.APPLIED, ChangeState.CONFLICT,
                                                           ChangeState.FAILED)))
        batch = checked.send
        if not batch:
            continue
        summary.batches += 1
        batch_id = f"r{r.run_id}-{r.system}-{summary.batches}"
        ids = [i for it in batch for i in it.change_ids]
        outbox.mark_sent(r.db, ids, batch_id)
        try:
            outcomes = _write(r.conn, batch)
        except AuthError:
            # Refused before the system wrote anything. Pending is safe even if a part did land: every
            # pending item is read back before it is sent again (held_check settles values already there).
            outbox.requeue(r.db, ids, "authentication failed; not sent")
            raise
        summary.items += len(batch)
        counts = outbox.record_outcomes(r.db, batch, outcomes, r.wb.max_attempts)
        by_ref = {o.ref: o for o in outcomes}
        for it in batch:
            if it.item.ref in by_ref and by_ref[it.item.ref].status == OutcomeStatus.APPLIED:
                r.written[(it.item.target, json.dumps(it.item.key, sort_keys=True))] = by_ref[it.item.ref].etag
        unanswered = [i for it in batch if it.item.ref not in by_ref for i in it.change_ids]
        if unanswered:
            sent = outbox.changes_in(r.db, int(pending["plan_id"].iloc[0]), ChangeState.SENT, r.system)
            outbox.verify_sent(r.db, r.conn, sent[sent["id"].isin(unanswered)], r.tol, r.wb.max_attempts,
                               r.size)
        counter.advance(counts[ChangeState.APPLIED] + counts[ChangeState.REJECTED] + counts[ChangeState.FAILED])


def _write(conn, batch: list[outbox.Item]) -> list:
    """Send one batch; a connector error leaves the items unanswered, to be verified by read-back;
    an AuthError is raised: nothing more goes to that system."""
    from connectors.base import ItemOutcome, RetriableError, WriteBatch

    try:
        return conn.write(WriteBatch(items=[it.item for it in batch]))
    except AuthError:
        raise  # stop sending to this system (see _apply_system)
    except RetriableError as exc:
        return [ItemOutcome(it.item.ref, OutcomeStatus.RETRIABLE, str(exc)) for it in batch]
    except Exception as exc:  # noqa: BLE001 - unknown whether it was applied: verify instead of guessing
        log.warning("write to %s failed (%s); verifying by read-back", batch[0].item.target, exc)
        return []


def _start(db, plan: Plan, trigger: str) -> int:
    """The apply run and the plan's `applying` commit together: a crash leaves both or neither."""
    with db.begin() as conn:
        run_id = runs.start_run(conn, RunKind.APPLY, trigger=trigger, parent_run_id=plan.run_id,
                                message=f"plan {plan.id}")
        if plan.status != PlanStatus.APPLIED:
            conn.execute(update(Plan.__table__).where(Plan.__table__.c.id == plan.id)
                         .values(status=PlanStatus.APPLYING))
    return run_id


def plan_outcome(counts: dict[str, dict[str, int]]) -> PlanStatus:
    """The plan's status from its outbox: applying while any change is open, else applied or partial
    (partial: some changes did not land - rejected, failed, or a conflict with a person's edit)."""
    total = {s: sum(c.get(s, 0) for c in counts.values()) for s in ChangeState}
    if total[ChangeState.PENDING] or total[ChangeState.SENT]:
        return PlanStatus.APPLYING
    not_landed = total[ChangeState.REJECTED] + total[ChangeState.FAILED] + total[ChangeState.CONFLICT]
    return PlanStatus.PARTIAL if not_landed else PlanStatus.APPLIED


def _run_status(summary: ApplySummary) -> RunStatus:
    """ok; exceptions when every change is final and the only ones not applied are conflicts (like a
    reconcile leaving steward exceptions); stopped; else failed."""
    if summary.ok and summary.status == PlanStatus.APPLIED:
        return RunStatus.OK
    if summary.ok and summary.status == PlanStatus.PARTIAL and summary.conflicts:
        return RunStatus.EXCEPTIONS
    if summary.ok and summary.stopped:
        return RunStatus.STOPPED  # stopped on request; a rerun sends the rest
    return RunStatus.FAILED


def _finish(db, plan: Plan, summary: ApplySummary, started: float) -> None:
    """Plan and run status from the outbox, and one audit event for the apply."""
    counts = outbox.state_counts(db, plan.id)
    summary.status, summary.seconds = plan_outcome(counts), time.monotonic() - started
    for system, c in counts.items():
        summary.systems[system] = {s: c.get(s, 0) for s in STATES}
    body = json.dumps(summary.as_dict())
    with db.begin() as conn:
        conn.execute(update(Plan.__table__).where(Plan.__table__.c.id == plan.id).values(status=summary.status))
        runs.finish_run(conn, summary.run_id, _run_status(summary), counts=summary.run_counts(),
                        message=summary.message)
        conn.execute(insert(AuditEvent.__table__).values(
            at=utcnow(), action="apply", entity="plan", entity_key=str(plan.id), run_id=summary.run_id,
            before=json.dumps({"status": plan.status}), after=body))


def _dry_run(config, db, plan: Plan, started: float) -> ApplySummary:
    """What an apply would send: items and requests per system; nothing is written or changed."""
    wb = writeback_config(config)
    summary = ApplySummary(plan.id, None, dry_run=True, status=plan.status)
    for system, counts in outbox.state_counts(db, plan.id).items():
        pending = outbox.changes_in(db, plan.id, ChangeState.PENDING, system)
        n_items = len(outbox.group_items(pending)) if not pending.empty else 0
        size = wb.batch_size_of(config, system)
        summary.items += n_items
        summary.requests += -(-n_items // size)
        summary.systems[system] = {s: counts.get(s, 0) for s in STATES}
    summary.seconds = time.monotonic() - started
    return summary
