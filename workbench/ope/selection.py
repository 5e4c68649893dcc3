r"""How good is each estimator at telling policies apart?  Metrics against ground truth.

For one estimator with estimates :math:`\hat J(\pi)` and true values :math:`J(\pi)` over the
candidate policies :math:`\Pi` (``m`` of them), and :math:`\Pi_k` the ``k`` policies with the
highest *estimates*:

``rmse``                 :math:`\sqrt{\tfrac1m \sum_\pi (\hat J(\pi) - J(\pi))^2}`
``mean_relative_error``  :math:`\tfrac1m \sum_\pi |\hat J(\pi) - J(\pi)| / |J(\pi)|` (policies with
                         :math:`J = 0` are left out; NaN if all are)
``normalized_abs_error`` DOPE's :math:`\tfrac1m \sum_\pi |\hat J - J| / (\max J - \min J)`
``spearman``             Spearman rank correlation of :math:`\hat J` and :math:`J` (NaN when
                         either is constant, or fewer than 2 policies)
``regret@k``             :math:`\max_\Pi J - \max_{\Pi_k} J` (raw units)
``nregret@k``            DOPE's normalised regret: ``regret@k`` / :math:`(\max_\Pi J - \min_\Pi J)`
``sharpe@k``             SharpeRatio@k of Kiyohara et al. 2023:
                         :math:`(\max_{\Pi_k} J - J(\pi_b)) / \mathrm{std}_{\Pi_k} J`, with
                         the **population** standard deviation (``ddof=0``,
                         :math:`\sqrt{\tfrac1k\sum(J-\bar J)^2}`) as in the paper.  Undefined
                         (NaN) for ``k = 1`` and when the top-k true values are all equal.
                         The paper counts the behaviour policy among the candidates; add it to
                         ``policies`` to do the same.
``type_i_error``         among policies with :math:`J < \tau`, the fraction judged
                         :math:`\hat J \ge \tau` (a harmful policy passes); NaN when none has
                         :math:`J < \tau`
``type_ii_error``        among policies with :math:`J \ge \tau`, the fraction judged
                         :math:`\hat J < \tau` (a good policy is rejected); NaN when none

The threshold :math:`\tau` defaults to the behaviour policy's value :math:`J(\pi_b)`.
``J(pi_b)`` defaults to ``frame.attrs["behavior_value"]``, which :func:`evaluate_ope` sets to
the dataset's mean discounted episode return (the on-policy estimate of the behaviour policy's
value — meaningful when one stationary policy logged the data).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import OPEError

__all__ = ["ope_selection_metrics"]


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _metrics(est: np.ndarray, true: np.ndarray, ks: Sequence[int], behavior_value: float,
             threshold: float, judge: np.ndarray) -> dict[str, float]:
    m = len(est)
    err = est - true
    nz = true != 0
    spread = float(true.max() - true.min())
    out = {"n_policies": m,
           "rmse": float(np.sqrt(np.mean(err ** 2))),
           "mean_relative_error": float(np.mean(np.abs(err[nz]) / np.abs(true[nz])))
           if nz.any() else float("nan"),
           "normalized_abs_error": float(np.mean(np.abs(err)) / spread) if spread > 0
           else float("nan"),
           "spearman": _spearman(est, true)}
    # rank by estimate, ties broken by listing order (stable)
    order = np.argsort(-est, kind="stable")
    best = float(true.max())
    for k in ks:
        if k > m:
            out[f"regret@{k}"] = out[f"nregret@{k}"] = out[f"sharpe@{k}"] = float("nan")
            continue
        top = true[order[:k]]
        regret = best - float(top.max())
        out[f"regret@{k}"] = regret
        out[f"nregret@{k}"] = regret / spread if spread > 0 else 0.0
        sd = float(np.std(top))  # population std (ddof=0), as in Kiyohara et al.
        if k >= 2 and sd > 0 and np.isfinite(behavior_value):
            out[f"sharpe@{k}"] = (float(top.max()) - behavior_value) / sd
        else:
            out[f"sharpe@{k}"] = float("nan")
    if np.isfinite(threshold):
        bad, good = true < threshold, true >= threshold
        passed = judge >= threshold
        out["type_i_error"] = float(np.mean(passed[bad])) if bad.any() else float("nan")
        out["type_ii_error"] = float(np.mean(~passed[good])) if good.any() else float("nan")
    else:
        out["type_i_error"] = out["type_ii_error"] = float("nan")
    out["threshold"] = threshold
    out["behavior_value"] = behavior_value
    return out


def ope_selection_metrics(frame: pd.DataFrame, *, ks: Sequence[int] = (1, 3),
                          threshold: float | None = None, behavior_value: float | None = None,
                          true_column: str = "true_value",
                          use_lower_bound: bool = False) -> pd.DataFrame:
    """Per-estimator OPE quality metrics (see the module docstring for the definitions).

    Args:
        frame: :func:`evaluate_ope`'s output (columns ``policy``, ``estimator``, ``estimate``,
            ``ci_low`` and ``true_column``), one row per (policy, estimator).
        ks: the ``k`` of regret@k and SharpeRatio@k (values above the number of policies
            give NaN).
        threshold: the Type I/II threshold τ (default: the behaviour value).
        behavior_value: ``J(pi_b)`` for SharpeRatio@k (default: ``frame.attrs
            ["behavior_value"]``; NaN metrics when neither is known).
        true_column: the ground-truth column.
        use_lower_bound: judge "passes the threshold" by ``ci_low`` instead of the estimate
            (a high-confidence selection rule).

    Returns:
        One row per estimator (index ``estimator``), columns ``n_policies``, ``rmse``,
        ``mean_relative_error``, ``normalized_abs_error``, ``spearman``, ``regret@k``,
        ``nregret@k``, ``sharpe@k`` for each k, ``type_i_error``, ``type_ii_error``,
        ``threshold``, ``behavior_value``.  Estimators with a NaN estimate for some policy
        get NaN metrics and a warning.

    Raises:
        OPEError: missing columns (no ground truth: pass ``env=`` to evaluate_ope), duplicate
            (policy, estimator) rows, bad ``ks``.
    """
    need = {"policy", "estimator", "estimate", true_column}
    if use_lower_bound:
        need.add("ci_low")
    missing = need - set(frame.columns)
    if missing:
        raise OPEError(f"ope_selection_metrics needs columns {sorted(missing)}"
                       + (" (ground truth: call evaluate_ope with env=...)"
                          if true_column in missing else ""))
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise OPEError(f"ks must be positive integers, got {ks}")
    if frame.duplicated(["policy", "estimator"]).any():
        raise OPEError("frame has duplicate (policy, estimator) rows")
    if behavior_value is None:
        behavior_value = frame.attrs.get("behavior_value", float("nan"))
    behavior_value = float(behavior_value) if behavior_value is not None else float("nan")
    thr = float(threshold) if threshold is not None else behavior_value
    rows = {}
    for name, g in frame.groupby("estimator", sort=False):
        est = g["estimate"].to_numpy(np.float64)
        true = g[true_column].to_numpy(np.float64)
        if not np.isfinite(true).all():
            raise OPEError(f"ground truth column {true_column!r} holds NaN for estimator "
                           f"{name!r}")
        if not np.isfinite(est).all():
            warnings.warn(f"estimator {name!r} has NaN estimates for "
                          f"{int((~np.isfinite(est)).sum())} policies; its selection metrics "
                          "are NaN", RuntimeWarning, stacklevel=2)
            res = _metrics(np.zeros_like(true), true, ks, behavior_value, thr, np.zeros_like(true))
            rows[name] = {k: (v if k in ("n_policies", "threshold", "behavior_value")
                              else float("nan")) for k, v in res.items()}
            continue
        judge = g["ci_low"].to_numpy(np.float64) if use_lower_bound else est
        rows[name] = _metrics(est, true, ks, behavior_value, thr, judge)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "estimator"
    return out
