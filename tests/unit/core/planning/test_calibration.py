"""The calibration's service model against Monte Carlo and daily replay: exact for a known law."""

from __future__ import annotations

import numpy as np
import pytest

from core.planning.calibration import DailyModel, Horizon, ServiceCurve, calibrate_levels, pooled_size_var
from core.planning.simulation import simulate

pytestmark = pytest.mark.unit


def _draws(model: DailyModel, days: int, n: int, rng) -> np.ndarray:
    """n draws of demand over `days` days for a one-series model (Monte Carlo of the same law)."""
    occ = rng.random((n, days)) < model.p[0]
    return (occ * rng.gamma(model.k[0], model.theta[0], (n, days))).sum(axis=1)


@pytest.mark.parametrize("p, mean, cv, days, rel", [
    (0.05, 20.0, 1.2, 14, 0.06),  # binomial mixture of gammas: exact, within Monte Carlo noise
    (1.0, 10.0, 0.8, 7, 0.06),
    (0.9, 5.0, 2.0, 40, 0.12),  # 36 expected demand days: one translated gamma (an approximation)
])
def test_horizon_cdf_and_losses_match_monte_carlo(p, mean, cv, days, rel):
    m = DailyModel.fit([p], [mean], [(cv * mean) ** 2], [False])
    h = Horizon(m, days)
    x = _draws(m, days, 400_000, np.random.default_rng(1))
    for y in np.quantile(x, [0.5, 0.9, 0.99]):
        assert h.cdf(y)[0] == pytest.approx((x <= y).mean(), abs=0.01)
        assert h.loss1(y)[0] == pytest.approx(np.maximum(x - y, 0).mean(), rel=rel, abs=0.01)
        assert h.loss2(y)[0] == pytest.approx((np.maximum(x - y, 0) ** 2).mean() / 2, rel=rel, abs=0.01)


def test_translated_gamma_keeps_three_moments_of_a_long_horizon():
    m = DailyModel.fit([0.9], [5.0], [50.0], [False], skew=2.0)
    h = Horizon(m, 60)  # 54 expected demand days: one translated gamma
    mean, var, k3 = m.day_moments()
    a, b, c = h.shape[1, 0], h.scale[1, 0], h.shift[1, 0]
    assert a * b + c == pytest.approx(60 * mean[0])
    assert a * b * b == pytest.approx(60 * var[0])
    assert 2 * a * b ** 3 == pytest.approx(60 * k3[0])


def _lumpy(n=40, days=60_000, seed=5):
    rng = np.random.default_rng(seed)
    occ = rng.random((n, days)) < 0.04
    d = occ * np.maximum(1, np.round(rng.gamma(1 / 1.44, 20 * 1.44, (n, days))))
    ev = (d > 0).sum(axis=1)
    sizes = [r[r > 0] for r in d]
    model = DailyModel.fit(ev / days, [s.mean() for s in sizes], [s.var(ddof=1) for s in sizes], np.ones(n, bool))
    return model, d


@pytest.mark.parametrize("kind, target, review", [("cycle", 0.95, 0), ("fill_rate", 0.98, 0),
                                                  ("cycle", 0.9, 7), ("fill_rate", 0.95, 7)])
def test_calibrated_levels_deliver_their_target_in_a_daily_replay(kind, target, review):
    """With the law known (fitted on 60,000 days), levels replayed on other days hit the target."""
    model, d = _lumpy()
    lead, q = np.full(len(d), 14.0), np.full(len(d), 60.0)
    level = calibrate_levels(model, lead, 0.0, review, q, target, kind)
    sim = simulate(d[:, 30_000:], lead, "RS" if review else "sQ", level, q, max(review, 1))
    got = sim["fill_rate" if kind == "fill_rate" else "cycle_service_level"].mean()
    assert got == pytest.approx(target, abs=0.01)


def test_level_is_the_whole_level_nearest_the_target():
    model, _ = _lumpy(n=10)
    lead, q = np.full(10, 7.0), np.full(10, 30.0)
    level = calibrate_levels(model, lead, 0.0, 0, q, 0.95, "cycle")
    curve = ServiceCurve(model, lead, 0.0, 0, q)
    here, below, above = (curve.cycle_service(v) for v in (level, level - 1, level + 1))
    gap = np.abs(here - 0.95)
    assert (gap <= np.abs(below - 0.95)).all() and (gap <= np.abs(above - 0.95)).all()
    assert ((below < 0.95) & (above > 0.95)).all()  # the target lies between its neighbours


def test_longer_and_more_variable_lead_times_need_more_stock():
    model, _ = _lumpy(n=10)
    q = np.full(10, 30.0)
    base = calibrate_levels(model, np.full(10, 7.0), 0.0, 0, q, 0.95, "fill_rate")
    assert (calibrate_levels(model, np.full(10, 14.0), 0.0, 0, q, 0.95, "fill_rate") > base).all()
    assert (calibrate_levels(model, np.full(10, 7.0), 3.0, 0, q, 0.95, "fill_rate") >= base).all()


def test_uncertain_mean_raises_the_level():
    model, _ = _lumpy(n=10)
    q = np.full(10, 30.0)
    known = calibrate_levels(model, 7.0, 0.0, 0, q, 0.95, "cycle")
    model.mean_rse[:] = 0.3
    assert (calibrate_levels(model, 7.0, 0.0, 0, q, 0.95, "cycle") > known).all()


def test_pooled_size_var_pulls_a_quiet_series_up_never_down():
    events = np.array([200.0, 200.0, 3.0, 3.0])
    mean = np.ones(4)
    var = np.array([1.0, 1.0, 0.1, 4.0])  # CV^2: pool ~1, a quiet series at 0.1, a wild one at 4
    out = pooled_size_var(events, mean, var)
    assert out[2] > 0.5 and out[3] == pytest.approx(4.0)
    assert out[0] == pytest.approx(1.0, rel=0.05)
