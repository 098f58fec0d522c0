"""`segbridge demo [--out segbridge-demo] [--seed N] [--products N]`: the whole cycle against sandboxes.

The demo starts the sandboxes of `segbridge.demo_world` (SAP, WMS, TMS, Salesforce, Oracle
Fusion; those that cannot run here are listed as skipped), seeds them from one generated world,
writes a segbridge.yaml for them, runs the cycle, then changes one value in SAP as a user would
and reconciles again, so the reports show a real exception. Reports land in <out>/reports, the
segment KPI dashboard (kpi_dashboard.html, computed after that reconcile) among them.
"""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import typer

from basics.errors import SegbridgeError
from basics.progress import ProgressCallback
from segbridge.commands.common import long_running, out, store_of, table
from segbridge.commands.run_cmd import step_line
from segbridge.demo_world import DEMO_SYSTEMS, DemoWorld, hand_edit_sap, start_world, write_config

# DEFAULT_PRODUCTS products x 2 locations: that many product-locations in each of SAP and WMS, a third of the
# products in Oracle Fusion (itemsV2). Sized so the demo stays under a minute on two cores (docs/demo.md).
DEFAULT_PRODUCTS = 300
PHASES = ["setup", "first pull", "pull", "segment", "plan", "apply", "reconcile", "reports"]


@dataclass
class PhaseClock:
    """Wall and CPU seconds per phase. CPU is the process's: segbridge and the sandboxes' threads."""

    seconds: dict[str, tuple[float, float]] = field(default_factory=dict)  # phase -> (wall, cpu)
    _wall: float = field(default_factory=time.perf_counter)
    _cpu: float = field(default_factory=time.process_time)

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to `phase` (a phase may be charged more than once)."""
        wall, cpu = time.perf_counter(), time.process_time()
        before = self.seconds.get(phase, (0.0, 0.0))
        self.seconds[phase] = (before[0] + wall - self._wall, before[1] + cpu - self._cpu)
        self._wall, self._cpu = wall, cpu

    def total(self) -> tuple[float, float]:
        return sum(w for w, _ in self.seconds.values()), sum(c for _, c in self.seconds.values())


@dataclass
class DemoOutcome:
    """What one demo run did: the world it ran, the report files, the failure if any, the times."""

    folder: Path
    world: DemoWorld
    paths: dict[str, Path]
    failure: str | None
    clock: PhaseClock


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out_dir: Path = typer.Option(Path("segbridge-demo"), "--out", help="Folder for the config, store and reports"),
    seed: int = typer.Option(7, "--seed", help="Seed of the generated world (same seed, same data)"),
    products: int = typer.Option(DEFAULT_PRODUCTS, "--products", min=5,
                                 help="Products (x 2 locations = product-locations per system)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
    serve: bool = typer.Option(False, "--serve", help="Then serve the web app on the demo's store (Ctrl-C stops)"),
) -> None:
    """Start the sandboxes, seed them, run the whole cycle and write the reports (under a minute)."""
    outcome = run_demo(out_dir, seed, products, show_progress=not quiet)
    _finish(outcome)
    if outcome.failure:
        raise SegbridgeError(f"the demo did not complete: {outcome.failure}",
                             hint="the reports above show what was reached; run with -v for details")
    _web_app(outcome.folder, serve)


def _web_app(folder: Path, serve: bool) -> None:
    """A demo user per role (passwords printed once) and how to open the web app on the demo's store."""
    from basics.users import current_user
    from core.accounts import demo_users
    from core.settings import load_config

    config = load_config(folder / "segbridge.yaml")
    db = store_of(config)
    users = demo_users(db, current_user())
    table("web app users (passwords shown once)", ["role", "user", "password"],
          [[role, name, password] for role, (name, password) in users.items()])
    if not serve:
        out.print(f"open the web app: `segbridge -c {folder / 'segbridge.yaml'} serve`, then http://127.0.0.1:8000/")
        db.dispose()
        return
    import uvicorn

    from webapp.application import create_app

    out.print("web app on http://127.0.0.1:8000/ (Ctrl-C stops)")
    uvicorn.run(create_app(db, config), host="127.0.0.1", port=8000, log_level="warning")


