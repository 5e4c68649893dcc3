"""Run tracking: the SQLite RunStore (WAL) and helpers to list and reload runs."""

from .runs import Run, load_run, runs
from .store import RunStore, default_store

__all__ = ["RunStore", "default_store", "runs", "load_run", "Run"]
