"""One read, several entities: an entity declared `read_with: <other entity>` is fed by that entity's read.

Two canonical entities sometimes come from the same source set: SAP's A_ProductPlant gives both the
plants (`location`) and the product-plant rows (`product_location`). Read per entity, the pull asked the
system for the same set twice. `read_with` names the entity whose source is read (the lead); the pull
reads it once, with the fields of every member in `$select`, and maps each batch with each member's
mapping, each saving its own checkpoint. A member without a `source:` takes the lead's; one with a
`source:` must name the same set (its options are then the lead's: the read is one).

Which entities share a read in one pull (`read_groups`): a member and its lead when both are pulled and
their saved checkpoints are equal. A member pulled alone (`--entities plant`), or whose checkpoint differs
from the lead's (one was pulled alone before), reads its own source as any entity does, so nothing is
skipped or read from the wrong point; the next pull of both together shares the read again once the two
checkpoints agree.

Example:
    >>> [[e.name for e in group] for group in read_groups(mapping.entities)]     # doctest: +SKIP
    [['product'], ['product_plant', 'plant'], ['product_supply_planning'], ...]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the models validate with `lead_sources`: they import this module
    from core.mapping.spec import EntityMapping, MappingFile

SAME_SOURCE = ("kind", "service", "name", "expand")  # what a member's own `source:` must share with its lead's


def lead_sources(data: Any) -> Any:
    """The raw mapping data with each `read_with` member's missing `source` taken from its lead (the
    model's `source` stays required; a lead that is itself a member or absent leaves the gap for the
    model's own error and `shared_read_issues`)."""
    entities = data.get("entities") if isinstance(data, dict) else None
    if not isinstance(entities, dict):
        return data
    filled = {}
    for name, em in entities.items():
        lead = entities.get(em.get("read_with")) if isinstance(em, dict) and isinstance(em.get("read_with"), str) else None
        if isinstance(lead, dict) and "source" not in em and "source" in lead:
            em = {**em, "source": lead["source"]}
        filled[name] = em
    return {**data, "entities": filled}


def shared_read_issues(mf: MappingFile) -> list[tuple[tuple, str, str | None]]:
    """(location, message, hint) of every misdeclared `read_with`: an unknown lead, a chain (the lead is a
    member itself), a member on another set than its lead, or a member with options of its own."""
    issues: list[tuple[tuple, str, str | None]] = []
    for name, em in mf.entities.items():
        if em.read_with is None:
            continue
        where = ("entities", name, "read_with")
        lead = mf.entities.get(em.read_with)
        if lead is None or em.read_with == name:
            issues.append((where, f"read_with names {em.read_with!r}, not another entity of this file",
                           f"entities: {', '.join(n for n in mf.entities if n != name)}"))
        elif lead.read_with is not None:
            issues.append((where, f"{em.read_with!r} is itself read with {lead.read_with!r}",
                           f"write read_with: {lead.read_with}"))
        elif any(getattr(em.source, k) != getattr(lead.source, k) for k in SAME_SOURCE):
            issues.append((("entities", name, "source"), f"the source differs from that of {em.read_with!r}, "
                           "which this entity is read with", "remove `source:` (it is the lead's)"))
        elif em.source.options and em.source.options != lead.source.options:
            issues.append((("entities", name, "source", "options"), f"options of an entity read with "
                           f"{em.read_with!r} are that entity's", "remove them or move them to the lead"))
    return issues


def read_groups(entities: dict[str, EntityMapping],
                state_of: Callable[[EntityMapping], Any] | None = None) -> list[list[EntityMapping]]:
    """The reads of one pull, in file order: each a lead first, then the members it feeds. `state_of`
    gives an entity's saved checkpoint (None for a full pull: all agree); a member whose checkpoint
    differs from its lead's reads alone."""
    groups: dict[str, list[EntityMapping]] = {}
    for name, em in entities.items():
        lead = entities.get(em.read_with or "")
        if lead is not None and lead.read_with is None and (state_of is None or state_of(em) == state_of(lead)):
            groups.setdefault(em.read_with or name, [lead]).append(em)
        else:
            groups.setdefault(name, [em])
    return list(groups.values())


def share_outcome(lead: Any, members: list[Any]) -> None:
    """The members' summaries of a shared read: its error and time; no requests of their own."""
    for summary in members:
        summary.error, summary.seconds = summary.error or lead.error, lead.seconds
        summary.requests = 0 if lead.requests is not None else None
