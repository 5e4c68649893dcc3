"""Hand-computed two-episode examples, the vectorised kernels against per-episode loops,
numerics (zero weights, overflow, clipping) and the bootstrap."""

import math
import warnings

import numpy as np
import pytest

from ope_helpers import naive_estimates
from workbench.errors import ConfigError, OPEError, WorkbenchError
from workbench.ope.estimators import (
    EpisodeEstimators,
    bootstrap_counts,
    percentile_interval,
    weight_diagnostics,
)

# Two episodes, gamma = 0.5:
#   A: rewards [1, 2], ratios [2, 0.5] -> w = [2, 1], W = 1, G = 1 + 0.5*2 = 2
#   B: rewards [3],    ratios [0.5]    -> w = [0.5],  W = 0.5, G = 3
#   Qhat(s,a): A [1, 1], B [2];  Vhat(s): A [1.5, 0.5], B [1]
R = np.array([1.0, 2.0, 3.0])
OFF = np.array([0, 2, 3])
LR = np.log([2.0, 0.5, 0.5])
Q = np.array([1.0, 1.0, 2.0])
V = np.array([1.5, 0.5, 1.0])
G = 0.5

HAND = {
    "fqe": (1.5 + 1.0) / 2,                                   # mean Vhat(s_0) = 1.25
    "dm": 1.25,
    "is": (1 * 2 + 0.5 * 3) / 2,                              # 1.75
    "wis": (1 * 2 + 0.5 * 3) / (1 + 0.5),                     # 7/3
    "pdis": ((2 * 1 + 0.5 * 1 * 2) + 0.5 * 3) / 2,            # 2.25
    # t=0: (2*1 + 0.5*3)/(2 + 0.5) = 1.4; t=1: (1*2)/(1 + 0.5 frozen) = 4/3
    "wpdis": 1.4 + 0.5 * 4 / 3,
    # A: 1*(2*(1-1) + 1*1.5) + 0.5*(1*(2-1) + 2*0.5) = 2.5; B: 0.5*(3-2) + 1*1 = 1.5
    "dr": (2.5 + 1.5) / 2,
    # t=0: (2*0 + 0.5*1)/2.5 + (1.5 + 1)/2 = 1.45; t=1: 1*(2-1)/1.5 + 2*0.5/2.5 = 2/3 + 0.4
    "wdr": 1.45 + 0.5 * (2 / 3 + 0.4),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_two_episode_hand_computed(name):
    est = EpisodeEstimators(R, OFF, G, log_ratio=LR, q_taken=Q, v=V)
    assert est.estimate(name) == pytest.approx(HAND[name], rel=1e-12)


def test_two_episode_clipped():
    # clip cumulative weights at 1.5: A w = [1.5, 1], B w = [0.5]
    est = EpisodeEstimators(R, OFF, G, log_ratio=LR, weight_clip=1.5)
    assert est.estimate("is") == pytest.approx(1.75)
    assert est.estimate("pdis") == pytest.approx(((1.5 * 1 + 0.5 * 1 * 2) + 1.5) / 2)
    assert est.clipped_fraction == pytest.approx(1 / 3)
    assert est.diagnostics().clipped_fraction == pytest.approx(1 / 3)


def test_on_policy_weights_give_monte_carlo():
    # ratios 1 and Vhat(s_t) = Qhat(s_t, a_t): the DR corrections cancel exactly
    est = EpisodeEstimators(R, OFF, G, log_ratio=np.zeros(3), q_taken=Q, v=Q)
    mc = (2 + 3) / 2
    for name in ("is", "wis", "pdis", "wpdis", "dr", "wdr"):
        assert est.estimate(name) == pytest.approx(mc)
    d = est.diagnostics()
    assert d.ess == pytest.approx(2) and d.max_weight_share == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_matches_per_episode_loop(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, size=60)
    off = np.concatenate([[0], np.cumsum(lengths)])
    N = off[-1]
    r, lr, q, v = rng.normal(size=N), rng.normal(0, 0.4, N), rng.normal(size=N), rng.normal(size=N)
    clip = None if seed % 2 else 4.0
    ref = naive_estimates(r, off, lr, 0.97, q, v, clip)
    est = EpisodeEstimators(r, off, 0.97, log_ratio=lr, q_taken=q, v=v, weight_clip=clip)
    for name, val in ref.items():
        assert est.estimate(name) == pytest.approx(val, rel=1e-9, abs=1e-12), name


def test_bootstrap_replicate_equals_estimate_on_resampled_episodes():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 25, size=30)
    off = np.concatenate([[0], np.cumsum(lengths)])
    N = off[-1]
    r, lr, q, v = rng.normal(size=N), rng.normal(0, 0.3, N), rng.normal(size=N), rng.normal(size=N)
    est = EpisodeEstimators(r, off, 0.9, log_ratio=lr, q_taken=q, v=v)
    names = ["fqe", "is", "wis", "pdis", "wpdis", "dr", "wdr"]
    reps = est.bootstrap(names, 20, seed=3, block=7)  # blocks must not change the draws
    C = bootstrap_counts(30, 20, np.random.default_rng(3))
    for b in (0, 11, 19):
        idx = np.repeat(np.arange(30), C[b].astype(int))
        sel = np.concatenate([np.arange(off[i], off[i + 1]) for i in idx])
        off2 = np.concatenate([[0], np.cumsum(lengths[idx])])
        ref = naive_estimates(r[sel], off2, lr[sel], 0.9, q[sel], v[sel])
        for name in names:
            assert reps[name][b] == pytest.approx(ref[name], rel=1e-9), (name, b)


