"""Many jobs at once: algorithms × seeds, summarised with IQM and bootstrap CIs, and
compared with AdaStop until the seeds suffice (:meth:`Sweep.run_until_decided`).

With ``executor="ray"`` the dataset goes into Ray's object store once per sweep: every job,
including those :meth:`Sweep.run_until_decided` adds later, gets the same ``ObjectRef``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .job import TrainingJob

__all__ = ["Sweep", "sweep", "SeedBudget"]


@dataclass
class SeedBudget:
    """What :meth:`Sweep.run_until_decided` found and what it cost.

    Attributes:
        decisions: :func:`workbench.compare`'s table: one row per pair of algorithms with
            ``decision`` (``larger``/``smaller``/``equal``), the stage it was taken at and
            the seeds it used.
        finished: every pair was decided before the budget ran out (otherwise AdaStop's
            last stage declared the remaining pairs ``equal``).
        stages: interim analyses run.
        runs_used: runs whose final score entered the test (all algorithms together).
        runs_started: runs this call started (0 when the sweep's seeds sufficed).
        seeds: ``{algorithm: [seeds used]}``.
        metric: the score compared (the mean of the last ``last`` values of it).
    """

    decisions: pd.DataFrame
    finished: bool
    stages: int
    runs_used: int
    runs_started: int
    seeds: dict[str, list[int]] = field(default_factory=dict)
    metric: str = ""

    def __repr__(self) -> str:
        pairs = ", ".join(f"{r.agent_a} {r.decision} than {r.agent_b}" if r.decision != "equal"
                          else f"{r.agent_a} ~ {r.agent_b}"
                          for r in self.decisions.itertuples())
        return (f"SeedBudget({pairs}; {self.runs_used} runs used in {self.stages} stage(s), "
                f"{self.runs_started} started, finished={self.finished})")


class Sweep:
    """A set of jobs (one per algorithm × seed) with a combined view.

    Attributes:
        jobs: the :class:`~workbench.training.TrainingJob` handles, in submission order.
    """

    def __init__(self, jobs: list[TrainingJob], *, launch: dict[str, Any] | None = None) -> None:
        self.jobs = jobs
        #: how to start more runs like these (set by :func:`sweep`): dataset, steps, per-
        #: algorithm hyperparameters, train keywords, the dataset's Ray ObjectRef
        self._launch = launch

    def status(self) -> pd.DataFrame:
        """``run_id, algo, seed, status, step, n_steps`` per job."""
        import pandas as pd

        return pd.DataFrame([{"run_id": j.run_id, "algo": j.algo, "seed": j._spec.seed,
                              "status": j.status, "step": j.step, "n_steps": j.n_steps}
                             for j in self.jobs])

    def wait(self, timeout: float | None = None, progress: bool = True) -> Sweep:
        """Wait for every job (one ``tqdm.auto`` bar over the total updates)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=sum(j.n_steps for j in self.jobs), unit="step", desc="sweep")
        try:
            while not all(j.done for j in self.jobs):
                if bar is not None:
                    bar.update(sum(j.step for j in self.jobs) - bar.n)
                    bar.set_postfix_str(", ".join(f"{s}={n}" for s, n in
                                                  self.status()["status"].value_counts().items()),
                                        refresh=False)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"sweep not finished after {timeout}s")
                time.sleep(0.2)
            if bar is not None:
                bar.update(sum(j.step for j in self.jobs) - bar.n)
        finally:
            if bar is not None:
                bar.close()
        return self

    def cancel(self) -> None:
        """Cancel every job that has not finished."""
        for j in self.jobs:
            j.cancel()

    def metrics(self) -> pd.DataFrame:
        """Tidy metrics of all jobs: ``run_id, algo, seed, step, name, value, wall_time``."""
        import pandas as pd

        frames = []
        for j in self.jobs:
            m = j.metrics()
            m.insert(0, "seed", j._spec.seed)
            m.insert(0, "algo", j.algo)
            m.insert(0, "run_id", j.run_id)
            frames.append(m)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def scores(self, metric: str = "eval/return", last: int = 1) -> pd.DataFrame:
        """Final score per run: the mean of the last ``last`` values of ``metric``.

        Columns ``run_id, algo, seed, status, score`` (NaN when the run logged none).
        """
        import numpy as np
        import pandas as pd

        rows = []
        for j in self.jobs:
            m = j.metrics([metric])
            vals = m["value"].to_numpy()[-last:] if len(m) else np.array([])
            rows.append({"run_id": j.run_id, "algo": j.algo, "seed": j._spec.seed,
                         "status": j.status,
                         "score": float(np.mean(vals)) if len(vals) else float("nan")})
        return pd.DataFrame(rows)

    def summary(self, metric: str | None = None, last: int = 1, reps: int = 2000,
                confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
        """IQM, mean and median of the final scores per algorithm with stratified
        bootstrap confidence intervals (rliable; one task = this dataset).

        Args:
            metric: the score; default ``eval/return`` when logged, else ``value/initial``.
            last: average the last ``last`` evaluations of each run.
            reps, confidence, seed: bootstrap settings.

        Returns:
            Columns ``algorithm, statistic, estimate, ci_low, ci_high, n_runs, n_tasks``,
            plus ``metric`` and ``n_failed`` (runs without a score, left out).

        Raises:
            ConfigError: no run has a score yet.
        """
        import numpy as np

        from ..stats import aggregate

        if metric is None:
            metric = self.default_metric()
        sc = self.scores(metric, last)
        ok = sc[np.isfinite(sc["score"])]
        if ok.empty:
            raise ConfigError(f"no run has logged {metric!r} yet: wait for the sweep or pick "
                              "another metric")
        table = aggregate({a: g["score"].to_numpy() for a, g in ok.groupby("algo", sort=False)},
                          reps=reps, confidence=confidence, seed=seed)
        table["metric"] = metric
        failed = sc[~np.isfinite(sc["score"])].groupby("algo").size()
        table["n_failed"] = [int(failed.get(a, 0)) for a in table["algorithm"]]
        return table

    def default_metric(self) -> str:
        """``eval/return`` when any run logged it, else ``value/initial``."""
        return ("eval/return" if any(len(j.metrics(["eval/return"])) for j in self.jobs)
                else "value/initial")

    def run_until_decided(self, max_seeds: int = 10, batch: int = 3, *,
                          metric: str | None = None, last: int = 1, alpha: float = 0.05,
                          B: int = 10_000, beta: float = 0.0, seed: int = 0,
                          timeout: float | None = None, progress: bool = True) -> SeedBudget:
        """Add seeds in stages until AdaStop has decided every pair of algorithms.

        AdaStop's intended use (Mathieu et al., 2023; the ``adastop`` package): at stage
        ``k`` every algorithm still in an undecided pair has ``k * batch`` finished runs;
        the test then decides the pairs it can (``larger``, ``smaller`` or ``equal``, with
        the family-wise error kept below ``alpha``) and only the algorithms of the pairs
        left get ``batch`` more seeds.  The sweep's own runs are used first (in seed
        order); new runs take the next unused seeds and the sweep's settings (same
        executor; on Ray, the same dataset in the object store).  At the last stage,
        ``max_seeds // batch``, the pairs still open are declared ``equal``.

        Args:
            max_seeds: the most seeds (runs) per algorithm.
            batch: seeds added per algorithm and stage (AdaStop's ``n``).
            metric: the score; default ``eval/return`` when logged, else ``value/initial``.
            last: a run's score is the mean of its last ``last`` values of ``metric``.
            alpha, B, beta, seed: AdaStop's level, permutations, early-accept power and the
                seed of its permutations (see :func:`workbench.compare`).
            timeout: seconds to wait for all stages together (``None``: no limit).
            progress: show a progress bar while a stage trains.

        Returns:
            A :class:`SeedBudget`: the decisions, how many stages and runs it took.

        Raises:
            ConfigError: fewer than two algorithms, ``batch`` or ``max_seeds`` below 1 or
                ``max_seeds < batch``, a sweep not made by :func:`sweep` (nothing to start
                new runs from), bad AdaStop settings.
            TrainingError: a run needed by the test did not complete or has no score.
            TimeoutError: ``timeout`` passed.
        """
        import time

        import numpy as np

        from ..errors import TrainingError
        from ..stats.compare import SequentialComparison

        if self._launch is None:
            raise ConfigError("this Sweep was not made by workbench.sweep(), so it cannot "
                              "start more runs; compare its scores with workbench.compare()")
        for what, v in (("max_seeds", max_seeds), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{what} must be an integer >= 1, got {v!r}")
        if max_seeds < batch:
            raise ConfigError(f"max_seeds={max_seeds} is smaller than one batch ({batch})")
        algos = list(dict.fromkeys(j.algo for j in self.jobs))
        if len(algos) < 2:
            raise ConfigError(f"run_until_decided compares algorithms: this sweep has "
                              f"{algos}; sweep at least two")
        K = max_seeds // batch
        test = SequentialComparison(algos, n=batch, K=K, alpha=alpha, B=B, beta=beta,
                                    seed=seed)
        deadline = None if timeout is None else time.monotonic() + timeout
        started = 0
        used: dict[str, list[TrainingJob]] = {}
        for k in range(1, K + 1):
            need = k * batch
            active = test.active_agents()
            for a in active:
                have = sorted((j for j in self.jobs if j.algo == a), key=lambda j: j._spec.seed)
                while len(have) < need:
                    job = self._start_seed(a)
                    have.append(job)
                    started += 1
                used[a] = have[:need]
            Sweep([j for a in active for j in used[a]]).wait(
                timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                progress=progress)
            if metric is None:
                metric = self.default_metric()
            scores = {}
            for a, jobs in used.items():
                sc = Sweep(jobs).scores(metric, last)
                bad = sc[(sc["status"] != "completed") | ~np.isfinite(sc["score"])]
                if len(bad):
                    raise TrainingError(f"runs {bad['run_id'].tolist()} of {a} ended "
                                        f"{bad['status'].tolist()} or logged no {metric!r}: "
                                        "resume or drop them, then call again")
                scores[a] = sc["score"].to_numpy()
            test.update(scores)
            if test.finished:
                break
        table = test.result()
        seeds = {a: [int(j._spec.seed) for j in used[a]] for a in algos}
        return SeedBudget(decisions=table, finished=test.decided_all, stages=test.stages,
                          runs_used=sum(len(v) for v in seeds.values()), runs_started=started,
                          seeds=seeds, metric=str(metric))

    def _start_seed(self, algo: str) -> TrainingJob:
        """Start one more run of ``algo`` with the next unused seed and the sweep's settings."""
        from .job import train

        assert self._launch is not None
        launch = self._launch
        seed = max(j._spec.seed for j in self.jobs) + 1
        name = launch["names"].get(algo, algo)
        job = train(launch["ds"], algo=name, n_steps=launch["n_steps"], seed=seed, start=False,
                    **launch["train_kwargs"], **launch["hyperparameters"].get(name, {}))
        if launch.get("ray_ds") is not None:
            job._ray_ds, job._ds = launch["ray_ds"], None
        job._start()
        self.jobs.append(job)
        return job

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        counts = self.status()["status"].value_counts().to_dict() if self.jobs else {}
        return f"Sweep({len(self.jobs)} jobs, {counts})"


def sweep(ds: Any, algos: Sequence[str] = ("cql",), seeds: Iterable[int] = (0, 1, 2),
          n_steps: int = 10_000, *, hyperparameters: dict[str, dict[str, Any]] | None = None,
          **train_kwargs: Any) -> Sweep:
    """Train every algorithm with every seed (jobs queue on the executor's worker slots).

    All runs are validated before any starts, so a bad name fails the whole sweep at once.

    Args:
        ds: the dataset.
        algos: algorithm names.
        seeds: evaluation seeds (keep tuning seeds apart from these, per Eimer et al.).
        n_steps: updates per run.
        hyperparameters: per-algorithm hyperparameters, ``{algo: {name: value}}``.
        **train_kwargs: passed to :func:`~workbench.training.train` (``executor``, ``env``,
            ``device``, ``log_every``, ``eval_every``, ``ray_address``...).  With
            ``executor="ray"`` the dataset is put into Ray's object store once and shared
            by every job.

    Raises:
        ConfigError: no algorithms or seeds, or any run's configuration is invalid.
    """
    from ..data.dataset import EpisodeDataset
    from .job import train

    algos = list(algos)
    seeds = [int(s) for s in seeds]
    if not algos or not seeds:
        raise ConfigError("sweep needs at least one algorithm and one seed")
    hp = hyperparameters or {}
    unknown = set(hp) - set(algos)
    if unknown:
        raise ConfigError(f"hyperparameters given for {sorted(unknown)}, not in algos {algos}")
    if not isinstance(ds, EpisodeDataset):  # loaded once for every job
        from ..data.io import load_dataset

        ds = load_dataset(ds)
    pending: list[TrainingJob] = []
    ray_ds = None
    try:
        for a in algos:
            for s in seeds:
                pending.append(train(ds, algo=a, n_steps=n_steps, seed=s, start=False,
                                     **train_kwargs, **hp.get(a, {})))
        if train_kwargs.get("executor") == "ray":
            from .ray_executor import put_dataset

            ray_ds = put_dataset(ds, train_kwargs.get("ray_address"))  # once per sweep
    except BaseException:
        for j in pending:  # nothing started: leave no trace of the half-built sweep
            j.store.delete_run(j.run_id)
        raise
    for j in pending:
        if ray_ds is not None:
            j._ray_ds, j._ds = ray_ds, None
        j._start()
    names = {j.algo: a for j, a in zip(pending, [a for a in algos for _ in seeds])}
    return Sweep(pending, launch={"ds": ds, "n_steps": n_steps, "hyperparameters": hp,
                                  "train_kwargs": dict(train_kwargs), "ray_ds": ray_ds,
                                  "names": names})
