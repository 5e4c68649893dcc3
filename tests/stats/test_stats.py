import numpy as np
import pytest
import scipy.stats

from workbench.errors import ConfigError
from workbench.stats import (
    aggregate,
    iqm,
    mean,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap_ci,
)


def test_iqm_matches_scipy_trim_mean():
    rng = np.random.default_rng(0)
    for shape in [(5, 1), (7, 3), (10, 4), (1, 1)]:
        x = rng.normal(size=shape)
        assert np.isclose(iqm(x[None])[0], scipy.stats.trim_mean(x, 0.25, axis=None))


def test_iqm_ignores_outliers():
    x = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0], [-1000.0], [2.5], [3.5]])
    assert 1.0 < iqm(x[None])[0] < 4.0


def test_ci_brackets_estimate_and_is_seeded():
    x = np.random.default_rng(1).normal(size=(10, 3))
    est, lo, hi = stratified_bootstrap_ci(x, iqm, reps=500, seed=0)
    assert lo <= est <= hi
    assert (est, lo, hi) == stratified_bootstrap_ci(x, iqm, reps=500, seed=0)
    est1, lo1, hi1 = stratified_bootstrap_ci(np.ones(1))
    assert est1 == lo1 == hi1 == 1.0
    _, lo9, hi9 = stratified_bootstrap_ci(x, mean, reps=500, confidence=0.5)
    assert hi9 - lo9 < hi - lo


def test_stratified_resampling_keeps_tasks_apart():
    # task 0 always 0, task 1 always 10: every bootstrap mean is exactly 5
    x = np.stack([np.zeros(6), np.full(6, 10.0)], axis=1)
    est, lo, hi = stratified_bootstrap_ci(x, mean, reps=200)
    assert est == lo == hi == 5.0


def test_aggregate_frame():
    df = aggregate({"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}, reps=200)
    assert set(df["statistic"]) == {"iqm", "mean", "median"}
    row = df[(df.algorithm == "b") & (df.statistic == "iqm")].iloc[0]
    assert row.estimate == 6.5 and row.n_runs == 4
    with pytest.raises(ConfigError, match="unknown statistic"):
        aggregate({"a": [1]}, statistics=("max",))
    with pytest.raises(ConfigError, match="NaN"):
        aggregate({"a": [1, np.nan]})
    with pytest.raises(ConfigError, match="empty"):
        aggregate({"a": []})


def test_profiles_and_probability_of_improvement():
    p = performance_profile([1, 2, 3, 4], [0, 2.5, 5])
    assert p.tolist() == [1.0, 0.5, 0.0]
    assert probability_of_improvement([[2.0], [3.0]], [[1.0], [1.0]]) == 1.0
    assert probability_of_improvement([[1.0]], [[1.0]]) == 0.5
    with pytest.raises(ConfigError):
        probability_of_improvement(np.ones((2, 2)), np.ones((2, 3)))


def test_probability_of_improvement_is_the_mann_whitney_statistic_per_task():
    """rliable's definition: P(X > Y) per task is the Mann-Whitney U statistic / (m n) (ties
    count one half), averaged over tasks; checked against scipy's own U statistic."""
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(1.0, 1.0, size=(7, 3)), 1)  # rounded: ties occur
    y = np.round(rng.normal(0.5, 1.0, size=(5, 3)), 1)
    expected = np.mean([scipy.stats.mannwhitneyu(x[:, t], y[:, t]).statistic / (7 * 5)
                        for t in range(3)])
    assert probability_of_improvement(x, y) == pytest.approx(expected, abs=1e-12)


def test_performance_profile_is_the_fraction_of_runs_above_each_threshold():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(9, 2))
    taus = np.linspace(-2, 2, 11)
    expected = [sum(v > t for v in x.ravel()) / x.size for t in taus]
    np.testing.assert_allclose(performance_profile(x, taus), expected)


