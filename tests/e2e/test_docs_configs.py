"""The system examples in docs/ and in `segbridge init`'s template work against the stand-ins as
written: `check` and `pull` succeed.

`tests/unit/test_docs_yaml.py` validates every YAML block; here the blocks of systems that have a
stand-in are run: the example is copied as a user would copy it, only the addresses (base URL,
token URL) become the stand-in's, and the stand-in expects the example's own credentials (user,
client id; a JWT signed with the key the example's variable holds); the shipped mapping of its
kind is named, every `${VAR}` gets a value, then `segbridge check` and `segbridge pull` run
through the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate
from sandbox.server import serve
from segbridge.cli import build_app
from tests.unit.test_docs_yaml import BLOCKS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAPPINGS = {"sap_odata": "sap_s4.yaml", "oracle_fusion_rest": "oracle_fusion_items.yaml",
            "salesforce": "salesforce.yaml", "dynamics365": "dynamics365.yaml"}
CRM = {"salesforce", "dynamics365"}
TABLE = {"sap_odata": "product", "oracle_fusion_rest": "product", "salesforce": "customer", "dynamics365": "customer"}


def _system_blocks() -> list[tuple[str, str, dict]]:
    """(where, system name, system settings) of every doc example of a kind with a stand-in."""
    found = []
    for where, text in BLOCKS:
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            continue
        systems = data.get("systems") or ({"example": {"kind": data.pop("kind"), "options": data}}
                                          if "kind" in data else {})
        found += [(where, name, sc) for name, sc in systems.items() if sc.get("kind") in MAPPINGS]
    return found


def _init_blocks() -> list[tuple[str, str, dict]]:
    """(where, system name, settings) of every `segbridge init` example of a kind with a stand-in, as a
    newcomer enables it (the `# ` in front of its lines deleted)."""
    from tests.unit.segbridge.commands.test_init_cmd import BLOCKS as INIT_BLOCKS
    from tests.unit.segbridge.commands.test_init_cmd import LINES, _uncomment

    found = []
    for block in INIT_BLOCKS:
        data = yaml.safe_load(_uncomment(LINES, block)) or {}
        found += [(f"init:{LINES[block[0]].strip()}", name, sc) for name, sc in (data.get("systems") or {}).items()
                  if sc.get("kind") in MAPPINGS and LINES[block[0]].strip().startswith(f"# {name}:")]
    return found


SYSTEM_BLOCKS = _system_blocks() + _init_blocks()


def _rsa_key() -> tuple[str, str]:
    """(private PEM, public PEM) for the example's JWT flow."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _stand_in(kind: str, options: dict, secrets: dict[str, str], dataset):
    """The stand-in of `kind`, accepting exactly the example's credentials."""
    auth = options.get("auth") or {}
    if kind == "sap_odata":
        from sandbox.sap_odata import build_app as sap

        return sap(dataset, auth=(auth["username"], secrets["password"]))
    if kind == "salesforce":
        from sandbox.salesforce_standin import build_app as salesforce

        app = salesforce(dataset)
        app.state.clients = {auth["client_id"]: secrets["password"]}  # client_credentials checks the secret
        app.state.users = {auth["username"]: "unused"} if auth.get("username") else {}
        app.state.jwt_public_key = secrets["public_key"]
        return app
    if kind == "dynamics365":
        from sandbox.dynamics_standin import build_app as dynamics
        from sandbox.server import SandboxAuth

        app = dynamics(dataset)
        app.require_auth(SandboxAuth(clients={auth["client_id"]: secrets["password"]}))
        return app
    from sandbox.fusion_rest_standin import build_app as fusion

    return fusion(dataset)


def _addresses(kind: str, options: dict, url: str) -> dict:
    """The one change a user makes: their system's addresses."""
    options = {**options, "auth": dict(options.get("auth") or {})}
    if kind == "salesforce":
        options["auth"]["token_url"] = url + "/services/oauth2/token"
    else:
        options["base_url"] = url
    if kind == "dynamics365":
        options["auth"]["token_url"] = url + "/oauth2/token"
    return options


def _run(*args: str) -> str:
    res = CliRunner().invoke(build_app(), list(args))
    assert res.exit_code == 0 and res.exception is None, f"{args}: {res.output}\n{res.exception!r}"
    return res.output


def test_the_docs_have_system_examples_with_a_stand_in():
    assert {sc["kind"] for _, _, sc in SYSTEM_BLOCKS} == set(MAPPINGS)


