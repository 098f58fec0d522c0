"""Each top-level verb of `segbridge` comes from its own module, `segbridge.commands.<verb>_cmd`."""

from __future__ import annotations

import typer
from typer.main import get_command
from typer.testing import CliRunner

from segbridge.cli import build_app


def _module_of(app: typer.Typer, verb: str) -> set[str]:
    """The modules defining `verb`'s command, or every subcommand of `verb`'s group."""
    modules = {c.callback.__module__ for c in app.registered_commands
               if c.callback and (c.name or c.callback.__name__.replace("_", "-")) == verb}
    for group in app.registered_groups:
        if group.name == verb:
            modules |= {c.callback.__module__ for c in group.typer_instance.registered_commands if c.callback}
    return modules


def _verbs() -> list[str]:
    root = get_command(build_app())
    with typer.Context(root) as ctx:
        return root.list_commands(ctx)


def test_every_verb_comes_from_its_own_module():
    app = build_app()
    verbs = _verbs()
    assert {"init", "pull", "run", "runs", "demo", "exceptions", "db", "config"} <= set(verbs)
    for verb in verbs:
        assert _module_of(app, verb) == {f"segbridge.commands.{verb.replace('-', '_')}_cmd"}, verb


def test_no_verb_answers_not_available():
    runner = CliRunner()
    for verb in _verbs():
        result = runner.invoke(build_app(), [verb, "--help"])
        assert result.exit_code == 0, (verb, result.output)
        assert "not available" not in result.output.lower(), verb
