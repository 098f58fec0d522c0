"""The system examples in docs/ work against the stand-ins as written: `check` and `pull` succeed.

`tests/unit/test_docs_yaml.py` validates every YAML block; here the blocks of systems that have a
stand-in are run: the example is copied as a user would copy it, only the address becomes the
stand-in's (and the stand-in expects the example's user name), the shipped mapping of its kind is
named, every `${VAR}` gets a value, then `segbridge check` and `segbridge pull` run through the CLI.
"""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from sandbox.generator import generate
from sandbox.server import serve
from segbridge.cli import build_app
from tests.unit.test_docs_yaml import BLOCKS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAPPINGS = {"sap_odata": "sap_s4.yaml", "oracle_fusion_rest": "oracle_fusion_items.yaml"}


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


SYSTEM_BLOCKS = _system_blocks()


def _stand_in(kind: str, options: dict, secret: str):
    dataset = generate(seed=3, products=12, locations=1, customers=6, weeks=8, order_rate=0.3)
    if kind == "sap_odata":
        from sandbox.sap_odata import build_app as sap

        return sap(dataset, auth=(options["auth"]["username"], secret))
    from sandbox.fusion_rest_standin import build_app as fusion

    return fusion(dataset)


def _run(*args: str) -> str:
    res = CliRunner().invoke(build_app(), list(args))
    assert res.exit_code == 0 and res.exception is None, f"{args}: {res.output}\n{res.exception!r}"
    return res.output


def test_the_docs_have_system_examples_with_a_stand_in():
    assert {sc["kind"] for _, _, sc in SYSTEM_BLOCKS} == set(MAPPINGS)


@pytest.mark.parametrize(("where", "name", "settings"), SYSTEM_BLOCKS, ids=[w for w, _, _ in SYSTEM_BLOCKS])
def test_a_documented_system_checks_and_pulls_against_its_stand_in(where, name, settings, tmp_path, monkeypatch):
    options = dict(settings["options"])
    text = yaml.safe_dump(options)
    for var in re.findall(r"\$\{([A-Z0-9_]+)\}", text):
        monkeypatch.setenv(var, "doc-secret")
    app = _stand_in(settings["kind"], options, "doc-secret")
    with serve(app) as server:
        options["base_url"] = server.url  # the one change a user makes: their system's address
        config = {"database": {"url": f"sqlite:///{tmp_path}/s.db"},
                  "systems": {name: {"kind": settings["kind"], "mapping": MAPPINGS[settings["kind"]],
                                     "options": options}}}
        path = tmp_path / "segbridge.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        _run("-c", str(path), "check")
        output = _run("-c", str(path), "pull", "--no-progress")
    assert re.search(rf"{name}: run \d+ ok", " ".join(output.split())), output
    from core.store import open_store

    db = open_store(config["database"]["url"])
    with db.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from product").scalar() == 12  # the stand-in's products
    db.dispose()
