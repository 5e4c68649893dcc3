"""TQ and return / length / reward statistics, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import workbench.diagnostics as D
from _factory import episodes_dataset
from workbench.errors import DiagnosticsError, WorkbenchError


@pytest.fixture
def three_plus_unfinished():
    """Finished returns 1, 2, 6 (lengths 1, 2, 3) and an unfinished episode of return 100."""
    return episodes_dataset([
        ([0, 1], [0], [1], "terminated"),
        ([0, 1, 2], [0, 1], [2, 0], "truncated"),
        ([0, 1, 2, 3], [1, 1, 1], [0, 0, 6], "terminated"),
        ([5, 6], [0], [100], None),
    ], n_actions=2)


def test_tq_hand_computed(three_plus_unfinished):
    # mean finished return = (1 + 2 + 6) / 3 = 3; the unfinished episode is not counted
    assert D.tq(three_plus_unfinished, 1.0, 5.0) == pytest.approx(0.5)
    assert D.tq(three_plus_unfinished, 3.0, 7.0) == pytest.approx(0.0)
    assert D.tq(three_plus_unfinished, -1.0, 3.0) == pytest.approx(1.0)
    assert D.tq(three_plus_unfinished, 5.0, 1.0) == pytest.approx(0.5)  # reversed references


def test_tq_is_zero_and_one_for_the_references_own_means():
    rng = np.random.default_rng(0)
    rand = episodes_dataset([(rng.normal(size=6), [0] * 5, rng.normal(size=5), "terminated")
                             for _ in range(7)], n_actions=2)
    expert = episodes_dataset([(rng.normal(size=9), [1] * 8, rng.uniform(5, 9, 8), "truncated")
                               for _ in range(4)], n_actions=2)
    r, e = rand.episode_returns().mean(), expert.episode_returns().mean()
    assert D.tq(rand, r, e) == pytest.approx(0.0, abs=1e-12)
    assert D.tq(expert, r, e) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("r, e, match", [(2.0, 2.0, "equals"), (float("nan"), 1.0, "finite"),
                                         (0.0, float("inf"), "finite"), ("a", 1.0, "number"),
                                         (None, 1.0, "number")])
def test_tq_bad_references(three_plus_unfinished, r, e, match):
    with pytest.raises(DiagnosticsError, match=match):
        D.tq(three_plus_unfinished, r, e)


def test_tq_without_finished_episode_and_bad_input():
    ds = episodes_dataset([([0, 1, 2], [0, 1], [1, 1], None)], n_actions=2)
    with pytest.raises(DiagnosticsError, match="no finished episode"):
        D.tq(ds, 0, 1)
    with pytest.raises(WorkbenchError, match="EpisodeDataset"):
        D.tq(np.zeros(3), 0, 1)


def test_return_stats_hand_computed(three_plus_unfinished):
    s = D.return_stats(three_plus_unfinished)
    assert s["episodes"] == 3
    assert s["mean"] == pytest.approx(3.0)
    assert s["std"] == pytest.approx(math.sqrt(14 / 3))
    assert (s["min"], s["q25"], s["median"], s["q75"], s["max"]) == pytest.approx(
        (1.0, 1.5, 2.0, 4.0, 6.0))
    # deviations -2, -1, +3: only +3 counts -> 9 / 3
    assert s["psv"] == pytest.approx(3.0)
    # min-max scaled returns 0, .2, 1: mean .4, positive deviation .6 -> .36 / 3
    assert s["psv_normalised"] == pytest.approx(0.12)


def test_positive_sided_variance_edge_cases():
    assert D.positive_sided_variance([4.0, 4.0]) == 0.0
    assert math.isnan(D.positive_sided_variance([]))
    # symmetric returns: half of the variance
    g = np.array([-1.0, 1.0])
    assert D.positive_sided_variance(g) == pytest.approx(g.var() / 2)


def test_length_and_reward_stats(three_plus_unfinished):
    ls = D.length_stats(three_plus_unfinished)
    assert (ls["mean"], ls["min"], ls["median"], ls["max"]) == pytest.approx((2, 1, 2, 3))
    rs = D.reward_stats(three_plus_unfinished)
    # rewards 1 | 2 0 | 0 0 6 | 100: three zeros in seven steps
    assert rs["sparsity"] == pytest.approx(3 / 7)
    assert (rs["min"], rs["max"]) == (0.0, 100.0)
    assert rs["mean"] == pytest.approx(109 / 7)


def test_stats_without_finished_episode_are_nan():
    ds = episodes_dataset([([0, 1, 2], [0, 1], [1, 1], None)], n_actions=2)
    assert math.isnan(D.return_stats(ds)["mean"])
    assert D.return_stats(ds)["episodes"] == 0
    assert math.isnan(D.length_stats(ds)["mean"])


def test_episode_frame(three_plus_unfinished):
    f = D.episode_frame(three_plus_unfinished)
    assert list(f["return"]) == [1, 2, 6, 100]
    assert list(f["length"]) == [1, 2, 3, 1]
    assert list(f["finished"]) == [True, True, True, False]
