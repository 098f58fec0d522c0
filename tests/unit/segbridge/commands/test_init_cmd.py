"""`segbridge init`: every commented example in the written segbridge.yaml works once uncommented.

A newcomer enables an example by deleting the `# ` in front of its lines. Each block of commented
YAML lines (a comment whose text is `key:` or `key: value`, the key one word) is uncommented on
its own; where it repeats a key that follows at the same indent (the PostgreSQL `url:` above the
SQLite one), it replaces that line, as the user would. The result must pass `segbridge validate`.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app
from segbridge.commands.init_cmd import _template

YAML_COMMENT = re.compile(r"^(\s*)# (\s*[A-Za-z_][\w-]*:(\s.*)?)$")


def _commented_blocks(lines: list[str]) -> list[list[int]]:
    blocks, current = [], []
    for n, line in enumerate(lines):
        if YAML_COMMENT.match(line):
            current.append(n)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def _uncomment(lines: list[str], block: list[int]) -> str:
    out = list(lines)
    for n in block:
        m = YAML_COMMENT.match(lines[n])
        out[n] = m.group(1) + m.group(2)
    after = block[-1] + 1
    first = out[block[0]]
    key = first.split(":", 1)[0]
    if len(block) == 1 and after < len(out) and out[after].split(":", 1)[0] == key:
        del out[after]  # the example replaces the line it stands above
    return "\n".join(out) + "\n"


LINES = _template().splitlines()
BLOCKS = _commented_blocks(LINES)


@pytest.mark.parametrize("block", BLOCKS, ids=[LINES[b[0]].strip() for b in BLOCKS])
def test_each_commented_example_validates_once_uncommented(block, tmp_path, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(build_app(), ["init", str(tmp_path)]).exit_code == 0
    text = _uncomment(LINES, block)
    for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text):
        monkeypatch.setenv(name, "value")
    (tmp_path / "segbridge.yaml").write_text(text)
    res = runner.invoke(build_app(), ["-c", str(tmp_path / "segbridge.yaml"), "validate"])
    assert res.exit_code == 0 and res.exception is None, f"{res.output}\n{res.exception!r}"


def test_the_template_has_commented_examples():
    assert len(BLOCKS) >= 2


def _kinds_in_template() -> set[str]:
    return set(re.findall(r"^\s*#?\s*kind: (\w+)\s*$", _template(), re.M))


def test_there_is_an_example_of_every_builtin_connector_kind():
    """`wms` and `tms` are `rest` with a shipped manifest: an example of either, or `rest` with
    `manifest: <it>`, shows it."""
    from connectors.builtin import BUILTIN_KINDS

    kinds = _kinds_in_template()
    manifests = set(re.findall(r"manifest: (\w+)", _template()))
    missing = [k for k in BUILTIN_KINDS if k not in kinds and not (k in ("wms", "tms") and k in manifests)]
    assert not missing, f"no example for {missing}"


def _uncommented_systems() -> list[tuple[str, dict]]:
    import yaml

    systems = []
    for block in BLOCKS:
        data = yaml.safe_load(_uncomment(LINES, block))
        systems += [(name, s) for name, s in (data.get("systems") or {}).items() if name != "files"]
    return systems


def test_no_example_url_repeats_the_path_its_connector_adds():
    """SAP's base_url once held /sap/opu/odata/sap, which the connector adds as service_root, so
    `check` called /sap/opu/odata/sap/sap/opu/odata/sap/...; the same for every path option."""
    from connectors import registry

    systems = _uncommented_systems()
    assert len(systems) >= 9
    for name, system in systems:
        options = registry.get(system["kind"]).Options
        added = [f.default for f in options.model_fields.values() if isinstance(f.default, str)
                 and f.default.startswith("/")]
        for key in ("base_url", "endpoint", "instance_url"):
            url = system["options"].get(key, "")
            assert not [p for p in added if p.rstrip("/") in url], f"{name}.{key} = {url} repeats {added}"


def test_every_example_names_a_shipped_mapping_file():
    from core.paths import mappings_dir

    for name, system in _uncommented_systems():
        assert (mappings_dir() / system["mapping"]).is_file(), f"{name}: {system.get('mapping')}"


def test_init_writes_the_schema_it_names_and_a_sample_that_pulls_segments_and_analyzes(tmp_path):
    import json

    runner = CliRunner()
    res = runner.invoke(build_app(), ["init", str(tmp_path / "site")])
    assert res.exit_code == 0, res.output
    site = tmp_path / "site"
    named = re.findall(r"schemas/[\w.]+\.json", _template())
    assert named and all((site / path).is_file() for path in named)
    assert json.loads((site / "schemas" / "segbridge.schema.json").read_text())["properties"]["systems"]
    lines = (site / "data" / "order_lines.csv").read_text().splitlines()
    assert 200 < len(lines) < 2000
    config = ["-c", str(site / "segbridge.yaml")]
    for args in (["validate"], ["pull"], ["segment"], ["analyze", str(site / "data"), "--out", str(tmp_path / "out")]):
        res = runner.invoke(build_app(), config + args)
        assert res.exit_code == 0 and res.exception is None, f"{args}: {res.output}\n{res.exception!r}"
    assert (tmp_path / "out" / "segments.csv").is_file()


def test_the_sample_is_the_same_every_time_and_never_overwrites_data(tmp_path):
    runner = CliRunner()
    for folder in ("a", "b"):
        assert runner.invoke(build_app(), ["init", str(tmp_path / folder)]).exit_code == 0
    assert (tmp_path / "a/data/order_lines.csv").read_bytes() == (tmp_path / "b/data/order_lines.csv").read_bytes()
    mine = tmp_path / "c" / "data"
    mine.mkdir(parents=True)
    (mine / "order_lines.csv").write_text("my,own\n")
    assert runner.invoke(build_app(), ["init", str(tmp_path / "c")]).exit_code == 0
    assert (mine / "order_lines.csv").read_text() == "my,own\n" and not (mine / "products.csv").exists()
