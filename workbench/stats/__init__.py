"""Aggregate scores across seeds the way rliable does (Agarwal et al., NeurIPS 2021).

Small pure-numpy functions on score arrays.  Shapes follow rliable: a *score matrix* is
``(n_runs, n_tasks)`` (one row per seed, one column per task/dataset); a 1-D array is
treated as ``(n_runs, 1)``.

- :func:`iqm` — interquartile mean: the mean of the middle 50 % of all scores.
- :func:`stratified_bootstrap_ci` — percentile confidence interval of any aggregate,
  resampling runs with replacement *within each task* (stratified bootstrap).
- :func:`aggregate` — a tidy DataFrame of IQM, mean, median and optimality gap with CIs.
- :func:`performance_profile` — fraction of runs with score above each threshold.
- :func:`probability_of_improvement` — P(X > Y) across tasks (Mann–Whitney statistic).
- :func:`curves_across_seeds` — learning curves across seeds: per step, the mean, the IQM
  and the IQM's bootstrap band (what the dashboard's across-seeds view draws);
  :func:`step_summary` — the same for one step.
- :func:`compare` — are these agents different?  AdaStop's pairwise decisions with
  family-wise error control (the ``adastop`` package); :class:`SequentialComparison` runs
  it stage by stage while seeds are added; :func:`improvement_matrix`,
  :func:`performance_profiles` and :func:`final_scores` give the across-seeds view its
  tables.
"""

from .aggregate import (
    aggregate,
    iqm,
    mean,
    median,
    optimality_gap,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap_ci,
)
from .compare import (
    COMPARE_COLUMNS,
    DECISIONS,
    SequentialComparison,
    compare,
    final_scores,
    improvement_matrix,
    performance_profiles,
)
from .curves import CURVE_COLUMNS, curves_across_seeds, step_summary

__all__ = ["iqm", "mean", "median", "optimality_gap", "stratified_bootstrap_ci", "aggregate",
           "performance_profile", "probability_of_improvement", "curves_across_seeds",
           "step_summary", "CURVE_COLUMNS", "compare", "SequentialComparison", "final_scores",
           "improvement_matrix", "performance_profiles", "DECISIONS", "COMPARE_COLUMNS"]
