"""run and demo: the whole cycle once against the configured systems, or against in-process sandboxes.

    segbridge run [SYSTEM...]                       pull -> segment -> plan -> apply -> reconcile
    segbridge demo [--out segbridge-demo] [--seed N] [--products N]

The demo starts every sandbox that exists in this build (SAP, WMS, TMS, Salesforce, Oracle
Fusion; those missing are listed as skipped), seeds them from one generated world, writes a
segbridge.yaml for them (secrets as ${ENV_VAR} references, set in this process only), runs the
cycle, then changes one value in SAP as a user would and reconciles again, so the reports show
a real exception. Reports land in <out>/reports.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml

from segbridge.commands.common import config_of, out, store_of, table

# DEFAULT_PRODUCTS products x 2 locations: that many product-locations in each of SAP, WMS and Oracle Fusion
# (itemsV2 item-organizations). Sized so the demo stays well under two minutes on two cores (docs/demo.md).
DEFAULT_PRODUCTS = 600
# Oracle Fusion holds one in FUSION_SHARE of the products (its sandbox has one inventory organization, M1):
# itemsV2 writes look each item up by q= before the PATCH, about 80 ms per item-organization here, the
# slowest write-back and read-back of the demo.
FUSION_SHARE = 3
DEMO_SECRETS = {"SEGBRIDGE_DEMO_SAP_PASSWORD": "demo-sap-pass", "SEGBRIDGE_DEMO_WMS_PASSWORD": "demo-wms-pass",
                "SEGBRIDGE_DEMO_TMS_SECRET": "demo-tms-secret", "SEGBRIDGE_DEMO_SF_SECRET": "s3cret",
                "SEGBRIDGE_DEMO_FUSION_PASSWORD": "demo-fusion-pass", "SEGBRIDGE_DEMO_EBS_PASSWORD": "demo-ebs-pass"}


@dataclass
class DemoSystem:
    """One sandbox in the demo: how to build it and how segbridge.yaml connects to it."""

    name: str
    sandbox: str
    kind: str
    mapping: str
    build: dict[str, Any]
    options: Callable[[str], dict[str, Any]]
    write: bool = True
    needs: Callable[[], str | None] | None = None  # why it cannot run here (missing material), or None


def _basic(user: str, env: str) -> dict[str, Any]:
    return {"type": "basic", "username": user, "password": "${" + env + "}"}


DEMO_SYSTEMS = [
    DemoSystem("sap", "sap", "sap_odata", "sap_s4.yaml", {"auth": ("SEGBRIDGE", "demo-sap-pass")},
               lambda url: {"base_url": url, "auth": _basic("SEGBRIDGE", "SEGBRIDGE_DEMO_SAP_PASSWORD")}),
    DemoSystem("wms", "wms", "wms", "wms.yaml", {"auth": "basic", "user": "segbridge", "password": "demo-wms-pass"},
               lambda url: {"base_url": url, "auth": _basic("segbridge", "SEGBRIDGE_DEMO_WMS_PASSWORD")}),
    DemoSystem("tms", "tms", "tms", "tms.yaml", {"auth": "oauth2", "user": "segbridge", "password": "demo-tms-secret"},
               lambda url: {"base_url": url, "auth": {"type": "oauth2_client_credentials",
                                                      "token_url": url + "/oauth2/token", "client_id": "segbridge",
                                                      "client_secret": "${SEGBRIDGE_DEMO_TMS_SECRET}"}}),
    DemoSystem("salesforce", "salesforce", "salesforce", "salesforce.yaml", {},
               lambda url: {"instance_url": url, "objects": _sobjects("salesforce.yaml"),
                            "auth": {"flow": "client_credentials", "client_id": "segbridge",
                                     "token_url": url + "/services/oauth2/token",
                                     "client_secret": "${SEGBRIDGE_DEMO_SF_SECRET}"}}),
    DemoSystem("oracle", "fusion_rest", "oracle_fusion_rest", "oracle_fusion_items.yaml",
               {"items": lambda ds: _fusion_items(ds)},
               lambda url: {"base_url": url, "resources": {
                   "itemsV2": {"key": ["ItemNumber", "OrganizationCode"], "cursor_field": "LastUpdateDateTime"}}}),
    DemoSystem("oracle_crm", "oracle_soap", "oracle_soap", "oracle_fusion_crm.yaml",
               {"oracle_dir": lambda ds: str(fusion_wsdl_dir()), "users": {"SEGBRIDGE": "demo-fusion-pass"}},
               lambda url: _fusion_soap_options(url), needs=lambda: _fusion_wsdl_missing()),
    # Without the Fusion WSDL (external material, not shipped) the same SOAP sandbox serves the EBS ISG-style
    # XX_SEGBRIDGE_CUST_PKG written for it (sandbox/wsdl/), so the oracle_soap connector still runs in the demo.
    DemoSystem("oracle_ebs", "oracle_soap", "oracle_soap", "oracle_ebs_soap.yaml",
               {"users": {"SEGBRIDGE": "demo-ebs-pass"}}, lambda url: _ebs_soap_options(url),
               needs=lambda: _ebs_fallback_unneeded()),
]


def _fusion_items(dataset) -> list[dict[str, Any]]:
    """itemsV2 rows for every FUSION_SHARE-th product of the generated world."""
    from sandbox.fusion_rest_standin import seed_items

    subset = dataset.products.iloc[::FUSION_SHARE]
    return seed_items(type("Products", (), {"products": subset})())


def fusion_wsdl_dir() -> Path:
    """The Fusion SalesPartyService WSDL + XSD set (Oracle's BSD-licensed sample files), taken from the
    shared reference material: $SEGBRIDGE_SHARED/oracle/fusion_sales_party_service."""
    root = Path(os.environ.get("SEGBRIDGE_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    return root / "oracle" / "fusion_sales_party_service"


def _fusion_wsdl_missing() -> str | None:
    folder = fusion_wsdl_dir()
    if (folder / "SalesPartyService.wsdl").is_file():
        return None
    return f"SalesPartyService WSDL not found in {folder} (set SEGBRIDGE_SHARED)"


def _ebs_fallback_unneeded() -> str | None:
    """oracle_ebs stands in for oracle_crm: it runs only when the Fusion WSDL is missing."""
    if _fusion_wsdl_missing() is None:
        return "the Fusion SalesPartyService WSDL is present: oracle_crm runs instead"
    return None


def _ebs_soap_options(url: str) -> dict[str, Any]:
    """oracle_soap options for the ISG-style XX_SEGBRIDGE_CUST_PKG (WSDL and XSDs from sandbox/wsdl)."""
    from sandbox.oracle_soap import ISG_PATH, WSDL_DIR

    return {"wsdl": str(WSDL_DIR / "xx_segbridge_cust_pkg.wsdl"), "endpoint": url + ISG_PATH,
            "schema_dir": str(WSDL_DIR), "username": "SEGBRIDGE", "password": "${SEGBRIDGE_DEMO_EBS_PASSWORD}",
            "soap_headers": {"header": {"Responsibility": "RECEIVABLES_MANAGER", "RespApplication": "AR",
                                        "SecurityGroup": "STANDARD", "NLSLanguage": "AMERICAN", "Org_Id": "204"}},
            "streams": {"GET_CUSTOMERS": {"operation": "GET_CUSTOMERS", "style": "isg", "primary_key": ["PARTY_NUMBER"],
                                          "arguments": {"P_CLASS_CATEGORY": "SEGBRIDGE_SEGMENT"},
                                          "result_path": ["X_CUSTOMERS", "X_CUSTOMERS_ITEM"], "page_size": 500,
                                          "offset_param": "P_OFFSET", "limit_param": "P_LIMIT"}},
            "targets": {"UPDATE_CLASSIFICATION": {
                "operation": "UPDATE_CLASSIFICATION", "style": "isg", "read_stream": "GET_CUSTOMERS",
                "parameters": {"PARTY_NUMBER": "P_PARTY_NUMBER", "CLASS_CATEGORY": "P_CLASS_CATEGORY",
                               "CLASS_CODE": "P_CLASS_CODE"}}}}


def _fusion_soap_options(url: str) -> dict[str, Any]:
    from sandbox.oracle_soap import ADF_PATH

    return {"wsdl": str(fusion_wsdl_dir() / "SalesPartyService.wsdl"), "endpoint": url + ADF_PATH,
            "username": "SEGBRIDGE", "password": "${SEGBRIDGE_DEMO_FUSION_PASSWORD}",
            "streams": {"findSalesAccount": {"operation": "findSalesAccount", "primary_key": ["PartyId"],
                                             "cursor_field": "LastUpdateDate", "page_size": 500}},
            "targets": {"updateSalesAccount": {"operation": "updateSalesAccount", "argument": "salesAccount",
                                               "read_stream": "findSalesAccount"}}}


def _sobjects(mapping: str) -> dict[str, Any]:
    """Salesforce `objects:` for every sObject the mapping file reads (fields from its soql_fields)."""
    from core.mapping import load_mapping
    from core.paths import shipped_mapping

    objects: dict[str, Any] = {}
    for em in load_mapping(shipped_mapping(mapping)).entities.values():
        opts = em.source.options
        spec = objects.setdefault(em.source.name, {"fields": [], "cursor_field": opts.get("delta_field")})
        spec["fields"] += [f for f in opts.get("soql_fields", []) if f not in spec["fields"]]
    return objects


@dataclass
class DemoWorld:
    """The running sandboxes (name -> app, url) and the systems skipped with the reason."""

    apps: dict[str, Any] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    systems: list[DemoSystem] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # started, but its first pull failed


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)


def unavailable(system: DemoSystem) -> str | None:
    """Why a demo system cannot run in this build, or None."""
    from connectors import registry
    from core.paths import shipped_mapping
    from sandbox.catalog import SANDBOXES

    if system.sandbox not in SANDBOXES:
        return f"no '{system.sandbox}' sandbox in this build"
    if system.kind not in registry.known_kinds():
        return f"no '{system.kind}' connector in this build"
    if not shipped_mapping(system.mapping).is_file():
        return f"mapping {system.mapping} not shipped"
    return system.needs() if system.needs else None


def start_world(stack: ExitStack, dataset, only: list[str] | None = None) -> DemoWorld:
    """Build and serve every available sandbox over `dataset` on 127.0.0.1 (stopped by `stack`)."""
    from sandbox.catalog import build
    from sandbox.server import serve

    world = DemoWorld()
    for system in DEMO_SYSTEMS:
        if only is not None and system.name not in only:
            continue
        why = unavailable(system)
        if why is None:
            try:
                options = {k: v(dataset) if callable(v) else v for k, v in system.build.items()}
                app = build(system.sandbox, dataset=dataset, **options)
                world.urls[system.name] = stack.enter_context(serve(app)).url
                world.apps[system.name] = app
                world.systems.append(system)
                continue
            except Exception as exc:  # noqa: BLE001 - one broken sandbox must not stop the demo
                why = f"sandbox failed to start: {type(exc).__name__}: {exc}"
        world.skipped[system.name] = why
    os.environ.update(DEMO_SECRETS)
    return world


def demo_config(world: DemoWorld) -> dict[str, Any]:
    """segbridge.yaml for the running sandboxes (secrets are ${ENV_VAR} references)."""
    systems = {s.name: {"kind": s.kind, "mapping": s.mapping, "options": s.options(world.urls[s.name]),
                        **({"enabled": False} if s.name in world.disabled else {}),
                        **({} if s.write else {"write": {"enabled": False}})} for s in world.systems}
    names = {n for n in systems if n not in world.disabled}
    checks = []
    if {"sap", "wms"} <= names:
        # The same product-location's ABC class: SAP holds the letter, the WMS the segment (A-X ... C-Z).
        segment_to_abc = {f"{a}-{x}": a for a in "ABC" for x in "XYZ"}
        checks.append({"name": "product_class", "entity": "product_location",
                       "systems": {"sap": {"entity": "A_ProductSupplyPlanning", "field": "ABCIndicator"},
                                   "wms": {"entity": "item", "field": "cust_field_3",
                                           "code_map": segment_to_abc}}})
    return {
        "version": 1,
        "database": {"url": "sqlite:///segbridge.db"},
        "systems": systems,
        # Fresh demo data: the first plan changes nearly every class, which would need approval.
        "writeback": {"guardrails": {"max_class_change_share": 1.0, "max_safety_stock_value_increase_pct": 1.0e9}},
        "reconcile": {"stewards": {"sap": {"*": "sap-master-data@example.com"},
                                   "*": {"*": "supply-chain-steward@example.com"}},
                      "cross_system": checks},
    }


def write_config(folder: Path, world: DemoWorld) -> Path:
    path = folder / "segbridge.yaml"
    header = "# Written by `segbridge demo` for the in-process sandboxes; secrets are ${ENV_VAR} references.\n"
    path.write_text(header + yaml.safe_dump(demo_config(world), sort_keys=False), encoding="utf-8")
    return path


@dataclass
class HandEdit:
    """A value changed in a sandbox the way a user in the system would change it."""

    system: str
    entity: str
    key: dict[str, Any]
    field: str
    intended: str
    before: str | None
    after: str


def _different(value: Any) -> str:
    """Another plausible value of the same shape: 120.000 -> 127.000, 02 -> 03, A -> Z."""
    text = "" if value is None else str(value)
    try:
        number = float(text)
    except ValueError:
        return "Z" if text != "Z" else "Y"
    if text.isdigit():
        return str(int(text) + 1).zfill(len(text))
    places = len(text.split(".")[1]) if "." in text else 0
    return f"{number + 7:.{places}f}"


def hand_edit_sap(world: DemoWorld, intended) -> HandEdit | None:
    """Change one value segbridge wrote to SAP, as a user in SAP would (safety stock when there is one)."""
    app = world.apps.get("sap")
    rows = intended[intended["system"] == "sap"]
    if app is None or rows.empty:
        return None
    order = rows.assign(_e=rows["entity"] != "A_ProductSupplyPlanning", _f=rows["field"] != "SafetyStockQuantity")
    row = order.sort_values(["_e", "_f", "entity", "field", "target_key"]).iloc[0]
    key = json.loads(row["target_key"])
    state = app.state
    with state.lock:
        service = next(svc for (svc, name) in state.data if name == row["entity"])
        record = state.entity(service, row["entity"], key)
        before = record.get(row["field"])
        after = _different(before)
        record[row["field"]] = after
        if "LastChangeDateTime" in record:
            record["LastChangeDateTime"] = state.tick()
    return HandEdit("sap", row["entity"], key, row["field"], row["intended_value"], before, after)


def _step_line(name: str, step) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in step.counts.items() if isinstance(v, int | float))
    colour = {"ok": "green", "exceptions": "yellow", "skipped": "yellow"}.get(step.status, "red")
    out.print(f"  [bold]{name:<9}[/] [{colour}]{step.status}[/] run {step.run_id}  {counts}"
              + (f"  ({step.message})" if step.message else ""))


def run(
    ctx: typer.Context,
    systems: list[str] = typer.Argument(None, help="Systems to include (default: every enabled system)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
) -> None:
    """Run the whole cycle once now: pull, segment, plan, apply (if no approval is needed), reconcile."""
    from core.cycle import run_cycle

    config = config_of(ctx)
    engine = store_of(config)
    result = run_cycle(config, engine, trigger="manual", systems=systems or None, progress=not quiet,
                       on_step=_step_line)
    out.print(f"cycle run {result.run_id}: [bold]{result.status}[/]")
    raise typer.Exit(result.exit_code)


def demo(
    out_dir: Path = typer.Option(Path("segbridge-demo"), "--out", help="Folder for the config, store and reports"),
    seed: int = typer.Option(7, "--seed", help="Seed of the generated world (same seed, same data)"),
    products: int = typer.Option(DEFAULT_PRODUCTS, "--products", min=5,
                                 help="Products (x 2 locations = product-locations per system)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
) -> None:
    """Start the sandboxes, seed them, run the whole cycle and write the reports (about a minute)."""
    started = time.monotonic()
    folder = out_dir.resolve()
    _fresh(folder)
    with ExitStack() as stack:
        dataset = _generate(seed, products)
        world = start_world(stack, dataset)
        _describe_world(world, dataset)
        if not world.systems:
            from basics.errors import SegbridgeError

            raise SegbridgeError("no sandbox is available in this build", hint="see the skipped list above")
        paths, failure = _run_demo(folder, world, progress=not quiet)
    _finish(folder, paths, time.monotonic() - started)
    if failure:
        from basics.errors import SegbridgeError

        raise SegbridgeError(f"the demo did not complete: {failure}",
                             hint="the reports above show what was reached; run with -v for details")


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


def _run_demo(folder: Path, world: DemoWorld, progress: bool) -> tuple[dict[str, Path], str | None]:
    """Config, first pull, the cycle, a hand edit in SAP, reconcile again; reports even when a step failed."""
    from basics.errors import SegbridgeError
    from core.reports.reconcile_report import write_reports
    from core.settings import load_config

    config = load_config(write_config(folder, world))
    engine = store_of(config)
    failure = None
    try:
        if _first_pull(world, config, engine, progress):
            config = load_config(write_config(folder, world))
        failure = _cycle_and_hand_edit(world, config, engine, progress)
    except SegbridgeError as exc:
        failure = exc.message
    paths = write_reports(engine, folder / "reports")
    if failure is None:
        paths.update(_engine_report(config, engine, folder / "reports"))
    engine.dispose()
    return paths, failure


def _cycle_and_hand_edit(world: DemoWorld, config, engine, progress: bool) -> str | None:
    """The cycle, then one value changed in SAP by hand and a second reconcile; the failure, if any."""
    from core.cycle import run_cycle
    from core.reconcile import run_reconcile
    from core.writeback.intended import intended_values

    out.print("[bold]cycle[/]: pull -> segment -> plan -> apply -> reconcile")
    result = run_cycle(config, engine, trigger="demo", progress=progress, on_step=_step_line)
    if not result.completed:
        return f"the cycle stopped (run {result.run_id}); see the step lines above"
    apply = result.steps["apply"]
    if apply.status == "failed":
        out.print(f"  [yellow]note:[/] {apply.counts.get('rejected', 0)} change(s) were rejected by the systems "
                  f"(see `segbridge -c {config.base_dir / 'segbridge.yaml'} runs list` and the exceptions)")
    sap_live = "sap" in world.apps and "sap" not in world.disabled
    edit = hand_edit_sap(world, intended_values(config, engine, ["sap"])) if sap_live else None
    if edit:
        out.print(f"[bold]by hand[/]: in SAP {edit.entity} {edit.key} {edit.field} changed {edit.before} -> "
                  f"{edit.after} (segbridge wrote {edit.intended}); reconciling SAP again")
        summary = run_reconcile(config, engine, systems=["sap"], progress=progress, trigger="demo")
        out.print(f"  reconcile run {summary.run_id}: {summary.new} new exception(s), {summary.remaining} open")
    return None


def _first_pull(world: DemoWorld, config, engine, progress: bool) -> bool:
    """Pull each system once; a system whose pull fails is disabled in segbridge.yaml (said, not hidden)."""
    from core.sync import pull

    out.print("[bold]first pull[/] of each system")
    for system in world.systems:
        [result] = pull(config, engine, systems=[system.name], progress=progress, trigger="demo")
        read = sum(s.read for s in result.streams)
        if result.status == "ok":
            out.print(f"  [green]ok[/]      {system.name:<11} {read:,} records")
        else:
            world.disabled[system.name] = f"pull failed: {(result.message or result.status)[:300]}"
            out.print(f"  [yellow]disabled[/] {system.name:<11} {world.disabled[system.name]}")
    return bool(world.disabled)


def _engine_report(config, engine, folder: Path) -> dict[str, Path]:
    """The engine's HTML report (ABC-XYZ matrix, Pareto, parameter changes) recomputed from the store."""
    from basics.errors import SegbridgeError

    try:
        from core.planning.engine import run_engine
        from core.planning_store import load_frames, resolve_policy
        from core.reports.engine_report import write_report
    except ImportError:
        return {}
    try:
        policy = resolve_policy(config)
        result = run_engine(load_frames(engine), policy)
        path = write_report(result, folder / "engine_report.html", policy.classification.abc_measure)
    except SegbridgeError as exc:
        out.print(f"[yellow]engine report skipped:[/] {exc.message}")
        return {}
    return {"engine": path}


def _finish(folder: Path, paths: dict[str, Path], seconds: float) -> None:
    rows = [[name, str(p)] for name, p in paths.items()]
    table(f"segbridge demo finished in {seconds:.0f} s", ["report", "file"], rows)
    out.print(f"open first: [bold]{paths['html']}[/] (exceptions by system and kind, over time), then "
              f"{paths['excel']} (one sheet per kind, filterable).")
    out.print(f"the config and store are in {folder}: try `segbridge -c {folder / 'segbridge.yaml'} "
              f"exceptions list`")
