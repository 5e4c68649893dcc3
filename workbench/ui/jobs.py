"""The Training page's job table: the followed jobs, their progress, and a Cancel button."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from ..tracking.store import FINISHED
from ._format import MISSING, table
from .state import WorkbenchState

__all__ = ["JobTable", "JOB_COLUMNS"]

#: Columns of the table (Tabulator adds the ``cancel`` button column).
JOB_COLUMNS = ["run_id", "algo", "seed", "status", "progress", "step", "updates/s", "executor",
               "error"]


def recorded_seed(job: Any) -> Any:
    """The job's seed from its run record (``"?"`` when its store does not know the run)."""
    try:
        return job.store.get_run(job.run_id)["seed"]
    except WorkbenchError:
        return "?"


class JobTable(pn.viewable.Viewer):
    """Jobs in a table: status, progress, updates per second, the last line of an error.

    The table is rebuilt when a status changes, and for progress alone at most once a
    second (a Tabulator update is costly); when a job finishes, ``state.runs_version`` is
    bumped so that the Runs and OPE pages re-read the store.  Its height follows its rows
    (up to :attr:`MAX_ROWS`), so a page's curves are not pushed down by empty space;
    ``updates/s`` shows ``—`` until a job reported it; errors wrap.

    Args:
        state: the dashboard's shared state.
        on_cancel: called with the run id when a click on *Cancel* cancelled a job.
    """

    def __init__(self, state: WorkbenchState, *,
                 on_cancel: Callable[[str], None] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.jobs: list[Any] = []
        self.seeds: dict[str, Any] = {}  # run_id -> seed (from the run record)
        self._ups: dict[str, float] = {}  # run_id -> last time/updates_per_s
        self._on_cancel = on_cancel
        self._last: tuple | None = None
        self._time = 0.0
        self.table = table(
            self.frame(), wrap=["error"], widths={"error": 380}, round_numbers=False,
            height=self._height(0), buttons={"cancel": "<b>Cancel</b>"},
            css_classes=["wb-jobs"],
            formatters={"progress": {"type": "progress", "max": 100, "legend": True}})
        self.table.on_click(self._on_click)

    #: Rows shown before the table scrolls.
    MAX_ROWS = 6

    def _height(self, n: int) -> int:
        # header ~50 px, rows ~46 px in the served template (measured), a scrollbar's 16 px
        return 66 + 48 * max(1, min(n, self.MAX_ROWS))

    def add(self, job: Any) -> bool:
        """Add ``job`` (``False`` when it is already in the table)."""
        if any(j.run_id == job.run_id for j in self.jobs):
            return False
        self.jobs.append(job)
        self.seeds[job.run_id] = recorded_seed(job)
        return True

    def note(self, rows: pd.DataFrame) -> None:
        """Take the jobs' throughput from drained metric rows (``time/updates_per_s``)."""
        ups = rows[rows["name"] == "time/updates_per_s"]
        for rid, v in zip(ups["run_id"], ups["value"]):
            self._ups[rid] = float(v)

    def busy(self) -> bool:
        """Whether a job is still queued or running."""
        return any(j.status not in FINISHED for j in self.jobs)

    def cancel(self, run_id: str) -> bool:
        """Cancel a job of the table by run id (``False`` when it had already finished or
        is not here)."""
        for j in self.jobs:
            if j.run_id == run_id:
                ok = j.cancel()
                self.refresh(force=True)
                return ok
        return False

    def _on_click(self, event: Any) -> None:
        if event.column != "cancel":
            return
        run_id = self.table.value.iloc[event.row]["run_id"]
        if self.cancel(run_id) and self._on_cancel is not None:
            self._on_cancel(run_id)

    def frame(self) -> pd.DataFrame:
        """The table as shown: columns :data:`JOB_COLUMNS`, one row per job."""
        rows = []
        for j in self.jobs:
            err = j.error or ""
            rows.append({"run_id": j.run_id, "algo": j.algo, "seed": self.seeds.get(j.run_id),
                         "status": j.status, "progress": round(100.0 * j.step / max(1, j.n_steps),
                                                              1),
                         "step": f"{j.step:,} / {j.n_steps:,}",
                         "updates/s": (round(self._ups[j.run_id], 1) if np.isfinite(
                             self._ups.get(j.run_id, np.nan)) else MISSING),
                         "executor": j.executor,
                         "error": err.strip().splitlines()[-1] if err else ""})
        return pd.DataFrame(rows, columns=JOB_COLUMNS)

    def refresh(self, force: bool = False) -> None:
        """Rebuild the table when something changed (progress alone: at most once a second)."""
        snap = tuple((j.run_id, j.status, j.step, self._ups.get(j.run_id)) for j in self.jobs)
        statuses = tuple(s[1] for s in snap)
        if not force and snap != self._last and statuses == tuple(
                s[1] for s in (self._last or ())) and time.monotonic() - self._time < 1.0:
            return
        if force or snap != self._last:
            self._time = time.monotonic()
            finished_before = sum(1 for s in (self._last or ()) if s[1] in FINISHED)
            self._last = snap
            self.table.value = self.frame()
            self.table.height = self._height(len(self.jobs))
            if sum(1 for s in snap if s[1] in FINISHED) != finished_before:
                self.state.runs_version += 1

    def __panel__(self) -> Any:
        return self.table
