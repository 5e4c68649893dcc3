"""The behaviour policy seen through the data: action distribution and entropy.

* :func:`action_stats` — discrete: the empirical action distribution and its entropy;
  continuous: per-dimension spread (mean, std, min, max).
* :func:`behavior_entropy` — as in Schweighofer et al.: fit a behaviour-cloning network
  (the workbench's one behaviour-cloning model,
  :func:`workbench.ope.behavior.fit_behavior_model`) to predict the action from the state
  and report the mean *normalised*
  entropy of its predicted action distribution over the dataset's states,
  ``H(π(·|s)) / log(n_actions)`` (0: deterministic behaviour, 1: uniform random).  For
  continuous actions there is no normalisation: a Gaussian BC policy with state-dependent
  standard deviation is fitted and the mean differential entropy per action dimension is
  reported in nats (lower is more deterministic; it can be negative).  Image observations
  enter the model as block means of their channels (see :mod:`workbench.ope.behavior`).
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
    from ..ope.behavior import fit_behavior_model

    rng = np.random.default_rng(seed)
    N = ds.n_transitions
    idx = np.sort(rng.choice(N, size=min(N, max_samples), replace=False))
    rows = idx + ds.episode_index[idx]
    # vectors flattened; image frames kept uint8 (the model featurises them, see
    # workbench.ope.behavior: no float copy of the frames)
    obs = (ds.observations.take(rows, axis=0) if ds.is_image
           else ds.observations.reshape(len(ds.observations), -1)[rows])
    n_actions = int(ds.action_space.n or 0) if ds.is_discrete else 0
    if ds.is_discrete and n_actions < 2:
        return float("nan"), "normalised"
    model = fit_behavior_model(obs, ds.actions[idx], discrete=ds.is_discrete,
                               n_actions=n_actions, epochs=epochs, batch_size=batch_size,
                               max_samples=len(idx), hidden=hidden, lr=lr, seed=seed)
    h = model.entropy(obs)
    if ds.is_discrete:
        return float(h.mean() / math.log(n_actions)), "normalised"
    return float(h.mean()), "nats/dim"
