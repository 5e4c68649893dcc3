"""Are these agents different, and how many seeds are enough?  AdaStop, through ``adastop``.

AdaStop (Mathieu et al., 2023) is a sequential permutation test over *stages*: at each
stage every agent still in an undecided pair adds ``n`` evaluations (seeds); the test then
decides the pairs it can — ``larger``, ``smaller`` or ``equal`` — keeping the family-wise
error of all pairwise decisions below ``alpha``, and stops early when every pair is
decided; after ``K`` stages the open pairs are declared ``equal``.  The test itself is the
``adastop`` package's :class:`adastop.MultipleAgentsComparator`, called here, not
re-implemented.

- :class:`SequentialComparison` — the test stage by stage, for experiments that add seeds
  between stages (:meth:`workbench.Sweep.run_until_decided`).
- :func:`compare` — the test over scores you already have (the stages are consecutive
  slices of each agent's scores), or over a sweep or recorded runs.
- :func:`final_scores` — each run's final score from tidy metric rows.
- :func:`improvement_matrix` and :func:`performance_profiles` — rliable's probability of
  improvement for every pair and score distributions, as tidy frames (the dashboard's
  across-seeds view draws them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .aggregate import performance_profile, probability_of_improvement

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["compare", "SequentialComparison", "final_scores", "improvement_matrix",
           "performance_profiles", "DECISIONS", "COMPARE_COLUMNS"]

#: AdaStop's decisions: agent_a's mean is significantly larger / smaller than agent_b's, or
#: the test accepted that they are equal (at the last stage: could not tell them apart).
DECISIONS = ("larger", "smaller", "equal")

#: Columns of :func:`compare`, in order.
COMPARE_COLUMNS = ("agent_a", "agent_b", "decision", "stage", "n_used_a", "n_used_b",
                   "mean_a", "mean_b", "mean_diff", "prob_improvement")


def _check_settings(n: Any, K: Any, alpha: Any, B: Any, beta: Any) -> None:
    for what, v in (("n", n), ("K", K), ("B", B)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{what} must be an integer >= 1, got {v!r}")
    if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"alpha (the family-wise error level) must be in (0, 1), got "
                          f"{alpha!r}")
    if not isinstance(beta, (int, float)) or not 0.0 <= float(beta) < 1.0:
        raise ConfigError(f"beta (power spent on early 'equal' decisions) must be in [0, 1), "
                          f"got {beta!r}")


def _scores_array(agent: str, values: object) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"scores of {agent!r} must be numbers, got {values!r}") from None
    if arr.size == 0:
        raise ConfigError(f"agent {agent!r} has no scores")
    if not np.isfinite(arr).all():
        raise ConfigError(f"scores of {agent!r} hold NaN or Inf (a failed run?): drop them "
                          "or rerun those seeds before comparing")
    return arr


class SequentialComparison:
    """AdaStop's test run stage by stage over agents that gain seeds between stages.

    Args:
        agents: the agent names (at least two); every pair is compared.
        n: evaluations (seeds) per agent added at each stage.
        K: the most stages (so at most ``n * K`` seeds per agent).
        alpha: family-wise error level of all pairwise decisions together.
        B: random permutations approximating the permutation distribution (all of them are
            enumerated when there are fewer).
        beta: power spent on early ``equal`` decisions (0: pairs are declared equal only
            at the last stage).
        seed: seed of the permutations.

    Raises:
        ConfigError: fewer than two agents, repeated names, bad settings.
    """

    def __init__(self, agents: Sequence[str], *, n: int, K: int, alpha: float = 0.05,
                 B: int = 10_000, beta: float = 0.0, seed: int | None = 0) -> None:
        agents = [str(a) for a in agents]
        if len(agents) < 2:
            raise ConfigError(f"comparing needs at least two agents, got {agents}")
        if len(set(agents)) != len(agents):
            raise ConfigError(f"agent names repeat: {agents}")
        _check_settings(n, K, alpha, B, beta)
        from adastop import MultipleAgentsComparator

        self.agents = agents
        self.n, self.K, self.alpha, self.B, self.beta = int(n), int(K), float(alpha), int(B), \
            float(beta)
        self.comparator = MultipleAgentsComparator(n=self.n, K=self.K, B=self.B,
                                                   alpha=self.alpha, beta=self.beta, seed=seed)
        self.stages = 0
        #: ``(i, j) -> stage`` (1-based) at which the pair was decided
        self.decided_at: dict[tuple[int, int], int] = {}
        self._scores: dict[str, np.ndarray] = {}

    @property
    def finished(self) -> bool:
        """No pair is left open (decided, or the last stage was run)."""
        return bool(self.comparator.is_finished) or self.stages >= self.K

    @property
    def decided_all(self) -> bool:
        """Every pair was decided before the last stage forced ``equal`` on the open ones
        (or at the last stage by the test itself)."""
        return bool(self.comparator.is_finished) and all(
            s < self.K or self._rejected_at_last(p) for p, s in self.decided_at.items())

    def _rejected_at_last(self, pair: tuple[int, int]) -> bool:
        return self._decision(pair) in ("larger", "smaller")

    def _pairs(self) -> list[tuple[int, int]]:
        comps = self.comparator.comparisons
        if comps is None:
            k = len(self.agents)
            return [(i, j) for i in range(k) for j in range(i + 1, k)]
        return [(int(c[0]), int(c[1])) for c in comps]

    def _decision(self, pair: tuple[int, int]) -> str:
        decisions = getattr(self.comparator, "decisions", None)
        if decisions is None:
            return "continue"
        return str(decisions[str(np.array(pair))])

    def active_agents(self) -> list[str]:
        """Agents in at least one open pair: those that need seeds for the next stage."""
        if self.stages == 0:
            return list(self.agents)
        if self.finished:
            return []
        current = self.comparator.current_comparisons
        idx = sorted({int(i) for c in current for i in c})
        return [self.agents[i] for i in idx]

    def update(self, scores: Mapping[str, object]) -> pd.DataFrame:
        """Run the next stage on the scores so far; returns :meth:`result`.

        Args:
            scores: ``{agent: (m,) scores}``: every agent of :meth:`active_agents` needs at
                least ``(stage + 1) * n`` (only the first that many are used); the other
                agents' earlier scores may be passed again or left out.

        Raises:
            ConfigError: the test is finished, an active agent has too few scores, an
                unknown agent, NaN/Inf scores.
        """
        if self.finished:
            raise ConfigError("the comparison is finished: every pair is decided or the last "
                              f"of K={self.K} stages was run")
        unknown = set(scores) - set(self.agents)
        if unknown:
            raise ConfigError(f"unknown agents {sorted(unknown)}; comparing {self.agents}")
        need = (self.stages + 1) * self.n
        for a in self.active_agents():
            if a not in scores:
                raise ConfigError(f"stage {self.stages + 1} needs {need} scores of {a!r}, got "
                                  "none")
            arr = _scores_array(a, scores[a])
            if arr.size < need:
                raise ConfigError(f"stage {self.stages + 1} needs {need} scores of {a!r} "
                                  f"(n={self.n} per stage), got {arr.size}")
            self._scores[a] = arr[:need]
        for a, v in scores.items():
            if a not in self._scores:
                self._scores[a] = _scores_array(a, v)
        missing = [a for a in self.agents if a not in self._scores]
        if missing:
            raise ConfigError(f"no scores for {missing}")
        # AdaStop reads the concatenated evaluations up to this stage, agents in order
        self.comparator.partial_compare({a: np.asarray(self._scores[a]) for a in self.agents},
                                        verbose=False)
        self.stages += 1
        for pair in self._pairs():
            if pair not in self.decided_at and self._decision(pair) != "continue":
                self.decided_at[pair] = self.stages
        return self.result()

    def result(self) -> pd.DataFrame:
        """One row per pair: :data:`COMPARE_COLUMNS` (``decision`` is ``continue`` for a
        pair still open).  ``mean_*`` and ``prob_improvement`` (P(a > b), ties count one
        half) are computed on the scores the pair's decision used."""
        import pandas as pd

        rows = []
        for i, j in self._pairs():
            a, b = self.agents[i], self.agents[j]
            stage = self.decided_at.get((i, j))
            used = (stage or self.stages) * self.n
            xa, xb = self._scores.get(a, np.array([]))[:used], self._scores.get(b, np.array(
                []))[:used]
            ok = xa.size > 0 and xb.size > 0
            rows.append({"agent_a": a, "agent_b": b, "decision": self._decision((i, j)),
                         "stage": stage if stage is not None else self.stages,
                         "n_used_a": int(xa.size), "n_used_b": int(xb.size),
                         "mean_a": float(xa.mean()) if xa.size else np.nan,
                         "mean_b": float(xb.mean()) if xb.size else np.nan,
                         "mean_diff": float(xa.mean() - xb.mean()) if ok else np.nan,
                         "prob_improvement": probability_of_improvement(xa, xb) if ok
                         else np.nan})
        df = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
        df.attrs.update({"alpha": self.alpha, "n": self.n, "K": self.K, "B": self.B,
                         "stages": self.stages, "finished": self.finished})
        return df


