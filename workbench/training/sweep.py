"""Many jobs at once: algorithms × seeds, summarised with IQM and bootstrap CIs.

With ``executor="ray"`` the dataset goes into Ray's object store once per sweep: every job
gets the same ``ObjectRef``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .job import TrainingJob

__all__ = ["Sweep", "sweep"]


class Sweep:
    """A set of jobs (one per algorithm × seed) with a combined view.

    Attributes:
        jobs: the :class:`~workbench.training.TrainingJob` handles, in submission order.
    """

    def __init__(self, jobs: list[TrainingJob]) -> None:
        self.jobs = jobs

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
            metric = "eval/return" if any(len(j.metrics(["eval/return"])) for j in self.jobs) \
                else "value/initial"
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
    return Sweep(pending)
