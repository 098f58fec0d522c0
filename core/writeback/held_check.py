"""Compare before write: a write-back never overwrites a value a person changed since the plan.

Immediately before a batch is sent, its target records are read back (`Connector.read_back`, one
call per entity) and every field's held value is compared (`values.same`, with the field's
tolerance) with the value the plan saw (`current_value`):

* the system still holds what the plan saw -> the field is written;
* it already holds the intended value -> applied without writing;
* it holds anything else -> `conflict`: not written, never resent, filed as a steward exception
  (kind `writeback_conflict`) with the seen, held and intended values;
* the plan saw no value (current_value empty: unknown) -> no expectation to check: written;
* the system holds no such record -> written (no value of anyone's is overwritten; a system that
  cannot create it rejects the write with its message).

Only the fields left to write go into the item; an item with none left is not sent. A read-back
record carrying `__etag` gives the item that ETag (fresher than the last pull's), so connectors of
systems with ETags send If-Match and a change after this read is refused with 412 instead of
overwritten. Module name: `compare` is the reconcile comparison (`core.reconcile.compare`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import pandas as pd

from connectors.base import AuthError, Connector
from core.model import utcnow
from core.statuses import ChangeState
from core.writeback import outbox
from core.writeback.values import same, to_text

log = logging.getLogger("segbridge.writeback")
KIND = "writeback_conflict"
ETAG = "__etag"
ALREADY = "the system already holds the intended value; not written"


@dataclass
class Conflict:
    """One field not written because the system holds a value the plan did not see."""

    change_id: int
    plan_id: int
    system: str
    entity: str
    target_key: str
    field: str
    seen: str | None
    held: str | None
    intended: str | None
    message: str


@dataclass
class Checked:
    """A batch after the compare: what to send, what is already there, what conflicts."""

    send: list[outbox.Item] = field(default_factory=list)
    already: list[int] = field(default_factory=list)  # change ids applied without writing
    conflicts: list[Conflict] = field(default_factory=list)
    unread: dict[int, str] = field(default_factory=dict)  # change id -> why its record could not be read


def check_batch(conn: Connector, system: str, batch: list[outbox.Item], changes: pd.DataFrame,
                tolerance_of: outbox.ToleranceOf) -> Checked:
    """Read the batch's records once per entity and decide every field (see the module docstring)."""
    rows = _rows_of(changes, batch)
    out = Checked()
    by_entity: dict[str, list[outbox.Item]] = {}
    for it in batch:
        by_entity.setdefault(it.item.target, []).append(it)
    for entity, its in by_entity.items():
        keys = [str(rows[it.change_ids[0]]["target_key"]) for it in its]
        try:
            held = outbox.read_held(conn, entity, keys, len(keys))
        except AuthError:
            raise  # the system refuses this user: the apply stops sending to it (core.writeback.apply)
        except Exception as exc:  # noqa: BLE001 - unread means undecided: retried like a retriable error
            log.warning("read before write from %s %s failed: %s", system, entity, exc)
            out.unread.update({cid: f"could not read {system} before writing: {exc}"
                               for it in its for cid in it.change_ids})
            continue
        for it, key in zip(its, keys, strict=True):
            _decide(out, system, it, held.get(key), rows, tolerance_of)
    return out


def _rows_of(changes: pd.DataFrame, batch: list[outbox.Item]) -> dict[int, dict]:
    """change id -> its row (plain dicts): a DataFrame .loc per field was most of the check's time."""
    ids = {cid for it in batch for cid in [*it.change_ids, *it.fields.values()]}
    sub = changes[changes["id"].isin(ids)]
    return dict(zip(sub["id"].tolist(), sub.to_dict("records"), strict=True))


def _decide(out: Checked, system: str, it: outbox.Item, record: dict | None, rows: dict[int, dict],
            tolerance_of: outbox.ToleranceOf) -> None:
    """One item's fields: keep the writable ones in a narrowed item, the rest already there or conflicts."""
    keep: dict[str, int] = {}
    for fld, cid in it.fields.items():
        row = rows[cid]
        seen, intended = to_text(row["current_value"]), to_text(row["intended_value"])
        tol = tolerance_of(it.item.target, fld)
        if record is None:
            # nothing held, so no person's value to overwrite; a system that cannot create the record
            # refuses the write (rejected, with its message). Not a conflict: the plan's seen value for a
            # record the system lacks can be another system's (a shared read_back column; see docs).
            keep[fld] = cid
            continue
        held = to_text(record.get(fld))
        if same(held, intended, tol):
            out.already.append(cid)
        elif seen is None or same(held, seen, tol):
            keep[fld] = cid
        else:
            out.conflicts.append(_conflict(system, it, fld, cid, row, seen, held, intended, (
                f"changed in {system} since the plan: the plan saw {seen}, {system} holds "
                f"{held if held is not None else 'no value'} (intended {intended}); not written")))
    if keep:
        etag = record.get(ETAG) if record else None
        item = dataclasses.replace(it.item, values={f: it.item.values[f] for f in keep},
                                   etag=etag if isinstance(etag, str) and etag else it.item.etag)
        out.send.append(outbox.Item(item, list(keep.values()), keep))


def _conflict(system, it, fld, cid, row, seen, held, intended, message) -> Conflict:
    return Conflict(int(cid), int(row["plan_id"]), system, it.item.target, str(row["target_key"]), fld,
                    seen, held, intended, message)


def settle(db, checked: Checked, max_attempts: int, run_id: int | None, config) -> dict[str, int]:
    """Commit the decisions taken without a write, file the conflicts; counts per resulting state."""
    now = utcnow()
    attempts = outbox.attempts_of(db, [c.change_id for c in checked.conflicts] + checked.already
                                  + list(checked.unread))
    rows = [{"cid": c.change_id, "st": ChangeState.CONFLICT, "att": attempts.get(c.change_id, 0),
             "msg": c.message, "now": now} for c in checked.conflicts]
    rows += [{"cid": cid, "st": ChangeState.APPLIED, "att": attempts.get(cid, 0), "msg": ALREADY, "now": now}
             for cid in checked.already]
    for cid, why in checked.unread.items():
        att = attempts.get(cid, 0) + 1
        rows.append({"cid": cid, "st": ChangeState.FAILED if att >= max_attempts else ChangeState.PENDING,
                     "att": att, "msg": why, "now": now})
    outbox.settle_pending(db, rows)
    if checked.conflicts:
        file_conflicts(db, config, checked.conflicts, run_id)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["st"]] = counts.get(r["st"], 0) + 1
    return counts


def file_conflicts(db, config, conflicts: list[Conflict], run_id: int | None) -> None:
    """Each conflict as a steward exception: one per field across plans, refreshed when it recurs."""
    from core.reconcile.discrepancies import Observation, upsert_observations
    from core.reconcile.reconcile_settings import reconcile_config

    rc = reconcile_config(config)
    obs = [Observation(KIND, c.system, c.entity, c.target_key, c.field, expected=c.intended, actual=c.held,
                       severity=rc.severity_for(KIND, c.system, c.entity, c.field), owner=rc.owner(c.system, c.entity),
                       reason=f"plan {c.plan_id} saw {c.seen}; {c.message}")
           for c in conflicts]
    upsert_observations(db, obs, run_id, auto_resolve=False)
