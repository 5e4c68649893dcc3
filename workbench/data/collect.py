"""Generate datasets from gymnasium environments with the five behaviour schemes.

The schemes follow Schweighofer et al., "A Dataset Perspective on Offline RL":

``random``
    uniform actions (Discrete: each of the ``n`` actions; Box: uniform over the bounds).
``replay``
    every transition seen while training an online agent (DQN for discrete actions,
    SAC for continuous ones) from scratch.
``expert``
    the final online policy, greedy (DQN: ``argmax Q``; SAC: the deterministic mean action).
``noisy``
    the expert with noise: ε-greedy with ε = ``noise`` (default 0.2) for discrete actions;
    for continuous actions a Gaussian around the expert action, *truncated to the action
    bounds* so the logged density is exact, with per-dimension std ``noise`` × half the
    action range (default 0.2).
``mixed``
    80 % of the transitions from ``random`` and 20 % from ``expert``, concatenated as whole
    episodes (random episodes first), so every episode boundary is exact.

How collection works
--------------------
``n_envs`` copies of the environment run in a ``gymnasium`` ``SyncVectorEnv``; the policy
is evaluated once per vector step on the batch of observations.  gymnasium 1.0 vector envs
autoreset in NEXT_STEP mode: the step after an episode ends returns the reset observation
and ignores the action; that step is *not* a transition and is never recorded.  Episode
flags keep ``terminated`` (an MDP terminal state) and ``truncated`` (a time limit) apart.

``n_steps`` is the transition budget: collection stops after exactly ``n_steps``
transitions have been generated, and the episodes still running at that moment are
*dropped*, so the dataset holds only finished episodes (``n_transitions <= n_steps``).
To make sure every environment can finish an episode, ``n_envs`` is lowered to
``n_steps // max_episode_steps`` (at least 1) when the budget is small; the number used is
recorded in ``metadata["n_envs"]``.  When no episode finishes,
:class:`~workbench.errors.CollectionError` is raised.

Behaviour log-probabilities
---------------------------
``extras["behavior_log_prob"]`` (N,) float64 holds ``log π_b(a_t | s_t)`` of the action taken:
``-log n`` (discrete random), ``-Σ log(high - low)`` (continuous random, a density),
``log(ε/n + (1-ε)[a = greedy])`` (noisy discrete, and replay with the exploration ε of that
step), ``0`` (greedy discrete expert), the truncated-Gaussian log-density (noisy continuous)
and the tanh-Gaussian log-density of SAC's sampled action, in env action units (continuous
replay).  It is omitted where it does not exist: a deterministic continuous expert (and so
continuous ``mixed``), and a user callable that returns only actions.

Reproducibility: everything random comes from ``np.random.default_rng(seed)`` (environment
seeds, random actions, noise, replay minibatches) plus ``torch.manual_seed`` for network
initialisation and SAC's action sampling.  Torch's RNG is process-global, so two collections
running side by side in threads are not reproducible; one at a time (or in processes) is.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from .._lazy import is_d3rlpy_algo
from ..errors import CollectionError, ConfigError
from .dataset import EpisodeDataset, Space

__all__ = ["collect", "SCHEMES", "SUPPORTED_ENVS", "train_online", "online_agent", "OnlineResult",
           "default_online_steps", "make_online_algo", "rollout"]

#: The behaviour schemes of Schweighofer et al.
SCHEMES = ("random", "replay", "expert", "noisy", "mixed")
#: Environments that are tested; any other registered gymnasium env with Box observations
#: and Box/Discrete actions also works.
SUPPORTED_ENVS = ("CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1",
                  "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")

#: Default length (env steps) of the online training run per environment.
_DEFAULT_ONLINE_STEPS = {"CartPole-v1": 20_000, "MountainCar-v0": 60_000, "Acrobot-v1": 30_000,
                         "Pendulum-v1": 10_000}
_MUJOCO_ONLINE_STEPS = 50_000
MIXED_RANDOM_FRACTION = 0.8
DEFAULT_EPSILON = 0.2
DEFAULT_NOISE_STD = 0.2


# ====================================================================== helpers
def _make_vec(env_id: str, n_envs: int) -> Any:
    """``gymnasium.make_vec(..., vectorization_mode="sync")``; unknown ids raise ConfigError."""
    import gymnasium as gym

    if not isinstance(env_id, str):
        raise ConfigError(f"env_id must be a gymnasium id string, got {env_id!r}")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown environment id {env_id!r}{hint} Supported and tested: "
                          f"{', '.join(SUPPORTED_ENVS)}")
    try:
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync")
    except Exception as exc:  # missing mujoco, bad kwargs, ...
        raise CollectionError(f"could not create {n_envs} x {env_id!r}: {type(exc).__name__}: "
                              f"{exc}. Fix: install the environment's extra (e.g. "
                              "gymnasium[mujoco]) or pick another env") from exc
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        envs.close()
        raise ConfigError(f"{env_id} has observation space {obs_space}; only flat Box "
                          "(vector) observations are supported")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)) or (
            isinstance(act_space, gym.spaces.Box) and len(act_space.shape) != 1):
        envs.close()
        raise ConfigError(f"{env_id} has action space {act_space}; only Discrete and 1-D Box "
                          "action spaces are supported")
    return envs


def _max_episode_steps(env_id: str) -> int | None:
    import gymnasium as gym

    spec = gym.spec(env_id)
    return spec.max_episode_steps


def _effective_n_envs(env_id: str, n_envs: int, n_steps: int) -> int:
    if not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise ConfigError(f"n_envs must be a positive integer, got {n_envs!r}")
    max_len = _max_episode_steps(env_id)
    if max_len:
        return int(max(1, min(n_envs, n_steps // max_len)))
    return int(n_envs)


def _seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(int(seed) % (2**63 - 1))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads(n)`` (``None``: leave it alone)."""
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _child_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


