"""The built-in connector kinds (imported lazily by the registry).

Each issue that adds a connector adds one line here: kind -> "module:Class".
"""

from connectors.registry import register_builtin

BUILTIN_KINDS = {
}

for _kind, _target in BUILTIN_KINDS.items():
    register_builtin(_kind, _target)
