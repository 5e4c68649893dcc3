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
    assert fqe_rows.ess.isna().all() and (fqe_rows.ci_low <= fqe_rows.estimate).all()
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