#: ``progress`` argument of the collection functions: ``True``/``False`` for a ``tqdm.auto``
#: bar, or a callable ``progress(desc, n_done, total)`` called as environment steps are done
#: (a dashboard's progress bar, a log line); ``desc`` names the phase ("online DQN", ...).
Progress = Union[bool, Callable[[str, int, int], None]]


class _CallbackBar:
    """The slice of tqdm's interface the rollouts use, reporting to a callable."""

    def __init__(self, total: int, desc: str, report: Callable[[str, int, int], None]) -> None:
        self.total, self.desc, self.n, self._report = int(total), desc, 0, report
        report(desc, 0, self.total)

    def update(self, k: int = 1) -> None:
        self.n += int(k)
        self._report(self.desc, min(self.n, self.total), self.total)

    def __enter__(self) -> _CallbackBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _bar(total: int, desc: str, progress: Progress):
    if callable(progress):
        return _CallbackBar(total, desc, progress)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False,
                mininterval=0.5)


# ====================================================================== behaviour policies
class _Behavior:
    """Maps a batch of observations (B, obs_dim) to actions and log π_b(a|s) (B,) or None."""

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


@dataclass
class _RandomBehavior(_Behavior):
    space: Any
    rng: np.random.Generator

    def __call__(self, obs):
        B = len(obs)
        if hasattr(self.space, "n"):
            n = int(self.space.n)
            return self.rng.integers(0, n, size=B), np.full(B, -math.log(n))
        low, high = self.space.low.astype(np.float64), self.space.high.astype(np.float64)
        a = self.rng.uniform(low, high, size=(B, len(low))).astype(self.space.dtype)
        return a, np.full(B, -float(np.sum(np.log(high - low))))


def _check_actions(a: Any, B: int, space: Any, who: str) -> np.ndarray:
    """Validate and normalise a batch of actions from a policy."""
    try:
        a = np.asarray(a)
    except Exception as exc:
        raise CollectionError(f"{who} returned {type(a).__name__}, not an array of actions "
                              f"({exc})") from None
    if hasattr(space, "n"):
        if a.shape == (B, 1):
            a = a[:, 0]
        if a.shape != (B,):
            raise CollectionError(f"{who} returned actions of shape {a.shape} for {B} "
                                  f"observations; expected ({B},) integer actions in "
                                  f"[0, {space.n}). Fix: return one action per row of the "
                                  "observation batch")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise CollectionError(f"{who} returned non-integer discrete actions")
        elif a.dtype.kind not in "iub":
            raise CollectionError(f"{who} returned actions of dtype {a.dtype}; expected "
                                  "integers")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or a.max() >= space.n):
            bad = int(a.max() if a.max() >= space.n else a.min())
            raise CollectionError(f"{who} returned action {bad} outside Discrete({space.n}). "
                                  f"Fix: return actions in [0, {space.n})")
        return a
    d = int(space.shape[0])
    if a.ndim == 1 and d == 1 and a.shape == (B,):
        a = a[:, None]
    if a.shape != (B, d):
        raise CollectionError(f"{who} returned actions of shape {a.shape} for {B} observations; "
                              f"expected ({B}, {d}). Fix: return one {d}-dim action per row of "
                              "the observation batch")
    if a.dtype.kind not in "fiu" or not np.all(np.isfinite(a)):
        raise CollectionError(f"{who} returned non-finite or non-numeric continuous actions")
    return np.clip(a, space.low, space.high).astype(space.dtype)


