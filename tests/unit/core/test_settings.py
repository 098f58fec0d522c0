"""segbridge.yaml: line-aware errors with suggestions, secrets as references only."""

import json
from pathlib import Path

import pytest

from basics.errors import ConfigError
from basics.yaml_loader import load_yaml_model, read_yaml, write_schemas
from core.settings import SegbridgeConfig, load_config

GOOD = """\
version: 1
database:
  url: sqlite:///x.db
systems:
  sap:
    kind: sap_odata
    options: {base_url: "https://s4"}
quality:
  max_quarantine_share: 0.05
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segbridge.yaml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.systems["sap"].kind == "sap_odata"
    assert cfg.quality.max_quarantine_share == 0.05
    assert cfg.base_dir == tmp_path.resolve()


def test_misspelt_nested_key_names_file_line_path_and_suggestion(tmp_path):
    path = write(tmp_path, GOOD.replace("    kind: sap_odata", "    knd: sap_odata"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert f"{path}:6:5: systems.sap.knd: unknown key" in text
    assert "did you mean 'kind'?" in text


def test_misspelt_top_level_key(tmp_path):
    path = write(tmp_path, GOOD.replace("quality:", "qualty:"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:8:1: qualty: unknown key" in str(err.value)
    assert "did you mean 'quality'?" in str(err.value)


def test_bad_value_names_its_line(tmp_path):
    path = write(tmp_path, GOOD.replace("0.05", "lots"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:9:" in str(err.value) and "quality.max_quarantine_share" in str(err.value)


def test_yaml_syntax_error_has_position(tmp_path):
    path = write(tmp_path, "database:\n  url: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "invalid YAML" in str(err.value)


def test_duplicate_keys_are_refused(tmp_path):
    path = write(tmp_path, "version: 1\nversion: 2\n")
    with pytest.raises(ConfigError, match="duplicate key 'version'"):
        read_yaml(path)


def test_literal_password_in_database_url_is_refused(tmp_path):
    path = write(tmp_path, "database:\n  url: postgresql://u:hunter2@db/x\n")
    with pytest.raises(ConfigError, match="ENV_VAR"):
        load_config(path)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "segbridge init" in str(err.value)


def test_schema_export_writes_valid_json_per_kind(tmp_path):
    paths = write_schemas(tmp_path)
    names = {p.name for p in paths}
    assert "segbridge.schema.json" in names
    schema = json.loads((tmp_path / "segbridge.schema.json").read_text())
    assert "systems" in schema["properties"] and schema["additionalProperties"] is False


def test_load_yaml_model_is_the_one_loader(tmp_path):
    cfg = load_yaml_model(write(tmp_path, GOOD), SegbridgeConfig)
    assert cfg.database.url == "sqlite:///x.db"
