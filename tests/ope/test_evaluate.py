"""evaluate_ope: policy forms, behaviour sources, ground truth, continuous kernels, bad input."""

import math
import sys
import types

import numpy as np
import pandas as pd
import pytest

from ope_helpers import PB, PE, TablePolicy, chain_env_factory, exact_q, sample_chain
from workbench.data.dataset import EpisodeDataset, Space
from workbench.errors import ConfigError, OPEError, WorkbenchError
from workbench.ope import evaluate_ope, make_policy
from workbench.ope.behavior import behavior_log_prob

GAMMA = 0.9


@pytest.fixture(scope="module")
def chain():
    return sample_chain(600, seed=1)


def greedy_right(obs):
    return np.ones(len(obs), dtype=np.int64)


def test_ground_truth_from_env_matches_exact_value(chain):
    ds = chain
    frame = evaluate_ope(ds, {"pe": TablePolicy(PE)}, estimators=("wis",), gamma=GAMMA,
                         env=chain_env_factory(), n_rollouts=400, n_bootstrap=200)
    row = frame.iloc[0]
    V = exact_q(PE, GAMMA)[1][0]
    assert row.true_ci_low <= V <= row.true_ci_high
    assert row.true_ci_low < row.true_value < row.true_ci_high
    # undiscounted return is larger than the discounted one (positive rewards)
    assert row.true_return > row.true_value
    assert {"true_return_ci_low", "true_return_ci_high"} <= set(frame.columns)


def test_epsilon_greedy_callable_and_truth_use_same_policy(chain):
    """A deterministic callable is evaluated as its ε-soft version, everywhere."""
    eps = 0.2
    p1 = np.full(4, 1 - eps / 2)
    V = exact_q(p1, GAMMA)[1][0]
    frame = evaluate_ope(chain, {"right": greedy_right}, estimators=("pdis", "wpdis"),
                         gamma=GAMMA, epsilon=eps, env=chain_env_factory(), n_rollouts=300,
                         n_bootstrap=300)
    assert (frame.policy_kind == "epsilon-greedy(eps=0.2)").all()
    t = frame.true_value.iloc[0]
    assert abs(t - V) < 3 * (frame.true_ci_high.iloc[0] - frame.true_ci_low.iloc[0])
    for _, row in frame.iterrows():
        assert row.ci_low - 0.1 <= V <= row.ci_high + 0.1


def test_policies_as_list_and_job_and_run_id(chain, monkeypatch):
    job = types.SimpleNamespace(policy=TablePolicy(PE), run_id="run-123", status="completed")
    class Run:  # like workbench.training.Run: policy() is a method
        def __init__(self, rid):
            self.run_id = rid

        def policy(self):
            return TablePolicy(PB)

    fake = types.ModuleType("workbench.training")
    fake.load_run = Run
    monkeypatch.setitem(sys.modules, "workbench.training", fake)
    frame = evaluate_ope(chain, [job, "run-b"], estimators=("wis",), gamma=GAMMA, n_bootstrap=0)
    assert list(frame.policy) == ["run-123", "run-b"]
    assert frame.ci_low.isna().all()  # no bootstrap requested
    on_policy = frame.set_index("policy").loc["run-b", "estimate"]
    assert on_policy == pytest.approx(frame.attrs["behavior_value"])


def test_run_id_without_training_engine(chain, monkeypatch):
    for mod in ("workbench.tracking", "workbench.training"):  # no load_run anywhere
        monkeypatch.setitem(sys.modules, mod, types.ModuleType(mod))
    with pytest.raises(OPEError, match="run id"):
        evaluate_ope(chain, {"x": "some-run"}, estimators=("wis",), gamma=GAMMA)


def test_job_without_policy(chain):
    job = types.SimpleNamespace(policy=None, status="running")
    with pytest.raises(OPEError, match="no trained policy"):
        evaluate_ope(chain, {"x": job}, estimators=("wis",), gamma=GAMMA)


