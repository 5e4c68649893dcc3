"""Ground truth: the evaluated policy's value from on-policy rollouts in the simulator.

``rollout_returns`` runs ``n_episodes`` complete episodes of the *evaluated* (stochastic)
policy — the same ε-soft/softmax/kernel-target policy the estimators evaluate — in copies of the
environment stepped side by side with one batched policy call per step.  Every copy runs a
fixed quota of episodes to the end (terminal state or the environment's time limit), so long
episodes are not under-represented (stopping after the first ``n`` finished episodes would bias
the mean towards short ones).

A return-conditioned policy (a decision transformer) acts through one stateful actor per
copy (:meth:`~workbench.ope.policy.EvaluationPolicy.actor`: d3rlpy's
``StatefulTransformerWrapper`` at the policy's target return), reset at every episode start
and fed each observation with the previous reward; its episodes stop after
``max_timestep - 1`` steps (the timesteps its position embedding can index) if the
environment has not ended them before.

``true_value`` summarises them: the mean discounted return ``sum_t gamma^t r_t`` (the quantity
every estimator targets) and the mean undiscounted return, each with a percentile-bootstrap
confidence interval over episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset, Space
from ..errors import ConfigError, OPEError
from .estimators import check_gamma, percentile_interval
from .policy import EvaluationPolicy

__all__ = ["rollout_returns", "true_value", "make_env"]


def make_env(env: Any) -> Callable[[], Any]:
    """A factory of environments from a gymnasium id (made as collection makes it, image
    preprocessing included: :func:`workbench.data.collect.envs.make_env`), an env instance
    (used as the only copy) or a zero-argument callable returning an env.

    Raises:
        ConfigError: an unknown id, or something that is neither id, env nor factory.
    """
    import gymnasium as gym

    if isinstance(env, str):
        from ..data.collect.envs import make_env as make_collect_env
        from ..data.collect.envs import register_image_envs

        register_image_envs(env)
        if env not in gym.registry:
            raise ConfigError(f"unknown environment id {env!r}")
        return lambda: make_collect_env(env)
    if _is_instance(env):
        return lambda: env
    if callable(env):
        return env
    raise ConfigError(f"env must be a gymnasium id, an environment or a factory, got {env!r}")


def _is_instance(env: Any) -> bool:
    return not isinstance(env, (str, type)) and hasattr(env, "step") and hasattr(env, "reset")


def check_env_matches(env: Any, ds: EpisodeDataset) -> None:
    """OPEError when the environment's spaces differ from the dataset's."""
    try:
        act = Space.from_gym(env.action_space)
    except Exception as exc:
        raise OPEError(f"environment action space {env.action_space} is not supported: "
                       f"{exc}") from None
    if act.discrete != ds.action_space.discrete or act.shape != ds.action_space.shape or (
            act.discrete and act.n != ds.action_space.n):
        raise OPEError(f"the environment's action space {env.action_space} does not match the "
                       f"dataset's ({ds.action_space.to_json()})")
    shape = tuple(env.observation_space.shape or ())
    if shape != tuple(ds.observations.shape[1:]):
        raise OPEError(f"the environment's observations have shape {shape}, the dataset's "
                       f"{tuple(ds.observations.shape[1:])}")


def rollout_returns(env: Any, policy: EvaluationPolicy, n_episodes: int = 100, *,
                    gamma: float = 0.99, seed: int = 0, n_envs: int = 8,
                    max_steps: int = 100_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``n_episodes`` on-policy episodes of ``policy``.

    Args:
        env: gymnasium id, environment instance (then one copy) or factory.
        policy: the evaluated policy; actions come from ``policy.sample`` (a decision
            transformer: from one ``policy.actor()`` per copy, see the module docstring).
        n_episodes: episodes in total.
        gamma: discount for the discounted returns.
        seed: seeds the environments' resets and the policy's sampling.
        n_envs: copies stepped side by side.
        max_steps: safety cap on steps per episode (environments without a time limit;
            decision transformers: at most ``max_timestep - 1``).

    Returns:
        ``(discounted (n,), undiscounted (n,), lengths (n,))``.
    """
    gamma = check_gamma(gamma)
    if n_episodes < 1:
        raise ConfigError(f"n_episodes must be >= 1, got {n_episodes}")
    factory = make_env(env)
    single = _is_instance(env)
    k = 1 if single else max(1, min(int(n_envs), int(n_episodes)))
    envs = [factory() for _ in range(k)]
    quota = np.full(k, n_episodes // k)
    quota[: n_episodes % k] += 1
    rng = np.random.default_rng(seed)
    # decision transformers: one stateful actor per copy, fed the previous reward
    actors = [policy.actor() for _ in envs] if policy.transformer is not None else None
    if actors is not None:
        max_steps = min(int(max_steps), int(policy.transformer.config.max_timestep) - 1)
    last_r = np.zeros(k)
    disc, undisc, lens = [], [], []
    try:
        first = []
        for e in envs:
            o, _ = e.reset(seed=int(rng.integers(0, 2**31 - 1)))
            first.append(o)
        obs = np.stack(first)
        G = np.zeros(k)
        R = np.zeros(k)
        t = np.zeros(k, dtype=np.int64)
        active = quota > 0
        while active.any():
            idx = np.flatnonzero(active)
            acts: Any
            if actors is None:
                acts = policy.sample(obs[idx], rng)  # (uint8 frames stay uint8)
            else:
                # a copy: the actor keeps past observations, and obs[j] is overwritten
                acts = [actors[j].predict(np.array(obs[j], dtype=np.float32),
                                          float(last_r[j])) for j in idx]
            for j, a in zip(idx, acts):
                a = int(a) if policy.discrete else np.asarray(a, dtype=np.float32)
                o, r, term, trunc, _ = envs[j].step(a)
                G[j] += gamma ** t[j] * float(r)
                R[j] += float(r)
                last_r[j] = float(r)
                t[j] += 1
                if term or trunc or t[j] >= max_steps:
                    disc.append(G[j])
                    undisc.append(R[j])
                    lens.append(t[j])
                    G[j] = R[j] = last_r[j] = 0.0
                    t[j] = 0
                    quota[j] -= 1
                    if actors is not None:
                        actors[j].reset()
                    if quota[j] == 0:
                        active[j] = False
                        continue
                    o, _ = envs[j].reset(seed=int(rng.integers(0, 2**31 - 1)))
                obs[j] = o
    finally:
        if not single:
            for e in envs:
                e.close()
    return np.asarray(disc), np.asarray(undisc), np.asarray(lens)


def true_value(env: Any, policy: EvaluationPolicy, n_episodes: int = 100, *,
               gamma: float = 0.99, seed: int = 0, ci: float = 0.95,
               n_bootstrap: int = 2000) -> dict[str, float]:
    """On-policy value of ``policy`` with percentile-bootstrap intervals.

    Returns:
        ``true_value`` (mean discounted return), ``true_ci_low``, ``true_ci_high``,
        ``true_return`` (mean undiscounted return), ``true_return_ci_low``,
        ``true_return_ci_high``, ``true_n_episodes``.
    """
    d, u, _ = rollout_returns(env, policy, n_episodes, gamma=gamma, seed=seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_bootstrap, len(d)))
    dl, dh = percentile_interval(d[idx].mean(1), ci)
    ul, uh = percentile_interval(u[idx].mean(1), ci)
    return {"true_value": float(d.mean()), "true_ci_low": dl, "true_ci_high": dh,
            "true_return": float(u.mean()), "true_return_ci_low": ul,
            "true_return_ci_high": uh, "true_n_episodes": int(len(d))}
