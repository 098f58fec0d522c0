"""Messy input, defined handling: what the engine does with lines it cannot trust, and how often.

Why a module of its own: `segbridge analyze` (CSV files) and `segbridge segment` (the store) both
call `run_engine`, which calls `clean_frames` first, so a blank quantity, a duplicate line or a
negative lead time gets the same handling and the same count on both paths instead of a traceback,
a NaN series or a negative reorder point. Nothing is dropped silently: every case below has a
count (in `EngineResult.data_quality`, the run's counts and the analyze summary), up to
`EXAMPLES` example rows, and a warning when it happened. docs/engine.md ("Messy data") is the
user-facing table of the same cases.

A line is counted under the first case it meets, in the order of `CASES`. Examples name the file
and line when the frame came from a CSV reader that kept the line number in a `_row` column (and
the file name in `frame.attrs["file"]`), else the record's key (order_id / line_no). `_row` is
dropped from every frame on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from basics.errors import DataError

EXAMPLES = 5
ROW = "_row"
RETURNS = ("exclude", "net")

# case -> what happened to the rows (the warning's text; docs/engine.md has the same table).
CASES = {
    "bad_quantity": "order line(s) with a blank or non-numeric quantity set aside",
    "blank_product_id": "order line(s) without a product id set aside",
    "blank_order_date": "order line(s) without an order date set aside",
    "duplicate_lines": "exact duplicate order line(s) dropped (the first kept)",
    "conflicting_lines": "order line(s) sharing order_id + line_no with different values set aside",
    "return_lines": "return line(s) (negative quantity) kept out of demand (classification.returns: exclude)",
    "returned_quantity": "units returned in those lines",
    "negative_lead_time": "negative lead time(s) treated as missing: receipts, else the default lead time, apply",
    "master_rows_set_aside": "products / product_locations row(s) with a blank or repeated key set aside "
                             "(the first of a repeated key kept)",
    "abc_by_volume": "product-location(s) ranked for ABC by volume: no price or cost gives their ABC group "
                     "a value or margin",
    "abc_no_measure": "product-location(s) with demand but no positive value or margin ranked last (class C)",
}
NET_RETURNS = "return line(s) (negative quantity) netted against demand (classification.returns: net)"


@dataclass
class DataQuality:
    """Counts per case (every case of `CASES` present, zero when it did not happen) and examples."""

    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CASES, 0))
    examples: dict[str, list[str]] = field(default_factory=dict)
    returns: str = "exclude"
    texts: dict[str, str] = field(default_factory=lambda: CASES)  # case -> its warning's text

    def add(self, case: str, count: float, examples=()) -> None:
        self.counts[case] = self.counts.get(case, 0) + count
        kept = self.examples.setdefault(case, [])
        kept += [str(e) for e in list(examples)[: max(EXAMPLES - len(kept), 0)]]

    def as_dict(self) -> dict[str, dict]:
        """{case: {"count": n, "examples": [...]}} (the EngineResult.data_quality shape)."""
        return {c: {"count": n, "examples": list(self.examples.get(c, []))} for c, n in self.counts.items()}

    def summary(self) -> dict[str, int]:
        """Whole numbers per case, for the run's counts (returned quantity rounded to whole units)."""
        return {c: int(round(n)) for c, n in self.counts.items()}

    def warnings(self) -> list[str]:
        """One warning per case that happened, with its first examples."""
        out = []
        for case, n in self.counts.items():
            if not n or case == "returned_quantity":
                continue
            text = NET_RETURNS if case == "return_lines" and self.returns == "net" else self.texts.get(case, case)
            if case == "return_lines":
                text += f", {_num(self.counts.get('returned_quantity', 0))} units"
            ex = self.examples.get(case)
            out.append(f"{_num(n)} {text}" + (f" (e.g. {', '.join(ex)})" if ex else ""))
        return out


def _num(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.3f}".rstrip("0")


def clean_frames(frames: dict[str, pd.DataFrame], returns: str = "exclude") -> tuple[dict, DataQuality]:
    """Every canonical frame the engine reads, cleaned; the counts of what was set aside or changed."""
    dq = DataQuality(returns=returns)
    out = {name: _without_row(f) for name, f in frames.items()}
    if frames.get("order_lines") is not None:
        out["order_lines"], _ = clean_order_lines(frames["order_lines"], returns, dq)
    for name, fn in (("products", _clean_products), ("product_locations", _clean_product_locations),
                     ("receipts", _clean_receipts)):
        if frames.get(name) is not None and not frames[name].empty:
            out[name] = _without_row(fn(frames[name], dq))
    return out, dq


