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
