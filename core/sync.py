"""The pull runner: read each configured system through its connector and mapping into the store.

For every entity of a system's mapping file, the connector's stream is read from the saved
watermark (`SyncState`, per system, stream and partition = the mapping entity). Each batch is
mapped, loaded AND its checkpoint saved in ONE transaction, so a crash (even SIGKILL) repeats
at most the batch in flight, and loading is idempotent (upsert by key), which also makes the
look-back window's re-reads harmless. Deleted source records (tombstones, `__deleted: True`) remove
their canonical rows in that same transaction (`core.mapping.tombstones`). `full=True` ignores saved state. A set `stop_event` (the
shell sets it on SIGTERM/SIGINT, the scheduler on shutdown or a lost lease) finishes the pages
already read (at most `READ_AHEAD`), keeps the state and stops cleanly. Progress goes to an optional `basics.progress`
callback, one label `<system>.<entity>` per stream; core never draws on a terminal.

Example:
    >>> results = pull(load_config("segbridge.yaml"), db, systems=["wms"])     # doctest: +SKIP
    >>> results[0].streams[0].loaded
    1200
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from basics.errors import SegbridgeError
from basics.progress import ProgressCallback, ProgressCounter
from connectors.base import AuthError, Connector, ConnectorError, LimitExhausted, RecordBatch, StreamSpec
from core import runs
from core.connector_factory import connector_for
from core.lease import PULL, LeaseHeld, hold, lease_name
from core.mapping import Conversions, EntityMapping, load_mapping
from core.mapping.columns import source_fields
from core.mapping.ingest import load_batch
from core.mapping.shared_reads import read_groups, share_outcome
from core.mapping.tombstones import has_tombstones
from core.model import Crosswalk, Product, SyncState, utcnow
from core.prefetch import prefetch_ready
from core.quality import finish_run_quality, thresholds_of
from core.settings import SegbridgeConfig
from core.statuses import RunKind, RunStatus, Trigger

log = logging.getLogger("segbridge.sync")
RUN_COUNT_KEYS = ("read", "loaded", "quarantined", "source_count")  # per entity, in the pull run's counts
READ_AHEAD = 8  # pages a stream's reader may hold ahead of the loader (`core.prefetch`)
JOIN_RECORDS = 20_000  # at most this many records of pages that arrived together go into one load


@dataclass
class StreamSummary:
    system: str
    entity: str
    stream: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    deleted: int = 0
    """Canonical rows removed for deleted source records (tombstones); in the run's counts when > 0."""
    batches: int = 0  # pages (source batches) read; pages that arrived together load at once (`joined`)
    source_count: int | None = None
    seconds: float = 0.0
    error: str | None = None
    requests: int | None = None
    """HTTP (or RPC) requests really sent for this stream (`Connector.requests_sent`), None where the
    connector does not count them."""


@dataclass
class PullResult:
    system: str
    run_id: int | None
    status: RunStatus  # ok | failed | stopped | skipped (lease held elsewhere)
    streams: list[StreamSummary] = field(default_factory=list)
    message: str | None = None
    suspect: bool = False

    @property
    def read(self) -> int:
        return sum(s.read for s in self.streams)

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.OK


# --------------------------------------------------------------------------- state


def load_state(db: Engine, system: str, stream: str, partition: str = "") -> dict[str, Any] | None:
    """The saved checkpoint of one (system, stream, partition), or None."""
    t = SyncState.__table__
    with db.connect() as conn:
        row = conn.execute(select(t.c.state).where(t.c.system == system, t.c.stream == stream,
                                                   t.c.partition == partition)).first()
    return json.loads(row.state) if row else None


def save_state(conn, system: str, stream: str, partition: str, checkpoint: dict, run_id: int | None) -> None:
    """Upsert the checkpoint on the caller's connection (inside the batch's transaction)."""
    from core.store import upsert

    upsert(conn, SyncState, [{"system": system, "stream": stream, "partition": partition,
                              "state": json.dumps(checkpoint, sort_keys=True, default=str),
                              "updated_at": utcnow(), "run_id": run_id}])


# --------------------------------------------------------------------------- runs


def run_counts(result: PullResult) -> dict[str, dict[str, int]]:
    """The pull run's counts: one block per entity (a source count only where the source told it)."""
    return {s.entity: {k: getattr(s, k) for k in RUN_COUNT_KEYS if getattr(s, k) is not None}
            | ({"deleted": s.deleted} if s.deleted else {}) for s in result.streams}