def compare(scores: Any, alpha: float = 0.05, *, n: int | None = None, K: int | None = None,
            B: int = 10_000, beta: float = 0.0, seed: int | None = 0,
            metric: str | None = None, last: int = 1, by: str = "algo",
            store: Any = None) -> pd.DataFrame:
    """Pairwise decisions between agents with family-wise error control (AdaStop).

    Args:
        scores: what to compare:

            * ``{agent: scores}``: one final score per seed (``(m,)`` array-likes);
            * a :class:`~workbench.training.Sweep` (its runs' final ``metric``, by algorithm);
            * run ids (a list of str): recorded runs of ``store``, grouped by ``by``
              (agents in the order their first run is listed).
        alpha: family-wise error level of all decisions together.
        n, K: seeds per stage and stages.  The stages are consecutive slices of each
            agent's scores (the first ``n``, the next ``n``, ...), so the table also says
            how many seeds each decision needed.  Default: one stage over all the seeds the
            smallest agent has (``n`` = that count, ``K`` = 1); with only ``n`` (or ``K``)
            given, the other is as large as the seeds allow.
        B: random permutations (all are enumerated when fewer: ``C(2n, n)``).
        beta: power spent on early ``equal`` decisions (0: ``equal`` only at the end).
        seed: seed of the permutations.
        metric, last: for a sweep or run ids: a run's score is the mean of its last
            ``last`` values of ``metric`` (default ``eval/return`` when logged, else
            ``value/initial``).
        by: for run ids: group runs by this column of the RunStore's ``runs`` table
            (``"algo"``, or ``"name"`` for runs you labelled).
        store: for run ids: the RunStore (default: the one under ``$WORKBENCH_HOME``).

    Returns:
        One row per pair (agents in the order given): :data:`COMPARE_COLUMNS`:
        ``agent_a, agent_b``; ``decision``: ``larger`` (agent_a's mean is larger),
        ``smaller`` or ``equal``; ``stage`` (1-based) it was taken at and ``n_used_a``,
        ``n_used_b`` (seeds it used); ``mean_a``, ``mean_b``, ``mean_diff`` (a − b) and
        ``prob_improvement`` (P(a > b), rliable's definition) over those seeds.
        ``df.attrs`` holds ``alpha, n, K, B, stages, finished``.

    Raises:
        ConfigError: fewer than two agents, an agent with fewer scores than ``n * K``
            needs, no scores, NaN/Inf scores (failed runs), bad ``alpha``/``n``/``K``/
            ``B``/``beta``, runs without ``metric``.
    """
    table = _as_scores(scores, metric=metric, last=last, by=by, store=store)
    if len(table) < 2:
        raise ConfigError(f"comparing needs at least two agents, got {list(table)}")
    arrays = {a: _scores_array(a, v) for a, v in table.items()}
    smallest = min(v.size for v in arrays.values())
    if n is None and K is None:
        n, K = smallest, 1
    elif n is None:
        if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
            raise ConfigError(f"K must be an integer >= 1, got {K!r}")
        n = smallest // int(K)
        if n < 1:
            raise ConfigError(f"K={K} stages need at least {K} scores per agent; the smallest "
                              f"agent has {smallest}")
    elif K is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n must be an integer >= 1, got {n!r}")
        K = smallest // int(n)
        if K < 1:
            raise ConfigError(f"n={n} seeds per stage: the smallest agent has only {smallest}")
    _check_settings(n, K, alpha, B, beta)
    short = {a: v.size for a, v in arrays.items() if v.size < int(n) * int(K)}
    if short:
        raise ConfigError(f"n={n} seeds per stage x K={K} stages needs {int(n) * int(K)} scores "
                          f"per agent; {short} have fewer. Pass a smaller n or K, or run more "
                          "seeds (Sweep.run_until_decided adds them stage by stage)")
    test = SequentialComparison(list(arrays), n=int(n), K=int(K), alpha=alpha, B=B, beta=beta,
                                seed=seed)
    while not test.finished:
        test.update(arrays)
    return test.result()


