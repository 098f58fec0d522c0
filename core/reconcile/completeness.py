"""Pull completeness: did every record the source has arrive in the store (or in quarantine)?

Per system and entity, the `EntityCount` row of the latest pull run that read that entity
answers three questions:

* `read` < `source_count`: records the source reported ($inlinecount, totalSize) were not read;
* `loaded + quarantined` != `read`: records were read but neither stored nor quarantined;
* `quarantined / read` above the entity's threshold: too much bad data for a steward to ignore.

The measure of the last one is the share of *that pull's* records, the same measure the pull's
suspect check uses: its denominator is the records read by the run that produced the quarantine
rows. An incremental pull that read 1 record and quarantined it is "1 of the 1 record(s) read by
pull run N", never "100 % of the entity": the rows earlier pulls stored are not in question.
The threshold is looked up as the pull does (`core.quality.threshold_for`): `quality.per_entity`
by 'system.entity' or entity name, else `reconcile.completeness.max_quarantine_share`, else
`quality.max_quarantine_share`.

Each breach is a `completeness` exception keyed by the entity with the count's name as field.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.model import EntityCount
from core.quality import threshold_for
from core.reconcile.discrepancies import Observation
from core.reconcile.reconcile_settings import ReconcileConfig

_C = EntityCount.__table__


def latest_counts(db: Engine, systems: list[str] | None = None) -> list[dict]:
    """Per system and entity, the EntityCount row of the latest pull run that read it (a pull of
    one entity, `pull --entity`, leaves the others' latest counts in place)."""
    latest = (select(_C.c.system, _C.c.entity, func.max(_C.c.run_id).label("run_id"))
              .group_by(_C.c.system, _C.c.entity))
    if systems is not None:
        latest = latest.where(_C.c.system.in_(systems))
    latest = latest.subquery()
    stmt = (select(_C).join(latest, (_C.c.system == latest.c.system) & (_C.c.entity == latest.c.entity)
                            & (_C.c.run_id == latest.c.run_id))
            .order_by(_C.c.system, _C.c.entity))
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def count_breaches(row: dict, max_share: float) -> list[tuple[str, str, str, str]]:
    """(field, expected, actual, why) for each way one count row is incomplete."""
    out = []
    read, loaded, quarantined = row["read"] or 0, row["loaded"] or 0, row["quarantined"] or 0
    source = row.get("source_count")
    if source is not None and read < source:
        out.append(("read", str(source), str(read), f"{source - read} record(s) the source reported were not read"))
    if loaded + quarantined != read:
        out.append(("loaded", str(read), str(loaded + quarantined),
                    f"read {read} but loaded {loaded} + quarantined {quarantined}"))
    if read and quarantined / read > max_share:
        out.append(("quarantined", f"<= {max_share:.1%} of the pull", f"{quarantined} of {read} ({quarantined / read:.1%})",
                    f"{quarantined} of the {read} record(s) read by this pull quarantined"))
    return out


def completeness_observations(config: ReconcileConfig, db: Engine, default_share: float,
                              systems: list[str] | None = None,
                              per_entity: dict[str, float] | None = None) -> list[Observation]:
    """Observations for every completeness breach of the latest pull of each system and entity.

    `default_share` is `quality.max_quarantine_share` (the section's own share replaces it) and
    `per_entity` is `quality.per_entity` (it wins over both, as in the pull's suspect check)."""
    if not config.completeness.enabled:
        return []
    share = config.completeness.max_quarantine_share
    thresholds = {"default": default_share if share is None else share, **(per_entity or {})}
    out = []
    for row in latest_counts(db, systems):
        system, entity = row["system"], row["entity"]
        for field, expected, actual, why in count_breaches(row, threshold_for(thresholds, system, entity)):
            out.append(Observation("completeness", system, entity, entity, field, expected=expected, actual=actual,
                                   severity=config.severity_for("completeness", system, entity, field),
                                   owner=config.owner(system, entity), reason=f"pull run {row['run_id']}: {why}"))
    return out
