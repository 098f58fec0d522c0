"""Where the files segbridge ships live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def mappings_dir() -> Path:
    """The shipped mapping files: `mappings/` in a checkout, `segbridge/mappings` in a wheel."""
    local = _REPO / "mappings"
    if local.is_dir():
        return local
    import importlib.resources

    return Path(str(importlib.resources.files("segbridge.mappings")))


def shipped_mapping(name: str) -> Path:
    """Path of one shipped mapping file, e.g. `shipped_mapping("sap_s4.yaml")`."""
    return mappings_dir() / name
