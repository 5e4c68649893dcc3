"""``load_run()``: a recorded run back, with its metrics, parameters and policy.

The listing of every run is :func:`workbench.tracking.runs`; reloading one needs the
training stack (d3rlpy for its policy, the checkpoints, the health verdicts), so it lives
here: tracking never imports training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..tracking.store import RunStore, default_store
from .checkpoints import latest_checkpoint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["load_run", "Run"]


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

    @property
    def target_return(self) -> float | None:
        """What a decision transformer was conditioned on in its evaluations (``None`` for
        other algorithms)."""
        value = self.params.get("spec", {}).get("target_return")
        return None if value is None else float(value)

    def policy(self, device: str = "cpu:0", checkpoint: bool = False) -> Any:
        """The trained d3rlpy algorithm from the ``final`` artefact, or — with
        ``checkpoint=True`` or when there is no final model (a crashed run) — from the
        newest checkpoint.  ``None`` when neither exists.
        """
        from .worker import load_policy

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
        from .evaluators import training_health

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