def _as_scores(scores: Any, *, metric: str | None, last: int, by: str,
               store: Any) -> dict[str, object]:
    """``{agent: scores}`` from a mapping, a sweep, or run ids."""
    if isinstance(scores, Mapping):
        return {str(k): v for k, v in scores.items()}
    if hasattr(scores, "scores") and hasattr(scores, "jobs"):  # a Sweep (duck-typed: stats
        if metric is None:                                      # does not import training)
            metric = ("eval/return" if any(len(j.metrics(["eval/return"])) for j in scores.jobs)
                      else "value/initial")
        sc = scores.scores(metric, last)
        return _group(sc, "algo", metric)
    if isinstance(scores, Iterable) and not isinstance(scores, (str, bytes)):
        ids = [str(r) for r in scores]
        if not ids or not all(isinstance(r, str) for r in ids):
            raise ConfigError("pass {agent: scores}, a Sweep, or a list of run ids")
        from ..tracking.store import default_store

        store = store or default_store()
        runs = store.runs()
        if by not in runs.columns:
            raise ConfigError(f"by={by!r} is not a column of the runs table; use 'algo' or "
                              "'name'")
        runs = runs[runs["run_id"].isin(ids)]
        unknown = sorted(set(ids) - set(runs["run_id"]))
        if unknown:
            raise ConfigError(f"unknown run ids {unknown[:5]} in {store.path}")
        frame = store.metrics(ids)
        if metric is None:
            metric = "eval/return" if (frame["name"] == "eval/return").any() else "value/initial"
        label = dict(zip(runs["run_id"], runs[by].fillna(runs["algo"]).astype(str)))
        groups = {r: label[r] for r in dict.fromkeys(ids)}  # agents in the order given
        sc = final_scores(frame, metric, groups, last=last, as_frame=True)
        return _group(sc, "group", metric)
    raise ConfigError(f"cannot compare {type(scores).__name__}: pass {{agent: scores}}, a "
                      "Sweep, or a list of run ids")


