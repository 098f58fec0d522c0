"""The CLI shell: --version, init -> validate, bad config exit 2, unknown verbs exit 2, db upgrade."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segbridge import __version__


def sb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segbridge", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_version(tmp_path):
    res = sb("--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"segbridge {__version__}"


def test_init_writes_a_config_that_validates(tmp_path):
    res = sb("init", "site", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "site" / "segbridge.yaml").is_file()
    shipped = {p.name for p in (Path(__file__).resolve().parents[3] / "mappings").glob("*.yaml")}
    assert shipped <= {p.name for p in (tmp_path / "site" / "mappings").glob("*.yaml")}
    res = sb("-c", "site/segbridge.yaml", "validate", cwd=tmp_path)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "is valid" in res.stdout


def test_init_refuses_to_overwrite_without_force(tmp_path):
    assert sb("init", ".", cwd=tmp_path).returncode == 0
    res = sb("init", ".", cwd=tmp_path)
    assert res.returncode == 2 and "--force" in res.stderr


def test_validate_misspelt_key_exits_2_with_line_path_and_suggestion(tmp_path):
    sb("init", ".", cwd=tmp_path)
    cfg = tmp_path / "segbridge.yaml"
    text = cfg.read_text().replace("  max_quarantine_share:", "  max_quarantine_shar:")
    cfg.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "max_quarantine_shar:" in t)
    res = sb("validate", cwd=tmp_path)
    assert res.returncode == 2
    err = " ".join(res.stderr.split())
    assert f"segbridge.yaml:{line}:3: quality.max_quarantine_shar: unknown key" in err
    assert "did you mean 'max_quarantine_share'?" in err


def test_unknown_connector_kind_lists_known_ones(tmp_path):
    (tmp_path / "segbridge.yaml").write_text("systems:\n  x:\n    kind: sap_odataa\n")
    res = sb("validate", cwd=tmp_path)
    assert res.returncode == 2
    assert "unknown connector kind 'sap_odataa'; known kinds:" in " ".join(res.stderr.split())


def test_db_upgrade_twice(tmp_path):
    sb("init", ".", cwd=tmp_path)
    first = sb("db", "upgrade", cwd=tmp_path)
    assert first.returncode == 0 and "upgraded database from empty" in first.stdout
    second = sb("db", "upgrade", cwd=tmp_path)
    assert second.returncode == 0 and "up to date" in second.stdout
    assert (tmp_path / "segbridge.db").is_file()


def test_config_schema_writes_files(tmp_path):
    res = sb("config", "schema", "--out", "schemas", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "schemas" / "segbridge.schema.json").is_file()
    mapping = json.loads((tmp_path / "schemas" / "mapping.schema.json").read_text(encoding="utf-8"))
    targets = mapping["$defs"]["EntityMapping"]["properties"]["target"]["enum"]
    assert {"order_line", "shipment", "shipment_line", "inventory_snapshot"} <= set(targets)


def test_an_unknown_verb_exits_2_plainly(capsys):
    from segbridge import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate", "--anything"])
    assert exit_info.value.code == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err


def test_validate_checks_every_mapping_file_in_mappings_dir(tmp_path):
    sb("init", ".", cwd=tmp_path)
    mapping = tmp_path / "mappings" / "canonical_csv.yaml"
    text = mapping.read_text()
    assert "transforms: [required, date]" in text
    mapping.write_text(text.replace("transforms: [required, date]", "transforms: [required, dat]", 1))
    res = sb("validate", cwd=tmp_path)
    assert res.returncode == 2
    err = " ".join(res.stderr.split())
    assert "canonical_csv.yaml:" in err and "unknown transform 'dat'" in err and "did you mean 'date'?" in err


def test_validate_checks_every_section_even_without_its_command_imported(tmp_path):
    sb("init", ".", cwd=tmp_path)
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(cfg.read_text().replace("  guardrails:", "  guardrailz:"))
    res = sb("validate", cwd=tmp_path)
    assert res.returncode == 2
    assert "writeback.guardrailz: unknown key" in res.stderr and "did you mean 'guardrails'?" in res.stderr


def test_validate_loads_the_policy_file(tmp_path):
    sb("init", ".", cwd=tmp_path)
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(cfg.read_text().replace("policy: mappings/policy.yaml", "policy: mappings/nope.yaml"))
    res = sb("validate", cwd=tmp_path)
    assert res.returncode == 2 and "nope.yaml" in res.stderr


def test_empty_lists_say_what_to_do(tmp_path):
    sb("init", ".", cwd=tmp_path)
    res = sb("schedule", "list", cwd=tmp_path)
    assert res.returncode == 0 and "add a `schedules:` section" in " ".join(res.stdout.split())
    res = sb("exceptions", "list", cwd=tmp_path)
    assert res.returncode == 0 and "0 exception(s) match these filters" in res.stdout


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_load_the_heavy_libraries(flag, tmp_path):
    """Start-up stays light: the command modules import pandas, SQLAlchemy, the models and the
    connectors inside their functions, so `--help` and `--version` load none of them."""
    heavy = {"pandas", "numpy", "sqlalchemy", "sqlmodel", "scipy", "requests", "zeep", "core", "connectors",
             "scheduler", "sandbox"}
    code = "\n".join(["import sys", "from segbridge.cli import main", "try:", f"    main([{flag!r}])",
                      "except SystemExit:", "    pass",
                      f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r}), file=sys.stderr)"])
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in res.stderr, res.stderr