def clean_order_lines(lines: pd.DataFrame, returns: str = "exclude",
                      dq: DataQuality | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Order lines fit to be demand. Raises DataError when lines were given and none is usable."""
    if returns not in RETURNS:
        raise ValueError(f"returns must be one of {', '.join(RETURNS)}; got {returns!r}")
    dq = dq or DataQuality(returns=returns)
    missing = {"product_id", "order_date", "quantity"} - set(lines.columns)
    if missing:
        raise DataError(f"{_file(lines, 'order_lines')}: no column(s) {', '.join(sorted(missing))}",
                        hint="order_lines needs product_id, order_date, quantity (see docs/engine.md)")
    qty = lines["quantity"]
    if not pd.api.types.is_numeric_dtype(qty) or pd.api.types.is_bool_dtype(qty):
        lines = lines.assign(quantity=pd.to_numeric(qty, errors="coerce"))
    keep = np.ones(len(lines), dtype=bool)
    for case, bad in (("bad_quantity", ~np.isfinite(lines["quantity"].to_numpy("float64"))),
                      ("blank_product_id", _blank(lines["product_id"])),
                      ("blank_order_date", lines["order_date"].isna().to_numpy())):
        keep = _set_aside(lines, keep, bad, case, dq)
    keep = _drop_duplicates(lines, keep, dq)
    neg = keep & (lines["quantity"].to_numpy("float64") < 0)
    dq.add("return_lines", int(neg.sum()), _labels(lines, neg))
    dq.add("returned_quantity", float(-lines["quantity"].to_numpy("float64")[neg].sum()))
    if returns == "exclude":
        keep &= ~neg
    if len(lines) and not keep.any():
        raise DataError(f"{_file(lines, 'order_lines')}: no usable order line among {len(lines)}: "
                        + "; ".join(dq.warnings()),
                        hint="every line was set aside for the reasons above; see 'Messy data' in docs/engine.md")
    out = lines if keep.all() else lines[keep]
    return _without_row(out), dq


def _set_aside(lines: pd.DataFrame, keep: np.ndarray, bad: np.ndarray, case: str, dq: DataQuality) -> np.ndarray:
    hit = keep & bad
    dq.add(case, int(hit.sum()), _labels(lines, hit))
    return keep & ~bad


def _drop_duplicates(lines: pd.DataFrame, keep: np.ndarray, dq: DataQuality) -> np.ndarray:
    """Exact duplicates (every column equal, the line number and load time aside) are dropped, the first
    kept. Lines that share order_id + line_no but differ are all set aside: which one is right is not
    knowable here (the mapper quarantines them as `duplicate` on a pull, so the store never holds them).
    A frame marked `attrs["keys_unique"]` (read from the store, whose key is order_id + line_no) skips
    the check: hashing 20 M keys costs seconds and cannot find anything there."""
    if lines.attrs.get("keys_unique") or not keep.any():
        return keep
    content = [c for c in lines.columns if c not in (ROW, "loaded_at")]
    key = ["order_id", "line_no"] if {"order_id", "line_no"} <= set(lines.columns) else []
    cand = keep.copy()
    if key:  # only lines whose key repeats need comparing whole
        keyed = lines[key].notna().all(axis=1).to_numpy()
        cand &= ~keyed | lines[key].duplicated(keep=False).to_numpy()
    if not cand.any():
        return keep
    sub = lines[cand]
    exact = np.zeros(len(lines), dtype=bool)
    exact[np.flatnonzero(cand)] = sub.duplicated(content, keep="first").to_numpy()
    dq.add("duplicate_lines", int(exact.sum()), _labels(lines, exact))
    keep = keep & ~exact
    if key:
        rest = lines[keep & cand]
        conflict = np.zeros(len(lines), dtype=bool)
        keyed = rest[key].notna().all(axis=1).to_numpy()
        conflict[np.flatnonzero(keep & cand)] = keyed & rest[key].duplicated(keep=False).to_numpy()
        keep = _set_aside(lines, keep, conflict, "conflicting_lines", dq)
    return keep


def _clean_products(products: pd.DataFrame, dq: DataQuality) -> pd.DataFrame:
    """A blank or repeated product id would break every lookup by id (pandas cannot map through a
    repeated index): such rows are set aside, the first of a repeated id kept."""
    if "id" not in products:
        return products
    bad = _blank(products["id"]) | products["id"].duplicated().to_numpy()
    return _drop_master(products, bad, dq, "product")


def _clean_product_locations(pls: pd.DataFrame, dq: DataQuality) -> pd.DataFrame:
    """Blank product id or repeated product + location: set aside (first kept). A negative lead time
    (or its std) is treated as missing, so receipts or the default lead time apply instead of a
    negative reorder point."""
    if "product_id" in pls:
        loc = pls["location_id"].fillna("-") if "location_id" in pls else pd.Series("-", index=pls.index)
        dup = pd.DataFrame({"p": pls["product_id"], "l": loc}).duplicated().to_numpy()
        pls = _drop_master(pls, _blank(pls["product_id"]) | dup, dq, "product-location")
    neg = np.zeros(len(pls), dtype=bool)
    fixed = {}
    for col in ("lead_time_days", "lead_time_std_days"):
        if col in pls:
            v = pd.to_numeric(pls[col], errors="coerce").astype("float64")
            neg |= (v < 0).to_numpy()
            fixed[col] = v.where(~(v < 0))
    if neg.any():
        dq.add("negative_lead_time", int(neg.sum()), _pl_labels(pls, neg, "product_locations"))
        pls = pls.assign(**fixed)
    return pls


def _clean_receipts(receipts: pd.DataFrame, dq: DataQuality) -> pd.DataFrame:
    """A receipt dated before its order would give a negative lead time: set aside."""
    if not {"order_date", "receipt_date"} <= set(receipts.columns):
        return receipts
    neg = (pd.to_datetime(receipts["receipt_date"]) < pd.to_datetime(receipts["order_date"])).to_numpy()
    if not neg.any():
        return receipts
    dq.add("negative_lead_time", int(neg.sum()), _pl_labels(receipts, neg, "receipts"))
    return receipts[~neg]


def _drop_master(frame: pd.DataFrame, bad: np.ndarray, dq: DataQuality, what: str) -> pd.DataFrame:
    if not bad.any():
        return frame
    idx = np.flatnonzero(bad)[:EXAMPLES]
    if "id" in frame:
        names = [_text(frame["id"].iloc[i]) for i in idx]
    else:
        loc = frame["location_id"] if "location_id" in frame else pd.Series("-", index=frame.index)
        names = [f"{_text(frame['product_id'].iloc[i])} at {_text(loc.iloc[i])}" for i in idx]
    dq.add("master_rows_set_aside", int(bad.sum()),
           [f"{what} {n}{_where(frame, i)}" for n, i in zip(names, idx, strict=True)])
    return frame[~bad]


def _text(v) -> str:
    return "(blank)" if pd.isna(v) or not str(v).strip() else str(v)


def note_abc_basis(dq: DataQuality, pl: pd.DataFrame) -> None:
    """Count the product-locations the engine ranked by volume, or ranked last for want of a value
    (the `abc_basis` column `engine._classify` writes)."""
    if "abc_basis" not in pl:
        return
    basis = pl["abc_basis"].to_numpy()
    vol, none = basis == "volume", basis == "no_measure"
    locs = pd.unique(pl.loc[vol, "location_id"].astype(str))[:EXAMPLES]
    dq.add("abc_by_volume", int(vol.sum()), [f"location {loc}" for loc in locs])
    dq.add("abc_no_measure", int(none.sum()), _pl_labels(pl, none, None))


def _labels(lines: pd.DataFrame, mask: np.ndarray) -> list[str]:
    """Up to EXAMPLES labels for the masked order lines: file and line, else order and line number."""
    idx = np.flatnonzero(mask)[:EXAMPLES]
    if ROW in lines:
        return [f"{_file(lines, 'order_lines')} line {lines[ROW].iloc[i]}" for i in idx]
    if {"order_id", "line_no"} <= set(lines.columns):
        return [f"order {lines['order_id'].iloc[i]} line {lines['line_no'].iloc[i]}" for i in idx]
    return [f"product {lines['product_id'].iloc[i]} on {lines['order_date'].iloc[i]}" for i in idx]


def _pl_labels(frame: pd.DataFrame, mask: np.ndarray, source: str | None) -> list[str]:
    """'P1 at DC01' (product and location), with the file line or the source table."""
    idx = np.flatnonzero(mask)[:EXAMPLES]
    loc = frame["location_id"] if "location_id" in frame else pd.Series("-", index=frame.index)
    out = []
    for i in idx:
        where = _where(frame, i) or (f" ({source})" if source else "")
        out.append(f"{frame['product_id'].iloc[i]} at {'-' if pd.isna(loc.iloc[i]) else loc.iloc[i]}{where}")
    return out


def _where(frame: pd.DataFrame, i: int) -> str:
    return f" ({_file(frame, '?')} line {frame[ROW].iloc[i]})" if ROW in frame else ""


def _file(frame: pd.DataFrame, default: str) -> str:
    return str(frame.attrs.get("file", default))


def _blank(s: pd.Series) -> np.ndarray:
    """Null or empty after stripping (the CSV reader and the mapper strip keys already)."""
    blank = s.isna().to_numpy().copy()
    if s.dtype == object or pd.api.types.is_string_dtype(s):  # == "" and isspace: a third of a strip's cost
        text = s.astype(str) if s.dtype == object else s
        blank |= (text == "").to_numpy(dtype=bool, na_value=True) | \
            text.str.isspace().to_numpy(dtype=bool, na_value=True)
    return blank


def _without_row(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    return frame.drop(columns=ROW) if frame is not None and ROW in frame else frame
