"""Behaviour policies: a batch of observations → actions and their log-probabilities.

Every behaviour maps observations (B, obs_dim) to ``(actions, log_probs)``: actions (B,)
int64 for Discrete spaces or (B, act_dim) in the env's dtype for Box spaces, and
``log π_b(a_t | s_t)`` (B,) float64 of the actions taken, or ``None`` where it does not
exist.  :mod:`workbench.data.collect` logs them as ``extras["behavior_log_prob"]``:

* ``-log n`` (discrete random), ``-Σ log(high - low)`` (continuous random, a density);
* ``log(ε/n + (1-ε)[a = greedy])`` (noisy discrete, and replay with the exploration ε of
  that step);
* ``0`` (greedy discrete expert);
* the truncated-Gaussian log-density (noisy continuous);
* the tanh-Gaussian log-density of SAC's sampled action, in env action units (continuous
  replay).

It is omitted where it does not exist: a deterministic continuous expert (and so
continuous ``mixed``), and a user callable that returns only actions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import CollectionError, ConfigError

__all__ = ["DEFAULT_EPSILON", "DEFAULT_NOISE_STD", "Behavior", "RandomBehavior",
           "CallableBehavior", "EpsGreedy", "TruncGaussian", "SACSample", "check_actions",
           "algo_greedy", "check_algo"]


#: ε of the discrete ``noisy`` scheme.
DEFAULT_EPSILON = 0.2
#: Gaussian std of the continuous ``noisy`` scheme, as a fraction of half the action range.
DEFAULT_NOISE_STD = 0.2


class Behavior:
    """Maps a batch of observations (B, obs_dim) to actions and log π_b(a|s) (B,) or None."""

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


@dataclass
class RandomBehavior(Behavior):
    """Uniform actions: each of the ``n`` discrete actions, or uniform over Box bounds."""

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


def check_actions(a: Any, B: int, space: Any, who: str) -> np.ndarray:
    """Validate and normalise a batch of actions from a policy.

    Args:
        a: the policy's output for ``B`` observations.
        B: the batch size.
        space: the env's gymnasium action space.
        who: the policy's name in messages.

    Returns:
        (B,) int64 for a Discrete space (a (B, 1) batch is flattened); (B, act_dim) clipped
        to the bounds, in the space's dtype, for a Box space.

    Raises:
        CollectionError: not an array, wrong shape, non-integer or out-of-range discrete
            actions, non-finite continuous ones.
    """
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
class CallableBehavior(Behavior):
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
        a = check_actions(out, len(obs), self.space, self.who)
        if logp is None and self.deterministic_discrete and hasattr(self.space, "n"):
            logp = np.zeros(len(obs))
        return a, logp


@dataclass
class EpsGreedy(Behavior):
    """ε-greedy over ``n`` discrete actions around a greedy policy."""

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
class TruncGaussian(Behavior):
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


class SACSample(Behavior):
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


def algo_greedy(algo: Any, space: Any, who: str = "agent") -> Callable[[np.ndarray], np.ndarray]:
    """``algo.predict`` as a batched greedy policy, after checking it fits the env."""
    check_algo(algo, space, who)

    def greedy(obs: np.ndarray) -> np.ndarray:
        a = algo.predict(np.asarray(obs, dtype=np.float32))
        return check_actions(a, len(obs), space, who)

    return greedy


def check_algo(algo: Any, space: Any, who: str, obs_shape: tuple | None = None) -> None:
    """Require a built d3rlpy algorithm that fits the env's action space (and observations).

    Raises:
        ConfigError: unbuilt, discrete/continuous mismatch, other action size or
            observation shape.
    """
    from ..._d3rlpy import d3rlpy

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
    size = int(space.n or 0) if discrete_env else int(space.shape[0])
    if int(algo.impl.action_size) != size:
        raise ConfigError(f"{who} was built for action size {algo.impl.action_size} but the "
                          f"environment's action space is {space}. Fix: use an algorithm "
                          "trained on this environment")
    if obs_shape is not None and tuple(algo.impl.observation_shape) != tuple(obs_shape):
        raise ConfigError(f"{who} was built for observations of shape "
                          f"{tuple(algo.impl.observation_shape)} but the environment gives "
                          f"{tuple(obs_shape)}. Fix: use an algorithm trained on this env")
