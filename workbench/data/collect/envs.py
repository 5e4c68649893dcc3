"""Environments and torch: creating and checking vector envs, seeds, torch threads.

Collection supports gymnasium environments with flat ``Box`` observations and
``Discrete`` or 1-D ``Box`` actions, stepped as a ``SyncVectorEnv``.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import CollectionError, ConfigError

__all__ = ["SUPPORTED_ENVS", "make_vec", "effective_n_envs", "seed_torch", "child_seed",
           "torch_threads"]


#: Environments that are tested; any other registered gymnasium env with Box observations
#: and Box/Discrete actions also works.
SUPPORTED_ENVS = ("CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1",
                  "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")


def make_vec(env_id: str, n_envs: int) -> Any:
    """``gymnasium.make_vec(..., vectorization_mode="sync")`` with ``n_envs`` copies.

    Raises:
        ConfigError: unknown id (with close matches), observations that are not a flat
            Box, actions that are neither Discrete nor a 1-D Box.
        CollectionError: the environment could not be created (e.g. mujoco missing).
    """
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


def effective_n_envs(env_id: str, n_envs: int, n_steps: int) -> int:
    """``n_envs`` lowered to ``n_steps // max_episode_steps`` (at least 1), so that every
    environment can finish an episode within the budget of ``n_steps`` transitions.

    Raises:
        ConfigError: ``n_envs`` is not a positive integer.
    """
    if not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise ConfigError(f"n_envs must be a positive integer, got {n_envs!r}")
    max_len = _max_episode_steps(env_id)
    if max_len:
        return int(max(1, min(n_envs, n_steps // max_len)))
    return int(n_envs)


def seed_torch(seed: int) -> None:
    """``torch.manual_seed`` (process-global: network initialisation, SAC's sampling)."""
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


def child_seed(rng: np.random.Generator) -> int:
    """A seed in [0, 2**31 - 1) drawn from ``rng``, for a generator or library of its own."""
    return int(rng.integers(0, 2**31 - 1))