@dataclass
class _CallableBehavior(_Behavior):
    """A user callable: ``obs (B, d) -> actions`` or ``(actions, log_probs)``."""

    fn: Callable
    space: Any
    deterministic_discrete: bool = False
    who: str = "policy"

    def __call__(self, obs):
        out = self.fn(obs)
        logp = None
        if isinstance(out, tuple) and len(out) == 2:
            out, logp = out
            logp = np.asarray(logp, dtype=np.float64).reshape(-1)
            if logp.shape != (len(obs),):
                raise CollectionError(f"{self.who} returned {logp.shape} log-probabilities for "
                                      f"{len(obs)} observations")
        a = _check_actions(out, len(obs), self.space, self.who)
        if logp is None and self.deterministic_discrete and hasattr(self.space, "n"):
            logp = np.zeros(len(obs))
        return a, logp


@dataclass
class _EpsGreedy(_Behavior):
    greedy: Callable[[np.ndarray], np.ndarray]
    n: int
    rng: np.random.Generator
    epsilon: float = DEFAULT_EPSILON

    def __call__(self, obs):
        B = len(obs)
        g = self.greedy(obs)
        explore = self.rng.random(B) < self.epsilon
        rand = self.rng.integers(0, self.n, size=B)
        a = np.where(explore, rand, g)
        return a, _eps_log_prob(a, g, self.epsilon, self.n)


def _eps_log_prob(a: np.ndarray, greedy: np.ndarray, eps: float, n: int) -> np.ndarray:
    p = eps / n + (1.0 - eps) * (a == greedy)
    with np.errstate(divide="ignore"):
        return np.log(p)


@dataclass
class _TruncGaussian(_Behavior):
    """Gaussian around the expert action, truncated to [low, high]; exact log-density."""

    mean_fn: Callable[[np.ndarray], np.ndarray]
    space: Any
    rng: np.random.Generator
    std_fraction: float = DEFAULT_NOISE_STD

    def __call__(self, obs):
        from scipy.stats import truncnorm

        low, high = self.space.low.astype(np.float64), self.space.high.astype(np.float64)
        scale = self.std_fraction * (high - low) / 2.0
        mu = np.clip(self.mean_fn(obs).astype(np.float64), low, high)
        a_, b_ = (low - mu) / scale, (high - mu) / scale
        x = truncnorm.rvs(a_, b_, loc=mu, scale=scale, random_state=self.rng)
        x = np.clip(x, low, high)
        logp = truncnorm.logpdf(x, a_, b_, loc=mu, scale=scale).sum(axis=1)
        return x.astype(self.space.dtype), logp


class _SACSample(_Behavior):
    """Sample from a d3rlpy SAC policy (tanh-Gaussian), with its log-density in env units."""

    def __init__(self, algo: Any, space: Any) -> None:
        self.algo, self.space = algo, space
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.log_jac = float(np.sum(np.log((high - low) / 2.0)))
        self.low, self.high = low, high

    def __call__(self, obs):
        import torch
        from d3rlpy.models.torch.policies import build_squashed_gaussian_distribution

        algo = self.algo
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=algo._device)
            if algo.config.observation_scaler:
                x = algo.config.observation_scaler.transform(x)
            dist = build_squashed_gaussian_distribution(algo.impl.policy(x))
            y, logp = dist.sample_with_log_prob()
        y = y.cpu().numpy().astype(np.float64)
        a = self.low + (y + 1.0) / 2.0 * (self.high - self.low)
        a = np.clip(a, self.low, self.high).astype(self.space.dtype)
        return a, logp.cpu().numpy().reshape(-1).astype(np.float64) - self.log_jac


def _algo_greedy(algo: Any, space: Any, who: str = "agent") -> Callable[[np.ndarray], np.ndarray]:
    """``algo.predict`` as a batched greedy policy, after checking it fits the env."""
    _check_algo(algo, space, who)

    def greedy(obs: np.ndarray) -> np.ndarray:
        a = algo.predict(np.asarray(obs, dtype=np.float32))
        return _check_actions(a, len(obs), space, who)

    return greedy


