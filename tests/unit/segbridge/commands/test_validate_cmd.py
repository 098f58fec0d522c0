"""`segbridge validate` refuses a literal secret in a URL's query string, without printing it."""

from __future__ import annotations

import subprocess
import sys

from basics.errors import EXIT_USAGE

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
