"""FQE through d3rlpy: ranks a clearly good and a clearly bad CartPole policy correctly."""

import numpy as np
import pytest

from workbench.data.collect import collect
from workbench.ope import evaluate_ope, fit_fqe, make_policy, ope_selection_metrics


def good(obs):
    """A classic CartPole controller: push towards the side the pole falls to."""
    obs = np.asarray(obs)
    return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)


def always_left(obs):
    return np.zeros(len(obs), dtype=np.int64)


def noisy_good(obs, rng=np.random.default_rng(0), eps=0.5):
    g = good(obs)
    a = np.where(rng.random(len(obs)) < eps, rng.integers(0, 2, len(obs)), g)
    return a, np.log(np.where(a == g, 1 - eps / 2, eps / 2))


@pytest.fixture(scope="module")
def cartpole():
    return collect("CartPole-v1", noisy_good, n_steps=10_000, seed=0, progress=False)


def test_fqe_ranks_good_above_bad(cartpole):
    frame = evaluate_ope(cartpole, {"good": good, "bad": always_left},
                         estimators=("fqe", "dr", "wis"), gamma=0.95, epsilon=0.1,
                         fqe_config={"n_steps": 1500}, env="CartPole-v1", n_rollouts=20,
                         n_bootstrap=200)
    est = frame.pivot(index="policy", columns="estimator", values="estimate")
    truth = frame.groupby("policy").true_value.first()
    assert truth["good"] > truth["bad"] + 5
    assert est.loc["good", "fqe"] > est.loc["bad", "fqe"]
    assert est.loc["good", "dr"] > est.loc["bad", "dr"]
    fqe_rows = frame[frame.estimator == "fqe"]
    # one fit says nothing about its own error: a point estimate, and the frame says so
    assert fqe_rows.ess.isna().all() and fqe_rows.ci_low.isna().all()
    assert fqe_rows.ci_method.str.startswith("none: point estimate").all()
    wis = frame[frame.estimator == "wis"]
    assert (wis.ci_low <= wis.estimate).all() and (wis.estimate <= wis.ci_high).all()
    m = ope_selection_metrics(frame, ks=(1,))
    assert m.loc["fqe", "regret@1"] == 0.0 and m.loc["fqe", "spearman"] == pytest.approx(1.0)


def test_fqe_with_d3rlpy_algorithm_policy(cartpole):
    from workbench._d3rlpy import d3rlpy

    algo = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    algo.build_with_dataset(cartpole.to_d3rlpy())
    pol = make_policy(algo, cartpole, name="dqn", epsilon=0.0)
    model = fit_fqe(cartpole, pol, 0.9, config={"n_steps": 200, "hidden_units": (32,)})
    assert model.losses.shape == (200,) and np.isfinite(model.losses).all()
    v = model.value(cartpole.observations[:10])
    q = model.q_all(cartpole.observations[:10])
    np.testing.assert_allclose(v, q[np.arange(10), pol.greedy(cartpole.observations[:10])],
                               rtol=1e-5)


def test_fqe_refit_interval_covers_the_fitting_variation(cartpole):
    """The refit interval (FQE refitted on bootstrap resamples, each with its own seed) is
    wider than resampling episodes under one fixed fit, which ignores FQE's fitting error."""
    cfg = {"n_steps": 400, "hidden_units": (32,)}
    refit = evaluate_ope(cartpole, {"good": good}, estimators=("fqe",), gamma=0.95,
                         fqe_config=cfg, fqe_refits=6, seed=1).iloc[0]
    assert refit.ci_method == "percentile over 6 FQE refits on bootstrap resamples"
    assert refit.ci_low < refit.ci_high
    model = fit_fqe(cartpole, make_policy(good, cartpole, epsilon=0.1), 0.95, seed=1,
                    config=cfg)
    fixed = evaluate_ope(cartpole, {"good": good}, estimators=("fqe",), gamma=0.95,
                         q_functions={"good": model.q_all}, n_bootstrap=500, seed=1).iloc[0]
    assert fixed.estimate == pytest.approx(refit.estimate, rel=1e-9)  # the same first fit
    assert fixed.ci_method.startswith("percentile bootstrap over episodes")
    assert refit.ci_high - refit.ci_low > fixed.ci_high - fixed.ci_low


def test_flag_names_untrustworthy_weights(cartpole):
    """An evaluation policy the data almost never follows: the IS-family rows say why."""
    frame = evaluate_ope(cartpole, {"left": always_left}, estimators=("is", "wis", "pdis"),
                         gamma=0.95, epsilon=0.1, n_bootstrap=0)
    assert (frame.ess_fraction < 0.05).all()
    assert frame.flag.str.contains("low effective sample size").all()
    with pytest.warns(RuntimeWarning, match="undefined"):
        greedy = evaluate_ope(cartpole, {"left": always_left}, estimators=("wis",), gamma=0.95,
                              epsilon=0.0, n_bootstrap=0)
    assert greedy.flag.iloc[0].startswith("every episode has zero weight")


    class Behaviour:  # the policy that logged the data: every weight is 1
        def action_probs(self, obs):
            g = good(obs)
            p = np.full((len(obs), 2), 0.25)
            p[np.arange(len(obs)), g] = 0.75
            return p

    ok = evaluate_ope(cartpole, {"same": Behaviour()}, estimators=("wis",), gamma=0.95,
                      n_bootstrap=0)
    assert ok.ess_fraction.iloc[0] == pytest.approx(1.0) and ok.flag.iloc[0] == ""
