"""`segbridge validate`: segbridge.yaml, each system's options, the policy and every mapping file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from basics.errors import EXIT_USAGE, ConfigError
from segbridge.commands.common import config_of, out, table

err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(ctx: typer.Context,
             mapping: list[Path] = typer.Option(None, "--mapping", "-m", metavar="PATH",
                                                help="Check only these mapping files (a folder: every mapping "
                                                     "file in it), without a segbridge.yaml")) -> None:
    """Validate segbridge.yaml, each system's options and mapping file (exit 2 with file:line on errors)."""
    if mapping:
        _check_mapping_paths(mapping)
        return
    from basics.yaml_loader import document_of, validate_data
    from connectors import registry
    from core.mapping import load_mapping
    from segbridge.kinds import load_all_kinds

    load_all_kinds()  # every area registers its section model, so every section is checked
    config = config_of(ctx)
    config.validate_sections()
    _check_policy(config)
    rows = []
    for name, system in config.systems.items():
        cls = registry.get(system.kind)
        doc = document_of(config)
        validate_data(doc, system.options, cls.Options, prefix=("systems", name, "options"))
        mapping = "-"
        if system.mapping:
            path: Path = config.mapping_path(name)
            mapping = str(path)
            load_mapping(path)
        rows.append([name, system.kind, "yes" if system.enabled else "no", mapping])
    checked = _check_mapping_dir(config)
    table("systems", ["system", "kind", "enabled", "mapping"], rows)
    out.print(f"[green]ok[/]: {config.base_dir / 'segbridge.yaml'} is valid ({checked} mapping file(s) checked)")


def _check_policy(config) -> None:
    """The policy table named by `segmentation.policy` must load (file:line errors otherwise)."""
    if config.segmentation.policy:
        from core.planning.policy import load_policy

        load_policy(config.resolve_path(config.segmentation.policy))


def _check_mapping_paths(paths: list[Path]) -> None:
    """`validate --mapping`: each named file, or every mapping file of a named folder; all errors, then exit 2."""
    from core.mapping.mapping_files import check_paths, mapping_files

    files = [f for p in paths for f in (mapping_files(p) if p.is_dir() else [p])]
    errors = check_paths(files)
    for exc in errors:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"  [yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    out.print(f"{len(files)} mapping file(s) checked, {len(errors)} with errors", highlight=False)
    if errors:
        raise typer.Exit(EXIT_USAGE)


def _check_mapping_dir(config) -> int:
    """Check every mapping file in `mappings_dir` (all of them, not only the configured systems')."""
    if not config.mappings_dir:
        return 0
    from core.mapping.mapping_files import check_paths, mapping_files

    files = mapping_files(config.resolve_path(config.mappings_dir))
    errors = check_paths(files)
    if errors:
        raise ConfigError("\n".join(e.message for e in errors),
                          hint="; ".join(dict.fromkeys(e.hint for e in errors if e.hint)) or None)
    return len(files)
