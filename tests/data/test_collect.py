"""Collection from real gymnasium/MuJoCo environments with real d3rlpy agents (no mocks)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from workbench.data.collect import SCHEMES, collect, make_online_algo, train_online
from workbench.data.collect.behaviors import SACSample, TruncGaussian
from workbench.errors import CollectionError, ConfigError, WorkbenchError

CARTPOLE_X, CARTPOLE_THETA = 2.4, 12 * 2 * math.pi / 360


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def dqn():
    """A small DQN trained for a few thousand CartPole steps (a real, if weak, expert)."""
    return train_online("CartPole-v1", 3_000, seed=0, n_envs=4, progress=False).algo


@pytest.fixture(scope="module")
def sac():
    """An untrained SAC built for Pendulum-v1: a valid (if poor) continuous policy."""
    env = gym.make("Pendulum-v1")
    algo = make_online_algo(env.action_space)
    algo.create_impl(env.observation_space.shape, 1)
    return algo


def _cartpole_replay(obs: np.ndarray, action: int) -> np.ndarray:
    """Step CartPole from state ``obs`` (the obs *is* the state) and return the next obs."""
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    env.state = obs.astype(np.float64)
    nxt, *_ = env.step(int(action))
    return nxt


# ---------------------------------------------------------------- boundaries and alignment
def test_random_cartpole_boundaries_and_alignment():
    ds = collect("CartPole-v1", "random", n_steps=3_000, seed=0, n_envs=4, progress=False)
    assert ds.n_transitions <= 3_000 and ds.n_episodes > 50
    assert ds.finished.all()  # in-progress episodes are dropped
    assert not (ds.terminated & ds.truncated).any()
    for ep in ds.episodes:
        x, theta = ep.observations[:, 0], ep.observations[:, 2]
        inside = (np.abs(x) <= CARTPOLE_X) & (np.abs(theta) <= CARTPOLE_THETA)
        assert inside[:-1].all(), "only the final observation may leave the limits"
        if ep.terminated:
            assert not inside[-1] and len(ep) < 500
        else:
            assert ep.truncated and len(ep) == 500
        assert np.all(ep.rewards == 1.0)
    # next observation of every transition is what the env returns from (obs, action)
    t = ds.transitions()
    for j in range(0, ds.n_transitions, 37):
        np.testing.assert_allclose(_cartpole_replay(t["observations"][j], t["actions"][j]),
                                   t["next_observations"][j], atol=1e-5)
    # first observations are reset observations (|s| <= 0.05)
    firsts = ds.observations[ds.offsets[:-1] + np.arange(ds.n_episodes)]
    assert np.all(np.abs(firsts) <= 0.05)


def test_truncated_episodes_have_time_limit_length():
    ds = collect("Pendulum-v1", "random", n_steps=1_000, seed=1, n_envs=4, progress=False)
    assert ds.n_episodes == 4 and ds.truncated.all() and not ds.terminated.any()
    assert np.all(ds.episode_lengths == 200)
    np.testing.assert_allclose(ds.extras["behavior_log_prob"], -math.log(4.0))
    assert np.all(np.abs(ds.actions) <= 2.0) and ds.actions.shape[1] == 1


def test_long_expert_episodes_truncate_at_500(dqn):
    # a constant policy never reaches 500 steps, but the timeout path is exercised by the
    # (cheap) expert when it balances; we only require exact flags either way
    ds = collect("CartPole-v1", "expert", n_steps=2_000, seed=0, n_envs=2, agent=dqn,
                 progress=False)
    for ep in ds.episodes:
        assert ep.truncated == (len(ep) == 500) or ep.terminated


def test_n_envs_lowered_for_small_budgets():
    ds = collect("Pendulum-v1", "random", n_steps=450, seed=0, n_envs=8, progress=False)
    assert ds.metadata["n_envs"] == 2 and ds.n_episodes == 2


def test_reproducible_from_seed():
    a = collect("CartPole-v1", "random", n_steps=1_500, seed=3, progress=False)
    b = collect("CartPole-v1", "random", n_steps=1_500, seed=3, progress=False)
    c = collect("CartPole-v1", "random", n_steps=1_500, seed=4, progress=False)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.metadata["source"] == "collect:CartPole-v1:random" and a.metadata["seed"] == 3


# ---------------------------------------------------------------- schemes
def test_random_actions_uniform():
    ds = collect("Acrobot-v1", "random", n_steps=3_000, seed=0, n_envs=4, progress=False)
    counts = np.bincount(ds.actions, minlength=3) / ds.n_transitions
    np.testing.assert_allclose(counts, 1 / 3, atol=0.04)
    np.testing.assert_allclose(ds.extras["behavior_log_prob"], -math.log(3))


def test_expert_is_deterministic_greedy(dqn):
    ds = collect("CartPole-v1", "expert", n_steps=1_500, seed=0, agent=dqn, progress=False)
    t = ds.transitions()
    greedy = dqn.predict(t["observations"].astype(np.float32))
    assert np.array_equal(ds.actions, greedy)
    assert np.all(ds.extras["behavior_log_prob"] == 0.0)
    assert ds.metadata["scheme"] == "expert"


def test_noisy_is_epsilon_greedy(dqn):
    ds = collect("CartPole-v1", "noisy", n_steps=4_000, seed=0, agent=dqn, progress=False)
    greedy = dqn.predict(ds.transitions()["observations"].astype(np.float32))
    off = ds.actions != greedy
    # ε = 0.2 explores uniformly over 2 actions: 10 % of actions differ from the greedy one
    assert 0.07 < off.mean() < 0.13
    p = np.exp(ds.extras["behavior_log_prob"])
    np.testing.assert_allclose(p[off], 0.1)
    np.testing.assert_allclose(p[~off], 0.9)
    assert ds.metadata["epsilon"] == 0.2


def test_mixed_is_80_20_with_exact_boundaries(dqn):
    ds = collect("CartPole-v1", "mixed", n_steps=5_000, seed=0, agent=dqn, progress=False)
    m = ds.metadata
    assert m["random_transitions"] + m["expert_transitions"] == ds.n_transitions
    assert m["random_transitions"] <= 4_000 and m["expert_transitions"] <= 1_000
    assert m["random_episodes"] + m["expert_episodes"] == ds.n_episodes
    src = ds.extras["from_expert"]
    # whole episodes: the source never changes inside an episode, random first
    for ep in ds.episodes:
        assert len(np.unique(ep.extras["from_expert"])) == 1
    assert np.all(np.diff(src) >= 0)
    assert ds.finished.all()
    logp = ds.extras["behavior_log_prob"]
    np.testing.assert_allclose(logp[src == 0], -math.log(2))
    np.testing.assert_allclose(logp[src == 1], 0.0)
    # the seam: episode `random_episodes` starts with a reset observation
    k = m["random_episodes"]
    first = ds.episodes[k].observations[0]
    assert np.all(np.abs(first) <= 0.05)


def test_replay_logs_training_transitions_and_is_cached():
    ds = collect("CartPole-v1", "replay", n_steps=2_500, seed=0, n_envs=4, progress=False)
    assert ds.metadata["scheme"] == "replay" and ds.n_transitions <= 2_500
    step = ds.extras["train_step"]
    assert len(np.unique(step)) == ds.n_transitions and step.max() < 2_500
    logp = ds.extras["behavior_log_prob"]
    np.testing.assert_allclose(logp[step < 1_000], -math.log(2))  # warm-up: uniform
    p = np.exp(logp[step >= 1_000])
    assert np.all((p > 0.0) & (p <= 1.0)) and np.any(p > 0.5)
    again = collect("CartPole-v1", "replay", n_steps=2_500, seed=0, n_envs=4, progress=False)
    assert again.fingerprint == ds.fingerprint
    # a shorter replay from the same (longer) run keeps its first episodes
    part = collect("CartPole-v1", "replay", n_steps=1_200, seed=0, n_envs=4,
                   online_steps=2_500, progress=False)
    assert part.extras["train_step"].max() < 1_200
    assert part.n_episodes < ds.n_episodes


# ---------------------------------------------------------------- continuous policies
def test_continuous_expert_has_no_density(sac):
    ds = collect("Pendulum-v1", "expert", n_steps=400, seed=0, agent=sac, progress=False)
    assert "behavior_log_prob" not in ds.extras
    greedy = sac.predict(ds.transitions()["observations"].astype(np.float32))
    np.testing.assert_allclose(ds.actions, np.clip(greedy, -2, 2), atol=1e-5)
    mixed = collect("Pendulum-v1", "mixed", n_steps=2_000, seed=0, agent=sac, progress=False)
    assert "behavior_log_prob" not in mixed.extras


def test_noisy_continuous_truncated_gaussian_density(sac):
    ds = collect("Pendulum-v1", "noisy", n_steps=400, seed=0, agent=sac, noise=0.3,
                 progress=False)
    assert np.all(np.abs(ds.actions) <= 2.0)
    assert np.all(np.isfinite(ds.extras["behavior_log_prob"]))
    assert ds.metadata["noise_std_fraction"] == 0.3


def _histogram_density_check(behavior, obs, low, high, n=40_000):
    a, logp = behavior(np.repeat(obs[None], n, axis=0))
    a = a[:, 0].astype(np.float64)
    hist, edges = np.histogram(a, bins=40, range=(low, high), density=True)
    centers = (edges[:-1] + edges[1:]) / 2
    order = np.argsort(a)
    dens = np.interp(centers, a[order], np.exp(logp[order]))
    mask = hist > 0.05  # compare where there is mass (tanh piles up at the bounds)
    np.testing.assert_allclose(hist[mask], dens[mask], rtol=0.15, atol=0.02)


def test_log_densities_integrate_to_the_sampling_distribution(sac):
    space = gym.make("Pendulum-v1").action_space
    rng = np.random.default_rng(0)
    obs = np.array([0.3, -0.9, 1.0], np.float32)
    _histogram_density_check(TruncGaussian(lambda o: np.full((len(o), 1), 1.5), space, rng,
                                           0.3), obs, -2, 2)
    _histogram_density_check(SACSample(sac, space), obs, -2, 2)


def test_continuous_replay_logs_sac_density():
    ds = collect("Pendulum-v1", "replay", n_steps=1_400, seed=0, n_envs=2, progress=False)
    step, logp = ds.extras["train_step"], ds.extras["behavior_log_prob"]
    np.testing.assert_allclose(logp[step < 1_000], -math.log(4.0))
    assert np.all(np.isfinite(logp)) and not np.allclose(logp[step >= 1_000], -math.log(4.0))


def test_hopper_random():
    ds = collect("Hopper-v5", "random", n_steps=1_500, seed=0, n_envs=2, progress=False)
    assert ds.observation_shape == (11,) and ds.actions.shape[1] == 3
    assert ds.terminated.any()  # random Hopper falls over
    np.testing.assert_allclose(ds.extras["behavior_log_prob"], -3 * math.log(2.0))
    assert np.all(np.abs(ds.actions) <= 1.0)


# ---------------------------------------------------------------- user policies
def test_callable_policy_and_log_probs():
    ds = collect("CartPole-v1", lambda obs: (obs[:, 2] > 0).astype(int), n_steps=1_000,
                 seed=0, progress=False)
    assert "behavior_log_prob" not in ds.extras and ds.metadata["scheme"] == "callable"
    assert ds.episode_returns().mean() > 30  # the "lean with the pole" heuristic beats random
    ds2 = collect("CartPole-v1", lambda obs: (np.zeros(len(obs), int), np.zeros(len(obs))),
                  n_steps=500, seed=0, progress=False)
    assert np.all(ds2.actions == 0) and np.all(ds2.extras["behavior_log_prob"] == 0)


def test_d3rlpy_policy(dqn):
    ds = collect("CartPole-v1", dqn, n_steps=1_000, seed=0, progress=False)
    assert ds.metadata["scheme"] == "DQN"
    assert np.array_equal(ds.actions, dqn.predict(ds.transitions()["observations"]))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    ({"env_id": "CartPol-v1"}, ConfigError, "CartPole-v1"),
    ({"env_id": "CartPole-v1", "policy": "expertt"}, ConfigError, "did you mean 'expert'"),
    ({"env_id": "CartPole-v1", "policy": 42}, ConfigError, "scheme name"),
    ({"env_id": "CartPole-v1", "n_steps": 0}, ConfigError, "n_steps"),
    ({"env_id": "CartPole-v1", "n_envs": 0}, ConfigError, "n_envs"),
    ({"env_id": "CartPole-v1", "n_steps": 5}, CollectionError, "no episode finished"),
    ({"env_id": "CartPole-v1", "policy": lambda o: np.zeros((len(o), 3))}, CollectionError,
     "shape"),
    ({"env_id": "CartPole-v1", "policy": lambda o: np.full(len(o), 7)}, CollectionError,
     "outside Discrete"),
    ({"env_id": "Pendulum-v1", "policy": lambda o: np.zeros((len(o), 2))}, CollectionError,
     r"expected \(\d+, 1\)"),
    ({"env_id": "CartPole-v1", "policy": "replay", "agent": lambda o: o[:, 0] > 0},
     ConfigError, "d3rlpy"),
    ({"env_id": "CartPole-v1", "policy": "replay", "n_steps": 2_000, "online_steps": 1_000},
     ConfigError, "online_steps"),
    ({"env_id": "CartPole-v1", "policy": "noisy", "noise": 1.5}, ConfigError, "noise"),
    ({"env_id": "Pendulum-v1", "policy": "noisy", "noise": 0.0}, ConfigError, "noise"),
    ({"env_id": "CartPole-v1", "noise": -1}, ConfigError, "noise"),
])
def test_bad_input_raises_workbench_errors(kwargs, error, match):
    kwargs = {"n_steps": 600, "progress": False, **kwargs}
    with pytest.raises(error, match=match) as info:
        collect(**kwargs)
    assert isinstance(info.value, WorkbenchError)


def test_mismatched_d3rlpy_algo(dqn, sac):
    with pytest.raises(ConfigError, match="discrete"):
        collect("Pendulum-v1", dqn, n_steps=400, progress=False)
    with pytest.raises(ConfigError, match="continuous"):
        collect("CartPole-v1", "expert", agent=sac, n_steps=600, progress=False)
    with pytest.raises(ConfigError, match="action size"):
        collect("Acrobot-v1", dqn, n_steps=600, progress=False)
    env = gym.make("CartPole-v1")
    unbuilt = make_online_algo(env.action_space)
    with pytest.raises(ConfigError, match="not been built"):
        collect("CartPole-v1", unbuilt, n_steps=600, progress=False)


def test_schemes_constant():
    assert SCHEMES == ("random", "replay", "expert", "noisy", "mixed")


def test_user_d3rlpy_agents_are_trained_online():
    from workbench._d3rlpy import d3rlpy

    td3 = d3rlpy.algos.TD3Config(batch_size=32).create(device="cpu:0")
    ds = collect("Pendulum-v1", "replay", n_steps=1_200, seed=0, n_envs=2, agent=td3,
                 progress=False)
    assert td3.impl is not None and ds.n_episodes == 6
    assert "behavior_log_prob" not in ds.extras  # TD3's exploration density is not exposed
    dqn = d3rlpy.algos.DoubleDQNConfig(batch_size=32).create(device="cpu:0")
    ex = collect("CartPole-v1", "expert", n_steps=1_000, seed=0, agent=dqn, online_steps=1_200,
                 progress=False)
    assert dqn.impl is not None and ex.metadata["agent"] == "DoubleDQN"
    assert ex.metadata["expert_return"] == pytest.approx(ex.episode_returns().mean())


class _TerminatesAtLimit:
    """A real gymnasium env that reaches its terminal state on exactly the time-limit step."""

    def __new__(cls):
        import gymnasium as gym

        class Env(gym.Env):
            observation_space = gym.spaces.Box(-10, 10, (2,), np.float32)
            action_space = gym.spaces.Discrete(2)

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.t = 0
                return np.zeros(2, np.float32), {}

            def step(self, action):
                self.t += 1
                return np.full(2, self.t, np.float32), 1.0, self.t == 5, False, {}

        return Env()


def test_terminal_on_the_time_limit_step_is_recorded_as_terminated():
    import gymnasium as gym

    env_id = "WorkbenchTest/TerminatesAtLimit-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=_TerminatesAtLimit, max_episode_steps=5)
    ds = collect(env_id, policy="random", n_steps=40, seed=0, n_envs=2, progress=False)
    assert ds.n_episodes == 8 and list(ds.episode_lengths) == [5] * 8
    assert ds.terminated.all() and not ds.truncated.any()


def test_progress_callable_reports_steps_and_changes_nothing():
    calls = []
    ds = collect("CartPole-v1", "random", n_steps=1_500, seed=3,
                 progress=lambda desc, n, total: calls.append((desc, n, total)))
    assert calls[0][1] == 0 and calls[-1][1] == calls[-1][2] == 1_500
    assert [n for _, n, _ in calls] == sorted(n for _, n, _ in calls)
    assert ds.fingerprint == collect("CartPole-v1", "random", n_steps=1_500, seed=3,
                                     progress=False).fingerprint
