"""How runs and metrics are named for people: one vocabulary for pages, notebooks and the CLI.

* :func:`run_label` — ``"dqn s0 a1b2c3"``: a run in legends, pickers and OPE policy names.
* :data:`PREFERRED_METRICS` and :func:`preferred_metric` — the metric a view shows first.

Run statuses are :data:`workbench.tracking.store.STATUSES` (``ACTIVE``, ``FINISHED``);
the runs listing with health flags is :func:`workbench.tracking.runs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["run_label", "PREFERRED_METRICS", "preferred_metric"]

#: Metrics a curve view shows first when a run logged them, best first (the environment
#: return, then the TD loss, then any loss, then the value of the initial states).
PREFERRED_METRICS = ("eval/return", "loss/td", "loss", "value/initial")


def run_label(algo: str, seed: Any, run_id: str) -> str:
    """A run as people read it: ``"dqn s0 a1b2c3"`` (algorithm, seed, the run id's last 6
    characters)."""
    return f"{algo} s{seed} {run_id[-6:]}"


def preferred_metric(names: Iterable[str]) -> str | None:
    """The first of :data:`PREFERRED_METRICS` among ``names``; else the alphabetically first
    name; ``None`` when there is none."""
    names = sorted(set(names))
    for m in PREFERRED_METRICS:
        if m in names:
            return m
    return names[0] if names else None
