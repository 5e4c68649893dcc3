"""Returns, trajectory quality (TQ) and per-episode statistics.

Episodes are split on terminal *or* timeout (the dataset layer already stores them so).
An unfinished trailing episode (neither flag set: the data stops mid-episode) is **not**
counted in any return or length statistic, because its return is not an episode return.
Returns are undiscounted sums of rewards, in the reward's units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError

__all__ = ["finished_returns", "check_references", "tq", "return_stats", "positive_sided_variance",
           "length_stats", "reward_stats", "episode_frame"]


def _check(ds: Any) -> EpisodeDataset:
    if not isinstance(ds, EpisodeDataset):
        raise DiagnosticsError(f"expected an EpisodeDataset, got {type(ds).__name__}; load one "
                               "with workbench.load_dataset(...)")
    if ds.n_transitions == 0:
        raise DiagnosticsError(f"the dataset '{ds.name}' is empty (no transitions)")
    return ds


def finished_returns(ds: EpisodeDataset) -> np.ndarray:
    """(E_finished,) float64 undiscounted returns of the finished episodes, in order."""
    _check(ds)
    return ds.episode_returns()[ds.finished]


def _real(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DiagnosticsError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise DiagnosticsError(f"{name} must be finite, got {v}")
    return v


def check_references(random_return: Any, expert_return: Any) -> tuple[float, float]:
    """Both TQ references as finite, different floats, or a DiagnosticsError."""
    r = _real(random_return, "random_return")
    e = _real(expert_return, "expert_return")
    if e == r:
        raise DiagnosticsError(f"expert_return equals random_return ({r}): TQ normalises by "
                               "their difference; pass references that differ")
    return r, e


def tq(ds: EpisodeDataset, random_return: float, expert_return: float) -> float:
    """Trajectory quality TQ = (mean return of D − R_random) / (R_expert − R_random).

    From Schweighofer et al., "A Dataset Perspective on Offline RL": the mean undiscounted
    return of the dataset's finished episodes, normalised so that a dataset of the random
    policy scores 0 and one of the expert policy scores 1 (values outside [0, 1] are
    possible).  Pass the mean returns of a random-policy rollout set and of the expert
    policy of the same environment; catalog datasets carry them in their metadata
    (``random_return``, ``expert_return``).

    Raises:
        DiagnosticsError: not a dataset or empty, no finished episode, non-finite
            references, or ``expert_return == random_return``.
    """
    r, e = check_references(random_return, expert_return)
    returns = finished_returns(ds)
    if len(returns) == 0:
        raise DiagnosticsError(f"'{ds.name}' has no finished episode, so its mean episode "
                               "return (and TQ) is undefined")
    return float((returns.mean() - r) / (e - r))


def positive_sided_variance(returns: np.ndarray) -> float:
    """Positive-sided variance V+ = mean(max(G − mean(G), 0)²) of episode returns ``G``.

    Hong et al., "Harnessing Mixed Offline RL Datasets via Trajectory Weighting" (ICLR
    2023): the room a policy has to improve on the behaviour policy grows with the spread
    of the returns *above* their mean.  Units: return².  ``nan`` for no returns.
    """
    g = np.asarray(returns, dtype=np.float64)
    if len(g) == 0:
        return float("nan")
    up = np.maximum(g - g.mean(), 0.0)
    return float(np.mean(up * up))


def return_stats(ds: EpisodeDataset) -> dict[str, float]:
    """Statistics of the finished episodes' undiscounted returns.

    Keys: ``episodes`` (count), ``mean``, ``std`` (population, ddof=0), ``min``, ``q25``,
    ``median``, ``q75``, ``max``, ``psv`` (positive-sided variance, return²) and
    ``psv_normalised`` (the same on returns min-max scaled to [0, 1] within the dataset;
    0 when all returns are equal).  Values are ``nan`` when no episode finished.
    """
    g = finished_returns(ds)
    out: dict[str, float] = {"episodes": float(len(g))}
    if len(g) == 0:
        for k in ("mean", "std", "min", "q25", "median", "q75", "max", "psv", "psv_normalised"):
            out[k] = float("nan")
        return out
    q = np.quantile(g, [0.25, 0.5, 0.75])
    span = float(g.max() - g.min())
    out.update(mean=float(g.mean()), std=float(g.std()), min=float(g.min()), q25=float(q[0]),
               median=float(q[1]), q75=float(q[2]), max=float(g.max()),
               psv=positive_sided_variance(g),
               psv_normalised=positive_sided_variance((g - g.min()) / span) if span > 0 else 0.0)
    return out


def length_stats(ds: EpisodeDataset) -> dict[str, float]:
    """Statistics of the finished episodes' lengths (transitions per episode).

    Keys: ``mean``, ``std`` (ddof=0), ``min``, ``median``, ``max``; ``nan`` when no episode
    finished.
    """
    _check(ds)
    n = ds.episode_lengths[ds.finished].astype(np.float64)
    if len(n) == 0:
        return {k: float("nan") for k in ("mean", "std", "min", "median", "max")}
    return {"mean": float(n.mean()), "std": float(n.std()), "min": float(n.min()),
            "median": float(np.median(n)), "max": float(n.max())}


def reward_stats(ds: EpisodeDataset) -> dict[str, float]:
    """Per-step reward statistics over all N transitions.

    Keys: ``mean``, ``std``, ``min``, ``max`` and ``sparsity``: the fraction of steps whose
    reward is exactly 0 (the paper's per-episode sparsity, pooled over steps).
    """
    _check(ds)
    r = ds.rewards
    return {"mean": float(r.mean(dtype=np.float64)), "std": float(r.std(dtype=np.float64)),
            "min": float(r.min()), "max": float(r.max()),
            "sparsity": float(np.count_nonzero(r == 0) / len(r))}


def episode_frame(ds: EpisodeDataset):
    """One row per episode: ``episode``, ``return``, ``length``, ``terminated``,
    ``truncated``, ``finished`` (a pandas DataFrame, e.g. for histograms)."""
    import pandas as pd

    _check(ds)
    return pd.DataFrame({"episode": np.arange(ds.n_episodes), "return": ds.episode_returns(),
                         "length": ds.episode_lengths, "terminated": ds.terminated,
                         "truncated": ds.truncated, "finished": ds.finished})