def _check_algo(algo: Any, space: Any, who: str, obs_shape: tuple | None = None) -> None:
    from .._d3rlpy import d3rlpy

    if algo.impl is None:
        raise ConfigError(f"{who} is a d3rlpy algorithm that has not been built. Fix: train it, "
                          "call algo.build_with_env(env), or pass it unbuilt as agent= together "
                          "with policy='replay'/'expert' so it is trained online")
    discrete_env = hasattr(space, "n")
    discrete_algo = algo.get_action_type() == d3rlpy.ActionSpace.DISCRETE
    if discrete_env != discrete_algo:
        raise ConfigError(f"{who} is a {'discrete' if discrete_algo else 'continuous'}-action "
                          f"d3rlpy algorithm but the environment's action space is {space}. "
                          "Fix: use a discrete algorithm (DQN, DiscreteCQL, ...) for Discrete "
                          "spaces and a continuous one (SAC, CQL, ...) for Box spaces")
    size = int(space.n) if discrete_env else int(space.shape[0])
    if int(algo.impl.action_size) != size:
        raise ConfigError(f"{who} was built for action size {algo.impl.action_size} but the "
                          f"environment's action space is {space}. Fix: use an algorithm "
                          "trained on this environment")
    if obs_shape is not None and tuple(algo.impl.observation_shape) != tuple(obs_shape):
        raise ConfigError(f"{who} was built for observations of shape "
                          f"{tuple(algo.impl.observation_shape)} but the environment gives "
                          f"{tuple(obs_shape)}. Fix: use an algorithm trained on this env")


# ====================================================================== rollouts
@dataclass
class _Record:
    """Per-vector-step arrays of a rollout; turned into episodes by :meth:`episodes`."""

    obs: list = field(default_factory=list)        # T + 1 entries of (n_envs, d)
    act: list = field(default_factory=list)        # T entries
    rew: list = field(default_factory=list)
    term: list = field(default_factory=list)
    trunc: list = field(default_factory=list)
    valid: list = field(default_factory=list)      # step is a transition (not an autoreset)
    logp: list = field(default_factory=list)       # None entries when unknown
    index: list = field(default_factory=list)      # global transition number (-1: not one)
    index_name: str | None = None                  # record `index` as this extra

    def episodes(self) -> list[tuple[int, int, dict]]:
        """Finished episodes as ``(end_step, env, episode_dict)``, ordered by end time."""
        obs = np.stack(self.obs)
        act, rew = np.stack(self.act), np.stack(self.rew)
        term, trunc = np.stack(self.term), np.stack(self.trunc)
        valid = np.stack(self.valid)
        has_logp = all(lp is not None for lp in self.logp) and len(self.logp) > 0
        logp = np.stack(self.logp) if has_logp else None
        extra = {self.index_name: np.stack(self.index)} if self.index_name else {}
        out = []
        T, n_envs = valid.shape
        for i in range(n_envs):
            ends = np.flatnonzero(valid[:, i] & (term[:, i] | trunc[:, i]))
            start = 0
            for e in ends:
                # first valid step at or after `start` (skips the autoreset step)
                s = start
                while not valid[s, i]:
                    s += 1
                ex = {k: v[s:e + 1, i] for k, v in extra.items()}
                if logp is not None:
                    ex["behavior_log_prob"] = logp[s:e + 1, i].astype(np.float64)
                out.append((int(e), i, {
                    "observations": obs[s:e + 2, i], "actions": act[s:e + 1, i],
                    "rewards": rew[s:e + 1, i].astype(np.float64),
                    "terminated": bool(term[e, i]), "truncated": bool(trunc[e, i]),
                    "extras": ex}))
                start = e + 1
        out.sort(key=lambda t: (t[0], t[1]))
        return out


