"""Keys as SAP holds them: the ALPHA conversion exit, applied before a key goes into a URL.

SAP keeps purely numeric values of ALPHA-converted fields (customer KUNNR, sales document VBELN,
item POSNR, ...) padded with leading zeros to the field's length, and the A2X services address
an entity by that internal form: `A_Customer('0010100001')`, while `A_Customer('10100001')` is
404 Not Found. A mapping that strips the zeros for its canonical ids (`alpha_strip`, `--id-style`
external ids) hands write-back keys without them, so every key value that is purely digits and
shorter than the property's `MaxLength` in `$metadata` is padded back here; other values (`TG11`,
`C00001`) go as they are. Source: ../shared/reference/wave2_notes.md (SAP Gateway, "address a
record exactly as the service returned it") and ../shared/reference/sap.md §3.2 (ALPHA exits).

Material numbers are the exception: MATNR's conversion (MATN1) pads numeric values to 18 by the
default customising, not to the 40 of the property, so `Product`/`Material` pad to 18 unless
`key_lengths` says otherwise.

Example:
    >>> held_key(es, {"Customer": "10100001"}, {})          # doctest: +SKIP
    {'Customer': '0010100001'}
"""

from __future__ import annotations

from typing import Any

from connectors.sap.metadata import EntitySet

DEFAULT_KEY_LENGTHS: dict[str, int] = {"Product": 18, "Material": 18}


def alpha_pad(value: Any, length: int | None) -> Any:
    """ALPHA input conversion: a purely numeric string shorter than `length` gets leading zeros."""
    if length and isinstance(value, str) and value.isdigit() and len(value) < length:
        return value.zfill(length)
    if length and isinstance(value, int) and not isinstance(value, bool):
        return str(value).zfill(length)
    return value


def held_key(es: EntitySet, key: dict[str, Any], lengths: dict[str, int]) -> dict[str, Any]:
    """The key with each Edm.String value in the form SAP holds it (see the module docstring).
    `lengths` overrides the padding length per property name (0: never pad that property)."""
    out = {}
    for name, value in key.items():
        prop = es.properties.get(name)
        if prop is None or prop.edm_type != "Edm.String":
            out[name] = value
            continue
        length = lengths.get(name, DEFAULT_KEY_LENGTHS.get(name, prop.max_length))
        out[name] = alpha_pad(value, length)
    return out