def test_stratified_bootstrap_ci_matches_the_exact_bootstrap_distribution():
    """The percentile interval of the IQM under stratified resampling (runs resampled with
    replacement independently within each task, rliable's StratifiedBootstrap): enumerate
    every equally likely resample of 4 runs x 2 tasks (256^2 of them) and compare quantiles."""
    import itertools

    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 2))
    per_task = [np.array([x[list(i), t] for i in itertools.product(range(4), repeat=4)])
                for t in range(2)]  # (256, 4) resamples of each task's runs
    a, b = per_task
    both = np.concatenate([np.repeat(a, 256, axis=0), np.tile(b, (256, 1))], axis=1)
    exact = scipy.stats.trim_mean(both, 0.25, axis=1)  # IQM of each of the 65,536 resamples
    lo_x, hi_x = np.quantile(exact, [0.025, 0.975])
    est, lo, hi = stratified_bootstrap_ci(x, iqm, reps=60_000, confidence=0.95, seed=1)
    assert est == pytest.approx(scipy.stats.trim_mean(x, 0.25, axis=None))
    spread = exact.max() - exact.min()
    assert abs(lo - lo_x) < 0.02 * spread and abs(hi - hi_x) < 0.02 * spread


def _rliable_poi(x, y):
    """rliable's probability of improvement, written out: for each task, (1 / (m n)) times
    the sum over run pairs of [1(x_i > y_j) + 0.5 * 1(x_i = y_j)]; then the mean over tasks."""
    x, y = np.atleast_2d(np.asarray(x, float).T).T, np.atleast_2d(np.asarray(y, float).T).T
    per_task = []
    for t in range(x.shape[1]):
        total = 0.0
        for xi in x[:, t]:
            for yj in y[:, t]:
                total += (1.0 if xi > yj else 0.0) + (0.5 if xi == yj else 0.0)
        per_task.append(total / (x.shape[0] * y.shape[0]))
    return float(np.mean(per_task))


def test_improvement_matrix_is_rliable_probability_of_improvement_for_every_pair():
    """The across-seeds view's P(improvement) matrix: every ordered pair, against the
    definition written out and against scipy's Mann-Whitney U (ties occur)."""
    from workbench.stats import improvement_matrix

    rng = np.random.default_rng(8)
    scores = {"a": np.round(rng.normal(1.0, 1.0, 6), 1), "b": np.round(rng.normal(0, 1, 5), 1),
              "c": np.round(rng.normal(0.5, 1.0, 7), 1)}
    m = improvement_matrix(scores)
    assert len(m) == 6 and list(m.columns) == ["agent_x", "agent_y", "prob_improvement"]
    for r in m.itertuples():
        x, y = scores[r.agent_x], scores[r.agent_y]
        assert r.prob_improvement == pytest.approx(_rliable_poi(x, y), abs=1e-12)
        u = scipy.stats.mannwhitneyu(x, y).statistic / (len(x) * len(y))
        assert r.prob_improvement == pytest.approx(u, abs=1e-12)
        back = m[(m.agent_x == r.agent_y) & (m.agent_y == r.agent_x)].prob_improvement.item()
        assert r.prob_improvement + back == pytest.approx(1.0)
    multi = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=(5, 3))}
    assert improvement_matrix(multi).iloc[0].prob_improvement == pytest.approx(
        _rliable_poi(multi["a"], multi["b"]))


def test_performance_profiles_are_rliable_score_distributions_per_agent():
    """Fraction of runs with score > tau (rliable's score distribution), per agent."""
    from workbench.stats import performance_profiles

    rng = np.random.default_rng(9)
    scores = {"a": rng.normal(1.0, 1.0, 8), "b": rng.normal(size=(5, 2))}
    taus = np.linspace(-2, 3, 9)
    df = performance_profiles(scores, taus)
    for agent, v in scores.items():
        got = df[df.agent == agent]
        flat = np.ravel(v)
        expected = [sum(1 for s in flat if s > t) / flat.size for t in taus]
        np.testing.assert_allclose(got["fraction"], expected)
        np.testing.assert_allclose(got["threshold"], taus)
    auto = performance_profiles(scores, points=20)
    for _, g in auto.groupby("agent"):
        f = g["fraction"].to_numpy()
        assert f[0] == 1.0 and f[-1] == 0.0 and np.all(np.diff(f) <= 0)
    with pytest.raises(ConfigError):
        performance_profiles({"a": [np.nan]})
