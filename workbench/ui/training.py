"""Training page: start jobs, follow them in a table, watch live learning curves.

Live updates follow DESIGN.md §4: training workers publish metric rows to
:func:`workbench.training.metric_stream`; this page holds one
:class:`~workbench.training.stream.Subscription` per session and a per-session periodic
callback (:meth:`TrainingPanel.pump`) drains it and sends one batch to a
``hv.streams.Buffer`` (``length`` 1,000,000, the history) and only the new points to the
curves (:class:`~workbench.ui.live.LiveCurves`, O(new rows) per drain).  Closing the browser
tab stops the callback and the subscription — never the jobs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from ..errors import WorkbenchError
from ..stats import curves_across_seeds
from ..tracking.labels import preferred_metric, run_label
from ..tracking.store import FINISHED
from .live import LiveAggregate, LiveCurves, in_doc
from .state import WorkbenchState, register_jobs, say, ui_jobs

__all__ = ["TrainingPanel", "KEY_HYPERPARAMETERS", "BUFFER_LENGTH"]

#: Rows the curves' Buffer keeps (HoloViews' default of 1000 would truncate the curves).
BUFFER_LENGTH = 1_000_000

#: Bootstrap resamples per step of the across-seeds view (fewer than a final score's 2000:
#: every step is bootstrapped, and the band is refreshed while jobs run).
AGGREGATE_REPS = 300

#: Hyperparameters offered in the form when the algorithm has them (others: JSON field).
KEY_HYPERPARAMETERS = ("batch_size", "gamma", "learning_rate", "actor_learning_rate",
                       "critic_learning_rate", "alpha", "conservative_weight", "tau",
                       "target_update_interval", "n_critics", "expectile", "weight_temp")

_COLUMNS = ["run_id", "run", "step", "name", "value", "wall_time"]


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"run_id": pd.Series(dtype="object"), "run": pd.Series(dtype="object"),
                         "step": pd.Series(dtype="int64"), "name": pd.Series(dtype="object"),
                         "value": pd.Series(dtype="float64"),
                         "wall_time": pd.Series(dtype="float64")})


def _recorded_seed(job: Any) -> Any:
    """The job's seed from its run record (``"?"`` when the store does not know the run)."""
    try:
        return job.store.get_run(job.run_id)["seed"]
    except WorkbenchError:
        return "?"


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
    """

    metric = param.String(default="", doc="the metric on the live curves")
    view = param.Selector(default="per run", objects=["per run", "across seeds"])

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
        self.jobs: list[Any] = []
        self._labels: dict[str, str] = {}
        self._seeds: dict[str, Any] = {}
        self._seeded: dict[str, int] = {}
        self._ups: dict[str, float] = {}
        self._names: set[str] = set()
        self._pending: deque[pd.DataFrame] = deque()  # rows for the Buffer and the plot
        self._follow_lock = threading.Lock()
        self._sub = metric_stream().subscribe(run_ids=set())
        self.state.on_close(self._sub.close)
        self.buffer = hv.streams.Buffer(_empty_frame(), length=BUFFER_LENGTH, index=False)
        self.live = LiveCurves(rollover=BUFFER_LENGTH)
        self._callback: Any = None
        self._last_table: Any = None
        self._table_time = 0.0
        self._agg_dirty = False
        self._agg_time = 0.0
        self._agg_cache: dict = {}  # (metric, group, step, values...) -> aggregate row
        self.n_batches = 0  # batches sent to the Buffer (for tests and benchmarks)
        self._build_form()
        self.status = pn.pane.Alert("Load a dataset, choose an algorithm and press *Start "
                                    "training*.", alert_type="info",
                                    css_classes=["wb-train-status"])
        self.table = pn.widgets.Tabulator(
            self._table_frame(), disabled=True, show_index=False, sizing_mode="stretch_width",
            height=240, buttons={"cancel": "<b>Cancel</b>"}, css_classes=["wb-jobs"],
            formatters={"progress": {"type": "progress", "max": 100, "legend": True}})
        self.table.on_click(self._on_table_click)
        self.metric_select = pn.widgets.Select(label="Metric", options=[], width=220,
                                               css_classes=["wb-metric"])
        self.metric_select.param.watch(lambda e: setattr(self, "metric", e.new or ""), "value")
        self.view_select = pn.widgets.RadioButtonGroup.from_param(self.param.view)
        self.curve_pane = self.live.pane
        self.live_agg = LiveAggregate()
        self.agg_pane = self.live_agg.pane
        self.agg_note = pn.pane.Markdown("")
        # shown with the "across seeds" view (a Bokeh pane's own `visible` cannot be toggled:
        # Panel then copies the figure's stylesheets into a str-only parameter and raises)
        self.agg_box = pn.Column(self.agg_note, self.agg_pane, visible=False,
                                 sizing_mode="stretch_width")
        for j in jobs or (ui_jobs() if self.follow_all else []):
            self.follow(j)
        self.state.param.watch(self._sync_datasets, ["datasets", "current"])
        self._sync_datasets()

    # ------------------------------------------------------------------ form
    def _build_form(self) -> None:
        import torch

        self.dataset_select = pn.widgets.Select(label="Dataset", options=[], width=220,
                                                css_classes=["wb-train-dataset"])
        self.algo_select = pn.widgets.Select(label="Algorithm", options=[], width=200,
                                             css_classes=["wb-algo"])
        self.steps_input = pn.widgets.IntInput(label="Gradient steps", value=2000, start=10,
                                               step=500, width=130, css_classes=["wb-steps"])
        self.seeds_input = pn.widgets.TextInput(label="Seeds", value="0", width=110,
                                                css_classes=["wb-seeds"])
        devices = ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        self.device_select = pn.widgets.Select(label="Device", options=devices, width=100)
        self.executor_select = pn.widgets.Select(label="Executor",
                                                 options=["thread", "process"], width=100)
        self.env_input = pn.widgets.TextInput(label="Evaluate in environment (optional)",
                                              value="", width=220)
        self.hp_box = pn.Row()
        self.extra_input = pn.widgets.TextInput(label="Other hyperparameters (JSON)",
                                                placeholder='{"n_critics": 2}', width=300)
        self.start_button = pn.widgets.Button(label="Start training", color="primary",
                                              css_classes=["wb-start"])
        self.start_button.on_click(self._on_start)
        self.dataset_select.param.watch(self._on_dataset, "value")
        self.algo_select.param.watch(self._on_algo, "value")
        self._hp_widgets: dict[str, Any] = {}
        self._hp_defaults: dict[str, Any] = {}

    def _sync_datasets(self, *_: Any) -> None:
        names = list(self.state.datasets)
        self.dataset_select.options = names
        if self.state.current in names:
            self.dataset_select.value = self.state.current
        self.start_button.disabled = not names

    def _on_dataset(self, event: Any) -> None:
        ds = self.state.datasets.get(event.new)
        if ds is None:
            return
        from ..training import algorithms

        table = algorithms()
        space = "discrete" if ds.is_discrete else "continuous"
        names = table.loc[table["action_space"] == space, "name"].tolist()
        keep = self.algo_select.value if self.algo_select.value in names else None
        self.algo_select.options = names
        self.algo_select.value = keep or ("discrete_cql" if ds.is_discrete else "cql")
        self.env_input.value = str(ds.metadata.get("env_id") or "")

    def _on_algo(self, event: Any) -> None:
        if not event.new:
            return
        from ..training.algorithms import ALGORITHMS

        defaults = ALGORITHMS[event.new].fields()
        self._hp_defaults = {k: defaults[k] for k in KEY_HYPERPARAMETERS
                             if k in defaults and isinstance(defaults[k], (int, float))
                             and not isinstance(defaults[k], bool)}
        self._hp_widgets = {}
        for k, v in self._hp_defaults.items():
            cls = pn.widgets.IntInput if isinstance(v, int) else pn.widgets.FloatInput
            self._hp_widgets[k] = cls(label=k, value=v, width=130)
        self.hp_box.objects = list(self._hp_widgets.values())

    def _form_values(self) -> dict[str, Any]:
        from ..errors import ConfigError

        try:
            seeds = [int(s) for s in str(self.seeds_input.value).replace(",", " ").split()]
        except ValueError:
            raise ConfigError(f"seeds must be integers separated by commas, got "
                              f"{self.seeds_input.value!r}") from None
        if not seeds:
            raise ConfigError("give at least one seed")
        hp = {k: w.value for k, w in self._hp_widgets.items()
              if w.value is not None and w.value != self._hp_defaults.get(k)}
        extra = (self.extra_input.value or "").strip()
        if extra:
            try:
                more = json.loads(extra)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"other hyperparameters: not valid JSON ({exc})") from None
            if not isinstance(more, dict):
                raise ConfigError("other hyperparameters: give a JSON object {\"name\": value}")
            hp.update(more)
        name = self.dataset_select.value
        if name not in self.state.datasets:
            raise ConfigError("load a dataset first (Datasets page)")
        return {"dataset": name, "algo": self.algo_select.value,
                "n_steps": int(self.steps_input.value), "seeds": seeds,
                "device": self.device_select.value, "executor": self.executor_select.value,
                "env": (self.env_input.value or "").strip() or None, "hyperparameters": hp}

    # ------------------------------------------------------------------ actions
    def start(self, **overrides: Any) -> list[Any]:
        """Start jobs from the form (``overrides`` replace form fields: ``dataset``, ``algo``,
        ``n_steps``, ``seeds``, ``device``, ``executor``, ``env``, ``hyperparameters``,
        and any other :func:`workbench.train` keyword); returns the jobs."""
        from ..training import sweep, train

        v = {**self._form_values(), **overrides}
        ds = self.state.datasets[v.pop("dataset")]
        seeds, hp, algo = v.pop("seeds"), v.pop("hyperparameters"), v.pop("algo")
        n_steps = v.pop("n_steps")
        kwargs = {"store": self.state.store, **v}
        if len(seeds) == 1:
            jobs = [train(ds, algo=algo, n_steps=n_steps, seed=seeds[0], **kwargs, **hp)]
        else:
            jobs = sweep(ds, algos=[algo], seeds=seeds, n_steps=n_steps,
                         hyperparameters={algo: hp} if hp else None, **kwargs).jobs
        register_jobs(jobs)
        for j in jobs:
            self.follow(j)
        self.state.runs_version += 1
        say(self.status, f"Started {len(jobs)} job(s): {algo}, {n_steps:,} steps, "
            f"seeds {', '.join(map(str, seeds))}.", "success")
        self._refresh_table(force=True)
        return jobs

    def _on_start(self, _event: Any = None) -> None:
        try:
            self.start()
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")

    def cancel(self, run_id: str) -> bool:
        """Cancel a followed job by run id (``False`` when it had already finished)."""
        for j in self.jobs:
            if j.run_id == run_id:
                ok = j.cancel()
                self._refresh_table(force=True)
                return ok
        return False

    def _on_table_click(self, event: Any) -> None:
        if event.column != "cancel":
            return
        run_id = self.table.value.iloc[event.row]["run_id"]
        if self.cancel(run_id):
            say(self.status, f"Cancelling {run_id} …", "warning")

    def follow(self, job: Any) -> None:
        """Show ``job`` in the table and its metrics on the curves (from its first row)."""
        if any(j.run_id == job.run_id for j in self.jobs):
            return
        self.jobs.append(job)
        seed = self._seeds[job.run_id] = _recorded_seed(job)
        label = self._labels[job.run_id] = run_label(job.algo, seed, job.run_id)
        # its line and legend entry now (a model-graph change, paid before the first point)
        in_doc(self.live.figure, lambda: self.live.add_run(job.run_id, label))
        # subscribe first, then read what is committed; the drain waits meanwhile so that
        # rows in both are filtered by _seeded (follow() may run on another thread)
        with self._follow_lock:
            self._sub.follow(job.run_id)
            past = job.metrics()
            self._seeded[job.run_id] = int(past["step"].max()) if len(past) else -1
        if len(past):
            self._pending.append(past.assign(run_id=job.run_id, run=label)[_COLUMNS])
            in_doc(self.live.figure, self._flush)  # now, or on the session's next tick

    # ------------------------------------------------------------------ live updates
    def _note(self, frame: pd.DataFrame) -> None:
        new = set(frame["name"].unique()) - self._names
        if new:
            self._names |= new
            opts = sorted(self._names)
            self.metric_select.options = opts
            if self.metric_select.value not in opts:
                self.metric_select.value = preferred_metric(opts)
        ups = frame[frame["name"] == "time/updates_per_s"]
        for rid, v in zip(ups["run_id"], ups["value"]):
            self._ups[rid] = float(v)
        self._agg_dirty = True

    def pump(self) -> int:
        """Drain the metric stream into the curves' Buffer (one batch) and refresh the job
        table; returns the rows sent.  Called by the periodic callback; call it yourself in
        a notebook cell that blocks the event loop."""
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
                df.insert(1, "run", df["run_id"].map(self._labels))
                self._pending.append(df)
        sent = self._flush()
        self._refresh_table()
        if self.view == "across seeds" and self._agg_dirty and (
                time.monotonic() - self._agg_time > 1.0 or not self._busy()):
            self._render_aggregate()
        return sent

    def _flush(self) -> int:
        """Send the pending rows to the Buffer (one batch) and the live plot; returns them.

        It changes the plot's Bokeh models, so it runs where the document may be changed:
        the periodic callback, or through :func:`~workbench.ui.live.in_doc`."""
        frames = []
        while self._pending:
            frames.append(self._pending.popleft())
        if not frames:
            return 0
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df = df.astype({"step": "int64", "value": "float64", "wall_time": "float64"})
        self._note(df)
        df = df[_COLUMNS].reset_index(drop=True)
        self.buffer.send(df)
        self.live.stream(df, self._labels)
        self.n_batches += 1
        return len(df)

    def _busy(self) -> bool:
        return any(j.status not in FINISHED for j in self.jobs)

    @param.depends("metric", watch=True)
    def _on_metric(self) -> None:
        in_doc(self.live.figure,
               lambda: self.live.show(self.metric, self.buffer.data, self._labels))
        self._agg_dirty = True
        if self.view == "across seeds":
            self._render_aggregate()

    @param.depends("view", watch=True)
    def _on_view(self) -> None:
        agg = self.view == "across seeds"
        self.agg_box.visible = agg
        if agg:
            self._render_aggregate()

    def aggregate_frame(self) -> pd.DataFrame:
        """Mean, IQM and the IQM's bootstrap CI per algorithm and step for the metric."""
        groups = {j.run_id: j.algo for j in self.jobs}
        return curves_across_seeds(self.buffer.data, self.metric, groups,
                                   reps=AGGREGATE_REPS, cache=self._agg_cache)

    def _render_aggregate(self) -> None:
        in_doc(self.live_agg.figure, self._draw_aggregate)

    def _draw_aggregate(self) -> None:
        self._agg_dirty, self._agg_time = False, time.monotonic()
        agg = self.aggregate_frame()
        counts = pd.Series([j.algo for j in self.jobs]).value_counts()
        if agg.empty:
            self.agg_note.object = ("Across seeds needs at least two runs of one algorithm "
                                    "(type several seeds, e.g. `0, 1, 2`). Runs per "
                                    "algorithm: " + (", ".join(f"{a}: {n}" for a, n in
                                                               counts.items()) or "none"))
            self.live_agg.update(agg, title=f"{self.metric} across seeds")
            return
        self.agg_note.object = ("Solid: IQM across seeds with its 95 % stratified-bootstrap "
                                "band; dashed: mean (Agarwal et al., 2021).")
        self.live_agg.update(agg, title=f"{self.metric} across seeds")

    def _table_frame(self) -> pd.DataFrame:
        rows = []
        for j in getattr(self, "jobs", []):
            err = j.error or ""
            rows.append({"run_id": j.run_id, "algo": j.algo,
                         "seed": self._seeds.get(j.run_id),
                         "status": j.status, "progress": round(100.0 * j.step / max(1, j.n_steps),
                                                              1),
                         "step": f"{j.step:,} / {j.n_steps:,}",
                         "updates/s": round(self._ups.get(j.run_id, np.nan), 1),
                         "executor": j.executor,
                         "error": err.strip().splitlines()[-1] if err else ""})
        cols = ["run_id", "algo", "seed", "status", "progress", "step", "updates/s", "executor",
                "error"]  # + the "cancel" button column Tabulator adds
        return pd.DataFrame(rows, columns=cols)

    def _refresh_table(self, force: bool = False) -> None:
        snap = tuple((j.run_id, j.status, j.step, self._ups.get(j.run_id)) for j in self.jobs)
        statuses = tuple(s[1] for s in snap)
        # progress alone refreshes the (costly) table at most once a second
        if not force and snap != self._last_table and statuses == tuple(
                s[1] for s in (self._last_table or ())) and \
                time.monotonic() - self._table_time < 1.0:
            return
        if force or snap != self._last_table:
            self._table_time = time.monotonic()
            finished_before = sum(1 for s in (self._last_table or ()) if s[1] in FINISHED)
            self._last_table = snap
            self.table.value = self._table_frame()
            if sum(1 for s in snap if s[1] in FINISHED) != finished_before:
                self.state.runs_version += 1

    def status_frame(self) -> pd.DataFrame:
        """The job table as shown (``run_id, algo, seed, status, progress, ...``)."""
        return self._table_frame()

    # ------------------------------------------------------------------ lifecycle
    def start_updates(self) -> None:
        """Start this session's periodic drain (idempotent; stopped by ``state.close()``)."""
        if self._callback is None and not self.state.closed:
            self._callback = self.state.add_periodic_callback(self.pump, self.period)

    def __panel__(self) -> Any:
        self.start_updates()
        form = pn.Card(
            pn.Row(self.dataset_select, self.algo_select, self.steps_input, self.seeds_input,
                   self.device_select, self.executor_select),
            pn.Row(self.env_input, self.extra_input), self.hp_box, self.start_button,
            title="New training", collapsible=False, sizing_mode="stretch_width")
        return pn.Column("## Training", form, self.status, self.table,
                         pn.Row(self.metric_select, self.view_select),
                         self.curve_pane, self.agg_box,
                         sizing_mode="stretch_width")
