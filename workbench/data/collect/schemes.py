"""``collect``: one behaviour scheme (or a user policy) → an :class:`EpisodeDataset`.

The scheme names are defined here, once (:data:`SCHEMES`); their meaning is in
:mod:`workbench.data.collect`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..._lazy import is_d3rlpy_algo
from ...errors import CollectionError, ConfigError
from ..dataset import EpisodeDataset
from .agent import default_online_steps, online_agent, train_online
from .behaviors import (
    DEFAULT_EPSILON,
    DEFAULT_NOISE_STD,
    CallableBehavior,
    EpsGreedy,
    RandomBehavior,
    TruncGaussian,
    algo_greedy,
    check_actions,
    check_algo,
)
from .envs import effective_n_envs, make_vec
from .rollout import Progress, rollout, to_dataset

__all__ = ["SCHEMES", "MIXED_RANDOM_FRACTION", "collect"]

#: The behaviour schemes of Schweighofer et al.
SCHEMES = ("random", "replay", "expert", "noisy", "mixed")
#: Share of the ``mixed`` budget collected by the ``random`` scheme (the rest: ``expert``).
MIXED_RANDOM_FRACTION = 0.8


def _resolve_policy(policy: Any) -> str | Any:
    if isinstance(policy, str):
        p = policy.lower()
        if p not in SCHEMES:
            close = difflib.get_close_matches(p, SCHEMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown behaviour scheme {policy!r}{hint}. Fix: use one of "
                              f"{', '.join(SCHEMES)}, a callable obs -> actions, or a d3rlpy "
                              "algorithm")
        return p
    if callable(policy) or is_d3rlpy_algo(policy):
        return policy
    raise ConfigError(f"policy must be a scheme name ({', '.join(SCHEMES)}), a callable or a "
                      f"d3rlpy algorithm, got {type(policy).__name__}")


def _expert_fn(env_id: str, space: Any, agent: Any, online_steps: int | None, seed: int,
               n_envs: int, progress: Progress) -> tuple[Callable, bool, dict[str, Any]]:
    """Greedy expert policy, whether its discrete log-prob is 0, and provenance metadata."""
    if agent is None:
        algo, _ = online_agent(env_id, online_steps, seed, n_envs=n_envs, progress=progress)
        steps = default_online_steps(env_id) if online_steps is None else int(online_steps)
        return algo_greedy(algo, space), True, {"agent": type(algo).__name__,
                                                "online_steps": steps, "agent_seed": int(seed)}
    if is_d3rlpy_algo(agent):
        if agent.impl is None:  # unbuilt: train it online first
            res = train_online(env_id, online_steps, seed, n_envs=n_envs, agent=agent,
                               progress=progress)
            agent = res.algo
        return algo_greedy(agent, space), True, {"agent": type(agent).__name__}
    if callable(agent):
        return (lambda o: check_actions(agent(o), len(o), space, "agent")), True, {
            "agent": getattr(agent, "__name__", type(agent).__name__)}
    raise ConfigError(f"agent must be a d3rlpy algorithm or a callable obs -> actions, got "
                      f"{type(agent).__name__}")


def collect(env_id: str, policy: str | Callable | Any = "random", n_steps: int = 10_000,
            seed: int = 0, *, n_envs: int = 8, agent: Any = None, noise: float | None = None,
            online_steps: int | None = None, progress: Progress = True,
            name: str | None = None) -> EpisodeDataset:
    """Collect a dataset from a gymnasium environment with a behaviour scheme or policy.

    Args:
        env_id: a gymnasium id, e.g. ``"CartPole-v1"``, ``"Pendulum-v1"``, ``"Hopper-v5"``,
            or an image environment, ``"MinAtar/Breakout-v1"``, ``"ALE/Breakout-v5"`` (uint8
            channel-first frames, see :mod:`workbench.data.collect.envs`).
        policy: a scheme (``"random"``, ``"replay"``, ``"expert"``, ``"noisy"``, ``"mixed"``;
            see :mod:`workbench.data.collect`), a callable mapping a batch of observations
            (B, obs_dim), or of frames (B, C, H, W) uint8, to actions (B,) int /
            (B, act_dim) float — or to
            ``(actions, log_probs (B,))`` to have them logged — or a built d3rlpy algorithm
            (its greedy ``predict`` is used).
        n_steps: transitions to generate; episodes still running at the end are dropped,
            so the dataset has at most ``n_steps`` transitions.  For ``replay`` it is the
            length of the training run (unless ``online_steps`` is larger, in which case the
            episodes finished within the first ``n_steps`` training steps are kept).
        seed: makes the collection reproducible; for expert/noisy/mixed/replay it is also the
            seed of the online agent's training run (so ``replay`` and ``expert`` with the same
            seed come from the same run).
        n_envs: environments stepped in parallel (batched inference).  Lowered when
            ``n_steps`` is too small for every env to finish an episode.
        agent: the online agent for replay/expert/noisy/mixed: ``None`` (a DQN or SAC trained
            for ``online_steps`` and cached under ``workbench_home()/agents``), a d3rlpy
            algorithm (built: used as the expert as is; unbuilt: trained online first) or a
            callable obs -> actions (a deterministic expert; not for ``replay``).
        noise: ε for discrete ``noisy`` (default 0.2); for continuous ``noisy`` the Gaussian
            std as a fraction of half the action range (default 0.2).
        online_steps: env steps of online training (default per env, e.g. 20k for
            CartPole-v1, 10k for Pendulum-v1, 50k for MuJoCo).
        progress: show ``tqdm`` progress bars, or a callable ``progress(desc, n_done,
            total)`` called as steps are done (see :data:`Progress`).
        name: ``metadata["name"]`` of the dataset.

    Returns:
        an :class:`EpisodeDataset` of finished episodes with ``extras["behavior_log_prob"]``
        where defined, and metadata ``env_id``, ``scheme``, ``seed``, ``n_envs``, ``source``
        (``"collect:<env_id>:<scheme>"``), ``random_return`` (random, mixed) and
        ``expert_return`` (expert, mixed): mean episode returns of the random/expert
        episodes.  ``mixed`` also has ``extras["from_expert"]`` (int8, 1 for expert steps)
        and the split (``random_transitions``, ``expert_transitions``, ``random_episodes``,
        ``expert_episodes``); ``replay`` has ``extras["train_step"]``.

    Raises:
        ConfigError: unknown env id or scheme, bad ``n_steps``/``n_envs``/``noise``, an agent
            or d3rlpy policy whose action space does not match the env.
        CollectionError: the policy returned actions of the wrong shape/range, the env failed,
            or no episode finished within ``n_steps``.
    """
    scheme = _resolve_policy(policy)
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ConfigError(f"n_steps must be a positive integer, got {n_steps!r}")
    if noise is not None and not (isinstance(noise, (int, float)) and noise >= 0):
        raise ConfigError(f"noise must be a non-negative number, got {noise!r}")
    n_steps, seed = int(n_steps), int(seed)
    label = scheme if isinstance(scheme, str) else (
        type(scheme).__name__ if is_d3rlpy_algo(scheme) else "callable")
    meta: dict[str, Any] = {"env_id": env_id, "scheme": label, "seed": seed,
                            "source": f"collect:{env_id}:{label}"}
    if name is not None:
        meta["name"] = name

    make_vec(env_id, 1).close()  # validates the id before any training
    if scheme == "replay":
        if agent is not None and not is_d3rlpy_algo(agent):
            raise ConfigError("policy='replay' trains an online agent: agent must be None or "
                              "a d3rlpy algorithm, not a callable")
        steps = n_steps if online_steps is None else int(online_steps)
        if steps < n_steps:
            raise ConfigError(f"online_steps ({steps}) must be >= n_steps ({n_steps}) for "
                              "replay: the dataset is the training run's transitions")
        if agent is None:
            _, replay = online_agent(env_id, steps, seed, n_envs=n_envs, progress=progress)
        else:
            replay = train_online(env_id, steps, seed, n_envs=n_envs, agent=agent,
                                  progress=progress).replay
        if steps > n_steps:
            last = replay.extras["train_step"][replay.offsets[1:] - 1]
            keep = np.flatnonzero(last < n_steps)
            if len(keep) == 0:
                raise CollectionError(f"no training episode finished within the first {n_steps} "
                                      "steps. Fix: increase n_steps")
            replay = replay.select(keep)
        return replay.with_metadata(**meta, online_steps=steps)

    probe = make_vec(env_id, 1)
    space = probe.single_action_space
    obs_shape = tuple(probe.single_observation_space.shape)
    probe.close()
    discrete = hasattr(space, "n")
    if scheme in ("random", "noisy", "mixed") and not discrete and not (
            np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ConfigError(f"{env_id} has an unbounded action space {space}; the {scheme} "
                          "scheme needs finite action bounds for continuous actions")
    if scheme == "noisy" and noise is not None and (
            (discrete and noise > 1) or (not discrete and noise <= 0)):
        raise ConfigError(f"noise={noise} is out of range: ε must be in [0, 1] for discrete "
                          "actions, the Gaussian std fraction > 0 for continuous ones")
    rng = np.random.default_rng(seed)

    def run(behavior: Callable, steps: int, part_meta: dict[str, Any], desc: str,
            rng_: np.random.Generator) -> EpisodeDataset:
        ne = effective_n_envs(env_id, n_envs, steps)
        envs = make_vec(env_id, ne)
        try:
            rec = rollout(envs, behavior, steps, rng_, progress=progress, desc=desc)
            return to_dataset(rec, envs, {**meta, **part_meta, "n_envs": ne})
        finally:
            envs.close()

    if scheme == "random":
        ds = run(RandomBehavior(space, rng), n_steps, {}, f"random {env_id}", rng)
        return ds.with_metadata(random_return=float(ds.episode_returns().mean()))

    b: Any  # the behaviour policy of this scheme
    if not isinstance(scheme, str):  # callable or d3rlpy algo
        if is_d3rlpy_algo(scheme):
            check_algo(scheme, space, "policy", obs_shape)
            b = CallableBehavior(algo_greedy(scheme, space, "policy"), space,
                                 deterministic_discrete=True, who="policy")
        else:
            b = CallableBehavior(scheme, space, who="policy")
        return run(b, n_steps, {}, f"{label} {env_id}", rng)

    greedy, _, agent_meta = _expert_fn(env_id, space, agent, online_steps, seed, n_envs,
                                       progress)
    if scheme == "expert":
        b = CallableBehavior(greedy, space, deterministic_discrete=True, who="agent")
        ds = run(b, n_steps, agent_meta, f"expert {env_id}", rng)
        return ds.with_metadata(expert_return=float(ds.episode_returns().mean()))
    if scheme == "noisy":
        if discrete:
            eps = DEFAULT_EPSILON if noise is None else float(noise)
            b = EpsGreedy(greedy, int(space.n or 0), rng, eps)
            extra = {"epsilon": eps}
        else:
            std = DEFAULT_NOISE_STD if noise is None else float(noise)
            b = TruncGaussian(greedy, space, rng, std)
            extra = {"noise_std_fraction": std}
        return run(b, n_steps, {**agent_meta, **extra}, f"noisy {env_id}", rng)

    # mixed: 80 % random, 20 % expert, whole episodes
    n_random = int(round(MIXED_RANDOM_FRACTION * n_steps))
    n_expert = n_steps - n_random
    if n_random < 1 or n_expert < 1:
        raise ConfigError(f"n_steps={n_steps} is too small to split 80/20 into random and "
                          "expert parts")
    rng_r, rng_e = (np.random.default_rng(s) for s in rng.integers(0, 2**31 - 1, size=2))
    part_r = run(RandomBehavior(space, rng_r), n_random, {}, f"mixed/random {env_id}", rng_r)
    part_e = run(CallableBehavior(greedy, space, deterministic_discrete=True, who="agent"),
                 n_expert, {}, f"mixed/expert {env_id}", rng_e)
    src = np.concatenate([np.zeros(part_r.n_transitions, np.int8),
                          np.ones(part_e.n_transitions, np.int8)])
    ds = EpisodeDataset.concat([part_r, part_e])
    ds = EpisodeDataset(ds.observations, ds.actions, ds.rewards, ds.offsets, ds.terminated,
                        ds.truncated, ds.observation_space, ds.action_space,
                        {**ds.extras, "from_expert": src}, ds.metadata,
                        ds.final_observation_known)
    return ds.with_metadata(**meta, **agent_meta,
                            random_return=float(part_r.episode_returns().mean()),
                            expert_return=float(part_e.episode_returns().mean()),
                            random_transitions=part_r.n_transitions,
                            expert_transitions=part_e.n_transitions,
                            random_episodes=part_r.n_episodes,
                            expert_episodes=part_e.n_episodes)
