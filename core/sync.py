"""The pull runner: read each configured system through its connector and mapping into the store.

For every entity of a system's mapping file, the connector's stream is read from the saved
watermark (`SyncState`, per system, stream and partition = the mapping entity). Each batch is
mapped, loaded AND its checkpoint saved in ONE transaction, so a crash (even SIGKILL) repeats
at most the batch in flight, and loading is idempotent (upsert by key), which also makes the
look-back window's re-reads harmless. `full=True` ignores saved state. SIGTERM/SIGINT (or
`request_stop()` / a `stop_event`) finish the current batch, keep the state and stop cleanly.

Example:
    >>> results = pull(load_config("segbridge.yaml"), engine, systems=["wms"])     # doctest: +SKIP
    >>> results[0].streams[0].loaded
    1200
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from basics.errors import SegbridgeError
from connectors import registry
from connectors.base import Connector, ConnectorError, LimitExhausted, RecordBatch, StreamSpec
from core.mapping import Conversions, EntityMapping, load_mapping
from core.mapping.ingest import load_batch
from core.model import Crosswalk, Product, Run, SyncState, utcnow
from core.prefetch import prefetch
from core.quality import finish_run_quality
from core.settings import SegbridgeConfig

log = logging.getLogger("segbridge.sync")
_STOP = threading.Event()
PATH_OPTIONS = ("path", "manifest", "ca_bundle")  # connector options that are file paths


def request_stop() -> None:
    """Ask running pulls to stop after their current batch (the scheduler calls this on shutdown)."""
    _STOP.set()


@dataclass
class StreamSummary:
    system: str
    entity: str
    stream: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    batches: int = 0
    source_count: int | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class PullResult:
    system: str
    run_id: int | None
    status: str  # ok | failed | stopped
    streams: list[StreamSummary] = field(default_factory=list)
    message: str | None = None
    suspect: bool = False

    @property
    def read(self) -> int:
        return sum(s.read for s in self.streams)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------- state


def load_state(engine: Engine, system: str, stream: str, partition: str = "") -> dict[str, Any] | None:
    """The saved checkpoint of one (system, stream, partition), or None."""
    t = SyncState.__table__
    with engine.connect() as conn:
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


def _start_run(engine: Engine, system: str, trigger: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(Run.__table__.insert().values(kind="pull", system=system, status="running",
                                                            trigger=trigger, started_at=utcnow()))
        return int(result.inserted_primary_key[0])


def _finish_run(engine: Engine, result: PullResult) -> None:
    counts = {s.entity: {k: v for k, v in asdict(s).items() if k in ("read", "loaded", "quarantined", "source_count")}
              for s in result.streams}
    t = Run.__table__
    with engine.begin() as conn:
        values = dict(status=result.status, finished_at=utcnow(), counts=json.dumps(counts))
        if result.message:
            values["message"] = result.message
        conn.execute(t.update().where(t.c.id == result.run_id).values(**values))


# --------------------------------------------------------------------------- the runner


def connector_for(config: SegbridgeConfig, system: str) -> Connector:
    """The system's connector from the registry, with file-path options relative to the config file."""
    sc = config.system(system)
    options = dict(sc.options)
    for key in PATH_OPTIONS:
        value = options.get(key)
        if isinstance(value, str) and value and not value.startswith(("/", "~")):
            candidate = config.resolve_path(value)
            if candidate.exists():
                options[key] = str(candidate)
    return registry.create(sc.kind, options, name=system)


def _thresholds(config: SegbridgeConfig, system: str, entities: dict[str, EntityMapping]) -> dict[str, float]:
    out = {"default": config.quality.max_quarantine_share, **config.quality.per_entity}
    out.update({f"{system}.{name}": em.quality.threshold for name, em in entities.items()
                if em.quality.threshold is not None})
    return out


def pull(config: SegbridgeConfig, engine: Engine, systems: list[str] | None = None, full: bool = False,
         progress: bool = True, trigger: str = "manual", stop_event: threading.Event | None = None,
         entities: list[str] | None = None) -> list[PullResult]:
    """Pull the named systems (default: every enabled one), one run each; returns their results."""
    names = systems or [n for n, s in config.systems.items() if s.enabled]
    for name in names:
        config.system(name)  # unknown names fail before anything runs
    stop = stop_event or _STOP
    results: list[PullResult] = []
    with _signals(stop), _progress(progress) as bar:
        for name in names:
            if stop.is_set():
                break
            results.append(pull_system(config, engine, name, full=full, progress=bar, trigger=trigger,
                                       stop_event=stop, entities=entities))
    _STOP.clear()
    return results


