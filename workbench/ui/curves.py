"""Learning curves in the UI: where each one is drawn, and the Training page's curves.

One story, two views (per run, across seeds) at two speeds:

============  ===========================================  ================================
view          live: Training page (:class:`TrainingCurves`)  recorded: Runs page, notebooks
============  ===========================================  ================================
per run       :class:`~workbench.ui.live.LiveCurves`         :func:`.plots.learning_curves`
across seeds  :class:`~workbench.ui.live.LiveAggregate`      :func:`.plots.aggregate_curves`
============  ===========================================  ================================

* Live curves are Bokeh sources that receive only the new points of each drain
  (:mod:`workbench.ui.live` says why: re-rendering a HoloViews plot per drain kept the
  server busy).  Recorded curves are pure plot functions of tidy frames.
* The numbers across seeds are :func:`workbench.stats.curves_across_seeds` in both (the
  live view passes a per-step cache), so a notebook draws the page's band with::

      plots.aggregate_curves(stats.curves_across_seeds(store.metrics(ids), "loss/td", groups))

* :class:`MetricHistory` keeps the rows a Training page has drained: a metric switch
  redraws from it, the across-seeds view aggregates it, a notebook reads it
  (``panel.buffer.data``).  Appending costs the new rows only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import panel as pn
import param

from ..stats import curves_across_seeds
from ..tracking.labels import preferred_metric
from ._frames import aggregate_note, distinct_seed_groups
from .live import LiveAggregate, LiveCurves, in_doc

__all__ = ["TrainingCurves", "MetricHistory", "BUFFER_LENGTH", "AGGREGATE_REPS", "COLUMNS"]

#: Rows of history a Training page keeps (and points per run its live plot keeps).
BUFFER_LENGTH = 1_000_000

#: Bootstrap resamples per step of the live across-seeds view (fewer than a final score's
#: 2000: every step is bootstrapped, and the band is refreshed while jobs run).
AGGREGATE_REPS = 300

#: Columns of the drained rows, in order.
COLUMNS = ["run_id", "run", "step", "name", "value", "wall_time"]


def empty_frame() -> pd.DataFrame:
    """No rows, the columns :data:`COLUMNS` with their dtypes."""
    return pd.DataFrame({"run_id": pd.Series(dtype="object"), "run": pd.Series(dtype="object"),
                         "step": pd.Series(dtype="int64"), "name": pd.Series(dtype="object"),
                         "value": pd.Series(dtype="float64"),
                         "wall_time": pd.Series(dtype="float64")})


class MetricHistory:
    """Metric rows in arrival order, the newest ``length`` of them.

    :meth:`send` keeps the new chunk (O(its rows)); :attr:`data` joins the chunks when read
    and keeps the result, so a page that appends every few hundred milliseconds does not
    copy its whole history each time.

    Args:
        length: rows kept (older ones are dropped).
    """

    def __init__(self, length: int = BUFFER_LENGTH) -> None:
        self.length = int(length)
        self._chunks: list[pd.DataFrame] = []
        self._n = 0
        self._lock = threading.Lock()

    def send(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (columns :data:`COLUMNS`)."""
        if not len(frame):
            return
        with self._lock:
            self._chunks.append(frame)
            self._n += len(frame)
            if self._n > 2 * self.length:  # bound the memory between two reads
                self._join()

    def _join(self) -> pd.DataFrame:
        if not self._chunks:
            return empty_frame()
        if len(self._chunks) > 1 or self._n > self.length:
            df = (pd.concat(self._chunks, ignore_index=True) if len(self._chunks) > 1
                  else self._chunks[0])
            if len(df) > self.length:
                df = df.iloc[-self.length:].reset_index(drop=True)
            self._chunks, self._n = [df], len(df)
        return self._chunks[0]

    @property
    def data(self) -> pd.DataFrame:
        """Every kept row (``run_id, run, step, name, value, wall_time``), oldest first."""
        with self._lock:
            return self._join()

    def __len__(self) -> int:
        return min(self._n, self.length)


