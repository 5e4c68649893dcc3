"""Small hand-made datasets for tests."""

from __future__ import annotations

import numpy as np

from workbench import EpisodeDataset
from workbench.data.dataset import Space


def flat_arrays(n: int = 60, discrete: bool = True, seed: int = 0, obs_dim: int = 3,
                act_dim: int = 2, ends: dict[int, str] | None = None) -> dict[str, np.ndarray]:
    """D4RL-style arrays of one continuous trajectory cut into episodes by ``ends``.

    ``ends`` maps step index -> "terminal" | "timeout"; default: terminal at 9,
    timeout at 29, terminal at n-1.
    """
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
    ends = ends if ends is not None else {9: "terminal", 29: "timeout", n - 1: "terminal"}
    term = np.zeros(n, bool)
    tout = np.zeros(n, bool)
    for i, kind in ends.items():
        (term if kind == "terminal" else tout)[i] = True
    acts = (rng.integers(0, 3, n) if discrete
            else rng.uniform(-1, 1, (n, act_dim)).astype(np.float32))
    return {"observations": obs[:-1], "next_observations": obs[1:].copy(), "actions": acts,
            "rewards": rng.normal(size=n).astype(np.float32), "terminals": term, "timeouts": tout}


def make_dataset(n: int = 60, discrete: bool = True, seed: int = 0, extras: bool = True,
                 **kw) -> EpisodeDataset:
    a = flat_arrays(n, discrete, seed, **kw)
    ex = {"behavior_log_prob": np.random.default_rng(seed + 1).normal(size=n)} if extras else None
    return EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"], a["terminals"],
                                    a["timeouts"], a["next_observations"], extras=ex,
                                    metadata={"name": "toy", "env_id": "Toy-v0"})


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