def rollout(envs: Any, behavior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
            n_steps: int, rng: np.random.Generator, *, progress: Progress = True,
            desc: str = "collect",
            on_step: Callable[[dict[str, np.ndarray]], None] | None = None,
            index_name: str | None = None) -> _Record:
    """Run ``behavior`` in the vector env ``envs`` for exactly ``n_steps`` transitions.

    Args:
        envs: a gymnasium vector env (NEXT_STEP autoreset), not yet reset.
        behavior: ``obs (B, d) -> (actions (B, ...), log_probs (B,) or None)``.
        n_steps: number of transitions to generate (autoreset steps do not count).
        rng: seeds the environments (one child seed per sub-env).
        progress, desc: the ``tqdm.auto`` progress bar (or a :data:`Progress` callable).
        on_step: called after each vector step with the valid transitions of that step
            (``obs``, ``actions``, ``rewards``, ``next_obs``, ``terminated``, ``truncated``),
            e.g. to fill a replay buffer and run updates.
        index_name: when given, each transition's 0-based position in the run (the order
            in which the budget was spent) is recorded as this int64 extra.

    Torch runs with one thread inside (restored afterwards).

    Returns:
        the recorded per-step arrays; ``_Record.episodes()`` gives the finished episodes.
    """
    n_envs = envs.num_envs
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n_envs)]
    obs, _ = envs.reset(seed=seeds)
    rec = _Record(index_name=index_name)
    rec.obs.append(obs)
    autoreset = np.zeros(n_envs, dtype=bool)
    count = 0
    # One torch thread for the policy/updates: small networks gain little from a second
    # thread (1.5 vs 1.25 ms per DQN update on an idle 2-core machine) and lose 10-100x when
    # the cores are busy (spinning intra-op threads: 15 ms instead of 0.15 ms per batched
    # predict, measured); it also keeps results independent of the core count.
    with _bar(n_steps, desc, progress) as bar, torch_threads(1):
        while count < n_steps:
            actions, logp = behavior(obs)
            next_obs, rew, term, trunc, _ = envs.step(actions)
            valid = ~autoreset
            nvalid = int(valid.sum())
            if count + nvalid > n_steps:  # budget reached mid-step: drop the surplus envs
                keep = np.flatnonzero(valid)[: n_steps - count]
                valid = np.zeros(n_envs, dtype=bool)
                valid[keep] = True
                nvalid = len(keep)
            # gymnasium's TimeLimit also sets truncated when the last allowed step reaches a
            # terminal state: the episode terminated (its final state has no future value), so
            # it is recorded as terminated only.
            term = np.asarray(term, dtype=bool)
            trunc = np.asarray(trunc, dtype=bool) & ~term
            rec.act.append(np.asarray(actions))
            rec.rew.append(np.asarray(rew))
            rec.term.append(term)
            rec.trunc.append(trunc)
            rec.valid.append(valid)
            rec.logp.append(None if logp is None else np.asarray(logp, dtype=np.float64))
            idx = np.full(n_envs, -1, dtype=np.int64)
            idx[valid] = count + np.arange(nvalid)
            rec.index.append(idx)
            rec.obs.append(next_obs)
            if on_step is not None and nvalid:
                on_step({"obs": obs[valid], "actions": np.asarray(actions)[valid],
                         "rewards": np.asarray(rew)[valid], "next_obs": next_obs[valid],
                         "terminated": term[valid], "truncated": trunc[valid]})
            count += nvalid
            bar.update(nvalid)
            autoreset = term | trunc
            obs = next_obs
    return rec


def _to_dataset(rec: _Record, envs: Any, metadata: dict[str, Any],
                max_steps: int | None = None) -> EpisodeDataset:
    eps = rec.episodes()
    if not eps:
        raise CollectionError(
            f"no episode finished within the {sum(int(v.sum()) for v in rec.valid)} collected "
            f"steps of {metadata.get('env_id')} ({metadata.get('scheme')}); in-progress episodes "
            "are dropped. Fix: increase n_steps (at least one full episode per environment) or "
            "lower n_envs")
    return EpisodeDataset.from_episodes(
        [e for _, _, e in eps], action_space=Space.from_gym(envs.single_action_space),
        observation_space=Space.from_gym(envs.single_observation_space), metadata=metadata)


# ====================================================================== online training
@dataclass
class OnlineResult:
    """An online training run: the trained algorithm and every transition it saw.

    Attributes:
        algo: the trained d3rlpy algorithm (DQN / SAC by default).
        replay: finished episodes of the training run, with ``extras["behavior_log_prob"]``
            and ``extras["train_step"]`` (int64, the transition's 0-based position in the run).
        seconds: wall-clock training time.
        settings: the settings that define the run (cache key).
    """

    algo: Any
    replay: EpisodeDataset
    seconds: float
    settings: dict[str, Any]


def default_online_steps(env_id: str) -> int:
    """Default number of env steps of online training for ``env_id``."""
    if env_id in _DEFAULT_ONLINE_STEPS:
        return _DEFAULT_ONLINE_STEPS[env_id]
    return _MUJOCO_ONLINE_STEPS


def _hparams(discrete: bool) -> dict[str, Any]:
    if discrete:
        return {"algo": "DQN", "hidden": [64, 64], "learning_rate": 1e-3, "batch_size": 64,
                "gamma": 0.99, "target_update_interval": 250, "learning_starts": 1_000,
                "updates_per_step": 1.0, "epsilon_start": 1.0, "epsilon_final": 0.02,
                "exploration_fraction": 0.4}
    return {"algo": "SAC", "hidden": [64, 64], "actor_learning_rate": 1e-3,
            "critic_learning_rate": 1e-3, "temp_learning_rate": 1e-3, "batch_size": 128,
            "gamma": 0.99, "tau": 0.01, "learning_starts": 1_000, "updates_per_step": 1.0}