def pull_system(config: SegbridgeConfig, engine: Engine, system: str, full: bool = False, progress: Any = None,
                trigger: str = "manual", stop_event: threading.Event | None = None,
                entities: list[str] | None = None) -> PullResult:
    """Pull one system: a Run(kind=pull), every mapping entity in turn, then the run's quality check."""
    stop = stop_event or _STOP
    mapping_path = config.mapping_path(system)
    mapping = load_mapping(mapping_path)
    chosen = {n: em for n, em in mapping.entities.items() if not entities or n in entities}
    run_id = _start_run(engine, system, trigger)
    result = PullResult(system, run_id, "ok")
    try:
        with connector_for(config, system) as conn:
            for name, em in chosen.items():
                if stop.is_set():
                    break
                summary = StreamSummary(system, name, em.source.name)
                result.streams.append(summary)
                _pull_entity(engine, conn, em, summary, run_id, full, progress, stop, mapping_path.parent)
    except SegbridgeError as exc:
        result.status, result.message = "failed", str(exc)
        log.error("pull %s failed: %s", system, exc)
    failed = [s for s in result.streams if s.error]
    if failed and result.status == "ok":
        result.status = "failed"
        result.message = "; ".join(f"{s.entity}: {s.error}" for s in failed)
    if stop.is_set() and result.status == "ok":
        result.status, result.message = "stopped", "stopped on request; the next pull resumes from the saved state"
    report = finish_run_quality(engine, run_id, _thresholds(config, system, chosen))
    result.suspect = any(q.breached for q in report)
    _finish_run(engine, result)
    return result


def _pull_entity(engine: Engine, conn: Connector, em: EntityMapping, summary: StreamSummary, run_id: int,
                 full: bool, progress: Any, stop: threading.Event, base_dir) -> None:
    """Read one entity's stream batch by batch; map+load and checkpoint commit together."""
    system, stream = summary.system, stream_spec(em)
    state = None if full else load_state(engine, system, stream.name, em.name)
    started = time.monotonic()
    task = progress.add_task(f"{system}.{em.name}", total=None) if progress is not None else None
    try:
        for batch in prefetch(conn.read(stream, state)):
            _load(engine, system, stream.name, em, batch, run_id, summary, base_dir)
            if task is not None:
                progress.update(task, completed=summary.read, total=summary.source_count)
            if stop.is_set():
                log.info("%s.%s: stop requested; state saved after %d records", system, em.name, summary.read)
                break
    except LimitExhausted as exc:
        summary.error = f"limit exhausted, state kept: {exc.message}"
    except ConnectorError as exc:
        summary.error = exc.message
        log.error("%s.%s: %s", system, em.name, exc)
    finally:
        summary.seconds = time.monotonic() - started
        if task is not None:
            progress.update(task, completed=summary.read, total=summary.source_count or summary.read)


def stream_spec(em: EntityMapping) -> StreamSpec:
    """The connector stream a mapping entity reads: OData sets as `SERVICE/EntitySet`, expands passed on.

    Example: source {kind: odata_entity_set, service: API_PRODUCT_SRV, name: A_Product}
    reads stream `API_PRODUCT_SRV/A_Product`.
    """
    src = em.source
    name = f"{src.service}/{src.name}" if src.kind == "odata_entity_set" and src.service else src.name
    options = dict(src.options)
    if src.expand:
        options.setdefault("expand", list(src.expand))
    keys = em.key if isinstance(em.key, list) else [em.key]
    return StreamSpec(name=name, primary_key=[k for k in keys if isinstance(k, str)], options=options)


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


def _load(engine: Engine, system: str, stream: str, em: EntityMapping, batch: RecordBatch, run_id: int,
          summary: StreamSummary, base_dir) -> None:
    with engine.begin() as c:
        if batch.records:
            conversions = base_units(c, system) if _uses_uom(em) else None
            counts = load_batch(c, system, em, batch.records, run_id, conversions=conversions,
                                source_count=batch.source_count, base_dir=base_dir)
            summary.read += counts.read
            summary.loaded += counts.loaded
            summary.quarantined += counts.quarantined
        if batch.checkpoint is not None:
            save_state(c, system, stream, em.name, batch.checkpoint, run_id)
    summary.batches += 1
    if batch.source_count is not None:
        summary.source_count = batch.source_count


# --------------------------------------------------------------------------- signals and progress


@contextmanager
def _signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop` (finish the batch, keep state); a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("signal %s: finishing the current batch, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)