# --------------------------------------------------------------------------- the runner


def pull(config: SegbridgeConfig, db: Engine, systems: list[str] | None = None, full: bool = False,
         progress: ProgressCallback | None = None, trigger: str = Trigger.MANUAL,
         stop_event: threading.Event | None = None, entities: list[str] | None = None) -> list[PullResult]:
    """Pull the named systems (default: every enabled one), one run each; returns their results.

    `progress` hears one label per stream (None: silent); a set `stop_event` ends the pull after
    the pages in hand, with its state saved (None: never stopped).
    """
    names = systems or [n for n, s in config.systems.items() if s.enabled]
    for name in names:
        config.system(name)  # unknown names fail before anything runs
    results: list[PullResult] = []
    for name in names:
        if stop_event is not None and stop_event.is_set():
            break
        try:
            results.append(pull_system(config, db, name, full=full, progress=progress, trigger=trigger,
                                       stop_event=stop_event, entities=entities))
        except LeaseHeld as exc:  # that system is being pulled elsewhere: skip it, pull the others
            log.warning("pull %s skipped: %s", name, exc.message)
            run_id = runs.record_skipped(db, RunKind.PULL, system=name, trigger=trigger, message=exc.message)
            results.append(PullResult(name, run_id, RunStatus.SKIPPED, message=exc.message))
        except Exception as exc:  # noqa: BLE001 - one system's failure never keeps the others from being pulled
            message = failure_message(exc)
            log.error("pull %s failed: %s", name, message)
            log.debug("pull %s failed", name, exc_info=True)
            results.append(PullResult(name, None, RunStatus.FAILED, message=message))
    return results


