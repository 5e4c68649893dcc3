"""Hand-made datasets whose diagnostics can be counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data.dataset import EpisodeDataset, Space


def episodes_dataset(episodes, *, discrete=True, n_actions=None, obs_space=None, name="hand",
                     metadata=None):
    """``episodes``: list of (observations (T+1, d), actions, rewards, end) with end in
    {"terminated", "truncated", None}."""
    eps = []
    for obs, act, rew, end in episodes:
        obs = np.asarray(obs, dtype=np.float32)
        obs = obs[:, None] if obs.ndim == 1 else obs
        eps.append({"observations": obs, "actions": np.asarray(act),
                    "rewards": np.asarray(rew, dtype=np.float32),
                    "terminated": end == "terminated", "truncated": end == "truncated"})
    action_space = Space.discrete_space(n_actions) if discrete and n_actions else None
    return EpisodeDataset.from_episodes(eps, action_space=action_space,
                                        observation_space=obs_space,
                                        metadata={"name": name, **(metadata or {})})


def random_continuous(n=3000, obs_dim=4, act_dim=2, T=100, seed=0, dtype=np.float32,
                      name="cont"):
    rng = np.random.default_rng(seed)
    E = -(-n // T)
    lengths = np.full(E, T)
    lengths[-1] = n - T * (E - 1)
    obs = rng.normal(size=(n + E, obs_dim)).astype(dtype)
    act = rng.uniform(-1, 1, size=(n, act_dim)).astype(dtype)
    rew = rng.normal(size=n).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return EpisodeDataset(obs, act, rew, offsets, np.zeros(E, bool), np.ones(E, bool),
                          Space.unbounded((obs_dim,), np.dtype(dtype).name),
                          Space.box(-np.ones(act_dim), np.ones(act_dim)),
                          metadata={"name": name})


@pytest.fixture
def hand_reference():
    """States 0,1,2,3,4 (1-D) with actions 0,1,0,1,0: bins=5 puts each in its own bin."""
    return episodes_dataset([([0, 1, 2, 3, 4, 4], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1],
                              "terminated")], n_actions=2, name="ref")


@pytest.fixture
def hand_dataset():
    """States 0.5, 0.7, 2.5, 2.5, 9 with actions 0, 0, 1, 1, 0 (9 is above the limits)."""
    return episodes_dataset([([0.5, 0.7, 2.5], [0, 0], [1, 0], "terminated"),
                             ([2.5, 2.5, 9, 9], [1, 1, 0], [0, 0, 3], "truncated")],
                            n_actions=2, name="hand")