def make_online_algo(space: Any, hp: dict[str, Any] | None = None) -> Any:
    """The default online learner for a gymnasium action space: DQN (Discrete) or SAC (Box).

    The SAC gets a ``MinMaxActionScaler`` with the env bounds, so ``predict`` returns actions
    in env units.
    """
    from .._d3rlpy import d3rlpy

    discrete = hasattr(space, "n")
    hp = hp or _hparams(discrete)
    enc = d3rlpy.models.VectorEncoderFactory(list(hp["hidden"]))
    if discrete:
        return d3rlpy.algos.DQNConfig(
            learning_rate=hp["learning_rate"], batch_size=hp["batch_size"], gamma=hp["gamma"],
            target_update_interval=hp["target_update_interval"],
            encoder_factory=enc).create(device="cpu:0")
    scaler = d3rlpy.preprocessing.MinMaxActionScaler(
        minimum=np.asarray(space.low, dtype=np.float64),
        maximum=np.asarray(space.high, dtype=np.float64))
    return d3rlpy.algos.SACConfig(
        actor_learning_rate=hp["actor_learning_rate"],
        critic_learning_rate=hp["critic_learning_rate"],
        temp_learning_rate=hp["temp_learning_rate"], batch_size=hp["batch_size"],
        gamma=hp["gamma"], tau=hp["tau"], actor_encoder_factory=enc, critic_encoder_factory=enc,
        action_scaler=scaler).create(device="cpu:0")