def failure_message(exc: BaseException) -> str:
    """What a user reads about a failure: a segbridge error as it says itself (message and hint, the
    connector's system, entity, URL, status and body excerpt), anything else as its type and message
    (the traceback only with -vv, on the debug log)."""
    if isinstance(exc, SegbridgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def pull_system(config: SegbridgeConfig, db: Engine, system: str, full: bool = False,
                progress: ProgressCallback | None = None, trigger: str = Trigger.MANUAL,
                stop_event: threading.Event | None = None, entities: list[str] | None = None) -> PullResult:
    """Pull one system under its lease `pull:<system>`: a Run(kind=pull), every mapping entity in
    turn, then the run's quality check. LeaseHeld (naming the holder) when it is pulled elsewhere."""
    stop = stop_event if stop_event is not None else threading.Event()  # never set: never stopped
    with hold(db, lease_name(PULL, system), on_lost=stop):
        return _pull_system_held(config, db, system, full, progress, trigger, stop, entities)


def _pull_system_held(config: SegbridgeConfig, db: Engine, system: str, full: bool,
                      progress: ProgressCallback | None, trigger: str, stop: threading.Event,
                      entities: list[str] | None) -> PullResult:
    """One system's pull run. Whatever fails (a mapping, the connector, an unexpected exception),
    the run is finished (failed, with the message), never left `running`."""
    run_id = runs.start_run(db, RunKind.PULL, system=system, trigger=trigger)
    result = PullResult(system, run_id, RunStatus.OK)
    chosen: dict[str, EntityMapping] = {}
    try:
        mapping_path = config.mapping_path(system)
        mapping = load_mapping(mapping_path)
        chosen = {n: em for n, em in mapping.entities.items() if not entities or n in entities}
        state_of = None if full else (lambda e: load_state(db, system, stream_spec(e).name, e.name))
        with connector_for(config, system) as conn:
            for em, *fed in read_groups(chosen, state_of):  # one read per set (`read_with`, shared_reads)
                if stop.is_set():
                    break
                summary = StreamSummary(system, em.name, em.source.name)
                also = [(f, StreamSummary(system, f.name, f.source.name)) for f in fed]
                result.streams += [summary, *(s for _, s in also)]
                counter = ProgressCounter(progress, f"{system}.{em.name}")
                try:
                    _pull_entity(db, conn, em, summary, run_id, full, counter, stop, mapping_path.parent, also)
                except AuthError:  # every other entity would meet the same refusal: no login storm
                    summary.error += f" (authentication failed; {system}'s other entities were not read)"
                    break
        _settle(result, stop)
        report = finish_run_quality(db, run_id, thresholds_of(config.quality, system, chosen))
        result.suspect = any(q.breached for q in report)
    except Exception as exc:  # noqa: BLE001 - the run must end failed, not stay `running`
        result.status, result.message = RunStatus.FAILED, failure_message(exc)
        log.error("pull %s failed: %s", system, result.message)
        log.debug("pull %s failed", system, exc_info=True)
    finally:
        runs.finish_run(db, run_id, result.status, counts=run_counts(result), message=result.message)
    return result


def _settle(result: PullResult, stop: threading.Event) -> None:
    """The run's final status: a stream error fails it, a stop request (otherwise ok) stops it."""
    failed = [s for s in result.streams if s.error]
    if failed and result.status == RunStatus.OK:
        result.status = RunStatus.FAILED
        result.message = "; ".join(f"{s.entity}: {s.error}" for s in failed)
    if stop.is_set() and result.status == RunStatus.OK:
        result.status = RunStatus.STOPPED
        result.message = "stopped on request; the next pull resumes from the saved state"


def _pull_entity(db: Engine, conn: Connector, em: EntityMapping, summary: StreamSummary, run_id: int,
                 full: bool, counter: ProgressCounter, stop: threading.Event, base_dir,
                 also: list[tuple[EntityMapping, StreamSummary]] = ()) -> None:
    """Read one entity's stream batch by batch; map+load and checkpoint commit together. Each batch also
    feeds the entities in `also` (declared `read_with` this one), each with its own summary and state."""
    system, stream = summary.system, stream_spec(em, *(f for f, _ in also))
    state = None if full else load_state(db, system, stream.name, em.name)
    started, sent_before = time.monotonic(), conn.requests_sent()
    try:
        units = UnitsCache()  # this stream's base units, re-read only when products or their links change
        for ready in prefetch_ready(conn.read(stream, state), READ_AHEAD):
            for batch in joined(ready):
                for member, tally in [(em, summary), *also]:
                    _load(db, system, stream.name, member, batch, run_id, tally, base_dir, units)
                counter.update(summary.read, summary.source_count)
            for _, tally in [(em, summary), *also]:
                tally.batches += len(ready)  # pages read, however many loads they took
            if stop.is_set():
                log.info("%s.%s: stop requested; state saved after %d records", system, em.name, summary.read)
                break
    except LimitExhausted as exc:
        summary.error = f"limit exhausted, state kept: {exc.message}"
    except AuthError as exc:
        summary.error = exc.message
        log.error("%s.%s: %s", system, em.name, exc)
        raise
    except ConnectorError as exc:  # a malformed answer, a refusal, attempts used up: this stream fails
        summary.error = exc.message
        log.error("%s.%s: %s", system, em.name, exc)
    except SegbridgeError as exc:  # bad stream options, data that cannot be processed as a whole
        summary.error = str(exc)
        log.error("%s.%s: %s", system, em.name, exc)
    except Exception as exc:  # noqa: BLE001 - a connector's bug on a strange answer fails its stream only
        summary.error = failure_message(exc)
        log.error("%s.%s: %s", system, em.name, summary.error)
        log.debug("%s.%s failed", system, em.name, exc_info=True)
    finally:
        summary.seconds = time.monotonic() - started
        sent_after = conn.requests_sent()
        if sent_after is not None:
            summary.requests = sent_after - (sent_before or 0)
        share_outcome(summary, [tally for _, tally in also])
        counter.finish()


def joined(batches: list[RecordBatch], limit: int = JOIN_RECORDS) -> list[RecordBatch]:
    """Pages that arrived together, as few loads as is safe: consecutive pages of records (lists) join
    into one batch of at most `limit` records, saved with the last checkpoint among them. A page with a
    tombstone starts a new load: joined to the pages before it, its deletions would run before their
    records are stored (`load_batch` deletes first), and a record deleted after its page would stay.
    Why: a load pays fixed costs (statements, frames, a commit) that cost a CRM pull more than its
    records did in pages of 2,000 (a fifth of its time)."""
    out: list[RecordBatch] = []
    for batch in batches:
        last = out[-1] if out else None
        if (last is not None and isinstance(last.records, list) and isinstance(batch.records, list)
                and len(last.records) + len(batch.records) <= limit and not has_tombstones(batch.records)):
            out[-1] = RecordBatch(last.records + batch.records,
                                  batch.checkpoint if batch.checkpoint is not None else last.checkpoint,
                                  batch.source_count if batch.source_count is not None else last.source_count)
        else:
            out.append(batch)
    return out


def stream_spec(em: EntityMapping, *fed: EntityMapping) -> StreamSpec:
    """The connector stream a mapping entity reads: OData sets as `SERVICE/EntitySet`, expands passed on;
    its fields are also those of the entities `fed` by the same read (`read_with`).

    Example: source {kind: odata_entity_set, service: API_PRODUCT_SRV, name: A_Product}
    reads stream `API_PRODUCT_SRV/A_Product`.
    """
    src = em.source
    name = f"{src.service}/{src.name}" if src.kind == "odata_entity_set" and src.service else src.name
    options = dict(src.options)
    if src.expand:
        options.setdefault("expand", list(src.expand))
    keys = em.key if isinstance(em.key, list) else [em.key]
    return StreamSpec(name=name, primary_key=[k for k in keys if isinstance(k, str)], options=options,
                      fields=list(dict.fromkeys(f for e in (em, *fed) for f in source_fields(e))))


def _uses_uom(em: EntityMapping) -> bool:
    return any((step if isinstance(step, str) else next(iter(step), "")) == "uom"
               for rule in em.fields.values() for step in rule.transforms)


def base_units(conn, system: str) -> Conversions | None:
    """Each product's base unit under every key an order line may name it by, so a quantity already in
    the base unit converts with factor 1 (products are pulled before order lines).

    The base unit is a property of the canonical product, whichever system loaded it last: it is looked
    up through the crosswalk (any system's link, canonical id -> product.base_uom). Keys, the most
    specific winning: this system's own source keys, then canonical ids, then other systems' source keys.
    """
    xw, product = Crosswalk.__table__, Product.__table__
    units = select(product.c.id, product.c.base_uom).where(product.c.base_uom.is_not(None)).subquery()
    linked = conn.execute(select(xw.c.system, xw.c.source_key, units.c.base_uom)
                          .join(units, units.c.id == xw.c.canonical_id).where(xw.c.entity == "product")).fetchall()
    ids = conn.execute(select(units.c.id, units.c.base_uom)).fetchall()
    found: dict[str, str] = {}
    for pairs in ([(k, u) for s, k, u in linked if s != system], ids, [(k, u) for s, k, u in linked if s == system]):
        found.update({str(k): str(u).strip().upper() for k, u in pairs if str(u).strip()})  # later ones win
    return Conversions(base_units=found) if found else None


class UnitsCache:
    """`base_units` for one stream, read again only when the product table or the product links
    changed since (their row counts and newest `loaded_at`: every upsert sets it): an order-line
    stream otherwise joined every product link and rebuilt the table for each batch."""

    def __init__(self) -> None:
        self.signature: tuple | None = None
        self.conversions: Conversions | None = None

    def get(self, conn, system: str) -> Conversions | None:
        xw, product = Crosswalk.__table__, Product.__table__
        signature = (*conn.execute(select(func.count(), func.max(product.c.loaded_at))).one(),
                     *conn.execute(select(func.count(), func.max(xw.c.loaded_at))
                                   .where(xw.c.entity == "product")).one())
        if signature != self.signature:
            self.signature, self.conversions = signature, base_units(conn, system)
        return self.conversions


def _load(db: Engine, system: str, stream: str, em: EntityMapping, batch: RecordBatch, run_id: int,
          summary: StreamSummary, base_dir, units: UnitsCache | None = None) -> None:
    with db.begin() as c:
        if batch.records:
            conversions = (units or UnitsCache()).get(c, system) if _uses_uom(em) else None
            counts = load_batch(c, system, em, batch.records, run_id, conversions=conversions,
                                source_count=batch.source_count, base_dir=base_dir)
            summary.read += counts.read
            summary.loaded += counts.loaded
            summary.quarantined += counts.quarantined
            summary.deleted += counts.deleted
        if batch.checkpoint is not None:
            save_state(c, system, stream, em.name, batch.checkpoint, run_id)
    if batch.source_count is not None:
        summary.source_count = batch.source_count
