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
    run_id = segment_from_store(db, current, trigger=Trigger.MANUAL)
    from core.model import Run
    from core.store import read_frame

    runs = read_frame(db, Run).set_index("id")
    out.print(f"segment run {run_id} saved (rule set {_hash(current)[:12]}): {runs.at[run_id, 'counts']}")
    if runs.at[run_id, "message"]:  # the engine's warnings (data quality included), joined by "; "
        out.print(f"[yellow]warnings:[/] {runs.at[run_id, 'message']}")


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
