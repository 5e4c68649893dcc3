"""Statistical correctness on a chain MDP whose true value is known exactly."""

import numpy as np
import pytest

from ope_helpers import PB, PE, TablePolicy, exact_q, q_table_fn, sample_chain
from workbench.ope import evaluate_ope
from workbench.ope.estimators import EpisodeEstimators

GAMMA = 0.9


def _estimators(ds, gamma=GAMMA, q=None, v=None):
    obs = ds.transitions()["observations"]
    s = np.argmax(obs, axis=1)
    a = ds.actions
    logp_e = np.log(np.where(a == 1, PE[s], 1 - PE[s]))
    return EpisodeEstimators(ds.rewards, ds.offsets, gamma,
                             log_ratio=logp_e - ds.extras["behavior_log_prob"], q_taken=q, v=v)


@pytest.mark.parametrize("slip", [0.0, 0.3])
def test_is_and_pdis_unbiased_over_many_datasets(slip):
    """Mean over K independent datasets lies within 4 standard errors of the truth."""
    _, V = exact_q(PE, GAMMA, slip)
    truth = V[0]
    K, n = 400, 50
    big = sample_chain(K * n, seed=11 + int(slip * 10), slip=slip)
    ests = {"is": [], "pdis": []}
    for k in range(K):
        ds = big.select(np.arange(k * n, (k + 1) * n))
        e = _estimators(ds)
        for name in ests:
            ests[name].append(e.estimate(name))
    for name, vals in ests.items():
        vals = np.asarray(vals)
        se = vals.std(ddof=1) / np.sqrt(K)
        assert abs(vals.mean() - truth) < 4 * se, (name, vals.mean(), truth, se)
        # and the behaviour policy's own value is clearly different (the test has power)
    _, Vb = exact_q(PB, GAMMA, slip)
    assert abs(Vb[0] - truth) > 10 * max(np.std(v, ddof=1) / np.sqrt(K) for v in ests.values())


def test_weighted_estimators_converge():
    """WIS/WPDIS (biased for finite n) approach the truth as the dataset grows."""
    _, V = exact_q(PE, GAMMA, 0.3)
    truth = V[0]
    big = sample_chain(40_000, seed=3, slip=0.3)
    e = _estimators(big)
    for name in ("wis", "wpdis"):
        est = e.estimate(name)
        reps = e.bootstrap([name], 200, seed=0)[name]
        assert abs(est - truth) < max(4 * reps.std(), 0.02 * abs(truth)), (name, est, truth)
    # mean squared error shrinks with n
    small = [_estimators(big.select(np.arange(i * 40, (i + 1) * 40))) for i in range(100)]
    large = [_estimators(big.select(np.arange(i * 4000, (i + 1) * 4000))) for i in range(10)]
    for name in ("wis", "wpdis"):
        mse_small = np.mean([(x.estimate(name) - truth) ** 2 for x in small])
        mse_large = np.mean([(x.estimate(name) - truth) ** 2 for x in large])
        assert mse_large < mse_small / 10, (name, mse_small, mse_large)


def test_dr_exact_with_true_q():
    """Deterministic transitions and rewards, one start state: DR/WDR/DM are exact."""
    Q, V = exact_q(PE, GAMMA, 0.0)
    for seed in range(3):
        ds = sample_chain(30, seed=seed)
        s = np.argmax(ds.transitions()["observations"], axis=1)
        q_taken = Q[s, ds.actions]
        v = (np.stack([1 - PE[s], PE[s]], 1) * Q[s]).sum(1)
        e = _estimators(ds, q=q_taken, v=v)
        for name in ("dr", "wdr", "fqe"):
            assert e.estimate(name) == pytest.approx(V[0], rel=1e-10), name
        # the IS family is not exact on 30 episodes
        assert abs(e.estimate("is") - V[0]) > 1e-3


def test_evaluate_ope_end_to_end_on_chain():
    """The public entry point with a stochastic policy object, logged behaviour and exact Q."""
    Q, V = exact_q(PE, GAMMA, 0.0)
    ds = sample_chain(2000, seed=7)
    frame = evaluate_ope(ds, {"pe": TablePolicy(PE), "pb": TablePolicy(PB)},
                         estimators=("is", "wis", "pdis", "wpdis", "dr", "wdr", "dm"),
                         gamma=GAMMA, n_bootstrap=300,
                         q_functions={"pe": q_table_fn(Q), "pb": q_table_fn(exact_q(PB, GAMMA)[0])})
    assert list(frame.columns[:5]) == ["policy", "estimator", "estimate", "ci_low", "ci_high"]
    assert len(frame) == 14
    truth = {"pe": V[0], "pb": exact_q(PB, GAMMA)[1][0]}
    for _, row in frame.iterrows():
        t = truth[row.policy]
        if row.estimator in ("dr", "wdr", "dm"):
            assert row.estimate == pytest.approx(t, rel=1e-9)
        else:
            assert row.ci_low - 0.05 * abs(t) <= t <= row.ci_high + 0.05 * abs(t), row.to_dict()
            assert row.ci_low <= row.estimate <= row.ci_high
    pb = frame[(frame.policy == "pb") & (frame.estimator == "is")].iloc[0]
    assert pb.ess == pytest.approx(2000) and pb.behavior_source == "logged (behavior_log_prob)"
    assert frame.attrs["behavior_value"] == pytest.approx(truth["pb"], rel=0.05)
