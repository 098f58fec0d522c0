"""The one YAML loader is bounded: alias bombs, NUL bytes and non-UTF-8 files are refused with
a ConfigError naming the file and the position (the CLI prints it, no traceback)."""

from __future__ import annotations

import pytest

from basics import yaml_loader
from basics.errors import EXIT_USAGE, ConfigError
from basics.yaml_loader import StrictModel, load_yaml_model, read_yaml


def _bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases each expand to 9**9 (387 million) strings."""
    lines = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _refused(tmp_path, content: bytes, name: str = "cfg.yaml") -> ConfigError:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert err.value.exit_code == EXIT_USAGE
    assert str(path) in err.value.message
    return err.value


def _no_walk(*_args):
    raise AssertionError("the loader walked the alias expansion instead of refusing the file")


def test_billion_laughs_is_refused_without_expanding(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_loader, "_collect_marks", _no_walk)  # a broken bound fails fast, never hangs
    err = _refused(tmp_path, _bomb(9).encode())
    assert "exceeds 1,000,000 nodes" in err.message and "alias" in err.hint
    assert f"{tmp_path / 'cfg.yaml'}:7:" in err.message  # file:line:col of the level that crosses the bound


def test_a_small_bomb_under_the_limit_still_loads(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(_bomb(3))  # 9**3 = 729 strings once expanded
    data = read_yaml(path).data
    assert len(data["c"]) == 9 and data["c"][0][0] == ["lol"] * 9


def test_more_than_the_alias_limit_is_refused_with_the_line(tmp_path):
    refs = ", ".join(["*x"] * (yaml_loader.MAX_ALIASES + 1))
    err = _refused(tmp_path, f"x: &x 1\nitems: [{refs}]\n".encode())
    assert f"more than {yaml_loader.MAX_ALIASES} YAML aliases" in err.message
    assert f"{tmp_path / 'cfg.yaml'}:2:" in err.message
    ok = tmp_path / "ok.yaml"
    ok.write_text("x: &x 1\nitems: [" + ", ".join(["*x"] * yaml_loader.MAX_ALIASES) + "]\n")
    assert len(read_yaml(ok).data["items"]) == yaml_loader.MAX_ALIASES


def test_recursive_alias_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_loader, "_collect_marks", _no_walk)
    err = _refused(tmp_path, b"a: &a [1, *a]\n")
    assert "refers to the node that contains it" in err.message


def test_nul_byte_names_file_line_and_column(tmp_path):
    err = _refused(tmp_path, b"version: 1\nname: ab\x00c\n")
    assert err.message.startswith(f"{tmp_path / 'cfg.yaml'}:2:9: NUL byte")


def test_other_control_character_names_the_position(tmp_path):
    err = _refused(tmp_path, b"version: 1\nname: \x07\n")
    assert err.message.startswith(f"{tmp_path / 'cfg.yaml'}:2:7: control character U+0007")


def test_latin1_file_names_the_byte_and_asks_for_utf8(tmp_path):
    err = _refused(tmp_path, "version: 1\nname: caf\xe9\n".encode("latin-1"))
    assert err.message.startswith(f"{tmp_path / 'cfg.yaml'}:2:10: not UTF-8 text: byte 0xE9 at byte offset 20")
    assert "UTF-8" in err.hint


def test_utf8_text_still_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: café\n", encoding="utf-8")
    assert read_yaml(path).data == {"name": "café"}


class _Site(StrictModel):
    base_url: str
    extra: dict = {}


def test_literal_secret_in_a_url_is_refused_naming_the_field_not_the_value(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("base_url: https://x/api?x=1&api_key=hunter2\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_model(path, _Site)
    assert f"{path}:1:1: base_url: the URL's query parameter 'api_key' holds a literal secret" in err.value.message
    assert "${ENV_VAR}" in err.value.hint and "hunter2" not in str(err.value)


def test_nested_url_secrets_are_all_named(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("base_url: https://x/api\nextra:\n  hooks:\n    - https://h/?Token=abc\n"
                    "  sas: https://blob/c?sv=1&sig=zzz\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_model(path, _Site)
    assert f"{path}:4:7: extra.hooks[0]: the URL's query parameter 'Token'" in err.value.message
    assert f"{path}:5:3: extra.sas: the URL's query parameter 'sig'" in err.value.message


def test_url_secret_from_env_var_reference_is_accepted(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("base_url: https://x/api?api_key=${X_API_KEY}&monkey=1\n")
    assert load_yaml_model(path, _Site).base_url.endswith("${X_API_KEY}&monkey=1")


def test_a_file_read_again_gives_a_fresh_copy_and_an_edit_is_seen(tmp_path):
    """Parsed once per content (the cycle reads the same mappings dozens of times), yet a caller's
    change to the data never leaks into the next read, and an edited file is parsed again."""
    path = tmp_path / "m.yaml"
    path.write_text("entities:\n  a: {fields: [x, y]}\n", encoding="utf-8")
    first = read_yaml(path)
    first.data["entities"]["a"]["fields"].append("changed by a caller")
    again = read_yaml(path)
    assert again.data == {"entities": {"a": {"fields": ["x", "y"]}}}
    assert again.where(("entities", "a")) == f"{path}:2:3"
    path.write_text("entities:\n  b: {fields: [z]}\n", encoding="utf-8")
    assert read_yaml(path).data == {"entities": {"b": {"fields": ["z"]}}}