def _group(sc: pd.DataFrame, col: str, metric: str) -> dict[str, object]:
    missing = sc[~np.isfinite(sc["score"].to_numpy(dtype=float))]
    if len(missing):
        raise ConfigError(f"runs {missing['run_id'].tolist()[:5]} have no {metric!r} (failed, "
                          "still running, or another metric): wait for them, drop them or "
                          "pass metric=...")
    return {str(a): g["score"].to_numpy(dtype=float) for a, g in sc.groupby(col, sort=False)}


def final_scores(frame: pd.DataFrame, metric: str, groups: Mapping[str, Any], *,
                 last: int = 1, as_frame: bool = False) -> Any:
    """Each run's final score: the mean of its last ``last`` values of ``metric``.

    Args:
        frame: tidy metric rows with ``run_id, step, name, value`` (e.g.
            :meth:`RunStore.metrics`); when a run logged a step twice its last row counts.
        metric: the metric name.
        groups: ``{run_id: group}`` (e.g. the algorithm); other runs are ignored.
        last: values averaged per run (``>= 1``).
        as_frame: return the per-run frame instead of the grouped arrays.

    Returns:
        ``{group: (m,) float64 scores}`` (runs without the metric left out), or with
        ``as_frame`` a DataFrame ``run_id, group, score`` (NaN where a run has no value).

    Raises:
        ConfigError: ``frame`` lacks a column, ``last < 1``.
    """
    import pandas as pd

    missing = [c for c in ("run_id", "step", "name", "value") if c not in frame.columns]
    if missing:
        raise ConfigError(f"final_scores needs columns {missing} (tidy metric rows)")
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ConfigError(f"last must be an integer >= 1, got {last!r}")
    sel = frame[(frame["name"] == metric) & frame["run_id"].isin(list(groups))]
    sel = sel.drop_duplicates(["run_id", "step"], keep="last").sort_values(["run_id", "step"])
    tail = sel.groupby("run_id", sort=False)["value"].apply(
        lambda v: float(np.nanmean(v.to_numpy(dtype=float)[-last:])) if len(v) else np.nan)
    rows = [{"run_id": r, "group": g, "score": float(tail.get(r, np.nan))}
            for r, g in groups.items()]
    df = pd.DataFrame(rows, columns=["run_id", "group", "score"])
    if as_frame:
        return df
    ok = df[np.isfinite(df["score"].to_numpy(dtype=float))]
    return {str(g): d["score"].to_numpy(dtype=float) for g, d in ok.groupby("group", sort=False)}


