"""``runs()`` and ``load_run()``: past runs back as DataFrames and d3rlpy policies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .store import RunStore, default_store

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["runs", "load_run", "Run"]


def runs(store: RunStore | None = None) -> pd.DataFrame:
    """Every recorded run, newest first.

    Columns: ``run_id, name, algo, dataset, dataset_fingerprint, status, seed, n_steps,
    step, executor, device, pid, pid_start, host, created, started, finished, error,
    health, duration_s``, plus ``overfitting`` and ``underfitting`` (bool, or ``None``
    when not assessed or inconclusive) from the stored health flags.  Runs whose process
    died show ``crashed``.
    """
    df = (store or default_store()).runs()

    def flag(h: Any, signal: str) -> Any:
        if not isinstance(h, str) or not h:  # not assessed yet: None, or NaN from pandas
            return None
        for row in json.loads(h):
            if row["signal"] == signal:
                # not assessed (too few points) or no verdict possible (see training_health)
                undecided = row["status"] in ("insufficient data", "inconclusive")
                return None if undecided else bool(row["flag"])
        return None

    df["overfitting"] = [flag(h, "overfitting") for h in df["health"]]
    df["underfitting"] = [flag(h, "underfitting") for h in df["health"]]
    return df


@dataclass
class Run:
    """A recorded run.

    Attributes:
        run_id: the id.
        info: the run's row (status, algo, dataset, seed, step, error, ...).
        params: every recorded parameter: ``spec`` (how it was started), ``hyperparameters``,
            ``config`` (the d3rlpy config), ``versions`` (package versions), ``dataset``
            (name, fingerprint, source), ``split`` (held-out episodes), ``d3rlpy_config``.
        metrics: tidy ``step, name, value, wall_time``: the run's current view (after a
            resume, rows of the interrupted attempt that the resumed attempt has not
            reproduced yet are kept; see :meth:`RunStore.metrics`).
        artifacts: ``name, kind, path, step, created``.
        attempts: ``attempt, start_step, step, status, started, finished, rows,
            current_rows`` (one row per ``train``/``resume``; see :meth:`RunStore.attempts`).
    """

    run_id: str
    info: dict[str, Any]
    params: dict[str, Any]
    metrics: pd.DataFrame
    artifacts: pd.DataFrame
    attempts: pd.DataFrame = field(default=None, repr=False)  # type: ignore[assignment]
    store: RunStore = field(repr=False, default=None)  # type: ignore[assignment]
    _policy: Any = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return str(self.info["status"])

    def policy(self, device: str = "cpu:0", checkpoint: bool = False) -> Any:
        """The trained d3rlpy algorithm from the ``final`` artefact, or — with
        ``checkpoint=True`` or when there is no final model (a crashed run) — from the
        newest checkpoint.  ``None`` when neither exists.
        """
        from ..training.checkpoints import latest_checkpoint
        from ..training.worker import load_policy

        if not checkpoint:
            final = self.artifacts[self.artifacts["name"] == "final"]
            if len(final):
                return load_policy(final["path"].iloc[-1], device=device)
        ck = latest_checkpoint(self.store.run_dir(self.run_id))
        if ck is None:
            return None
        return load_policy(ck[1] / "model.d3", device=device)

    def health(self) -> pd.DataFrame:
        """Overfitting/underfitting flags with reasons (recomputed from the metrics)."""
        from ..training.evaluators import training_health

        return training_health(self.metrics)

    def all_metrics(self) -> pd.DataFrame:
        """Every metric row of every attempt: ``step, name, value, wall_time, attempt,
        current`` (``current``: the row is in :attr:`metrics`)."""
        return (self.store.metrics(self.run_id, attempts="all").drop(columns="run_id")
                .reset_index(drop=True))

    def curve(self, name: str) -> pd.DataFrame:
        """``step, value`` of one metric."""
        m = self.metrics[self.metrics["name"] == name]
        return m[["step", "value"]].reset_index(drop=True)


def load_run(run_id: str, store: RunStore | None = None) -> Run:
    """A recorded run with its metrics, params and artefacts; ``run.policy()`` loads the agent.

    Raises:
        ConfigError: unknown run id.
    """
    store = store or default_store()
    store.reap()
    info = store.get_run(run_id)
    metrics = store.metrics(run_id).drop(columns="run_id").reset_index(drop=True)
    return Run(run_id, info, store.params(run_id), metrics, store.artifacts(run_id),
               store.attempts(run_id), store)
