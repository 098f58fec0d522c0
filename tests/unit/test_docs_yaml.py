"""Every YAML block in README.md and docs/ is checked the way a newcomer would use it.

Each ```yaml block is copied into a fresh folder and checked by `segbridge validate`, after
being placed where it belongs:

- a block with `systems:` or a top-level section (`writeback:`, `reconcile:`, `schedules:`,
  `alerts:`, ...) is (part of) segbridge.yaml;
- a block with `kind:` is one system's settings (`systems.<name>`: the kind and its options);
- a mapping file (`entities:`) is put in a copy of the shipped mappings folder (its metadata,
  conversions and code lists) and checked with `validate --mapping`;
- a declarative REST manifest (`streams:` with `name:`) is loaded by the manifest loader.

A block that is deliberately a fragment of a larger file says so on its first line
(`# fragment of ...`); it must still parse. Every `${VAR}` reference gets a value, as a user's
environment would give it. A block that matches none of these shapes fails the test, so a new
kind of block gets a check instead of being skipped.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from segbridge.cli import build_app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.S | re.M)
SECTIONS = {"database", "mappings_dir", "systems", "quality", "segmentation", "writeback", "reconcile",
            "schedules", "alerts", "webapp", "version", "engine"}


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return out


BLOCKS = _blocks()


def _env_refs(text: str) -> dict[str, str]:
    return {name: f"value-of-{name.lower()}" for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text)}


def _validate(tmp_path: Path, config: dict, *args: str) -> None:
    (tmp_path / "segbridge.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _run(["-c", str(tmp_path / "segbridge.yaml"), "validate", *args])


def _run(args: list[str]) -> None:
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 0 and res.exception is None, f"{res.output}\n{res.exception!r}"


# The shipped mapping file of each connector kind: a block that shows a system's options names no
# mapping (or one of the reader's own), and `validate` wants one, as `pull` does.
SHIPPED_MAPPING = {"sap_odata": "sap_s4.yaml", "sap_rfc": "sap_ecc_rfc.yaml", "oracle_soap": "oracle_fusion_crm.yaml",
                   "oracle_fusion_rest": "oracle_fusion_items.yaml", "sql": "northwind_sql.yaml",
                   "rest": "wms.yaml", "wms": "wms.yaml", "tms": "tms.yaml", "salesforce": "salesforce.yaml",
                   "dynamics365": "dynamics365.yaml", "csv_folder": "canonical_csv.yaml"}


def _check_config(tmp_path: Path, data: dict) -> None:
    data = {**data, "database": data.get("database", {"url": f"sqlite:///{tmp_path}/s.db"})}
    for system in (data.get("systems") or {}).values():
        system["mapping"] = SHIPPED_MAPPING[system["kind"]]  # the block shows the options; the mapping is another file
    _validate(tmp_path, data)


def _check_system(tmp_path: Path, data: dict) -> None:
    kind = data.pop("kind")
    _check_config(tmp_path, {"systems": {"example": {"kind": kind, "options": data}}})


def _check_mapping(tmp_path: Path, text: str) -> None:
    """Written next to the shipped mapping files, as `segbridge init` lays them out for a user."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    path = tmp_path / "mappings" / "example_mapping.yaml"
    path.write_text(text)
    _run(["validate", "--mapping", str(path)])


def _check_manifest(tmp_path: Path, text: str) -> None:
    from connectors.declarative.manifest import load_manifest

    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    manifest = load_manifest(path)
    assert manifest.streams


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_every_yaml_block_in_the_docs_works_as_written(where, text, tmp_path, monkeypatch):
    for name, value in _env_refs(text).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(text)
    if text.lstrip().startswith("# fragment of"):
        assert data, f"{where}: an empty fragment"
        return
    assert isinstance(data, dict), f"{where}: not a mapping"
    if "entities" in data:
        _check_mapping(tmp_path, text)
    elif "streams" in data and "name" in data:
        _check_manifest(tmp_path, text)
    elif "kind" in data:
        _check_system(tmp_path, data)
    elif set(data) <= SECTIONS:
        _check_config(tmp_path, data)
    else:
        pytest.fail(f"{where}: a YAML block of an unknown shape (top-level keys {sorted(data)}); "
                    "teach this test to check it")


def test_the_docs_have_yaml_blocks_to_check():
    assert len(BLOCKS) >= 10
