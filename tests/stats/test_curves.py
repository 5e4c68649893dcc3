"""Learning curves across seeds: per step, the IQM and its band are the stats functions'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.stats import (
    CURVE_COLUMNS,
    curves_across_seeds,
    iqm,
    mean,
    step_summary,
    stratified_bootstrap_ci,
)


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(f"r{r}", s, "loss", float(rng.normal(r, 1.0))) for r in range(4)
            for s in (100, 200, 300)] + [("r0", 400, "loss", 1.0)]  # step 400: one run only
    return pd.DataFrame(rows, columns=["run_id", "step", "name", "value"])


def test_curves_across_seeds_iqm_band_and_its_cache_give_the_same_rows():
    frame = _frame()
    groups = {f"r{r}": "dqn" for r in range(4)}
    plain = curves_across_seeds(frame, "loss", groups)
    assert plain["step"].tolist() == [100, 200, 300] and (plain["n_runs"] == 4).all()
    assert (plain["ci_low"] <= plain["iqm"]).all() and (plain["iqm"] <= plain["ci_high"]).all()
    cache: dict = {}
    first = curves_across_seeds(frame, "loss", groups, cache=cache)
    assert len(cache) == 3
    again = curves_across_seeds(frame, "loss", groups, cache=cache)
    pd.testing.assert_frame_equal(plain, first)
    pd.testing.assert_frame_equal(plain, again)
    # a step whose values change is recomputed, not served stale from the cache
    more = pd.concat([frame, pd.DataFrame([("r1", 400, "loss", 5.0)], columns=frame.columns)])
    grown = curves_across_seeds(more, "loss", groups, cache=cache)
    assert grown["step"].tolist() == [100, 200, 300, 400]
    assert grown.iloc[-1]["mean"] == 3.0 and len(cache) == 4


def test_each_step_is_iqm_and_stratified_bootstrap_ci_of_that_steps_values():
    """Step by step, the curve equals ``stats.iqm`` / ``stats.mean`` and
    ``stratified_bootstrap_ci(values, iqm)`` of the runs' values at that step, per group."""
    frame = pd.concat([_frame(0), _frame(1).assign(run_id=lambda d: "q" + d["run_id"])],
                      ignore_index=True)
    groups = {**{f"r{r}": "dqn" for r in range(4)}, **{f"qr{r}": "cql" for r in range(4)}}
    reps, confidence, seed = 400, 0.9, 7
    agg = curves_across_seeds(frame, "loss", groups, reps=reps, confidence=confidence,
                              seed=seed)
    assert list(agg.columns) == list(CURVE_COLUMNS)
    assert agg["group"].tolist() == ["cql"] * 3 + ["dqn"] * 3  # sorted by group, then step
    for row in agg.itertuples():
        ids = [r for r, g in groups.items() if g == row.group]
        vals = frame[(frame["step"] == row.step) & frame["run_id"].isin(ids)]["value"]
        vals = vals.to_numpy(dtype=float)
        est, lo, hi = stratified_bootstrap_ci(vals, iqm, reps=reps, confidence=confidence,
                                              seed=seed)
        assert row.n_runs == len(vals) == 4
        assert row.iqm == est == pytest.approx(float(iqm(vals[None, :, None])[0]))
        assert (row.ci_low, row.ci_high) == (lo, hi)
        assert row.mean == pytest.approx(float(mean(vals)))
        assert step_summary(vals, reps=reps, confidence=confidence, seed=seed) == {
            "n_runs": 4, "mean": row.mean, "iqm": row.iqm, "ci_low": lo, "ci_high": hi}


def test_curves_across_seeds_skips_other_metrics_unknown_runs_nan_and_repeats():
    frame = pd.DataFrame({"run_id": ["a", "b", "c", "a", "b", "a", "b"],
                          "step": [1, 1, 1, 2, 2, 1, 3],
                          "name": ["m", "m", "m", "m", "m", "other", "m"],
                          "value": [1.0, 3.0, 99.0, np.nan, 2.0, 5.0, 4.0]})
    frame = pd.concat([frame, pd.DataFrame({"run_id": ["a"], "step": [1], "name": ["m"],
                                            "value": [2.0]})], ignore_index=True)
    agg = curves_across_seeds(frame, "m", {"a": "x", "b": "x"}, reps=50)
    # step 1: a's last row (2.0) and b's; c is not a member; step 2: a is NaN; step 3: b only
    assert agg["step"].tolist() == [1] and agg.iloc[0]["mean"] == 2.5
    empty = curves_across_seeds(frame, "missing", {"a": "x"})
    assert empty.empty and list(empty.columns) == list(CURVE_COLUMNS)
    with pytest.raises(ConfigError, match="needs columns"):
        curves_across_seeds(frame.drop(columns="run_id"), "m", {"a": "x"})
    with pytest.raises(ConfigError, match="confidence"):
        curves_across_seeds(frame, "m", {"a": "x", "b": "x"}, confidence=1.5)
