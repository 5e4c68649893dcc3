"""The behaviour policy seen through the data: action distribution and entropy.

* :func:`action_stats` — discrete: the empirical action distribution and its entropy;
  continuous: per-dimension spread (mean, std, min, max).
* :func:`behavior_entropy` — as in Schweighofer et al.: fit a behaviour-cloning network
  (a small MLP) to predict the action from the state and report the mean *normalised*
  entropy of its predicted action distribution over the dataset's states,
  ``H(π(·|s)) / log(n_actions)`` (0: deterministic behaviour, 1: uniform random).  For
  continuous actions there is no normalisation: a Gaussian BC policy with state-dependent
  standard deviation is fitted and the mean differential entropy per action dimension is
  reported in nats (lower is more deterministic; it can be negative).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError
from ._kernels import column_stats

__all__ = ["action_stats", "behavior_entropy"]


def action_stats(ds: EpisodeDataset) -> dict[str, Any]:
    """Action distribution (discrete) or per-dimension spread (continuous).

    Discrete keys: ``kind`` ("discrete"), ``counts`` ((n,) int list), ``probabilities``
    ((n,) float list), ``entropy`` (nats), ``entropy_normalised`` (entropy / log n; ``nan``
    for n = 1), ``actions_used`` (distinct actions present).

    Continuous keys: ``kind`` ("continuous"), ``mean``, ``std``, ``min``, ``max`` ((act_dim,)
    float lists) and ``std_mean`` (mean of the per-dimension stds).

    Raises:
        DiagnosticsError: not a dataset, or empty.
    """
    if not isinstance(ds, EpisodeDataset) or ds.n_transitions == 0:
        raise DiagnosticsError("action_stats needs a non-empty EpisodeDataset")
    if ds.is_discrete:
        n = int(max(ds.action_space.n or 0, int(ds.actions.max()) + 1))
        counts = np.bincount(ds.actions, minlength=n)
        p = counts / counts.sum()
        nz = p[p > 0]
        h = float(-(nz * np.log(nz)).sum())
        return {"kind": "discrete", "counts": counts.tolist(), "probabilities": p.tolist(),
                "entropy": h, "entropy_normalised": h / math.log(n) if n > 1 else float("nan"),
                "actions_used": int(np.count_nonzero(counts))}
    st = column_stats(ds.actions.reshape(ds.n_transitions, -1))
    return {"kind": "continuous", "mean": st["mean"].tolist(), "std": st["std"].tolist(),
            "min": st["min"].tolist(), "max": st["max"].tolist(),
            "std_mean": float(st["std"].mean())}


def behavior_entropy(ds: EpisodeDataset, *, epochs: int = 5, batch_size: int = 256,
                     max_samples: int = 10_000, hidden: int = 128, lr: float = 1e-3,
                     seed: int = 0) -> tuple[float, str]:
    """Mean entropy of a behaviour-cloning policy fitted to ``ds`` (see the module docstring).

    Trains on up to ``max_samples`` transitions drawn at random (seeded) for ``epochs``
    epochs on the CPU with torch, then averages over the same states.  Observations are
    standardised first.  A few seconds on two cores with the defaults; global RNG state
    is left untouched.

    Returns:
        ``(value, unit)``: unit ``"normalised"`` (discrete, in [0, 1]) or
        ``"nats/dim"`` (continuous).

    Raises:
        DiagnosticsError: not a dataset, empty, or bad training settings.
    """
    if not isinstance(ds, EpisodeDataset) or ds.n_transitions == 0:
        raise DiagnosticsError("behavior_entropy needs a non-empty EpisodeDataset")
    if epochs < 1 or batch_size < 1 or max_samples < 1:
        raise DiagnosticsError("epochs, batch_size and max_samples must be >= 1")
    import torch
    from torch import nn

    rng = np.random.default_rng(seed)
    N = ds.n_transitions
    idx = np.sort(rng.choice(N, size=min(N, max_samples), replace=False))
    rows = idx + ds.episode_index[idx]
    obs = ds.observations.reshape(len(ds.observations), -1)[rows].astype(np.float32)
    mu, sd = obs.mean(axis=0), obs.std(axis=0)
    obs = (obs - mu) / np.where(sd > 0, sd, 1.0)
    discrete = ds.is_discrete
    n_out = int(ds.action_space.n or 0) if discrete else int(np.prod(ds.action_shape))
    acts = ds.actions[idx]

    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            torch.set_num_threads(1)  # small model: one thread is fastest, never oversubscribes
            body = nn.Sequential(nn.Linear(obs.shape[1], hidden), nn.SELU(),
                                 nn.Linear(hidden, hidden), nn.SELU(),
                                 nn.Linear(hidden, n_out if discrete else 2 * n_out))
            opt = torch.optim.Adam(body.parameters(), lr=lr)
            x = torch.from_numpy(obs)
            if discrete:
                y = torch.from_numpy(acts.astype(np.int64))
            else:
                a = acts.reshape(len(acts), -1).astype(np.float32)
                am, asd = a.mean(axis=0), a.std(axis=0)
                asd = np.where(asd > 0, asd, 1.0)
                y = torch.from_numpy((a - am) / asd)
            gen = torch.Generator().manual_seed(seed)
            for _ in range(epochs):
                order = torch.randperm(len(x), generator=gen)
                for s in range(0, len(x), batch_size):
                    b = order[s:s + batch_size]
                    out = body(x[b])
                    if discrete:
                        loss = nn.functional.cross_entropy(out, y[b])
                    else:
                        mean, log_std = out[:, :n_out], out[:, n_out:].clamp(-7.0, 2.0)
                        loss = (0.5 * ((y[b] - mean) / log_std.exp()) ** 2 + log_std).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            with torch.no_grad():
                out = torch.cat([body(x[s:s + 4096]) for s in range(0, len(x), 4096)])
    finally:
        torch.set_num_threads(threads)
    if discrete:
        if n_out < 2:
            return float("nan"), "normalised"
        p = torch.softmax(out, dim=1).numpy().astype(np.float64)
        p = np.clip(p, 1e-5, 1.0)  # as the paper's code
        h = -(p * np.log(p)).sum(axis=1) / math.log(n_out)
        return float(h.mean()), "normalised"
    log_std = out[:, n_out:].clamp(-7.0, 2.0).numpy().astype(np.float64)
    log_std = log_std + np.log(asd)  # back to the action's own units
    h = 0.5 * math.log(2 * math.pi * math.e) + log_std
    return float(h.mean()), "nats/dim"
