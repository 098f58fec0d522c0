"""init, validate, db upgrade, config schema: the commands every installation starts with."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import typer

from basics.errors import ConfigError
from segbridge.commands.common import config_of, out, store_of, table

db_app = typer.Typer(help="The store's schema", no_args_is_help=True)
config_app = typer.Typer(help="Configuration files", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("validate")(validate)
    app.add_typer(db_app, name="db")
    app.add_typer(config_app, name="config")


def _template() -> str:
    return resources.files("segbridge").joinpath("templates/segbridge.yaml").read_text(encoding="utf-8")


def init(
    folder: Path = typer.Argument(Path("."), help="Folder to write segbridge.yaml and mappings/ into"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing segbridge.yaml"),
) -> None:
    """Write a working segbridge.yaml and copies of the shipped mapping files into FOLDER."""
    from core.paths import mappings_dir

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "segbridge.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already", hint="pass --force to overwrite it, or choose another folder")
    target.write_text(_template(), encoding="utf-8")
    copied = 0
    dest = folder / "mappings"
    for src in sorted(mappings_dir().rglob("*.yaml")):
        rel = src.relative_to(mappings_dir())
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (dest / rel).exists() or force:
            shutil.copyfile(src, dest / rel)
            copied += 1
    (folder / "data").mkdir(exist_ok=True)
    out.print(f"wrote {target} and {copied} mapping file(s) under {dest}; drop canonical CSV files into "
              f"{folder / 'data'}")
    out.print(f"next: edit {target}, then `segbridge validate -c {target}`")


def validate(ctx: typer.Context) -> None:
    """Validate segbridge.yaml, each system's options and mapping file (exit 2 with file:line on errors)."""
    from connectors import registry
    from segbridge.kinds import load_all_kinds

    load_all_kinds()  # every area registers its section model, so every section is checked
    config = config_of(ctx)
    config.validate_sections()
    _check_policy(config)
    rows = []
    for name, system in config.systems.items():
        cls = registry.get(system.kind)
        from basics.yaml_loader import document_of, validate_data

        doc = document_of(config)
        validate_data(doc, system.options, cls.Options, prefix=("systems", name, "options"))
        mapping = "-"
        if system.mapping:
            path = config.mapping_path(name)
            mapping = str(path)
            _check_mapping(path)
        rows.append([name, system.kind, "yes" if system.enabled else "no", mapping])
    checked = _check_mapping_dir(config)
    table("systems", ["system", "kind", "enabled", "mapping"], rows)
    out.print(f"[green]ok[/]: {config.base_dir / 'segbridge.yaml'} is valid ({checked} mapping file(s) checked)")


def _check_policy(config) -> None:
    """The policy table named by `segmentation.policy` must load (file:line errors otherwise)."""
    if config.segmentation.policy:
        from core.planning.policy import load_policy

        load_policy(config.resolve_path(config.segmentation.policy))


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


def _check_mapping(path: Path) -> None:
    try:
        from core.mapping import load_mapping
    except ImportError:  # mapping engine not installed in this build
        return
    load_mapping(path)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the store's schema (idempotent)."""
    from core.migrate import upgrade

    config = config_of(ctx)
    engine = store_of(config, upgrade=False)
    before, after = upgrade(engine)
    if before == after:
        out.print(f"database is up to date (revision {after})")
    else:
        out.print(f"upgraded database from {before or 'empty'} to revision {after}")


@config_app.command("schema")
def config_schema(
    out_dir: Path = typer.Option(Path("schemas"), "--out", "-o", help="Folder to write the JSON Schemas into"),
) -> None:
    """Write the JSON Schema of every YAML file kind (segbridge.yaml, mapping files, policies, ...)."""
    from basics.yaml_loader import write_schemas
    from segbridge.kinds import load_all_kinds

    load_all_kinds()
    paths = write_schemas(out_dir)
    table("schemas", ["kind", "file"], [[p.name.split(".")[0], str(p)] for p in paths])
