"""Daily demand of the four textbook patterns, as order lines, for the service benchmark and tests.

Each series draws its own level; the same process gives the history (turned into order lines the
engine reads) and the fresh days the parameters are replayed on. Integer quantities throughout, as
order lines carry them.
- smooth: demand every day, negative binomial, weekly CV about 0.3;
- erratic: daily gamma totals (rounded), weekly CV about 0.9;
- intermittent: demand on about 5 % of days, small sizes (1 + Poisson);
- lumpy: demand on about 4 % of days, gamma sizes with CV 1.2.
`variant="alt"` swaps the laws (log-normal sizes, clipped normal smooth demand) to check the
calibration on demand it was not shaped around.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PATTERNS = ("smooth", "erratic", "intermittent", "lumpy")


def daily_matrix(pattern: str, n: int, days: int, rng: np.random.Generator, variant: str = "base") -> np.ndarray:
    """(n x days) daily demand of one pattern."""
    if pattern == "smooth":
        mean = rng.uniform(5, 50, n)[:, None]
        if variant == "alt":
            return np.maximum(0.0, np.round(rng.normal(mean, 0.3 * np.sqrt(7) * mean, (n, days))))
        r = np.maximum(1 / ((0.3 * np.sqrt(7)) ** 2 - 1 / mean), 0.5)
        return rng.negative_binomial(r, r / (r + mean), (n, days)).astype(float)
    if pattern == "erratic":
        mean = rng.uniform(5, 50, n)[:, None]
        if variant == "alt":
            return np.round(rng.lognormal(np.log(mean) - 1.2, 1.55, (n, days)))
        k = 1 / (0.9 ** 2 * 7)
        return np.round(rng.gamma(k, mean / k, (n, days)))
    occ_p = 0.05 if pattern == "intermittent" else 0.04
    occ = rng.random((n, days)) < occ_p
    if pattern == "intermittent":
        size = 1 + rng.poisson(rng.uniform(1, 6, n)[:, None], (n, days))
    elif variant == "alt":
        m = rng.uniform(5, 40, n)[:, None]
        sig = np.sqrt(np.log(1 + 1.2 ** 2))
        size = np.maximum(1, np.round(rng.lognormal(np.log(m) - sig ** 2 / 2, sig, (n, days))))
    else:
        k, m = 1 / 1.2 ** 2, rng.uniform(5, 40, n)[:, None]
        size = np.maximum(1, np.round(rng.gamma(k, m / k, (n, days))))
    return (occ * size).astype(float)


def order_lines(matrix: np.ndarray, product_ids, start: str = "2025-01-06") -> pd.DataFrame:
    """One order line per series and day with demand (canonical order_lines columns)."""
    rows, days = np.nonzero(matrix > 0)
    n = len(rows)
    return pd.DataFrame({
        "order_id": [f"SO{i:08d}" for i in range(n)], "line_no": "10",
        "product_id": np.asarray(product_ids)[rows], "location_id": "DC1",
        "order_date": pd.Timestamp(start) + pd.to_timedelta(days, unit="D"),
        "quantity": matrix[rows, days]})


def world(per_pattern: int, history_days: int, fresh_days: int, seed: int = 0, variant: str = "base"):
    """(frames for the engine, fresh daily demand aligned with `keys`, keys with pattern labels)."""
    rng = np.random.default_rng(seed)
    mats, labels = [], []
    for pat in PATTERNS:
        mats.append(daily_matrix(pat, per_pattern, history_days + fresh_days, rng, variant))
        labels += [pat] * per_pattern
    m = np.vstack(mats)
    ids = np.array([f"P{i:05d}" for i in range(len(m))])
    keys = pd.DataFrame({"product_id": ids, "location_id": "DC1", "generated_pattern": labels})
    pls = pd.DataFrame({"product_id": ids, "location_id": "DC1",
                        "lead_time_days": rng.choice([7.0, 14.0], len(m)),
                        "unit_cost": rng.uniform(5, 50, len(m)).round(2)})
    products = pd.DataFrame({"id": ids, "unit_price": (pls["unit_cost"] * 1.4).round(2), "category": "bench"})
    frames = {"order_lines": order_lines(m[:, :history_days], ids), "product_locations": pls, "products": products}
    return frames, m[:, history_days:], keys