@pytest.mark.parametrize(("where", "name", "settings"), SYSTEM_BLOCKS, ids=[w for w, _, _ in SYSTEM_BLOCKS])
def test_a_documented_system_checks_and_pulls_against_its_stand_in(where, name, settings, tmp_path, monkeypatch):
    kind, options = settings["kind"], dict(settings["options"])
    private, public = _rsa_key() if kind == "salesforce" else ("", "")
    for var in re.findall(r"\$\{([A-Z0-9_]+)\}", yaml.safe_dump(options)):
        monkeypatch.setenv(var, private if var.endswith("KEY") else "doc-secret")
    dataset = generate(seed=3, products=12, locations=1, customers=6, weeks=8, order_rate=0.3)
    app = _stand_in(kind, options, {"password": "doc-secret", "public_key": public}, dataset)
    systems = {}
    if kind in CRM:  # CRM accounts link to the ERP's customers (crosswalk): the ERP is pulled first
        write_canonical_csv(dataset, tmp_path / "erp")
        systems["erp"] = {"kind": "csv_folder", "mapping": "canonical_csv.yaml", "options": {"path": "erp"}}
    with serve(app) as server:
        systems[name] = {"kind": kind, "mapping": MAPPINGS[kind], "options": _addresses(kind, options, server.url)}
        config = {"database": {"url": f"sqlite:///{tmp_path}/s.db"}, "systems": systems}
        path = tmp_path / "segbridge.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        _run("-c", str(path), "check", name)
        if kind in CRM:
            _run("-c", str(path), "pull", "erp", "--no-progress")
        output = _run("-c", str(path), "pull", name, "--no-progress")
    assert re.search(rf"{name}: run \d+ ok", " ".join(output.split())), output
    from core.store import open_store

    db = open_store(config["database"]["url"])
    with db.connect() as conn:
        assert conn.exec_driver_sql(f"select count(*) from {TABLE[kind]}").scalar() > 0, output
        linked = conn.exec_driver_sql("select count(*) from crosswalk where system = ?", (name,)).scalar()
    assert kind not in CRM or linked == 6, output  # every account of the stand-in linked to its ERP customer
    db.dispose()


def _oracle_soap_blocks() -> list[tuple[str, dict]]:
    """(where, options) of every oracle_soap example in the docs."""
    found = []
    for where, text in BLOCKS:
        data = yaml.safe_load(text)
        if isinstance(data, dict) and data.get("kind") == "oracle_soap":
            found.append((where, {k: v for k, v in data.items() if k != "kind"}))
    return found


ORACLE_SOAP_BLOCKS = _oracle_soap_blocks()


@pytest.mark.parametrize(("where", "options"), ORACLE_SOAP_BLOCKS, ids=[w for w, _ in ORACLE_SOAP_BLOCKS])
def test_a_documented_oracle_soap_example_checks_and_pulls_with_its_shipped_mapping(where, options, tmp_path,
                                                                                     monkeypatch, request):
    """The Fusion (SalesPartyService) and EBS (ISG) examples as written: their stream and target names are the
    shipped mapping's, their service path is the stand-in's, their find attributes carry what the mapping reads.
    Only the host and the vendored WSDL/XSD files become this machine's."""
    from urllib.parse import urlsplit

    from sandbox.oracle_soap import WSDL_DIR
    from sandbox.oracle_soap import build_app as soap

    assert ORACLE_SOAP_BLOCKS, "docs/oracle.md shows no oracle_soap example"
    fusion = "findSalesAccount" in options["streams"]
    mapping = "oracle_fusion_crm.yaml" if fusion else "oracle_ebs_soap.yaml"
    folder = request.getfixturevalue("shared") / "oracle" / "fusion_sales_party_service" if fusion else None
    for var in re.findall(r"\$\{([A-Z0-9_]+)\}", yaml.safe_dump(options)):
        monkeypatch.setenv(var, "doc-secret")
    dataset = generate(seed=3, products=12, locations=1, customers=6, weeks=8, order_rate=0.3)
    app = soap(folder, dataset, users={options["username"]: "doc-secret"})
    local = {**options, "wsdl": str((folder or WSDL_DIR) / Path(options["wsdl"]).name),
             "schema_map": {url: str(WSDL_DIR) for url in options.get("schema_map", {})}}
    with serve(app) as server:
        local["endpoint"] = server.url + urlsplit(options["endpoint"]).path
        config = {"database": {"url": f"sqlite:///{tmp_path}/s.db"},
                  "systems": {"oracle": {"kind": "oracle_soap", "mapping": mapping, "options": local}}}
        path = tmp_path / "segbridge.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        _run("-c", str(path), "check", "oracle")
        output = _run("-c", str(path), "pull", "oracle", "--no-progress")
    assert re.search(r"oracle: run \d+ ok", " ".join(output.split())), output
    from core.store import open_store

    db = open_store(config["database"]["url"])
    with db.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql("select name from customer").fetchall()]
    db.dispose()
    assert len(names) == len(app.state.customers) and all(names), output  # PartyName / PARTY_NAME read
