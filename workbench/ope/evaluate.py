"""``evaluate_ope``: every requested estimator for every policy, with intervals and truth."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import EpisodeDataset
from ..errors import ConfigError
from ._chunks import map_transitions
from .behavior import behavior_log_prob
from .estimators import (
    IS_ESTIMATORS,
    MODEL_ESTIMATORS,
    EpisodeEstimators,
    percentile_interval,
)
from .fqe import QFunctionModel, fit_fqe, q_and_v
from .policy import make_policy
from .settings import DEFAULT_ESTIMATORS, OPESettings

__all__ = ["evaluate_ope", "COLUMNS"]

#: Columns of evaluate_ope's output (the ``true_*`` ones only when ``env`` is given).
COLUMNS = ("policy", "estimator", "estimate", "ci_low", "ci_high", "ci_method", "flag",
           "true_value", "true_ci_low", "true_ci_high",
           "true_return", "true_return_ci_low", "true_return_ci_high",
           "ess", "ess_fraction", "max_weight_share", "zero_weight_fraction",
           "weight_clip", "clipped", "clipped_fraction",
           "policy_kind", "behavior_source", "gamma", "n_episodes")

#: An importance-weighted estimate is flagged when its effective sample size is below this
#: fraction of the episodes ...
MIN_ESS_FRACTION = 0.05
#: ... or when one episode carries more than this share of the total weight.
MAX_WEIGHT_SHARE = 0.5


def reliability_flag(estimator: str, ess_fraction: float, max_weight_share: float,
                     q_out_of_range: bool = False, zero_weight_fraction: float = 0.0) -> str:
    """Why an estimate cannot be trusted, in words (``""`` when nothing is wrong).

    Importance-weighted estimators (IS, WIS, PDIS, WPDIS, DR, WDR) are flagged when the
    effective sample size is below :data:`MIN_ESS_FRACTION` of the episodes or one episode
    holds more than :data:`MAX_WEIGHT_SHARE` of the weight; estimators built on a fitted
    Q-function (FQE, DR, WDR) when its values leave the range of possible discounted returns.
    """
    why = []
    if estimator in IS_ESTIMATORS:
        if zero_weight_fraction >= 1.0:
            why.append("every episode has zero weight (the policy never takes the logged "
                       "actions)")
        elif np.isfinite(ess_fraction) and ess_fraction < MIN_ESS_FRACTION:
            why.append(f"low effective sample size ({100 * ess_fraction:.1f} % of episodes)")
        if np.isfinite(max_weight_share) and max_weight_share > MAX_WEIGHT_SHARE:
            why.append(f"one episode holds {100 * max_weight_share:.0f} % of the weight")
    if estimator in MODEL_ESTIMATORS and q_out_of_range:
        why.append("Q-values beyond the possible returns (FQE diverged or extrapolates)")
    return "; ".join(why)


def _as_mapping(policies: Any) -> dict[str, Any]:
    if isinstance(policies, Mapping):
        if not policies:
            raise ConfigError("policies is empty")
        return {str(k): v for k, v in policies.items()}
    if isinstance(policies, (str, bytes)) or not isinstance(policies, Sequence):
        policies = [policies]
    if not policies:
        raise ConfigError("policies is empty")
    out = {}
    for i, p in enumerate(policies):
        name = p if isinstance(p, str) else getattr(p, "run_id", None) or f"policy_{i}"
        out[str(name)] = p
    return out


def evaluate_ope(ds: EpisodeDataset | str, policies: Any,
                 estimators: Sequence[str] | str = DEFAULT_ESTIMATORS,
                 behavior: Any = None, env: Any = None, gamma: float = 0.99,
                 n_bootstrap: int = 1000, *, ci: float = 0.95, epsilon: float = 0.1,
                 temperature: float | None = None, bandwidth: float = 0.2,
                 weight_clip: float | None = None,
                 q_functions: Mapping[str, Callable] | None = None,
                 fqe_config: Mapping[str, Any] | None = None, fqe_refits: int = 0,
                 n_folds: int = 5,
                 n_rollouts: int = 100, seed: int = 0, device: str = "cpu:0",
                 progress: bool = False) -> pd.DataFrame:
    """Off-policy estimates of each policy's value on ``ds``, with bootstrap intervals.

    The value of a policy is its expected discounted return ``E[sum_t gamma^t r_t]`` from the
    dataset's initial-state distribution, episodes ending as the dataset's do (terminal states
    or the same time limit).  Estimator formulas are in :mod:`workbench.ope.estimators`; how
    policies are made stochastic in :mod:`workbench.ope.policy`; behaviour probabilities in
    :mod:`workbench.ope.behavior`; FQE in :mod:`workbench.ope.fqe`.

    Args:
        ds: the dataset (or anything :func:`workbench.load_dataset` accepts).
        policies: ``{name: policy}`` or a list; each a d3rlpy algorithm, a training job
            (``.policy``), a run id, a callable ``obs (B, d) -> actions`` or a policy object.
            A decision transformer (or its job, run or ``StatefulTransformerWrapper``) is
            return-conditioned: no estimator applies to it (OPEError saying why); with
            ``estimators=[]`` and ``env`` it is rolled out at its target return (see
            :mod:`workbench.ope.policy`).
        estimators: names among ``fqe`` (alias ``dm``), ``is``, ``wis``, ``pdis``, ``wpdis``,
            ``dr``, ``wdr``; ``[]`` with ``env``: only the simulator's true value, one row per
            policy with ``estimator="truth"`` (what applies to decision transformers).
        behavior: behaviour probabilities: ``None`` (logged, else estimated), ``"logged"``,
            ``"bc"``, an (N,) array of log-probabilities or a policy object.
        env: a gymnasium id, env or env factory: adds on-policy ground truth (``n_rollouts``
            episodes of the evaluated policy), discounted with ``gamma`` and undiscounted.
        gamma: discount in (0, 1].
        n_bootstrap: bootstrap resamples of episodes for the percentile intervals of the
            importance-weighted estimators (0: none).  DR/WDR resample episodes with the
            fitted Q-function held fixed.
        fqe_refits: FQE/DM's interval: refit FQE this many times, each on a bootstrap
            resample of episodes with its own seed, and take the percentile interval of the
            refits' estimates, so it covers the fitting variation as well as the data.  ``0``
            (default) reports FQE as a point estimate (``ci_low``/``ci_high`` NaN): one fit
            says nothing about its own error.  Each refit costs one FQE fit; 10-20 give a
            usable interval.
        ci: confidence level of the intervals.
        epsilon: ε of ε-soft greedy discrete policies.
        temperature: softmax temperature over Q instead of ε-greedy (d3rlpy Q-learners only).
        bandwidth: kernel bandwidth for deterministic continuous policies (fraction of half
            the action range).
        weight_clip: cap on cumulative importance weights (``None``: no clipping); reported
            in the ``weight_clip``, ``clipped`` and ``clipped_fraction`` columns.
        q_functions: ``{policy name: q}`` to use instead of fitting FQE: ``q(obs) -> (B, n)``
            (discrete) or ``q(obs, actions) -> (B,)`` (continuous), e.g. an exact Q.
        fqe_config: overrides for :func:`workbench.ope.fqe.fit_fqe` (``n_steps``, ...).
        n_folds: cross-fitting folds of an estimated behaviour model.
        n_rollouts: ground-truth episodes per policy.
        seed: seeds FQE, the behaviour model, the bootstrap (same resamples for every policy)
            and the rollouts.
        device: torch device for FQE.
        progress: show progress bars.

    Returns:
        A tidy DataFrame, one row per (policy, estimator), columns as in :data:`COLUMNS`:
        ``estimate``/``ci_low``/``ci_high``; ``ci_method`` (how the interval was made, or
        why there is none); ``flag`` (why the estimate cannot be trusted, see
        :func:`reliability_flag`; ``""`` when nothing is wrong); ``true_*`` (with ``env``);
        the weight
        diagnostics ``ess``, ``ess_fraction``, ``max_weight_share``, ``zero_weight_fraction``
        (NaN for FQE); ``weight_clip`` (NaN: none), ``clipped`` (clipping was on and changed
        at least one weight), ``clipped_fraction``; ``policy_kind`` (how the policy was made
        stochastic), ``behavior_source``, ``gamma``, ``n_episodes``.  ``frame.attrs`` holds
        ``gamma``, ``behavior_value`` (the dataset's mean discounted return) and
        ``behavior_return`` (mean undiscounted return).

    Raises:
        ConfigError: unknown estimator, gamma outside (0, 1], bad ci/n_bootstrap/epsilon/...
        OPEError: policy/dataset/env space mismatch, zero or NaN behaviour probabilities of
            logged actions, a policy that cannot be resolved, an estimator asked of a
            decision transformer.  Estimates that are undefined
            (e.g. every importance weight zero) are NaN with a RuntimeWarning.
    """
    if isinstance(ds, (str, bytes)) or hasattr(ds, "__fspath__"):
        from ..data.io import load_dataset

        ds = load_dataset(ds)
    if not isinstance(ds, EpisodeDataset):
        raise ConfigError(f"ds must be an EpisodeDataset, got {type(ds).__name__}")
    st = OPESettings(estimators=estimators, behavior=behavior, ground_truth=env is not None,
                     gamma=gamma,
                     n_bootstrap=n_bootstrap, ci=ci, epsilon=epsilon, temperature=temperature,
                     bandwidth=bandwidth, weight_clip=weight_clip,
                     fqe_config=dict(fqe_config or {}), fqe_refits=fqe_refits, n_folds=n_folds,
                     n_rollouts=n_rollouts, seed=seed, device=device,
                     progress=progress).resolve()
    return _evaluate(ds, policies, st, dict(q_functions or {}), env)


def _evaluate(ds: EpisodeDataset, policies: Any, st: OPESettings,
              q_functions: dict[str, Callable], env: Any) -> pd.DataFrame:
    """evaluate_ope with its settings resolved (see there)."""
    names = list(st.estimators)
    gamma, ci, seed = st.gamma, st.ci, st.seed
    n_bootstrap, fqe_refits = st.n_bootstrap, st.fqe_refits
    pols = _as_mapping(policies)
    unknown_q = set(q_functions) - set(pols)
    if unknown_q:
        raise ConfigError(f"q_functions names {sorted(unknown_q)} are not among the policies "
                          f"{sorted(pols)}")

    eval_pols = {n: make_policy(p, ds, name=n, epsilon=st.epsilon, temperature=st.temperature,
                                bandwidth=st.bandwidth) for n, p in pols.items()}
    if names:  # decision transformers: no estimator applies (before any model is fitted)
        for pol in eval_pols.values():
            pol.require_markov(f"off-policy estimation ({', '.join(names)})")
    env_obj = None
    if env is not None:
        from .ground_truth import _is_instance, check_env_matches, make_env

        env_obj = make_env(env)()
        try:
            check_env_matches(env_obj, ds)
        finally:
            if not _is_instance(env):
                env_obj.close()

    need_w = any(n in IS_ESTIMATORS for n in names)
    need_q = any(n in MODEL_ESTIMATORS for n in names)
    logb, bsource = (behavior_log_prob(ds, st.behavior, n_folds=st.n_folds, seed=seed)
                     if need_w else (None, "not needed"))
    starts = ds.offsets[:-1]
    disc_ret = np.add.reduceat(ds.rewards.astype(np.float64)
                               * gamma ** (np.arange(ds.n_transitions) - np.repeat(
                                   starts, ds.episode_lengths)), starts)

    rows = []
    for pname, pol in eval_pols.items():
        log_ratio = None
        if need_w:
            log_ratio = map_transitions(ds, pol.log_prob) - logb  # (images: by chunks)
        q_taken = v = None
        q_out = False
        refit_ci = (math.nan, math.nan)
        if need_q:
            if pname in q_functions:
                model: Any = QFunctionModel(q_functions[pname], pol)
            else:
                model = fit_fqe(ds, pol, gamma, seed=seed, device=st.device,
                                config=dict(st.fqe_config), progress=st.progress)
                if fqe_refits and "fqe" in names:
                    refit_ci = _fqe_refit_interval(ds, pol, gamma, fqe_refits, ci, seed=seed,
                                                   device=st.device, config=dict(st.fqe_config),
                                                   progress=st.progress)
            q_taken, v = q_and_v(model, ds)
            bound = float(np.abs(ds.rewards).max()) / (1.0 - gamma) if gamma < 1 else math.inf
            q_out = bool(np.abs(v).max() > 1.05 * bound)
            if q_out:
                warnings.warn(f"policy {pname!r}: the Q-function's values reach "
                              f"{np.abs(v).max():.4g}, beyond the largest possible discounted "
                              f"return max|r|/(1-gamma) = {bound:.4g}: FQE diverged or "
                              "extrapolates to actions the data does not cover; its FQE/DR/WDR "
                              "estimates are unreliable", RuntimeWarning, stacklevel=2)
        est = EpisodeEstimators(ds.rewards, ds.offsets, gamma, log_ratio=log_ratio,
                                q_taken=q_taken, v=v, weight_clip=st.weight_clip)
        values = {n: est.estimate(n) for n in names}
        reps = est.bootstrap(names, int(n_bootstrap), seed=seed) if n_bootstrap else {}
        diag = est.diagnostics()
        truth = {}
        if env is not None:
            from .ground_truth import true_value

            truth = true_value(env, pol, st.n_rollouts, gamma=gamma, seed=seed, ci=ci)
        if not names:  # the simulator's true value alone
            rows.append({"policy": pname, "estimator": "truth", "estimate": truth["true_value"],
                         "ci_low": truth["true_ci_low"], "ci_high": truth["true_ci_high"],
                         "ci_method": f"percentile bootstrap over {st.n_rollouts} simulator "
                                      "rollouts (ground truth)", "flag": "",
                         **{k: v for k, v in truth.items() if k != "true_n_episodes"},
                         "policy_kind": pol.describe(), "behavior_source": "not needed",
                         "gamma": gamma, "n_episodes": ds.n_episodes})
        for n in names:
            is_w = n in IS_ESTIMATORS
            if n in ("fqe", "dm") and pname not in q_functions:
                lo, hi = refit_ci
                method = (f"percentile over {fqe_refits} FQE refits on bootstrap resamples"
                          if fqe_refits else
                          "none: point estimate of one fit (fqe_refits=k gives an interval)")
            else:  # (a given Q-function is fixed: resampling episodes is all there is)
                ok = n_bootstrap and np.isfinite(values[n])
                lo, hi = percentile_interval(reps[n], ci) if ok else (math.nan, math.nan)
                method = (f"percentile bootstrap over episodes ({int(n_bootstrap)} resamples"
                          f"{', Q held fixed' if n in MODEL_ESTIMATORS else ''})"
                          if n_bootstrap else "none (n_bootstrap=0)")
            row = {"policy": pname, "estimator": n, "estimate": values[n],
                   "ci_low": lo, "ci_high": hi, "ci_method": method,
                   "flag": reliability_flag(n, diag.ess_fraction if is_w else math.nan,
                                            diag.max_weight_share if is_w else math.nan,
                                            q_out, diag.zero_weight_fraction if is_w else 0.0)}
            if truth:
                row.update({k: truth[k] for k in ("true_value", "true_ci_low", "true_ci_high",
                                                  "true_return", "true_return_ci_low",
                                                  "true_return_ci_high")})
            row.update({"ess": diag.ess if is_w else math.nan,
                        "ess_fraction": diag.ess_fraction if is_w else math.nan,
                        "max_weight_share": diag.max_weight_share if is_w else math.nan,
                        "zero_weight_fraction": diag.zero_weight_fraction if is_w else math.nan,
                        "weight_clip": (float(st.weight_clip)
                                        if st.weight_clip is not None and is_w else math.nan),
                        "clipped": bool(is_w and st.weight_clip is not None
                                        and diag.clipped_fraction > 0),
                        "clipped_fraction": diag.clipped_fraction if is_w else math.nan,
                        "policy_kind": pol.describe(),
                        "behavior_source": bsource if is_w else "not needed",
                        "gamma": gamma, "n_episodes": ds.n_episodes})
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if any(c in r for r in rows)])
    frame.attrs.update({"gamma": gamma, "behavior_value": float(disc_ret.mean()),
                        "behavior_return": float(ds.episode_returns().mean())})
    return frame


def _fqe_refit_interval(ds: EpisodeDataset, pol: Any, gamma: float, k: int, ci: float, *,
                        seed: int, device: str, config: dict[str, Any],
                        progress: bool) -> tuple[float, float]:
    """Percentile interval of FQE's estimate over ``k`` refits, each on a bootstrap resample
    of episodes (multinomial counts) with its own seed; each refit's estimate averages its
    ``Vhat`` over the resample's initial states."""
    rng = np.random.default_rng([seed, 0xF0E])
    E = ds.n_episodes
    s0 = ds.observations[ds.offsets[:-1] + np.arange(E)]
    values = np.empty(k)
    for r in range(k):
        counts = rng.multinomial(E, np.full(E, 1.0 / E))
        model = fit_fqe(ds, pol, gamma, seed=seed + 1 + r, device=device, config=config,
                        progress=progress, episode_counts=counts)
        values[r] = float(np.dot(counts, model.value(s0)) / E)
    return percentile_interval(values, ci)
