"""`segbridge validate`: segbridge.yaml, each system's options, the policy and every mapping file."""

from __future__ import annotations

from pathlib import Path

import typer

from basics.errors import ConfigError
from segbridge.commands.common import config_of, out, table


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
    from core.writeback.writeback_settings import check_write_batches
    from segbridge.kinds import load_all_kinds

    load_all_kinds()  # every area registers its section model, so every section is checked
    config = config_of(ctx)
    config.validate_sections()
    check_write_batches(config)
    _check_policy(config)
    rows, option_issues = [], []
    for name, system in config.systems.items():
        cls = registry.get(system.kind)
        doc = document_of(config)
        validate_data(doc, system.options, cls.Options, prefix=("systems", name, "options"))
        mapping = "-"
        if system.mapping:
            path: Path = config.mapping_path(name)
            mapping = str(path)
            option_issues += _stream_option_issues(load_mapping(path), cls, name)
        else:
            _missing_mapping(config, name, system.kind)
        rows.append([name, system.kind, "yes" if system.enabled else "no", mapping])
    if option_issues:
        raise ConfigError("\n".join(dict.fromkeys(str(i) for i in option_issues)),
                          hint=f"{len(option_issues)} unknown or invalid `source.options` key(s); each connector's "
                               "page in docs/ lists the options its streams accept")
    checked = _check_mapping_dir(config)
    table("systems", ["system", "kind", "enabled", "mapping"], rows)
    out.print(f"[green]ok[/]: {config.base_dir / 'segbridge.yaml'} is valid ({checked} mapping file(s) checked)")


def _stream_option_issues(mapping, cls, system: str) -> list:
    """The mapping's `source.options` against the connector's typed StreamOptions, from the moment the
    connector declares them (one still on the base class's empty default is not checked here; at
    runtime its `stream_options()` refuses any key)."""
    from connectors.base import Connector
    from core.mapping.mapping_files import check_stream_options

    if cls.StreamOptions is Connector.StreamOptions:
        return []
    return check_stream_options(mapping, cls.StreamOptions, f"system {system} ({cls.kind})")


def _missing_mapping(config, name: str, kind: str) -> None:
    """A system is pulled through its mapping file (core.sync), so `pull` would refuse one without:
    say so now, at the system's line, naming the shipped mapping files a user can start from."""
    from basics.yaml_loader import document_of
    from core.paths import mappings_dir

    doc = document_of(config)
    where = doc.where(("systems", name)) if doc else f"systems.{name}"
    shipped = sorted(p.name for p in mappings_dir().glob("*.yaml") if p.name != "policy.yaml")
    raise ConfigError(f"{where}: systems.{name} ({kind}) has no `mapping:`; `segbridge pull` reads every "
                      "system through its mapping file",
                      hint=f"add `mapping: <file>` under systems.{name}; shipped: {', '.join(shipped)}")


def _check_policy(config) -> None:
    """The policy table named by `segmentation.policy` must load (file:line errors otherwise)."""
    if config.segmentation.policy:
        from core.planning.policy import load_policy

        load_policy(config.resolve_path(config.segmentation.policy))


def _check_mapping_paths(paths: list[Path]) -> None:
    """`validate --mapping`: each named file, or every mapping file of a named folder; all errors, exit 2."""
    from core.mapping.mapping_files import mapping_files

    files = []
    for path in paths:
        found = mapping_files(path) if path.is_dir() else [path]
        if not found:
            raise ConfigError(f"{path}: no mapping file in this folder",
                              hint="a mapping file is a YAML file with an `entities:` section")
        files += found
    _check_mapping_files(files, summary=True)
    out.print(f"[green]ok[/]: {len(files)} mapping file(s) checked, 0 with errors", highlight=False)


def _check_mapping_dir(config) -> int:
    """Check every mapping file in `mappings_dir` (all of them, not only the configured systems')."""
    if not config.mappings_dir:
        return 0
    from core.mapping.mapping_files import mapping_files

    files = mapping_files(config.resolve_path(config.mappings_dir))
    _check_mapping_files(files)
    return len(files)


def _check_mapping_files(files: list[Path], summary: bool = False) -> None:
    """Every problem of every file in one ConfigError (the CLI prints it, file:line first, and exits 2)."""
    from core.mapping.mapping_files import check_paths

    errors = check_paths(files)
    if errors:
        if summary:
            out.print(f"{len(files)} mapping file(s) checked, {len(errors)} with errors", highlight=False)
        raise ConfigError("\n".join(e.message for e in errors),
                          hint="; ".join(dict.fromkeys(e.hint for e in errors if e.hint)) or None)