def improvement_matrix(scores: Mapping[str, object]) -> pd.DataFrame:
    """P(X > Y) for every ordered pair of agents (rliable's probability of improvement).

    Args:
        scores: ``{agent: (n_runs,) or (n_runs, n_tasks)}`` final scores.

    Returns:
        Tidy rows ``agent_x, agent_y, prob_improvement`` for every ``x != y`` (P(y > x) =
        1 − P(x > y)).

    Raises:
        ConfigError: NaN scores, different numbers of tasks.
    """
    import pandas as pd

    names = [str(a) for a in scores]
    rows = [{"agent_x": x, "agent_y": y,
             "prob_improvement": probability_of_improvement(scores[x], scores[y])}
            for x in names for y in names if x != y]
    return pd.DataFrame(rows, columns=["agent_x", "agent_y", "prob_improvement"])


def performance_profiles(scores: Mapping[str, object], thresholds: object = None,
                         points: int = 50) -> pd.DataFrame:
    """Score distributions: per agent, the fraction of runs with score > τ.

    Args:
        scores: ``{agent: (n_runs,) or (n_runs, n_tasks)}`` final scores.
        thresholds: ``(T,)`` thresholds τ; default ``points`` evenly spaced from the lowest
            to the highest score of all agents.
        points: number of default thresholds.

    Returns:
        Tidy rows ``agent, threshold, fraction`` (fraction in [0, 1], non-increasing in τ).

    Raises:
        ConfigError: empty or NaN scores.
    """
    import pandas as pd

    arrays = {str(a): np.asarray(v, dtype=np.float64) for a, v in scores.items()}
    if thresholds is None:
        allv = np.concatenate([v.ravel() for v in arrays.values()]) if arrays else np.array([])
        if allv.size == 0 or not np.isfinite(allv).all():
            raise ConfigError("performance profiles need finite scores")
        lo, hi = float(allv.min()), float(allv.max())
        pad = 0.05 * (hi - lo) if hi > lo else max(1.0, abs(lo)) * 0.05
        thresholds = np.linspace(lo - pad, hi + pad, int(points))
    tau = np.asarray(thresholds, dtype=np.float64).ravel()
    frames = [pd.DataFrame({"agent": a, "threshold": tau,
                            "fraction": performance_profile(v, tau)})
              for a, v in arrays.items()]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=["agent", "threshold", "fraction"]))
