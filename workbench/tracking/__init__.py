"""Run tracking: the SQLite RunStore (WAL), the runs listing and run labels.

Reloading a run's policy is :func:`workbench.training.load_run` (tracking never imports
training).
"""

from .runs import runs
from .store import RunStore, default_store

__all__ = ["RunStore", "default_store", "runs"]