def test_d3rlpy_algorithm_softmax_and_greedy(chain):
    from workbench._d3rlpy import d3rlpy

    algo = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    algo.build_with_dataset(chain.to_d3rlpy())
    frame = evaluate_ope(chain, {"dqn": algo}, estimators=("wis", "pdis"), gamma=GAMMA,
                         temperature=1.0, n_bootstrap=50)
    assert (frame.policy_kind == "softmax(T=1)").all() and frame.estimate.notna().all()
    pol = make_policy(algo, chain, name="dqn", temperature=1.0)
    p = pol.action_probs(chain.observations[:5])
    q = pol.q_values(chain.observations[:5])
    np.testing.assert_allclose(p, np.exp(q) / np.exp(q).sum(1, keepdims=True), rtol=1e-6)
    # greedy as ε-soft
    pol = make_policy(algo, chain, name="dqn", epsilon=0.1)
    p = pol.action_probs(chain.observations[:5])
    assert set(np.round(p.ravel(), 6)) <= {0.05, 0.95}
    # action space mismatch: a 3-action algorithm on a 2-action dataset
    other = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    other.create_impl((4,), 3)
    with pytest.raises(OPEError, match="3 actions"):
        evaluate_ope(chain, {"bad": other}, estimators=("wis",), gamma=GAMMA)
    wrong_obs = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    wrong_obs.create_impl((7,), 2)
    with pytest.raises(OPEError, match="observations of shape"):
        evaluate_ope(chain, {"bad": wrong_obs}, estimators=("wis",), gamma=GAMMA)
    unbuilt = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    with pytest.raises(OPEError, match="not built"):
        evaluate_ope(chain, {"bad": unbuilt}, estimators=("wis",), gamma=GAMMA)


def test_callable_action_space_mismatch(chain):
    with pytest.raises(OPEError, match="outside"):
        evaluate_ope(chain, {"bad": lambda o: np.full(len(o), 5)}, estimators=("wis",))
    with pytest.raises(OPEError, match="shape"):
        evaluate_ope(chain, {"bad": lambda o: np.zeros((len(o), 3))}, estimators=("wis",))
    with pytest.raises(OPEError, match="failed"):
        evaluate_ope(chain, {"bad": lambda o: o[:, 99]}, estimators=("wis",))


