import numpy as np
import pytest
import scipy.stats

from workbench.errors import ConfigError
from workbench.stats import (aggregate, iqm, mean, performance_profile,
                             probability_of_improvement, stratified_bootstrap_ci)


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
