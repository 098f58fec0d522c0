"""`segbridge config schema`: the JSON Schema of every YAML file kind."""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import table

config_app = typer.Typer(help="Configuration files", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


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