def test_env_space_mismatch(chain):
    with pytest.raises(OPEError, match="action space"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",), env="Pendulum-v1")


def test_zero_behaviour_probability_for_logged_action(chain):
    lp = chain.extras["behavior_log_prob"].copy()
    lp[17] = -np.inf
    with pytest.raises(OPEError, match="probability zero"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",), behavior=lp)
    bad = EpisodeDataset(chain.observations, chain.actions, chain.rewards, chain.offsets,
                         chain.terminated, chain.truncated, chain.observation_space,
                         chain.action_space, extras={"behavior_log_prob": lp})
    with pytest.raises(OPEError, match="probability zero"):
        evaluate_ope(bad, {"pe": TablePolicy(PE)}, estimators=("wis",))
    nanlp = chain.extras["behavior_log_prob"].copy()
    nanlp[3] = np.nan
    with pytest.raises(OPEError, match="NaN"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",), behavior=nanlp)
    with pytest.raises(OPEError, match="shape"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",), behavior=nanlp[:5])
    # behaviour given as a policy whose probability of a logged action is 0
    with pytest.raises(OPEError, match="probability zero"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",),
                     behavior=TablePolicy(np.ones(4)))


def test_nan_estimate_warns(chain):
    """ε = 0 greedy "always left" never matches most logged episodes: WIS defined; a policy
    that never takes any logged first action makes every weight zero -> NaN + warning."""
    never = TablePolicy(np.zeros(4))  # always action 0
    ds = chain.select(np.flatnonzero(chain.actions[chain.offsets[:-1]] == 1))  # all start with 1
    with pytest.warns(RuntimeWarning, match="undefined"):
        frame = evaluate_ope(ds, {"never": never}, estimators=("wis", "is"), n_bootstrap=20)
    wis = frame.set_index("estimator").loc["wis"]
    assert math.isnan(wis.estimate) and math.isnan(wis.ci_low)
    assert wis.zero_weight_fraction == 1.0
    assert frame.set_index("estimator").loc["is", "estimate"] == 0.0


@pytest.mark.parametrize("kw, match", [
    ({"gamma": 0.0}, "gamma"), ({"gamma": 1.01}, "gamma"), ({"estimators": ("magic",)}, "magic"),
    ({"estimators": ()}, "empty"), ({"ci": 1.0}, "ci"), ({"n_bootstrap": -1}, "n_bootstrap"),
    ({"epsilon": 1.5}, "epsilon"), ({"behavior": "psychic"}, "behavior"),
    ({"q_functions": {"nobody": lambda o: o}}, "q_functions"),
    ({"fqe_config": {"n_stepz": 3}, "estimators": ("fqe",)}, "unknown FQE"),
])
def test_bad_configuration(chain, kw, match):
    args = {"estimators": ("wis",), **kw}
    with pytest.raises(ConfigError, match=match):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, **args)


def test_softmax_needs_q_values(chain):
    with pytest.raises(ConfigError, match="softmax"):
        evaluate_ope(chain, {"r": greedy_right}, estimators=("wis",), temperature=1.0)


def test_errors_are_workbench_errors():
    assert issubclass(OPEError, WorkbenchError) and issubclass(ConfigError, WorkbenchError)


def test_weight_clipping_reported(chain):
    frame = evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("is", "pdis"), gamma=GAMMA,
                         weight_clip=2.0, n_bootstrap=0)
    assert (frame.weight_clip == 2.0).all() and frame.clipped.all()
    assert (frame.clipped_fraction > 0).all()
    plain = evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("is",), gamma=GAMMA,
                         n_bootstrap=0)
    assert not plain.clipped.any() and plain.weight_clip.isna().all()


def test_behaviour_cloning_cross_fitted_close_to_logged(chain):
    lp, source = behavior_log_prob(chain, "bc", n_folds=3, seed=0)
    assert source == "bc(cross-fitted, 3 folds)"
    logged = chain.extras["behavior_log_prob"]
    assert np.mean(np.abs(np.exp(lp) - np.exp(logged))) < 0.05
    # no logged probabilities -> estimated automatically, estimates close to the logged ones
    bare = EpisodeDataset(chain.observations, chain.actions, chain.rewards, chain.offsets,
                          chain.terminated, chain.truncated, chain.observation_space,
                          chain.action_space)
    f_bc = evaluate_ope(bare, {"pe": TablePolicy(PE)}, estimators=("wis",), gamma=GAMMA,
                        n_bootstrap=0, n_folds=3)
    f_log = evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("wis",), gamma=GAMMA,
                         n_bootstrap=0)
    assert f_bc.behavior_source.iloc[0].startswith("bc(")
    assert f_bc.estimate.iloc[0] == pytest.approx(f_log.estimate.iloc[0], rel=0.05)
    with pytest.raises(OPEError, match="no extras"):
        evaluate_ope(bare, {"pe": TablePolicy(PE)}, estimators=("wis",), behavior="logged")


