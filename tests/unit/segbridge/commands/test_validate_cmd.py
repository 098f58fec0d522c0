"""`segbridge validate` refuses a literal secret in a URL's query string, without printing it."""

from __future__ import annotations

import subprocess
import sys

from basics.errors import EXIT_USAGE
from basics.yaml_loader import StrictModel
from connectors import registry
from connectors.base import Connector

CONFIG = ("database: {{url: 'sqlite:///s.db'}}\nsystems:\n  wms:\n    kind: wms\n    mapping: wms.yaml\n"
          "    options:\n      base_url: https://wms.example/api?api_key={key}&page=1\n")


def _validate(tmp_path, key: str, env: dict) -> subprocess.CompletedProcess:
    (tmp_path / "segbridge.yaml").write_text(CONFIG.format(key=key))
    return subprocess.run([sys.executable, "-m", "segbridge", "-vv", "validate"], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=120)


def test_literal_api_key_in_url_exits_with_config_error_and_is_not_printed(tmp_path):
    res = _validate(tmp_path, "hunter2", {})
    output = res.stdout + res.stderr
    assert res.returncode == EXIT_USAGE, output
    assert "systems.wms.options.base_url" in output and "'api_key'" in output and "${ENV_VAR}" in output
    assert "hunter2" not in output and "Traceback" not in output


def test_api_key_from_env_var_reference_validates(tmp_path):
    res = _validate(tmp_path, "${WMS_API_KEY}", {"WMS_API_KEY": "hunter2"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "hunter2" not in res.stdout + res.stderr


def test_system_without_mapping_is_reported_at_its_line_with_a_hint(tmp_path):
    """`pull` reads every system through its mapping file, so `validate` refuses a system without one."""
    (tmp_path / "segbridge.yaml").write_text(
        "database: {url: 'sqlite:///s.db'}\nsystems:\n  files:\n    kind: csv_folder\n"
        "    mapping: canonical_csv.yaml\n    options: {path: data}\n"
        "  sap:\n    kind: sap_odata\n    options: {base_url: 'https://s4.example.com'}\n")
    res = subprocess.run([sys.executable, "-m", "segbridge", "validate"], cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    output = res.stdout + res.stderr
    assert res.returncode == EXIT_USAGE, output
    assert "segbridge.yaml:7:" in output and "systems.sap (sap_odata) has no `mapping:`" in output
    assert "add `mapping: <file>` under systems.sap" in output and "sap_s4.yaml" in output
    assert "Traceback" not in output


# --------------------------------------------------------------------------- source.options, write batches


class _SelectOptions(StrictModel):
    select: list[str] | None = None
    filter: str | None = None


class _ChunkOptions(StrictModel):
    chunk_rows: int | None = None


class _SelectReader(Connector):
    """A connector whose streams accept `select` and `filter` (as an OData connector's would)."""

    kind = "test_select_reader"
    StreamOptions = _SelectOptions
    write_batch_max = 200

    def check(self):
        return None

    def discover(self):
        return []

    def read(self, stream, state):
        yield from ()


class _ChunkReader(_SelectReader):
    kind = "test_chunk_reader"
    StreamOptions = _ChunkOptions


registry.register(_SelectReader)
registry.register(_ChunkReader)
MAPPING = """version: 1
system: erp
entities:
  products:
    source:
      kind: csv_file
      name: products.csv
      options: {options}
    target: product
    key: [id]
    fields:
      id: {{from: id, transforms: [required]}}
"""


def _site(tmp_path, options: str, systems: dict[str, str], write: str = "") -> str:
    (tmp_path / "items.yaml").write_text(MAPPING.format(options=options))
    body = "".join(f"  {name}:\n    kind: {kind}\n    mapping: items.yaml\n{write}" for name, kind in systems.items())
    config = tmp_path / "segbridge.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/s.db'}}\nsystems:\n{body}")
    return str(config)


def _run_validate(config: str, capsys) -> tuple[int, str]:
    from segbridge.cli import main

    code = 0
    try:
        main(["-c", config, "validate"])
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_misspelt_source_option_is_refused_at_its_line_with_did_you_mean(tmp_path, capsys):
    config = _site(tmp_path, "{selct: [id], filter: \"id ne ''\"}", {"erp": "test_select_reader"})
    code, output = _run_validate(config, capsys)
    assert code == EXIT_USAGE, output
    flat = " ".join(output.split())
    assert (f"{tmp_path / 'items.yaml'}:8:17: entities.products.source.options.selct: unknown key "
            "(read by system erp (test_select_reader))") in flat
    assert "did you mean 'select'?" in flat and "Traceback" not in output


def test_valid_source_options_pass(tmp_path, capsys):
    config = _site(tmp_path, "{select: [id], filter: \"id ne ''\"}", {"erp": "test_select_reader"})
    code, output = _run_validate(config, capsys)
    assert code == 0, output


def test_a_mapping_read_by_two_kinds_is_checked_against_each_systems_kind(tmp_path, capsys):
    config = _site(tmp_path, "{select: [id]}", {"odata": "test_select_reader", "files": "test_chunk_reader"})
    code, output = _run_validate(config, capsys)
    assert code == EXIT_USAGE, output
    flat = " ".join(output.split())
    assert "entities.products.source.options.select: unknown key (read by system files (test_chunk_reader))" in flat
    assert "system odata" not in flat  # select is what test_select_reader reads


def test_a_write_batch_above_the_connectors_maximum_is_refused(tmp_path, capsys):
    config = _site(tmp_path, "{}", {"erp": "test_select_reader"}, write="    write: {batch_size: 500}\n")
    code, output = _run_validate(config, capsys)
    assert code == EXIT_USAGE, output
    flat = " ".join(output.split())
    assert "segbridge.yaml:6:13: systems.erp.write.batch_size: 500 is more than test_select_reader's documented " \
           "maximum of 200 items per write request" in flat
