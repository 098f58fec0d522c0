"""The shape every KPI function returns, and the grouping arithmetic they share.

A KPI row is (segment, kpi, period, scope, value, numerator, denominator, note). Ratios are summed
numerators over summed denominators per segment and period, so the `all` segment and the `all`
period are the same ratio over more rows (never an average of ratios). Grouping uses integer codes
and `numpy.bincount` rather than a pandas groupby: at a million product-locations x 104 weeks a
groupby on two keys costs seconds per measure, a bincount tenths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KPI_COLUMNS = ["segment", "kpi", "period", "scope", "value", "numerator", "denominator", "note"]
ALL = "all"
PERIODS = ("week", "month")
_EPOCH_MONDAY_SHIFT = 3  # 1970-01-01 was a Thursday: (days + 3) // 7 counts Monday-started weeks


def empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=KPI_COLUMNS)


def period_index(dates, period: str) -> np.ndarray:
    """Integer period of each date (weeks start on Monday; months are calendar months); -1 where no date."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    d = np.asarray(pd.to_datetime(dates, errors="coerce").to_numpy() if not isinstance(dates, np.ndarray)
                   else dates).astype("datetime64[D]")
    bad = np.isnat(d)
    if period == "week":
        idx = (d.astype(np.int64) + _EPOCH_MONDAY_SHIFT) // 7
    else:
        idx = d.astype("datetime64[M]").astype(np.int64)
    return np.where(bad, -1, idx)


def period_label(idx: np.ndarray, period: str) -> np.ndarray:
    """ISO start date of each integer period."""
    idx = np.asarray(idx, dtype=np.int64)
    if period == "week":
        days = idx * 7 - _EPOCH_MONDAY_SHIFT
        return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    return np.datetime_as_string(idx.astype("datetime64[M]").astype("datetime64[D]"), unit="D")


def period_days(idx: np.ndarray, period: str) -> np.ndarray:
    """Calendar days in each integer period."""
    idx = np.asarray(idx, dtype=np.int64)
    if period == "week":
        return np.full(len(idx), 7.0)
    start = idx.astype("datetime64[M]").astype("datetime64[D]")
    end = (idx + 1).astype("datetime64[M]").astype("datetime64[D]")
    return (end - start).astype(np.int64).astype(float)


@dataclass(frozen=True)
class Grid:
    """Segments x periods: row codes into it, and the labels of its cells."""

    segments: np.ndarray  # labels, code = position
    periods: np.ndarray  # integer periods, code = position
    period: str

    @classmethod
    def of(cls, segment_labels, period_idx: np.ndarray, period: str) -> Grid:
        seg = np.asarray(sorted({str(s) for s in segment_labels if s == s}), dtype=object)
        return cls(seg, _distinct(period_idx), period)

    def period_codes(self, period_idx: np.ndarray) -> np.ndarray:
        """Position of each integer period in the grid, -1 where it is not one of the grid's. Weeks
        and months of a window are usually contiguous: then a subtraction, not a search."""
        n = len(self.periods)
        if not n:
            return np.full(len(period_idx), -1)
        p0 = self.periods[0]
        if self.periods[-1] - p0 == n - 1:
            pc = period_idx - p0
            return np.where((pc >= 0) & (pc < n), pc, -1)
        pc = np.clip(np.searchsorted(self.periods, period_idx), 0, n - 1)
        return np.where(self.periods[pc] == period_idx, pc, -1)

    def codes(self, segment_codes: np.ndarray, period_idx: np.ndarray, period_codes: np.ndarray | None = None
              ) -> np.ndarray:
        """Cell code per row (segment code x period code); -1 where the segment or period is unknown."""
        pc = self.period_codes(period_idx) if period_codes is None else period_codes
        return np.where((pc >= 0) & (segment_codes >= 0), segment_codes * len(self.periods) + pc, -1)

    def segment_codes(self, labels) -> np.ndarray:
        """Codes of segment labels (-1 for labels not in the grid). A categorical is matched by its
        categories only: at tens of millions of rows comparing strings row by row would cost seconds."""
        if isinstance(getattr(labels, "dtype", None), pd.CategoricalDtype):
            cat = pd.Categorical(labels)
            lookup = np.append(self.segment_codes(np.asarray(cat.categories, dtype=object)), -1)
            return lookup[cat.codes]  # code -1 (missing) takes the appended -1
        lab = np.asarray(labels, dtype=object).astype(str)
        pos = np.searchsorted(self.segments.astype(str), lab)
        pos = np.clip(pos, 0, max(len(self.segments) - 1, 0))
        return np.where(self.segments.astype(str)[pos] == lab, pos, -1) if len(self.segments) else \
            np.full(len(lab), -1)

    def sum(self, cells: np.ndarray, weights=None) -> np.ndarray:
        """Sums per cell as a (segments, periods) matrix; rows whose cell is -1 are left out (they land
        in a bin before the first and are dropped, so no row is copied to filter them)."""
        n = len(self.segments) * len(self.periods)
        w = None
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            if np.isnan(w).any():
                w = np.nan_to_num(w)
        out = np.bincount(cells + 1, weights=w, minlength=n + 1)[1:n + 1].astype(float)
        return out.reshape(len(self.segments), len(self.periods))


