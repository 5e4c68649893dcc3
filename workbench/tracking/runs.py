"""``runs()``: every recorded run as a DataFrame, with its health verdicts.

Reloading a run (its policy, checkpoints, health recomputed) is training's business:
:func:`workbench.training.load_run`.  Tracking never imports training.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .store import RunStore, default_store

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["runs"]


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
