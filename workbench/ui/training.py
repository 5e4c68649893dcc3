"""Training page: start jobs, follow them in a table, watch live learning curves.

The page composes three viewers, each usable and testable alone:
:class:`~workbench.ui.training_form.TrainingForm` (what to train),
:class:`~workbench.ui.jobs.JobTable` (the followed jobs, Cancel) and
:class:`~workbench.ui.curves.TrainingCurves` (per run or across seeds; :mod:`.curves` says
where every curve of the UI is drawn).

Live updates follow DESIGN.md §4: training workers publish metric rows to
:func:`workbench.training.metric_stream`; this page holds one
:class:`~workbench.training.stream.Subscription` per session and a per-session periodic
callback (:meth:`TrainingPanel.pump`) drains it and hands one batch to the curves, which
keep it in their history and send only the new points to the plot
(:class:`~workbench.ui.live.LiveCurves`, O(new rows) per drain).  Closing the browser tab
stops the callback and the subscription — never the jobs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from ..tracking.labels import run_label
from ._format import fmt_seconds
from .compare import SeedsComparison
from .curves import AGGREGATE_REPS, BUFFER_LENGTH, COLUMNS, MetricHistory, TrainingCurves
from .jobs import JobTable
from .live import in_doc
from .state import (
    WorkbenchState,
    register_jobs,
    run_action,
    say,
    served_loop,
    settle,
    ui_jobs,
)
from .training_form import KEY_HYPERPARAMETERS, TrainingForm

__all__ = ["TrainingPanel", "KEY_HYPERPARAMETERS", "BUFFER_LENGTH", "AGGREGATE_REPS"]


def _jobs_of(source: Any) -> list[Any] | None:
    """The jobs a source stands for, or ``None`` when it is not a job container."""
    from ..training.job import TrainingJob
    from ..training.sweep import Sweep

    if isinstance(source, TrainingJob):
        return [source]
    if isinstance(source, Sweep):
        return list(source.jobs)
    if isinstance(source, Sequence) and not isinstance(source, str) and source and all(
            isinstance(j, TrainingJob) for j in source):
        return list(source)
    return None


class TrainingPanel(pn.viewable.Viewer):
    """Start training jobs and watch them live.

    Args:
        source: what to show: a :class:`~workbench.training.TrainingJob`, a list of jobs or a
            :class:`~workbench.training.Sweep` (those jobs only); a
            :class:`~workbench.tracking.RunStore` (jobs started here are recorded in it);
            a :class:`WorkbenchState` (the dashboard's); ``None``: every job started from a
            dashboard in this process, recorded in the default store.
        period: milliseconds between two drains of the metric stream.

    Attributes:
        form, job_table, curves: the three viewers the page composes.
        compare: the across-seeds decisions, P(improvement) and performance profiles of
            the completed runs (:class:`~workbench.ui.compare.SeedsComparison`).
        buffer: the drained rows (:class:`~workbench.ui.curves.MetricHistory`; ``.data``).
        live, live_agg, agg_box, agg_note: the curves' figures and the across-seeds box.
        n_batches: batches handed to the curves (for tests and benchmarks).
    """

    def __init__(self, source: Any = None, *, state: WorkbenchState | None = None,
                 period: int = 300, **params: Any) -> None:
        super().__init__(**params)
        from ..tracking.store import RunStore
        from ..training import metric_stream

        jobs = _jobs_of(source)
        if isinstance(source, WorkbenchState):
            state = source
        self.state = state or WorkbenchState(store=source if isinstance(source, RunStore)
                                             else None)
        self.follow_all = jobs is None  # follow every dashboard job of the process
        self.period = int(period)
        self._seeded: dict[str, int] = {}  # run_id -> last step read from the store
        self._pending: deque[pd.DataFrame] = deque()  # rows for the curves
        self._follow_lock = threading.Lock()
        self._sub = metric_stream().subscribe(run_ids=set())
        self.state.on_close(self._sub.close)
        self._callback: Any = None
        self.n_batches = 0
        self.status = pn.pane.Alert("Load a dataset, choose an algorithm and press *Start "
                                    "training*.", alert_type="info",
                                    css_classes=["wb-train-status"])
        self.form = TrainingForm(self.state)
        self.form.start_button.on_click(self._on_start)
        self.job_table = JobTable(self.state, on_cancel=lambda rid: say(
            self.status, f"Cancelling {rid} …", "warning"))
        self.curves = TrainingCurves(length=BUFFER_LENGTH)
        # the parts notebooks, tests and benchmarks reach for
        self.buffer: MetricHistory = self.curves.history
        self.live, self.live_agg = self.curves.live, self.curves.live_agg
        self.agg_box, self.agg_note = self.curves.agg_box, self.curves.agg_note
        # "are these agents different?" under the across-seeds curves (ui/compare.py)
        self.compare = SeedsComparison()
        self.agg_box.append(self.compare)
        for j in jobs or (ui_jobs() if self.follow_all else []):
            self.follow(j)

    # ------------------------------------------------------------------ the parts' state
    @property
    def jobs(self) -> list[Any]:
        """The followed jobs, in the order they were followed."""
        return self.job_table.jobs

    @property
    def metric(self) -> str:
        """The metric on the curves (settable)."""
        return self.curves.metric

    @metric.setter
    def metric(self, value: str) -> None:
        self.curves.metric = value

    @property
    def view(self) -> str:
        """``"per run"`` or ``"across seeds"`` (settable)."""
        return self.curves.view

    @view.setter
    def view(self, value: str) -> None:
        self.curves.view = value

    # ------------------------------------------------------------------ actions
    def start(self, **overrides: Any) -> list[Any]:
        """Start jobs from the form (``overrides`` replace form fields: ``dataset``, ``algo``,
        ``n_steps``, ``seeds``, ``device``, ``executor``, ``env``, ``hyperparameters``,
        and any other :func:`workbench.train` keyword); returns the jobs.

        Raises:
            ConfigError: the form or the overrides are not valid (see
                :meth:`TrainingForm.values`); :func:`workbench.train`'s errors.
        """
        plan = self._plan(overrides)
        jobs = self._launch(plan)
        self._started(jobs)
        say(self.status, *self._started_text(plan, jobs, None))
        return jobs

    def _plan(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The form's values with ``overrides``, and the dataset itself (on the event loop:
        it reads widgets)."""
        v = {**self.form.values(), **overrides}
        v["ds"] = self.state.datasets[v.pop("dataset")]
        from ..training import degenerate_settings, resolve_algorithm

        try:
            spec = resolve_algorithm(v["algo"], v["ds"].is_discrete)
            v["degenerate"] = degenerate_settings(spec, int(v["n_steps"]),
                                                  dict(v["hyperparameters"]))
        except WorkbenchError:
            v["degenerate"] = []  # train() says what is wrong
        return v

    def _launch(self, plan: dict[str, Any]) -> list[Any]:
        """Start the jobs of :meth:`_plan`'s ``plan`` (no widget is touched: it runs in a
        worker thread when a button starts it)."""
        from ..training import sweep, train

        v = dict(plan)
        ds, seeds, hp, algo = v.pop("ds"), v.pop("seeds"), v.pop("hyperparameters"), v.pop("algo")
        n_steps = v.pop("n_steps")
        v.pop("degenerate")
        kwargs = {"store": self.state.store, **v}
        if len(seeds) == 1:
            jobs = [train(ds, algo=algo, n_steps=n_steps, seed=seeds[0], **kwargs, **hp)]
        else:
            jobs = sweep(ds, algos=[algo], seeds=seeds, n_steps=n_steps,
                         hyperparameters={algo: hp} if hp else None, **kwargs).jobs
        register_jobs(jobs)
        return jobs

    def _started(self, jobs: list[Any]) -> None:
        """Follow new jobs on the page (on the event loop)."""
        for j in jobs:
            self.follow(j)
        self.state.runs_version += 1
        self.job_table.refresh(force=True)

    @staticmethod
    def _started_text(plan: dict[str, Any], jobs: list[Any],
                      seconds: float | None) -> tuple[str, str]:
        """The message after a start, and its kind (a warning when the settings are
        degenerate)."""
        seeds = plan["seeds"]
        text = (f"Started {len(jobs)} job(s): {plan['algo']}, {plan['n_steps']:,} steps, "
                f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                + (f" ({fmt_seconds(seconds)})" if seconds is not None else "") + ".")
        if plan["degenerate"]:
            return text + " **Degenerate settings:** " + " ".join(plan["degenerate"]), "warning"
        return text, "success"

    def _on_start(self, _event: Any = None) -> None:
        """*Start training*: the form is read at once (its errors are shown at once); the
        jobs start in a worker thread in a served session, the button busy meanwhile."""
        try:
            plan = self._plan({})
        except WorkbenchError as exc:
            settle(self.form.start_button)
            say(self.status, str(exc), "danger")
            return
        loop = served_loop()
        if loop is not None:
            loop.create_task(self._start_async(plan))
            return
        try:
            jobs = self._launch(plan)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return
        self._started(jobs)
        say(self.status, *self._started_text(plan, jobs, None))

    async def _start_async(self, plan: dict[str, Any]) -> None:
        await run_action(self.status, f"Starting {len(plan['seeds'])} {plan['algo']} job(s)",
                         self._launch, plan, button=self.form.start_button,
                         show=self._started,
                         done=lambda jobs, sec: self._started_text(plan, jobs, sec))

    def cancel(self, run_id: str) -> bool:
        """Cancel a followed job by run id (``False`` when it had already finished)."""
        return self.job_table.cancel(run_id)

    def follow(self, job: Any) -> None:
        """Show ``job`` in the table and its metrics on the curves (from its first row)."""
        if not self.job_table.add(job):
            return
        label = run_label(job.algo, self.job_table.seeds[job.run_id], job.run_id)
        # its line and legend entry now (a model-graph change, paid before the first point)
        self.curves.add_run(job.run_id, label, job.algo, seed=self.job_table.seeds[job.run_id])
        # subscribe first, then read what is committed; the drain waits meanwhile so that
        # rows in both are filtered by _seeded (follow() may run on another thread)
        with self._follow_lock:
            self._sub.follow(job.run_id)
            past = job.metrics()
            self._seeded[job.run_id] = int(past["step"].max()) if len(past) else -1
        if len(past):
            self._pending.append(past.assign(run_id=job.run_id, run=label)[COLUMNS])
            in_doc(self.live.figure, self._flush)  # now, or on the session's next tick

    # ------------------------------------------------------------------ live updates
    def pump(self) -> int:
        """Drain the metric stream into the curves (one batch) and refresh the job table;
        returns the rows sent.  Called by the periodic callback; call it yourself in a
        notebook cell that blocks the event loop."""
        if self.follow_all:
            for j in ui_jobs():
                self.follow(j)
        with self._follow_lock:
            rows = self._sub.drain_rows()
        if rows:
            df = pd.DataFrame(rows, columns=["run_id", "step", "name", "value", "wall_time"])
            seeded = df["run_id"].map(self._seeded).fillna(-1)
            df = df[df["step"] > seeded]  # rows also read from the store by follow()
            if len(df):
                df.insert(1, "run", df["run_id"].map(self.curves.labels))
                self._pending.append(df)
        sent = self._flush()
        self.job_table.refresh()
        self.curves.refresh_aggregate(busy=self.job_table.busy())
        if self.view == "across seeds":  # recomputed only when a run finished
            self.compare.update(lambda: self.buffer.data, self.metric, self.curves.groups,
                                {j.run_id for j in self.jobs if j.status == "completed"})
        return sent

    def _flush(self) -> int:
        """Hand the pending rows to the table and the curves (one batch); returns them.

        It changes the plot's Bokeh models, so it runs where the document may be changed:
        the periodic callback, or through :func:`~workbench.ui.live.in_doc`."""
        frames = []
        while self._pending:
            frames.append(self._pending.popleft())
        if not frames:
            return 0
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df = df.astype({"step": "int64", "value": "float64", "wall_time": "float64"})
        self.job_table.note(df)
        self.curves.append(df[COLUMNS].reset_index(drop=True))
        self.n_batches += 1
        return len(df)

    def aggregate_frame(self) -> pd.DataFrame:
        """Mean, IQM and the IQM's bootstrap CI per algorithm and step for the metric
        (:func:`workbench.stats.curves_across_seeds` of the drained rows)."""
        return self.curves.aggregate_frame()

    def status_frame(self) -> pd.DataFrame:
        """The job table as shown (``run_id, algo, seed, status, progress, ...``)."""
        return self.job_table.frame()

    # ------------------------------------------------------------------ lifecycle
    def start_updates(self) -> None:
        """Start this session's periodic drain (idempotent; stopped by ``state.close()``)."""
        if self._callback is None and not self.state.closed:
            self._callback = self.state.add_periodic_callback(self.pump, self.period)

    def __panel__(self) -> Any:
        self.start_updates()
        return pn.Column(self.form, self.status, self.job_table, self.curves,
                         sizing_mode="stretch_width")