class TrainingCurves(pn.viewable.Viewer):
    """The Training page's curves: one metric, per run or across seeds, updated live.

    Runs are added with :meth:`add_run`; drained rows with :meth:`append` (the new points
    only reach the plot).  ``view="across seeds"`` shows the mean, the IQM and its band per
    group (:func:`workbench.stats.curves_across_seeds`, cached per step) over runs with
    distinct seeds: of two runs of one algorithm and seed only the newer counts
    (:func:`~workbench.ui._frames.distinct_seed_groups`), and the note says what is
    aggregated.  Changes to the figures go through :func:`~workbench.ui.live.in_doc`.

    Args:
        length: rows of history (and points per run on the live plot) kept.
        reps: bootstrap resamples per step of the across-seeds band.
    """

    metric = param.String(default="", doc="the metric on the live curves")
    view = param.Selector(default="per run", objects=["per run", "across seeds"])

    def __init__(self, *, length: int = BUFFER_LENGTH, reps: int = AGGREGATE_REPS,
                 **params: Any) -> None:
        super().__init__(**params)
        self.reps = int(reps)
        self.history = MetricHistory(length)
        self.live = LiveCurves(rollover=length)
        self.live_agg = LiveAggregate()
        self.labels: dict[str, str] = {}  # run_id -> legend label
        self.groups: dict[str, str] = {}  # run_id -> across-seeds group (the algorithm)
        self.seeds: dict[str, Any] = {}  # run_id -> its seed (None: not known)
        self._names: set[str] = set()
        self._agg_cache: dict = {}  # (metric, group, step, settings, values) -> row
        self._agg_dirty = False
        self._agg_time = 0.0
        self.metric_select = pn.widgets.Select(label="Metric", options=[], width=220,
                                               css_classes=["wb-metric"])
        self.metric_select.param.watch(lambda e: setattr(self, "metric", e.new or ""), "value")
        self.view_select = pn.widgets.RadioButtonGroup.from_param(self.param.view)
        self.agg_note = pn.pane.Markdown("")
        # shown with the "across seeds" view (a Bokeh pane's own `visible` cannot be toggled:
        # Panel then copies the figure's stylesheets into a str-only parameter and raises)
        self.agg_box = pn.Column(self.agg_note, self.live_agg.pane, visible=False,
                                 sizing_mode="stretch_width")

    # ------------------------------------------------------------------ data
    def add_run(self, run_id: str, label: str, group: str, seed: Any = None) -> None:
        """Give ``run_id`` its line and legend entry now (before its first point), labelled
        ``label``, aggregated across seeds with the runs of ``group`` (``seed``: its seed;
        a newer run of the same group and seed replaces it there)."""
        self.labels[run_id] = label
        self.groups[run_id] = group
        self.seeds[run_id] = seed
        in_doc(self.live.figure, lambda: self.live.add_run(run_id, label))

    def append(self, rows: pd.DataFrame) -> int:
        """Add drained ``rows`` (columns :data:`COLUMNS`) to the history and their points
        of the shown metric to the live plot; returns the rows.  It changes Bokeh models:
        call it where the document may be changed."""
        self._note(rows)
        self.history.send(rows)
        self.live.stream(rows, self.labels)
        self._agg_dirty = True
        return len(rows)

    def _note(self, rows: pd.DataFrame) -> None:
        new = set(rows["name"].unique()) - self._names
        if new:
            self._names |= new
            opts = sorted(self._names)
            self.metric_select.options = opts
            if self.metric_select.value not in opts:
                self.metric_select.value = preferred_metric(opts)

    def aggregated(self) -> tuple[dict[str, str], list[str]]:
        """``({run_id: group}`` of the runs the across-seeds view aggregates, ``[run ids
        left out]``): one run per group and seed, the newest."""
        return distinct_seed_groups([(rid, g, self.seeds.get(rid))
                                     for rid, g in self.groups.items()])

    def aggregate_frame(self) -> pd.DataFrame:
        """Mean, IQM and the IQM's bootstrap CI per group and step for the shown metric
        (:func:`workbench.stats.curves_across_seeds` of the history, over
        :meth:`aggregated`'s runs)."""
        groups, _ = self.aggregated()
        return curves_across_seeds(self.history.data, self.metric, groups,
                                   reps=self.reps, cache=self._agg_cache)

    # ------------------------------------------------------------------ rendering
    def refresh_aggregate(self, busy: bool) -> None:
        """Redraw the across-seeds view when shown and new rows came: at most once a second
        while ``busy`` (jobs running), at once otherwise."""
        if self.view == "across seeds" and self._agg_dirty and (
                time.monotonic() - self._agg_time > 1.0 or not busy):
            self._render_aggregate()

    @param.depends("metric", watch=True)
    def _on_metric(self) -> None:
        in_doc(self.live.figure,
               lambda: self.live.show(self.metric, self.history.data, self.labels))
        self._agg_dirty = True
        if self.view == "across seeds":
            self._render_aggregate()

    @param.depends("view", watch=True)
    def _on_view(self) -> None:
        agg = self.view == "across seeds"
        self.agg_box.visible = agg
        if agg:
            self._render_aggregate()

    def _render_aggregate(self) -> None:
        in_doc(self.live_agg.figure, self._draw_aggregate)

    def _draw_aggregate(self) -> None:
        self._agg_dirty, self._agg_time = False, time.monotonic()
        groups, left_out = self.aggregated()
        agg = self.aggregate_frame()
        title = f"{self.metric} across seeds"
        self.live_agg.figure.yaxis.axis_label = self.metric or "value"
        if agg.empty:
            runs = pd.Series(list(self.groups.values()), dtype=object).value_counts()
            distinct = pd.Series(list(groups.values()), dtype=object).value_counts()
            self.agg_note.object = (
                "Across seeds needs at least two runs of one algorithm with distinct seeds "
                "(type several seeds, e.g. `0, 1, 2`). Runs per algorithm: "
                + (", ".join(f"{a}: {distinct.get(a, 0)} distinct seed(s)"
                             + (f" ({n} runs)" if n != distinct.get(a, 0) else "")
                             for a, n in runs.items()) or "none"))
        else:
            self.agg_note.object = (
                "Solid: IQM across seeds with its 95 % stratified-bootstrap band; dashed: "
                "mean (Agarwal et al., 2021).\n\n"
                + aggregate_note(agg, self.metric, groups, self.seeds, left_out))
        self.live_agg.update(agg, title=title)

    def __panel__(self) -> Any:
        return pn.Column(pn.Row(self.metric_select, self.view_select), self.live.pane,
                         self.agg_box, sizing_mode="stretch_width")
