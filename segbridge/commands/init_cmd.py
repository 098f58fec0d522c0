"""`segbridge init FOLDER`: a working segbridge.yaml and copies of the shipped mapping files."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import typer

from basics.errors import ConfigError
from segbridge.commands.common import out


def register(app: typer.Typer) -> None:
    app.command("init")(init)


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
