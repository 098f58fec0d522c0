"""The demo's world: sandboxes of every external system on 127.0.0.1, seeded from one generated dataset.

`start_world` builds and serves every demo system whose sandbox, connector, mapping and external
material are present (the rest are listed as skipped with the reason); `write_config` writes the
segbridge.yaml that connects to them (secrets as ${ENV_VAR} references, set in this process only);
`hand_edit_sap` changes one value in SAP as a user would, so reconcile finds a real exception.
Used by `segbridge demo` and the end-to-end tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
    root = Path(os.environ.get("SEGBRIDGE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
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


def unavailable(system: DemoSystem) -> str | None:
    """Why a demo system cannot run on this machine (material it needs is missing), or None."""
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