def _distinct(period_idx: np.ndarray) -> np.ndarray:
    """Sorted distinct periods (>= 0), by counting: a hash of a hundred million rows costs more."""
    idx = np.asarray(period_idx, dtype=np.int64)
    if not len(idx):
        return np.array([], dtype=np.int64)
    hi = idx.max()
    lo = idx.min() if idx.min() >= 0 else idx[idx >= 0].min(initial=hi + 1)
    if hi < 0 or lo > hi:
        return np.array([], dtype=np.int64)
    counts = np.bincount(np.maximum(idx - lo, -1) + 1, minlength=hi - lo + 2)[1:]
    return np.flatnonzero(counts) + lo


def ratio_rows(grid: Grid, kpi: str, num: np.ndarray, den: np.ndarray, scope: str = "",
               with_totals: bool = True) -> pd.DataFrame:
    """value = num / den per segment and period, plus the `all` segment and `all` period totals;
    cells with nothing in the denominator are left out (there was nothing to measure)."""
    return _rows(grid, kpi, num, den, scope, with_totals, ratio=True)


def sum_rows(grid: Grid, kpi: str, total: np.ndarray, present: np.ndarray, scope: str = "",
             with_totals: bool = True, stock: bool = False) -> pd.DataFrame:
    """value = the sum per segment and period (and totals), where `present` (a count) is above zero.
    A `stock` (a level, not a flow) has as its `all` period the last period's value, not the sum."""
    return _rows(grid, kpi, total, present, scope, with_totals, ratio=False, stock=stock)


def _rows(grid, kpi, num, den, scope, with_totals, ratio, stock=False) -> pd.DataFrame:
    seg, per = list(grid.segments), list(period_label(grid.periods, grid.period))
    if with_totals:
        last = _last_present(den) if stock else None
        num = _with_totals(num, stock, last)
        den = _with_totals(den, stock, last)
        seg, per = seg + [ALL], per + [ALL]
    if not len(seg) or not len(per):
        return empty_rows()
    s, p = np.meshgrid(np.arange(len(seg)), np.arange(len(per)), indexing="ij")
    n, d = num.ravel(), den.ravel()
    keep = d > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = n / d if ratio else n
    return pd.DataFrame({"segment": np.asarray(seg, dtype=object)[s.ravel()[keep]], "kpi": kpi,
                         "period": np.asarray(per, dtype=object)[p.ravel()[keep]], "scope": scope,
                         "value": value[keep], "numerator": n[keep] if ratio else np.nan,
                         "denominator": d[keep] if ratio else np.nan, "note": None})[KPI_COLUMNS]


def _with_totals(m: np.ndarray, stock: bool = False, last: np.ndarray | None = None) -> np.ndarray:
    """Append the `all` segment row and the `all` period column. A stock's `all` is its level in the
    last period that has one (`last`, per row of the matrix with its `all` row), not the sum: stock
    counts need not reach the last period of the lines."""
    m = np.vstack([m, m.sum(axis=0, keepdims=True)])
    if not stock:
        return np.hstack([m, m.sum(axis=1, keepdims=True)])
    if not m.shape[1]:
        return np.hstack([m, np.zeros((m.shape[0], 1))])
    at = last if last is not None else np.full(m.shape[0], m.shape[1] - 1)
    return np.hstack([m, m[np.arange(m.shape[0]), at][:, None]])


def _last_present(den: np.ndarray) -> np.ndarray:
    """Per segment row and the `all` row: the last period column with something present (0 if none)."""
    rows = np.vstack([den, den.sum(axis=0, keepdims=True)]) > 0
    if not rows.shape[1]:
        return np.zeros(rows.shape[0], dtype=np.int64)
    return np.where(rows.any(axis=1), rows.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1), 0)


def labels(values: pd.Series, prefix: str = "", missing: str = "unsegmented") -> pd.Series:
    """Segment labels as a categorical with `prefix`, missing ones as `missing` (work on categories only)."""
    cat = values.astype("category")
    if missing not in cat.cat.categories:
        cat = cat.cat.add_categories([missing])
    cat = cat.fillna(missing)
    return cat.cat.rename_categories([f"{prefix}{c}" for c in cat.cat.categories])


def unavailable(segments, kpis, note: str, scope: str = "") -> pd.DataFrame:
    """Rows that say a KPI could not be computed (value None) and why."""
    segs = [*sorted({str(s) for s in segments}), ALL]
    rows = [{"segment": s, "kpi": k, "period": ALL, "scope": scope, "value": np.nan, "numerator": np.nan,
             "denominator": np.nan, "note": note} for k in kpis for s in segs]
    return pd.DataFrame(rows, columns=KPI_COLUMNS)


def one_row(segment: str, kpi: str, value, scope: str = "", period: str = ALL, numerator=np.nan,
            denominator=np.nan, note: str | None = None) -> dict:
    return {"segment": segment, "kpi": kpi, "period": period, "scope": scope, "value": value,
            "numerator": numerator, "denominator": denominator, "note": note}


def frame_of(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=KPI_COLUMNS) if rows else empty_rows()