def _bandit(n, seed, logged=True):
    """One-step continuous episodes: s ~ U(-1, 1), a ~ N(0, 0.5^2) clipped to nothing,
    r = -(a - 0.5 s)^2; the deterministic policy mu(s) = 0.5 s has value 0."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, n)
    a = rng.normal(0, 0.5, n)
    r = -(a - 0.5 * s) ** 2
    lp = -0.5 * (a / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)
    obs = np.stack([s, np.zeros(n)], 1).ravel().reshape(2 * n, 1)  # (s, final obs) per episode
    extras = {"behavior_log_prob": lp} if logged else {}
    return EpisodeDataset(obs.astype(np.float32), a[:, None].astype(np.float32), r,
                          np.arange(n + 1), np.ones(n, bool), np.zeros(n, bool),
                          Space.box([-1.0], [1.0]), Space.box([-2.0], [2.0]), extras=extras)


def test_continuous_deterministic_policy_kernel_weights():
    ds = _bandit(20_000, 0)
    mu = lambda obs: 0.5 * np.asarray(obs, np.float64)
    res = {}
    for h in (0.05, 0.2):
        f = evaluate_ope(ds, {"mu": mu}, estimators=("wis",), gamma=0.99, bandwidth=h,
                         n_bootstrap=200)
        res[h] = f.iloc[0]
        assert f.policy_kind.iloc[0] == f"deterministic(kernel h={h:g})"
    # true value 0; kernel smoothing biases by about -(h * half_range)^2 = -(2h)^2
    assert abs(res[0.05].estimate) < 0.03
    assert res[0.2].estimate == pytest.approx(-(0.4 ** 2), abs=0.05)
    # a much worse policy is ranked lower
    bad = evaluate_ope(ds, {"bad": lambda o: np.full((len(o), 1), 1.5)}, estimators=("wis",),
                       bandwidth=0.05, n_bootstrap=0)
    assert bad.estimate.iloc[0] < res[0.05].estimate - 0.5


def test_continuous_gaussian_behaviour_model():
    ds = _bandit(6000, 1, logged=False)
    lp, source = behavior_log_prob(ds, None, n_folds=3)
    true_lp = -0.5 * (ds.actions[:, 0] / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)
    assert source.startswith("bc(")
    assert np.median(np.abs(lp - true_lp)) < 0.15


def test_action_space_mismatch_continuous():
    ds = _bandit(50, 2)
    with pytest.raises(OPEError, match="shape"):
        evaluate_ope(ds, {"x": lambda o: np.zeros((len(o), 2))}, estimators=("wis",))
    with pytest.raises(OPEError, match="discrete|integers"):
        evaluate_ope(sample_chain(20, 0), {"x": lambda o: np.zeros((len(o), 1)) + 0.3},
                     estimators=("wis",))


def test_frame_is_tidy(chain):
    f = evaluate_ope(chain, {"a": TablePolicy(PE), "b": TablePolicy(PB)},
                     estimators=("IS", "wis"), gamma=GAMMA, n_bootstrap=10)
    assert isinstance(f, pd.DataFrame) and len(f) == 4
    assert list(f.estimator) == ["is", "wis", "is", "wis"]
    assert f.gamma.eq(GAMMA).all() and f.n_episodes.eq(chain.n_episodes).all()
    assert "true_value" not in f.columns


def test_with_the_training_engine(chain):
    """A real TrainingJob and its run id (through the run store) evaluate identically."""
    from workbench.training import train

    job = train(chain, algo="dqn", n_steps=200, seed=0, device="cpu")
    job.wait(progress=False)
    assert job.status == "completed"
    f = evaluate_ope(chain, {"job": job, "rid": job.run_id}, estimators=("wis", "fqe"),
                     gamma=GAMMA, fqe_config={"n_steps": 50}, n_bootstrap=20)
    est = f.pivot(index="policy", columns="estimator", values="estimate")
    assert est.loc["job", "wis"] == pytest.approx(est.loc["rid", "wis"])
    assert np.isfinite(est.to_numpy()).all()


def test_q_values_beyond_the_return_bound_warn(chain):
    huge = lambda obs: np.full((len(obs), 2), 1e4)
    with pytest.warns(RuntimeWarning, match="largest possible discounted return"):
        evaluate_ope(chain, {"pe": TablePolicy(PE)}, estimators=("dr",), gamma=GAMMA,
                     q_functions={"pe": huge}, n_bootstrap=0)
