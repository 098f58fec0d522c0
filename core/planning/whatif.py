"""What-if: compare a candidate rule set with the current one on the same data, saving nothing.

Reports the segment migration matrix (current segment x candidate segment), how many parameters
change (per parameter name), and the safety-stock investment change in currency per segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.planning.engine import EngineOptions, EngineResult, run_engine


@dataclass
class WhatIf:
    current: EngineResult
    candidate: EngineResult
    migration: pd.DataFrame
    parameter_changes: pd.DataFrame
    investment: pd.DataFrame


def compare(frames: dict[str, pd.DataFrame], current_policy, candidate_policy,
            options: EngineOptions | None = None) -> WhatIf:
    """Run the engine with both rule sets (simulation off) and diff the results."""
    opts = options or EngineOptions()
    opts = EngineOptions(**{**opts.__dict__, "simulate": False})
    cur = run_engine(frames, current_policy, opts)
    cand = run_engine(frames, candidate_policy, opts)
    return WhatIf(cur, cand, migration_matrix(cur, cand), parameter_changes(cur.parameters, cand.parameters),
                  investment_change(cur, cand))


def migration_matrix(cur: EngineResult, cand: EngineResult) -> pd.DataFrame:
    """Counts of product-locations by (current segment, candidate segment)."""
    a = cur.product_locations.set_index("entity_key")["segment"]
    b = cand.product_locations.set_index("entity_key")["segment"].reindex(a.index)
    return pd.crosstab(a.rename("current"), b.rename("candidate"))


def parameter_changes(cur: pd.DataFrame, cand: pd.DataFrame) -> pd.DataFrame:
    """Per parameter name: how many entities change value (numbers compared with a 1e-9 tolerance)."""
    key = ["entity", "entity_key", "name"]
    m = cur.merge(cand, on=key, how="outer", suffixes=("_cur", "_cand"))
    a, b = m["value_num_cur"].to_numpy(float), m["value_num_cand"].to_numpy(float)
    num_same = np.isclose(a, b, rtol=1e-9, atol=1e-9) | (np.isnan(a) & np.isnan(b))
    txt_same = m["value_text_cur"].astype(object).fillna("") == m["value_text_cand"].astype(object).fillna("")
    m["changed"] = ~(num_same & txt_same.to_numpy())
    out = m.groupby("name").agg(entities=("changed", "size"), changed=("changed", "sum"))
    return out.reset_index().sort_values("name", ignore_index=True)


def investment_change(cur: EngineResult, cand: EngineResult) -> pd.DataFrame:
    """Safety-stock value (units x unit cost) per candidate segment, before and after."""
    a = cur.product_locations.set_index("entity_key")[["ss_value"]].rename(columns={"ss_value": "current"})
    b = cand.product_locations.set_index("entity_key")[["segment", "ss_value"]].rename(
        columns={"ss_value": "candidate"})
    j = b.join(a, how="left")
    out = j.groupby("segment")[["current", "candidate"]].sum()
    out["change"] = out["candidate"] - out["current"]
    total = pd.DataFrame(out.sum()).T
    total.index = ["TOTAL"]
    return pd.concat([out, total]).rename_axis("segment").reset_index()
