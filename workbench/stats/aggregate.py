"""IQM, stratified bootstrap confidence intervals and performance profiles (pure numpy)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

__all__ = ["iqm", "mean", "median", "optimality_gap", "stratified_bootstrap_ci", "aggregate",
           "performance_profile", "probability_of_improvement"]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Aggregate = Callable[[np.ndarray], np.ndarray]


def _as_matrix(scores: object, name: str = "scores") -> np.ndarray:
    """``(n_runs,)`` or ``(n_runs, n_tasks)`` → float64 ``(n_runs, n_tasks)``; rejects empty/NaN."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ConfigError(f"{name} must be (n_runs,) or (n_runs, n_tasks), got shape {arr.shape}")
    if arr.size == 0:
        raise ConfigError(f"{name} is empty: pass at least one run")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} holds NaN or Inf: drop failed runs before aggregating")
    return arr


def _flat(x: np.ndarray) -> np.ndarray:
    """Flatten the trailing (runs, tasks) axes: ``(..., n_runs, n_tasks)`` → ``(..., n)``."""
    return x.reshape(*x.shape[:-2], -1)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over all runs and tasks (trims 25 % at each end).

    Matches ``scipy.stats.trim_mean(scores, 0.25, axis=None)`` (rliable's definition):
    with ``n`` scores, ``int(0.25 n)`` are dropped from each end.

    Args:
        scores: ``(..., n_runs, n_tasks)``; leading axes are batch axes (bootstrap reps).

    Returns:
        ``(...)`` float64.
    """
    x = np.sort(_flat(np.asarray(scores, dtype=np.float64)), axis=-1)
    n = x.shape[-1]
    k = int(0.25 * n)
    return x[..., k:n - k].mean(axis=-1)


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over runs and tasks; ``(..., n_runs, n_tasks)`` → ``(...)``."""
    return _flat(np.asarray(scores, dtype=np.float64)).mean(axis=-1)


def median(scores: np.ndarray) -> np.ndarray:
    """Median over runs and tasks; ``(..., n_runs, n_tasks)`` → ``(...)``."""
    return np.median(_flat(np.asarray(scores, dtype=np.float64)), axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Mean shortfall below ``gamma`` (normalised scores): ``mean(max(gamma - x, 0))``."""
    x = _flat(np.asarray(scores, dtype=np.float64))
    return np.maximum(gamma - x, 0.0).mean(axis=-1)


def _bootstrap_samples(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, n_runs, n_tasks)``: runs resampled with replacement, independently per task."""
    n_runs, n_tasks = x.shape
    idx = rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))
    return np.take_along_axis(np.broadcast_to(x, (reps, n_runs, n_tasks)), idx, axis=1)


def stratified_bootstrap_ci(scores: object, statistic: Aggregate = iqm, *, reps: int = 2000,
                            confidence: float = 0.95, seed: int | None = 0,
                            chunk: int = 500) -> tuple[float, float, float]:
    """Point estimate and percentile CI of ``statistic`` by stratified bootstrap.

    Args:
        scores: ``(n_runs,)`` or ``(n_runs, n_tasks)`` final scores, one row per seed.
        statistic: vectorised aggregate mapping ``(..., n_runs, n_tasks)`` → ``(...)``
            (:func:`iqm`, :func:`mean`, :func:`median`, :func:`optimality_gap`).
        reps: bootstrap replications.
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the bootstrap's own ``np.random.Generator`` (the global RNG is untouched).
        chunk: replications computed at once (bounds memory).

    Returns:
        ``(estimate, ci_low, ci_high)``; a single run gives a zero-width interval.

    Raises:
        ConfigError: empty/NaN scores, bad ``reps`` or ``confidence``.
    """
    x = _as_matrix(scores)
    if reps < 1:
        raise ConfigError(f"reps must be >= 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    point = float(statistic(x[None])[0])
    stats = np.concatenate([statistic(_bootstrap_samples(x, min(chunk, reps - s), rng))
                            for s in range(0, reps, chunk)])
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return point, float(lo), float(hi)


_STATISTICS: dict[str, Aggregate] = {"iqm": iqm, "mean": mean, "median": median,
                                     "optimality_gap": optimality_gap}


def aggregate(scores: Mapping[str, object], *, statistics: tuple[str, ...] = ("iqm", "mean",
              "median"), reps: int = 2000, confidence: float = 0.95,
              seed: int | None = 0) -> pd.DataFrame:
    """Per-algorithm aggregates with stratified bootstrap CIs, as a tidy DataFrame.

    Args:
        scores: ``{algorithm: (n_runs,) or (n_runs, n_tasks)}`` score arrays.
        statistics: names among ``iqm``, ``mean``, ``median``, ``optimality_gap``.
        reps, confidence, seed: see :func:`stratified_bootstrap_ci`.

    Returns:
        Columns ``algorithm, statistic, estimate, ci_low, ci_high, n_runs, n_tasks``.

    Raises:
        ConfigError: unknown statistic, empty or non-finite scores.
    """
    import pandas as pd

    rows = []
    for name in statistics:
        if name not in _STATISTICS:
            raise ConfigError(f"unknown statistic {name!r}; valid: {sorted(_STATISTICS)}")
    for algo, s in scores.items():
        x = _as_matrix(s, f"scores[{algo!r}]")
        for name in statistics:
            est, lo, hi = stratified_bootstrap_ci(x, _STATISTICS[name], reps=reps,
                                                  confidence=confidence, seed=seed)
            rows.append({"algorithm": algo, "statistic": name, "estimate": est, "ci_low": lo,
                         "ci_high": hi, "n_runs": x.shape[0], "n_tasks": x.shape[1]})
    return pd.DataFrame(rows, columns=["algorithm", "statistic", "estimate", "ci_low", "ci_high",
                                       "n_runs", "n_tasks"])


def performance_profile(scores: object, thresholds: object) -> np.ndarray:
    """Score distribution: fraction of all runs (and tasks) with score > each threshold.

    Args:
        scores: ``(n_runs,)`` or ``(n_runs, n_tasks)``.
        thresholds: ``(K,)`` thresholds τ.

    Returns:
        ``(K,)`` float64 in [0, 1], non-increasing in τ for sorted thresholds.
    """
    x = _as_matrix(scores).ravel()
    tau = np.asarray(thresholds, dtype=np.float64).ravel()
    return (x[None, :] > tau[:, None]).mean(axis=1)


def probability_of_improvement(x: object, y: object) -> float:
    """P(X > Y) averaged over tasks (ties count one half), as in rliable.

    Args:
        x, y: ``(n_runs_x, n_tasks)`` and ``(n_runs_y, n_tasks)`` scores of two algorithms.

    Raises:
        ConfigError: different numbers of tasks.
    """
    a, b = _as_matrix(x, "x"), _as_matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"x has {a.shape[1]} tasks and y {b.shape[1]}: pass the same tasks")
    gt = (a[:, None, :] > b[None, :, :]).mean(axis=(0, 1))
    eq = (a[:, None, :] == b[None, :, :]).mean(axis=(0, 1))
    return float((gt + 0.5 * eq).mean())