def test_bootstrap_interval_covers_and_is_deterministic():
    rng = np.random.default_rng(0)
    off = np.arange(0, 201, 2)
    r = rng.normal(1.0, 1.0, 200)
    est = EpisodeEstimators(r, off, 1.0, log_ratio=np.zeros(200))
    a = est.bootstrap(["is"], 500, seed=1)["is"]
    b = est.bootstrap(["is"], 500, seed=1)["is"]
    np.testing.assert_array_equal(a, b)
    lo, hi = percentile_interval(a, 0.95)
    assert lo < est.estimate("is") < hi
    # the percentile interval of a mean of 100 episodes (sd ~ 1.41 per episode) ~ +-0.28
    assert 0.4 < hi - lo < 0.75


def test_zero_probability_actions_zero_the_weight():
    lr = np.array([0.0, -np.inf, 0.0])  # pi_e never takes A's second action
    est = EpisodeEstimators(R, OFF, G, log_ratio=lr)
    assert est.estimate("is") == pytest.approx((0 + 3) / 2)
    assert est.estimate("pdis") == pytest.approx((1 + 0 + 3) / 2)
    assert est.diagnostics().zero_weight_fraction == pytest.approx(0.5)


def test_all_weights_zero_is_nan_with_warning():
    lr = np.array([-np.inf, 0.0, -np.inf])
    est = EpisodeEstimators(R, OFF, G, log_ratio=lr)
    for name in ("wis", "wpdis"):
        with pytest.warns(RuntimeWarning, match="undefined"):
            assert math.isnan(est.estimate(name))
    assert est.estimate("is") == 0.0  # unnormalised: a (poor) number, not undefined


def test_overflow_is_nan_with_warning_but_self_normalised_survive():
    lr = np.array([400.0, 400.0, 0.0])  # W_A = e^800 overflows float64
    est = EpisodeEstimators(R, OFF, G, log_ratio=lr)
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert math.isnan(est.estimate("is"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.estimate("wis") == pytest.approx(2.0)  # all weight on episode A
        assert np.isfinite(est.estimate("wpdis"))
    d = est.diagnostics()
    assert d.max_weight_share == pytest.approx(1.0) and d.ess == pytest.approx(1.0)


def test_tiny_weights_do_not_underflow_self_normalised():
    # every weight ~ e^-1000 (underflows as a float) but their ratios are well defined
    lr = np.array([-500.0, -500.0, -1000.0])
    est = EpisodeEstimators(R, OFF, G, log_ratio=lr)
    assert est.estimate("wis") == pytest.approx((2 + 3) / 2)


@pytest.mark.parametrize("gamma", [0.0, -0.1, 1.5, float("nan"), "x"])
def test_gamma_outside_unit_interval(gamma):
    with pytest.raises(ConfigError, match="gamma"):
        EpisodeEstimators(R, OFF, gamma, log_ratio=LR)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown OPE estimator"):
        EpisodeEstimators(R, OFF, G, log_ratio=LR).estimate("magic")
    with pytest.raises(OPEError, match="behaviour probability"):
        EpisodeEstimators(R, OFF, G, log_ratio=np.array([0.0, np.inf, 0.0]))
    with pytest.raises(OPEError, match="NaN"):
        EpisodeEstimators(R, OFF, G, log_ratio=np.array([0.0, np.nan, 0.0]))
    with pytest.raises(OPEError, match="shape"):
        EpisodeEstimators(R, OFF, G, log_ratio=LR[:2])
    with pytest.raises(OPEError, match="offsets"):
        EpisodeEstimators(R, np.array([0, 3, 3]), G)
    with pytest.raises(OPEError, match="NaN or infinite"):
        EpisodeEstimators(R, OFF, G, log_ratio=LR, q_taken=np.array([1, np.nan, 1]), v=V)
    with pytest.raises(OPEError, match="needs state values"):
        EpisodeEstimators(R, OFF, G, log_ratio=LR).estimate("dr")
    with pytest.raises(OPEError, match="importance ratios"):
        EpisodeEstimators(R, OFF, G, v=V).estimate("wis")
    with pytest.raises(ConfigError, match="weight_clip"):
        EpisodeEstimators(R, OFF, G, log_ratio=LR, weight_clip=0)
    assert issubclass(OPEError, WorkbenchError)


def test_weight_diagnostics():
    d = weight_diagnostics(np.log([1.0, 1.0, 2.0, 0.0 + 1e-300]) )
    assert d.max_weight_share == pytest.approx(0.5)
    assert d.ess == pytest.approx(16 / 6)
    d = weight_diagnostics(np.array([0.0, -np.inf]))
    assert d.zero_weight_fraction == 0.5 and d.ess == pytest.approx(1.0)
