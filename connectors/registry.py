"""Connector kinds -> classes. Built-ins register on import; third parties use the entry-point
group `segbridge.connectors` (e.g. `mysystem = mypackage.connector:MyConnector`).

Example:
    >>> from connectors import registry
    >>> registry.get("nosuch")
    Traceback (most recent call last):
    basics.errors.ConfigError: unknown connector kind 'nosuch'; known kinds: ...
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from basics.errors import ConfigError
from basics.yaml_loader import suggest
from connectors.base import Connector

ENTRY_POINT_GROUP = "segbridge.connectors"
# Built-in kinds -> "module:Class", imported lazily so a missing optional dependency (pyrfc)
# only matters to the kind that needs it.
BUILTIN: dict[str, str] = {}
_LOADED: dict[str, type[Connector]] = {}


def register_builtin(kind: str, target: str) -> None:
    BUILTIN[kind] = target


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator / call to register a connector class under its `kind`."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no `kind`")
    _LOADED[cls.kind] = cls
    return cls


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_kinds() -> list[str]:
    _load_builtin_table()
    return sorted(set(BUILTIN) | set(_LOADED) | set(_entry_points()))


def get(kind: str) -> type[Connector]:
    """The connector class of a kind; an unknown kind's error lists the known ones."""
    _load_builtin_table()
    if kind in _LOADED:
        return _LOADED[kind]
    if kind in BUILTIN:
        module, _, attr = BUILTIN[kind].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    elif kind in _entry_points():
        cls = _entry_points()[kind].load()
    else:
        kinds = known_kinds()
        guess = suggest(kind, kinds)
        raise ConfigError(f"unknown connector kind {kind!r}; known kinds: {', '.join(kinds)}",
                          hint=f"did you mean {guess!r}?" if guess else "install the package providing it")
    _LOADED[kind] = cls
    return cls


def create(kind: str, options: dict[str, Any], name: str | None = None) -> Connector:
    return get(kind)(options, name=name)


def _load_builtin_table() -> None:
    if not BUILTIN:
        from connectors import builtin  # noqa: F401 - fills BUILTIN
