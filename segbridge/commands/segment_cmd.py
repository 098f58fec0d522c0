"""`segbridge segment`: segment products and customers from the store and save a run (or a what-if)."""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import config_of, out, store_of, table


def register(app: typer.Typer) -> None:
    app.command("segment")(segment)


def segment(
    ctx: typer.Context,
    what_if: Path = typer.Option(None, "--what-if", help="Candidate policy YAML: compare with the current one, "
                                                         "save nothing"),
    config: Path = typer.Option(None, "--config", help="segbridge.yaml (default: the global --config)"),
    policy: Path = typer.Option(None, "--policy", help="Policy YAML (default: segmentation.policy in the config)"),
    as_json: bool = typer.Option(False, "--json", help="Print the run's counts as one JSON object instead"),
    engine: str = typer.Option(None, "--engine", help="pandas (one machine) or spark (default: engine.kind in "
                                                      "the config, else pandas; docs/spark.md)"),
) -> None:
    """Segment products and customers from the store and save a run (with audit events for changes)."""
    from core.planning_store import load_frames, resolve_policy, segment_from_store
    from core.settings import load_config
    from core.statuses import Trigger

    cfg = load_config(config) if config else config_of(ctx)
    db = store_of(cfg)
    current = resolve_policy(policy) if policy else resolve_policy(cfg)
    if what_if is not None:
        _what_if(load_frames(db), current, what_if)
        return
    engine_cfg = engine_of(cfg, engine)
    if engine_cfg.kind == "spark":
        from core.spark_engine.spark_settings import session
        from core.spark_engine.spark_store import segment_with_spark

        run_id = segment_with_spark(db, session(engine_cfg), engine_cfg, current, Trigger.MANUAL, cfg.base_dir)
    else:
        run_id = segment_from_store(db, current, trigger=Trigger.MANUAL)
    _report(db, run_id, _hash(current), as_json)


def engine_of(cfg, choice: str | None):
    """The `engine:` section of the config, its kind replaced by --engine when given."""
    from basics.errors import ConfigError
    from core.spark_engine.spark_settings import EngineConfig, EngineKind, engine_config

    base = engine_config(cfg) if cfg is not None else EngineConfig()
    if choice is None:
        return base
    if choice not in {k.value for k in EngineKind}:
        raise ConfigError(f"--engine {choice!r}: unknown engine", hint="use --engine pandas or --engine spark")
    return base.model_copy(update={"kind": EngineKind(choice)})


def _report(db, run_id: int, ruleset: str, as_json: bool) -> None:
    """The saved run: its counts as JSON for scripts, or for people a summary and the next step."""
    import json

    from core import runs

    info = runs.get_run(db, run_id)
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "ruleset_hash": ruleset, **info.counts}, default=str))
        return
    previous = runs.get_run(db, info.parent_run_id) if info.parent_run_id else None
    _summary(info, previous, _changes(db, run_id))
    out.print(f"segment run {run_id} saved (rule set {ruleset[:12]})", highlight=False)
    if info.message:  # the engine's warnings (data quality included), joined by "; "
        out.print(f"[yellow]warnings:[/] {info.message}", highlight=False)
    out.print("next: `segbridge plan` (see what write-back would change), or review with "
              "`segbridge parameters export --out parameters.xlsx`", highlight=False)


def _changes(db, run_id: int) -> dict[str, int]:
    """Audit events of the run by action: segment_change and parameter_change (core.planning_store)."""
    from sqlalchemy import func, select

    from core.model import AuditEvent

    t = AuditEvent.__table__
    with db.connect() as conn:
        return dict(conn.execute(select(t.c.action, func.count()).where(t.c.run_id == run_id)
                                 .group_by(t.c.action)).all())


def _summary(info, previous, changes: dict[str, int]) -> None:
    """Segments with their product-location counts, what changed since the previous run, and the
    safety-stock investment with its change."""
    counts = info.counts
    segments = counts.get("segments") or {}
    table(f"segment run {info.id}", ["segment", "product-locations"],
          [[name, f"{n:,}"] for name, n in sorted(segments.items())]
          + [["total", f"{counts.get('product_locations', sum(segments.values())):,}"]])
    rows = [["products", f"{counts.get('products', 0):,}"], ["customers", f"{counts.get('customers', 0):,}"],
            ["class changes", f"{changes.get('segment_change', 0):,}"],
            ["parameter changes", f"{changes.get('parameter_change', 0):,}"]]
    if "safety_stock_value" in counts:
        value = counts["safety_stock_value"]
        before = (previous.counts or {}).get("safety_stock_value") if previous else None
        change = "" if before is None else f" ({value - before:+,} vs run {previous.id})"
        rows.append(["safety-stock investment", f"{value:,}{change}"])
    if counts.get("unmatched"):
        rows.append(["unmatched by the policy", f"{counts['unmatched']:,}"])
    table("summary", ["", "value"], rows)


def _hash(policy) -> str:
    from core.planning.governance import ruleset_hash

    return ruleset_hash(policy)


def _what_if(frames, current, candidate_path: Path) -> None:
    from core.planning.policy import load_policy
    from core.planning.whatif import compare

    cand = load_policy(candidate_path)
    w = compare(frames, current, cand)
    m = w.migration
    table("Segment migration (rows: current, columns: candidate)", ["current", *map(str, m.columns)],
          [[idx, *row] for idx, row in zip(m.index, m.to_numpy().tolist(), strict=True)])
    pc = w.parameter_changes
    table("Parameters that would change", ["parameter", "entities", "changed"], pc.to_numpy().tolist())
    inv = w.investment
    table("Safety-stock investment by segment", ["segment", "current", "candidate", "change"],
          [[r[0], f"{r[1]:,.0f}", f"{r[2]:,.0f}", f"{r[3]:+,.0f}"] for r in inv.to_numpy().tolist()])
    out.print("what-if only: nothing was saved")