class _Buffer:
    """Fixed-capacity numpy replay buffer, sampled uniformly with the run's own RNG."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros((capacity, 1), np.float32)
        self.term = np.zeros((capacity, 1), np.float32)
        self.size = 0

    def add(self, t: dict[str, np.ndarray]) -> None:
        n = len(t["obs"])
        s = slice(self.size, self.size + n)
        self.obs[s], self.next_obs[s] = t["obs"], t["next_obs"]
        self.act[s] = np.asarray(t["actions"], np.float32).reshape(n, -1)
        self.rew[s, 0], self.term[s, 0] = t["rewards"], t["terminated"]
        self.size += n

    def sample(self, rng: np.random.Generator, batch_size: int) -> Any:
        from d3rlpy.dataset import TransitionMiniBatch

        idx = rng.integers(0, self.size, size=batch_size)
        act = self.act[idx]
        return TransitionMiniBatch(
            observations=self.obs[idx], actions=act, rewards=self.rew[idx],
            next_observations=self.next_obs[idx], next_actions=np.zeros_like(act),
            terminals=self.term[idx], intervals=np.ones((batch_size, 1), np.float32),
            transitions=[])


def train_online(env_id: str, n_steps: int | None = None, seed: int = 0, *, n_envs: int = 8,
                 agent: Any = None, progress: Progress = True) -> OnlineResult:
    """Train an online agent with a vectorised loop and record every transition it saw.

    Discrete actions: DQN with ε-greedy exploration (ε from 1 to 0.02 over the first 40 % of
    the steps; uniform for the first 1000 steps).  Continuous actions: SAC (uniform actions
    for the first 1000 steps, then samples from its tanh-Gaussian policy).  After each
    vector step, ``updates_per_step`` × (new transitions) gradient updates on minibatches
    drawn uniformly from all transitions so far (``algo.update``).

    Args:
        env_id: gymnasium id.
        n_steps: env steps (transitions) of training; default :func:`default_online_steps`.
        seed: seeds env resets, exploration, minibatch sampling and torch.
        n_envs: parallel environments.
        agent: an *unbuilt or built* d3rlpy Q-learning algorithm to train instead of the
            default DQN/SAC (it must support ``update``; discrete algorithms act ε-greedy on
            ``predict``, continuous ones by ``sample_action``).
        progress: show a progress bar, or a :data:`Progress` callable.

    Returns:
        :class:`OnlineResult` (the replay dataset has ``scheme="replay"`` metadata).

    Raises:
        ConfigError: unknown env, bad arguments, an agent whose action space does not match.
        CollectionError: training produced no finished episode.
    """
    from .._d3rlpy import d3rlpy  # noqa: F401  (quiet import)

    n_steps = default_online_steps(env_id) if n_steps is None else int(n_steps)
    if n_steps < 1:
        raise ConfigError(f"online_steps must be positive, got {n_steps}")
    n_envs = _effective_n_envs(env_id, n_envs, n_steps)
    envs = _make_vec(env_id, n_envs)
    try:
        space = envs.single_action_space
        discrete = hasattr(space, "n")
        obs_shape = tuple(envs.single_observation_space.shape)
        hp = _hparams(discrete)
        rng = np.random.default_rng(seed)
        _seed_torch(_child_seed(rng))
        if agent is None:
            algo = make_online_algo(space, hp)
        elif is_d3rlpy_algo(agent):
            algo = agent
            hp = {**hp, "algo": type(agent).__name__}
        else:
            raise ConfigError("agent must be a d3rlpy algorithm to be trained online (got "
                              f"{type(agent).__name__}). Fix: pass a d3rlpy algo, or use a "
                              "callable agent only with policy='expert'/'noisy'/'mixed'")
        act_size = int(space.n) if discrete else int(space.shape[0])
        if algo.impl is None:
            algo.create_impl(obs_shape, act_size)
        _check_algo(algo, space, "agent", obs_shape)
        buf = _Buffer(n_steps + n_envs, obs_shape[0], 1 if discrete else act_size)
        random_b = _RandomBehavior(space, rng)
        state = {"steps": 0, "pending": 0.0}
        starts, ups = int(hp["learning_starts"]), float(hp["updates_per_step"])
        bs = int(algo.config.batch_size)

        if discrete:
            n = int(space.n)
            decay = max(1, int(hp["exploration_fraction"] * n_steps))

            def epsilon() -> float:
                t = state["steps"]
                if t < starts:
                    return 1.0
                f = min(1.0, t / decay)
                return hp["epsilon_start"] + f * (hp["epsilon_final"] - hp["epsilon_start"])

            def behavior(obs):
                eps = epsilon()
                if eps >= 1.0:
                    return random_b(obs)
                g = algo.predict(np.asarray(obs, np.float32)).astype(np.int64)
                return _EpsGreedy(lambda _o: g, n, rng, eps)(obs)
        else:
            from d3rlpy.algos import SAC

            if isinstance(algo, SAC):
                sample = _SACSample(algo, space)
            else:  # e.g. TD3/DDPG: no density available, so no behavior_log_prob is logged
                def sample(obs):
                    a = algo.sample_action(np.asarray(obs, np.float32))
                    return _check_actions(a, len(obs), space, "agent"), None

            def behavior(obs):
                return random_b(obs) if state["steps"] < starts else sample(obs)

        def on_step(t: dict[str, np.ndarray]) -> None:
            buf.add(t)
            state["steps"] += len(t["obs"])
            if state["steps"] < starts:
                return
            state["pending"] += ups * len(t["obs"])
            while state["pending"] >= 1.0:
                algo.update(buf.sample(rng, bs))
                state["pending"] -= 1.0

        t0 = time.perf_counter()
        rec = rollout(envs, behavior, n_steps, rng, progress=progress,
                      desc=f"train {hp['algo']} on {env_id}", on_step=on_step,
                      index_name="train_step")
        seconds = time.perf_counter() - t0
        settings = {"env_id": env_id, "online_steps": n_steps, "seed": int(seed),
                    "n_envs": n_envs, "hparams": hp}
        replay = _to_dataset(rec, envs, {"env_id": env_id, "scheme": "replay", "seed": int(seed),
                                         "n_envs": n_envs, "online_steps": n_steps,
                                         "agent": hp["algo"],
                                         "source": f"collect:{env_id}:replay"})
        return OnlineResult(algo, replay, seconds, settings)
    finally:
        envs.close()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive ``fcntl.flock`` on ``path`` (created if needed) for the ``with`` block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _agent_dir(env_id: str, n_steps: int, seed: int, n_envs: int) -> Path:
    from .._paths import workbench_home

    import gymnasium as gym

    discrete = isinstance(gym.make(env_id).action_space, gym.spaces.Discrete)
    key = json.dumps({"hp": _hparams(discrete), "n_envs": n_envs}, sort_keys=True)
    h = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
    return workbench_home() / "agents" / f"{env_id}-{n_steps}-seed{seed}-{h}"


def online_agent(env_id: str, n_steps: int | None = None, seed: int = 0, *, n_envs: int = 8,
                 progress: Progress = True) -> tuple[Any, EpisodeDataset]:
    """The default online agent (DQN/SAC) of ``env_id`` and its replay dataset, cached.

    Trained once with :func:`train_online` and stored under
    ``workbench_home() / "agents" / "<env_id>-<steps>-seed<seed>-<hash>/"`` (``agent.d3``,
    loadable with ``d3rlpy.load_learnable``, and ``replay.npz``), written atomically under a
    file lock so concurrent callers train it once.

    Returns:
        ``(algo, replay_dataset)``.
    """
    from .._d3rlpy import d3rlpy
    from .atomic import atomic_file
    from .io import load_dataset

    n_steps = default_online_steps(env_id) if n_steps is None else int(n_steps)
    _make_vec(env_id, 1).close()  # validates the id early
    n_envs = _effective_n_envs(env_id, n_envs, n_steps)
    d = _agent_dir(env_id, n_steps, seed, n_envs)
    agent_path, replay_path = d / "agent.d3", d / "replay.npz"

    def cached():
        if agent_path.exists() and replay_path.exists():
            return d3rlpy.load_learnable(str(agent_path), device="cpu:0"), load_dataset(replay_path)
        return None

    hit = cached()
    if hit is not None:
        return hit
    with file_lock(d.parent / f".{d.name}.lock"):
        hit = cached()
        if hit is not None:
            return hit
        res = train_online(env_id, n_steps, seed, n_envs=n_envs, progress=progress)
        d.mkdir(parents=True, exist_ok=True)
        res.replay.save(replay_path, format="npz")  # atomic
        with atomic_file(agent_path) as tmp:
            res.algo.save(str(tmp))
        with atomic_file(d / "settings.json") as tmp:
            tmp.write_text(json.dumps({**res.settings, "seconds": res.seconds}, indent=1))
        return res.algo, res.replay


# ====================================================================== collect
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
        return _algo_greedy(algo, space), True, {"agent": type(algo).__name__,
                                                 "online_steps": steps, "agent_seed": int(seed)}
    if is_d3rlpy_algo(agent):
        if agent.impl is None:  # unbuilt: train it online first
            res = train_online(env_id, online_steps, seed, n_envs=n_envs, agent=agent,
                               progress=progress)
            agent = res.algo
        return _algo_greedy(agent, space), True, {"agent": type(agent).__name__}
    if callable(agent):
        return (lambda o: _check_actions(agent(o), len(o), space, "agent")), True, {
            "agent": getattr(agent, "__name__", type(agent).__name__)}
    raise ConfigError(f"agent must be a d3rlpy algorithm or a callable obs -> actions, got "
                      f"{type(agent).__name__}")


def collect(env_id: str, policy: str | Callable | Any = "random", n_steps: int = 10_000,
            seed: int = 0, *, n_envs: int = 8, agent: Any = None, noise: float | None = None,
            online_steps: int | None = None, progress: Progress = True,
            name: str | None = None) -> EpisodeDataset:
    """Collect a dataset from a gymnasium environment with a behaviour scheme or policy.

    Args:
        env_id: a gymnasium id, e.g. ``"CartPole-v1"``, ``"Pendulum-v1"``, ``"Hopper-v5"``.
        policy: a scheme (``"random"``, ``"replay"``, ``"expert"``, ``"noisy"``, ``"mixed"``;
            see the module docstring), a callable mapping a batch of observations
            (B, obs_dim) to actions (B,) int / (B, act_dim) float — or to
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

    _make_vec(env_id, 1).close()  # validates the id before any training
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

    probe = _make_vec(env_id, 1)
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
        ne = _effective_n_envs(env_id, n_envs, steps)
        envs = _make_vec(env_id, ne)
        try:
            rec = rollout(envs, behavior, steps, rng_, progress=progress, desc=desc)
            return _to_dataset(rec, envs, {**meta, **part_meta, "n_envs": ne})
        finally:
            envs.close()

    if scheme == "random":
        ds = run(_RandomBehavior(space, rng), n_steps, {}, f"random {env_id}", rng)
        return ds.with_metadata(random_return=float(ds.episode_returns().mean()))

    if not isinstance(scheme, str):  # callable or d3rlpy algo
        if is_d3rlpy_algo(scheme):
            _check_algo(scheme, space, "policy", obs_shape)
            b = _CallableBehavior(_algo_greedy(scheme, space, "policy"), space,
                                  deterministic_discrete=True, who="policy")
        else:
            b = _CallableBehavior(scheme, space, who="policy")
        return run(b, n_steps, {}, f"{label} {env_id}", rng)

    greedy, _, agent_meta = _expert_fn(env_id, space, agent, online_steps, seed, n_envs,
                                       progress)
    if scheme == "expert":
        b = _CallableBehavior(greedy, space, deterministic_discrete=True, who="agent")
        ds = run(b, n_steps, agent_meta, f"expert {env_id}", rng)
        return ds.with_metadata(expert_return=float(ds.episode_returns().mean()))
    if scheme == "noisy":
        if discrete:
            eps = DEFAULT_EPSILON if noise is None else float(noise)
            b = _EpsGreedy(greedy, int(space.n), rng, eps)
            extra = {"epsilon": eps}
        else:
            std = DEFAULT_NOISE_STD if noise is None else float(noise)
            b = _TruncGaussian(greedy, space, rng, std)
            extra = {"noise_std_fraction": std}
        return run(b, n_steps, {**agent_meta, **extra}, f"noisy {env_id}", rng)

    # mixed: 80 % random, 20 % expert, whole episodes
    n_random = int(round(MIXED_RANDOM_FRACTION * n_steps))
    n_expert = n_steps - n_random
    if n_random < 1 or n_expert < 1:
        raise ConfigError(f"n_steps={n_steps} is too small to split 80/20 into random and "
                          "expert parts")
    rng_r, rng_e = (np.random.default_rng(s) for s in rng.integers(0, 2**31 - 1, size=2))
    part_r = run(_RandomBehavior(space, rng_r), n_random, {}, f"mixed/random {env_id}", rng_r)
    part_e = run(_CallableBehavior(greedy, space, deterministic_discrete=True, who="agent"),
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
