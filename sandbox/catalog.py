"""Sandbox name -> "module:build_app". `build_app(dataset=None, **options) -> SandboxApp`.

Each issue that adds a sandbox adds one line here (sap, oracle_soap, fusion_rest, salesforce, ...).
Only the `segbridge` shell and tests import sandboxes.

Example:
    >>> app = build("wms", products=10, locations=1)                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from basics.errors import ConfigError
from basics.yaml_loader import suggest
from sandbox.server import SandboxApp

SANDBOXES: dict[str, str] = {
    "sap": "sandbox.sap_odata:build_app",
    "wms": "sandbox.wms:build_app",
    "tms": "sandbox.tms:build_app",
    "oracle_soap": "sandbox.oracle_soap:build_app",
    "fusion_rest": "sandbox.fusion_rest_standin:build_app",
    "salesforce": "sandbox.salesforce_standin:build_app",
    "dynamics": "sandbox.dynamics_standin:build_app",
}


def names() -> list[str]:
    return sorted(SANDBOXES)


def build(name: str, dataset: Any = None, **options: Any) -> SandboxApp:
    """Build the named sandbox app; an unknown name lists the known ones."""
    if name not in SANDBOXES:
        guess = suggest(name, names())
        raise ConfigError(f"unknown sandbox {name!r}; known: {', '.join(names())}",
                          hint=f"did you mean {guess!r}?" if guess else "see `segbridge sandbox list`")
    module, _, attr = SANDBOXES[name].partition(":")
    return getattr(importlib.import_module(module), attr)(dataset=dataset, **options)