def run_demo(out_dir: Path, seed: int = 7, products: int = DEFAULT_PRODUCTS,
             show_progress: bool = False) -> DemoOutcome:
    """The whole demo in `out_dir` (also what bench/bench_demo.py times, phase by phase)."""
    clock = PhaseClock()
    folder = out_dir.resolve()
    _fresh(folder)
    with ExitStack() as stack:
        dataset = _generate(seed, products)
        world = start_world(stack, dataset)
        _describe_world(world, dataset)
        paths, failure = _run_demo(folder, world, clock, show_progress)
    return DemoOutcome(folder, world, paths, failure, clock)


def _fresh(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("segbridge.db", "segbridge.db-wal", "segbridge.db-shm"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "reports", ignore_errors=True)


def _generate(seed: int, products: int):
    from sandbox.generator import generate

    return generate(seed=seed, products=products, locations=2, customers=max(20, products // 5), weeks=52,
                    order_rate=0.15)


def _describe_world(world: DemoWorld, dataset) -> None:
    out.print(f"generated {len(dataset.product_locations):,} product-locations, {len(dataset.customers):,} "
              f"customers, {len(dataset.order_lines):,} order lines")
    for s in world.systems:
        out.print(f"  [green]started[/] {s.name:<11} {world.urls[s.name]}")
    for name, why in world.skipped.items():
        out.print(f"  [yellow]skipped[/] {name:<11} {why}")


def _run_demo(folder: Path, world: DemoWorld, clock: PhaseClock,
              show_progress: bool) -> tuple[dict[str, Path], str | None]:
    """Config, first pull, the cycle, a hand edit in SAP, reconcile again; reports even when a step failed."""
    from core.reports.reconcile_report import write_reports
    from core.settings import load_config

    config = load_config(write_config(folder, world))
    db = store_of(config)
    clock.lap("setup")
    failure = None
    try:
        with long_running(show_progress) as (progress, stop):
            if _first_pull(world, config, db, progress, stop):
                config = load_config(write_config(folder, world))
            clock.lap("first pull")
            failure = _cycle_and_hand_edit(world, config, db, progress, stop, clock)
    except SegbridgeError as exc:
        failure = exc.message
    paths = write_reports(db, folder / "reports")
    if failure is None:
        paths.update(_engine_report(config, db, folder / "reports"))
        paths.update(_kpi_dashboard(config, db, folder / "reports"))
    db.dispose()
    clock.lap("reports")
    return paths, failure


def _cycle_and_hand_edit(world: DemoWorld, config, db, progress: ProgressCallback | None,
                         stop: threading.Event, clock: PhaseClock) -> str | None:
    """The cycle, then one value changed in SAP by hand and a second reconcile; the failure, if any."""
    from core.cycle import run_cycle
    from core.reconcile import run_reconcile
    from core.statuses import RunStatus, Trigger
    from core.writeback.intended import intended_values

    out.print("[bold]cycle[/]: pull -> segment -> plan -> apply -> reconcile")
    def on_step(name: str, step) -> None:
        clock.lap(name)
        step_line(name, step)

    result = run_cycle(config, db, trigger=Trigger.DEMO, stop_event=stop, progress=progress, on_step=on_step)
    if not result.completed:
        return f"the cycle stopped (run {result.run_id}); see the step lines above"
    apply = result.steps["apply"]
    if apply.status == RunStatus.FAILED:
        out.print(f"  [yellow]note:[/] {apply.counts.get('rejected', 0)} change(s) were rejected by the systems "
                  f"(see `segbridge -c {config.base_dir / 'segbridge.yaml'} runs list` and the exceptions)")
    sap_live = "sap" in world.apps and "sap" not in world.disabled
    edit = hand_edit_sap(world, intended_values(config, db, ["sap"])) if sap_live else None
    if edit:
        out.print(f"[bold]by hand[/]: in SAP {edit.entity} {edit.key} {edit.field} changed {edit.before} -> "
                  f"{edit.after} (segbridge wrote {edit.intended}); reconciling SAP again")
        summary = run_reconcile(config, db, systems=["sap"], progress=progress, trigger=Trigger.DEMO)
        out.print(f"  reconcile run {summary.run_id}: {summary.new} new exception(s), {summary.remaining} open")
        clock.lap("reconcile")
    return None


def _first_pull(world: DemoWorld, config, db, progress: ProgressCallback | None,
                stop: threading.Event) -> bool:
    """Pull each system once; a system whose pull fails is disabled in segbridge.yaml (said, not hidden)."""
    from core.statuses import RunStatus, Trigger
    from core.sync import pull

    out.print("[bold]first pull[/] of each system")
    for system in world.systems:
        if stop.is_set():
            break
        [result] = pull(config, db, systems=[system.name], progress=progress, stop_event=stop, trigger=Trigger.DEMO)
        read = sum(s.read for s in result.streams)
        if result.status == RunStatus.OK:
            out.print(f"  [green]ok[/]      {system.name:<11} {read:,} records")
        else:
            world.disabled[system.name] = f"pull failed: {(result.message or result.status)[:300]}"
            out.print(f"  [yellow]disabled[/] {system.name:<11} {world.disabled[system.name]}")
    return bool(world.disabled)


def _engine_report(config, db, folder: Path) -> dict[str, Path]:
    """The engine's HTML report (ABC-XYZ matrix, Pareto, parameter changes) recomputed from the store."""
    from core.planning.engine import run_engine
    from core.planning_store import load_frames, resolve_policy
    from core.reports.engine_report import write_report

    try:
        policy = resolve_policy(config)
        result = run_engine(load_frames(db), policy)
        path = write_report(result, folder / "engine_report.html", policy.classification.abc_measure)
    except SegbridgeError as exc:
        out.print(f"[yellow]engine report skipped:[/] {exc.message}")
        return {}
    return {"engine": path}


def _kpi_dashboard(config, db, folder: Path) -> dict[str, Path]:
    """The segment KPIs of the cycle's run (after the reconcile, so adherence is current) and their dashboard."""
    from core.kpis.kpi_store import compute_and_save
    from core.reports.kpi_dashboard import write_dashboard

    try:
        run_id, rows = compute_and_save(db, config=config)
    except SegbridgeError as exc:
        out.print(f"[yellow]KPI dashboard skipped:[/] {exc.message}")
        return {}
    out.print(f"KPIs: {rows:,} rows for segment run {run_id}")
    return {"kpis": write_dashboard(db, folder / "kpi_dashboard.html", run_id)}


def _finish(outcome: DemoOutcome) -> None:
    """What ran (systems and kinds, the ones not run and why), what to open, and how long it took."""
    world, paths, folder = outcome.world, outcome.paths, outcome.folder
    ran = [[s.name, s.kind, "ran" if s.name not in world.disabled else f"disabled: {world.disabled[s.name]}"]
           for s in world.systems]
    kinds = {s.name: s.kind for s in DEMO_SYSTEMS}
    ran += [[name, kinds.get(name, "?"), f"not started: {why}"] for name, why in world.skipped.items()]
    table("systems", ["system", "kind", "status"], ran)
    table("reports", ["report", "file"], [[name, str(p)] for name, p in paths.items()])
    out.print(f"open first: [bold]{paths['html']}[/] (exceptions by system and kind, over time), then "
              f"{paths['excel']} (one sheet per kind, filterable).")
    out.print(f"the config and store are in {folder}: try `segbridge -c {folder / 'segbridge.yaml'} "
              f"exceptions list`")
    wall, cpu = outcome.clock.total()
    phases = ", ".join(f"{name} {outcome.clock.seconds[name][0]:.0f}" for name in PHASES
                       if name in outcome.clock.seconds)
    out.print(f"segbridge demo finished in {wall:.0f} s wall ({cpu:.0f} s CPU); seconds per phase: {phases}")
