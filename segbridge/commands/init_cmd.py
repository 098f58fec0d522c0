"""`segbridge init FOLDER`: a working segbridge.yaml, copies of the shipped mapping files, the JSON
Schemas the file names, and a small sample of canonical CSV data, so that the first `validate`,
`pull`, `segment` and `analyze` work before any system is connected."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import typer

from basics.errors import ConfigError
from segbridge.commands.common import out

# The sample's size and seed: a few hundred order lines over a year, enough for A, B and C items
# and several demand patterns to appear, small enough to read in a spreadsheet.
SAMPLE = {"seed": 7, "products": 24, "locations": 2, "customers": 20, "weeks": 52, "order_rate": 0.25}


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def _template() -> str:
    return resources.files("segbridge").joinpath("templates/segbridge.yaml").read_text(encoding="utf-8")


def init(
    folder: Path = typer.Argument(Path("."), help="Folder to write segbridge.yaml and mappings/ into"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing segbridge.yaml"),
    sample: bool = typer.Option(True, "--sample/--no-sample",
                                help="Write the sample canonical CSV files into data/ (never over existing files)"),
) -> None:
    """Write a working segbridge.yaml, the shipped mapping files, JSON Schemas and sample data into FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "segbridge.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already", hint="pass --force to overwrite it, or choose another folder")
    target.write_text(_template(), encoding="utf-8")
    copied = _copy_mappings(folder / "mappings", force)
    schemas = _write_schemas(folder / "schemas")
    data = folder / "data"
    rows = _write_sample(data) if sample else None
    out.print(f"wrote {target}, {copied} mapping file(s) under {folder / 'mappings'} and {schemas} JSON "
              f"Schema(s) under {folder / 'schemas'}", highlight=False, soft_wrap=True)
    if rows is None:
        out.print(f"{data}: left as it is; drop canonical CSV files there", highlight=False, soft_wrap=True)
    else:
        out.print(f"{data}: sample canonical CSV data ({rows} order lines)", highlight=False, soft_wrap=True)
    out.print(f"next: `segbridge -c {target} validate`, then `pull`, `segment` (the sample works as it is); "
              f"uncomment and fill in a system in {target} to connect it", highlight=False, soft_wrap=True)


def _copy_mappings(dest: Path, force: bool) -> int:
    """Copies of the shipped mapping files (a user's edited copy stays unless --force)."""
    from core.paths import mappings_dir

    copied = 0
    for src in sorted(mappings_dir().rglob("*.yaml")):
        rel = src.relative_to(mappings_dir())
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (dest / rel).exists() or force:
            shutil.copyfile(src, dest / rel)
            copied += 1
    return copied


def _write_schemas(dest: Path) -> int:
    """schemas/<kind>.schema.json for every YAML file kind, as `segbridge config schema` writes them:
    the template's first lines point editors at schemas/segbridge.schema.json."""
    from basics.yaml_loader import write_schemas
    from segbridge.kinds import load_all_kinds

    load_all_kinds()
    return len(write_schemas(dest))


def _write_sample(data: Path) -> int | None:
    """The sample canonical CSV files (generated from a fixed seed, so every init writes the same
    files), or None when `data/` already holds files: a user's data is never overwritten."""
    if data.is_dir() and any(p.suffix in (".csv", ".xlsx") for p in data.iterdir()):
        return None
    from sandbox.csv_drop import write_canonical_csv
    from sandbox.generator import generate

    dataset = generate(**SAMPLE)
    write_canonical_csv(dataset, data)
    return len(dataset.order_lines)
