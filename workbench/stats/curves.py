"""Learning curves across seeds: per step, the mean, the IQM and the IQM's bootstrap band.

What the dashboard's across-seeds view draws, as plain functions a notebook calls too::

    from workbench.stats import curves_across_seeds
    agg = curves_across_seeds(store.metrics(ids), "eval/return", {rid: "cql" for rid in ids})
    workbench.ui.plots.aggregate_curves(agg)          # the same picture as the page

Every step is aggregated on its own: the values the runs of a group logged at that step are
the scores (``(n_runs,)``, one task), and the band is :func:`~.aggregate.stratified_bootstrap_ci`
of :func:`~.aggregate.iqm` over them (Agarwal et al., 2021).

Bootstrap parameters keep this package's names: ``reps`` (resamples) and ``confidence`` (the
interval's coverage).  :func:`workbench.evaluate_ope` calls the same two ``n_bootstrap``
and ``ci``; its names are public and stay.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .aggregate import iqm, mean, stratified_bootstrap_ci

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["step_summary", "curves_across_seeds", "CURVE_COLUMNS"]

#: Columns of :func:`curves_across_seeds`, in order.
CURVE_COLUMNS = ("group", "step", "n_runs", "mean", "iqm", "ci_low", "ci_high")


def step_summary(values: object, *, reps: int = 2000, confidence: float = 0.95,
                 seed: int | None = 0) -> dict[str, float]:
    """Across-seeds summary of one step.

    Args:
        values: ``(n_runs,)`` finite values, one per run (seed) at this step.
        reps, confidence, seed: see :func:`~.aggregate.stratified_bootstrap_ci`.

    Returns:
        ``{"n_runs", "mean", "iqm", "ci_low", "ci_high"}``: the band is the IQM's
        stratified-bootstrap percentile interval.

    Raises:
        ConfigError: empty or non-finite values, bad ``reps`` or ``confidence``.
    """
    vals = np.asarray(values, dtype=np.float64).ravel()
    est, lo, hi = stratified_bootstrap_ci(vals, iqm, reps=reps, confidence=confidence,
                                          seed=seed)
    return {"n_runs": len(vals), "mean": float(mean(vals)), "iqm": float(est),
            "ci_low": float(lo), "ci_high": float(hi)}


def curves_across_seeds(frame: pd.DataFrame, metric: str, groups: Mapping[str, Any], *,
                        reps: int = 2000, confidence: float = 0.95, seed: int | None = 0,
                        cache: MutableMapping[tuple, dict[str, Any]] | None = None
                        ) -> pd.DataFrame:
    """Per group and step: mean, IQM and the IQM's stratified-bootstrap CI across runs.

    Args:
        frame: tidy metric rows with columns ``run_id, step, name, value`` (e.g.
            :meth:`RunStore.metrics`); other columns are ignored.  When a run logged a
            step twice, its last row counts.
        metric: the metric name (rows of other metrics are ignored).
        groups: ``{run_id: group}`` (e.g. the algorithm); runs not in it are ignored.
        reps, confidence, seed: bootstrap settings, as in
            :func:`~.aggregate.stratified_bootstrap_ci`.
        cache: a dict kept between calls (a live view): a step whose values and settings
            are unchanged reuses its row instead of bootstrapping again, so a refresh costs
            the new steps only.  Keys hold the values, so a changed step is recomputed.

    Returns:
        Columns :data:`CURVE_COLUMNS` (``group, step, n_runs, mean, iqm, ci_low, ci_high``),
        one row per (group, step) that at least two runs of the group have reached with a
        finite value; sorted by group, then step.

    Raises:
        ConfigError: ``frame`` lacks one of ``run_id, step, name, value``; bad ``reps`` or
            ``confidence``.
    """
    import pandas as pd

    missing = [c for c in ("run_id", "step", "name", "value") if c not in frame.columns]
    if missing:
        raise ConfigError(f"curves_across_seeds needs columns {missing} (tidy metric rows, "
                          "e.g. RunStore.metrics())")
    sel = frame[(frame["name"] == metric) & frame["run_id"].isin(list(groups))]
    rows = []
    if not sel.empty:
        sel = sel.assign(group=sel["run_id"].map(groups))
        sel = sel.drop_duplicates(["run_id", "step"], keep="last")
        for (g, step), d in sel.groupby(["group", "step"], sort=True):
            vals = d["value"].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            if len(vals) < 2:
                continue
            key = (metric, g, int(step), reps, confidence, seed, vals.tobytes())
            row = cache.get(key) if cache is not None else None
            if row is None:
                row = {"group": g, "step": int(step),
                       **step_summary(vals, reps=reps, confidence=confidence, seed=seed)}
                if cache is not None:
                    cache[key] = row
            rows.append(row)
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
