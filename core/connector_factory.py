"""The one connector factory: a configured system's connector, with its file paths resolved.

Pull, `plan --live`, apply, reconcile and `check` all open connectors here, so a connector option
that names a file (`path`, `manifest`, `ca_bundle`) means the same everywhere: relative to the
folder of segbridge.yaml, not to wherever the command was started (before, plan and apply called
the registry directly and read a relative manifest from the working directory). Kept light (no
pandas, no store) so `segbridge check` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors import registry

if TYPE_CHECKING:
    from connectors.base import Connector
    from core.settings import SegbridgeConfig

PATH_OPTIONS = ("path", "manifest", "ca_bundle")  # connector options that are file paths


def connector_for(config: SegbridgeConfig, system: str) -> Connector:
    """The system's connector from the registry, with file-path options relative to the config file."""
    sc = config.system(system)
    options = dict(sc.options)
    for key in PATH_OPTIONS:
        value = options.get(key)
        if isinstance(value, str) and value and not value.startswith(("/", "~")):
            candidate = config.resolve_path(value)
            if candidate.exists():
                options[key] = str(candidate)
    return registry.create(sc.kind, options, name=system)
