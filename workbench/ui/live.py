"""Live learning curves that cost O(new rows) per update.

The Training page drains the metric stream every few hundred milliseconds.  Re-rendering a
HoloViews plot of the whole history for each drain re-executes the plot function over every
row, recomputes the ranges and makes Bokeh walk every model of the document (its
``models.recompute()`` runs whenever a HoloViews update unfreezes the document): with four
jobs logging on two cores the server thread was ~94 % busy, three quarters of it in that
re-render, and a click waited seconds behind it (measured with py-spy; see
``benchmarks/bench_ui.py``).

:class:`LiveCurves` keeps one Bokeh ``ColumnDataSource`` per run and sends only the new
points with ``ColumnDataSource.stream`` — a hinted event that neither touches the model graph
nor re-sends old points.  A new run adds its two glyphs once; switching the metric replaces
each source's columns (no models change either).  The full history stays in the page's
:class:`~workbench.ui.curves.MetricHistory`, which is what notebooks and the aggregate view
read.  :class:`LiveAggregate` does the same for the across-seeds view (IQM, mean and the
IQM's bootstrap band per group, from :func:`workbench.stats.curves_across_seeds`),
replacing each group's columns on a refresh.  :mod:`workbench.ui.curves` lists where every
curve of the UI is drawn.

Changes to these Bokeh models must happen where the document may be changed: the session's
own callbacks, or :func:`in_doc`, which defers them to the session's next tick otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .plots import PALETTE

__all__ = ["LiveCurves", "LiveAggregate", "in_doc"]

_COLUMNS = ("step", "value", "wall_time", "run")


def _columns(rows: pd.DataFrame, label: str) -> dict[str, Any]:
    rows = rows.sort_values("step", kind="stable")
    return {"step": rows["step"].to_numpy(dtype=float),
            "value": rows["value"].to_numpy(dtype=float),
            "wall_time": rows["wall_time"].to_numpy(dtype=float),
            "run": np.full(len(rows), label, dtype=object)}


def in_doc(model: Any, fn: Any) -> None:
    """Run ``fn`` (which changes ``model``'s Bokeh models) now when that is safe — not
    displayed, in a notebook, or inside the served session's own callbacks — and otherwise
    on the session's next tick (Bokeh refuses changes to a served document from a thread
    that does not hold its lock)."""
    doc = model.document
    if doc is None or getattr(doc, "session_context", None) is None:
        fn()
        return
    from panel.io.state import state

    if state._unblocked(doc):
        fn()
    else:
        doc.add_next_tick_callback(fn)


def _push(pane: Any) -> None:
    # in a notebook the changes made to Bokeh models directly are sent by a push (a served
    # session sends them by itself); a no-op when not displayed
    from panel.io.notebook import push_notebook

    push_notebook(pane)


class LiveCurves:
    """One line (with its logged points) per run for one metric, streamed incrementally.

    Args:
        rollover: points kept per run in the browser (older ones scroll out).
        width, height: figure size in pixels (the legend sits right of the plot).

    Attributes:
        figure: the Bokeh figure; ``pane``: it as a ``pn.pane.Bokeh``.
        metric: the metric shown.
    """

    def __init__(self, *, rollover: int = 1_000_000, width: int = 760, height: int = 360) -> None:
        import panel as pn
        from bokeh.models import HoverTool, Legend
        from bokeh.plotting import figure

        self.rollover = int(rollover)
        self.metric = ""
        self.figure = figure(width=width, height=height, title="metric (live)",
                             x_axis_label="step", y_axis_label="value",
                             tools="pan,wheel_zoom,box_zoom,reset,save",
                             css_classes=["wb-curves"])
        self.figure.add_tools(HoverTool(tooltips=[("run", "@run"), ("step", "@step{0,0}"),
                                                  ("value", "@value{0.0000}")]))
        self._legend = Legend(items=[], location="top_left", click_policy="hide")
        self.figure.add_layout(self._legend, "right")
        self._sources: dict[str, Any] = {}  # run_id -> ColumnDataSource
        self.pane = pn.pane.Bokeh(self.figure)

    # ------------------------------------------------------------------ data
    def _source(self, run_id: str, label: str) -> Any:
        src = self._sources.get(run_id)
        if src is None:
            from bokeh.models import ColumnDataSource, LegendItem

            colour = PALETTE[len(self._sources) % len(PALETTE)]
            src = ColumnDataSource({k: [] for k in _COLUMNS})
            line = self.figure.line("step", "value", source=src, color=colour, line_width=1.5,
                                    alpha=0.8)
            dots = self.figure.scatter("step", "value", source=src, color=colour, size=4)
            self._legend.items = [*self._legend.items,
                                  LegendItem(label=label, renderers=[line, dots])]
            self._sources[run_id] = src
        return src

    def add_run(self, run_id: str, label: str) -> None:
        """Give ``run_id`` its line now (before its first point), labelled ``label``."""
        self._source(run_id, label)

    def show(self, metric: str, frame: pd.DataFrame, labels: dict[str, str]) -> None:
        """Show ``metric`` from the whole history ``frame`` (``run_id, step, name, value,
        wall_time`` rows) for the runs in ``labels`` (run id → legend label)."""
        self.metric = metric
        self.figure.title.text = f"{metric or 'metric'} (live)"
        self.figure.yaxis.axis_label = metric or "value"
        sel = frame[frame["name"] == metric] if len(frame) else frame
        groups = dict(tuple(sel.groupby("run_id", sort=False))) if len(sel) else {}
        for run_id, label in labels.items():
            rows = groups.get(run_id)
            src = self._source(run_id, label)
            src.data = _columns(rows if rows is not None else sel.iloc[:0], label)
        self._push()

    def stream(self, rows: pd.DataFrame, labels: dict[str, str]) -> int:
        """Append the new ``rows`` of the current metric (other metrics are ignored);
        returns the points sent."""
        sel = rows[rows["name"] == self.metric]
        for run_id, g in sel.groupby("run_id", sort=False):
            label = labels.get(run_id, str(run_id))
            self._source(run_id, label).stream(_columns(g, label), rollover=self.rollover)
        if len(sel):
            self._push()
        return len(sel)

    def points(self) -> int:
        """Points held by the figure's sources (all runs)."""
        return sum(len(s.data["step"]) for s in self._sources.values())

    def _push(self) -> None:
        _push(self.pane)


class LiveAggregate:
    """Across-seeds curves per group (IQM solid, mean dashed, the IQM's bootstrap band),
    updated by replacing each group's columns: no HoloViews re-render, no model-graph walk.

    Attributes:
        figure: the Bokeh figure; ``pane``: it as a ``pn.pane.Bokeh``.
    """

    _COLUMNS = ("step", "mean", "iqm", "ci_low", "ci_high", "n_runs")

    def __init__(self, *, width: int = 760, height: int = 360) -> None:
        import panel as pn
        from bokeh.models import HoverTool, Legend
        from bokeh.plotting import figure

        self.figure = figure(width=width, height=height, title="across seeds",
                             x_axis_label="gradient step", y_axis_label="value",
                             tools="pan,wheel_zoom,box_zoom,reset,save",
                             css_classes=["wb-aggregate"])
        self._legend = Legend(items=[], location="top_left", click_policy="hide")
        self.figure.add_layout(self._legend, "right")
        # one hover tool from the start, pointed at each group's IQM line as it comes: adding
        # tools to a shown figure that has an outside legend sends BokehJS into a repaint
        # loop (measured: the browser's main thread ~100 % busy)
        self._hover = HoverTool(renderers=[], tooltips=[
            ("group", "@group"), ("step", "@step{0,0}"), ("IQM", "@iqm{0.0000}"),
            ("95% CI", "@ci_low{0.0000} – @ci_high{0.0000}"), ("mean", "@mean{0.0000}"),
            ("runs", "@n_runs")])
        self.figure.add_tools(self._hover)
        self._sources: dict[str, Any] = {}
        self.pane = pn.pane.Bokeh(self.figure)

    def _source(self, group: str) -> Any:
        src = self._sources.get(group)
        if src is None:
            from bokeh.models import ColumnDataSource, LegendItem

            colour = PALETTE[len(self._sources) % len(PALETTE)]
            src = ColumnDataSource({k: [] for k in (*self._COLUMNS, "group")})
            band = self.figure.varea("step", "ci_low", "ci_high", source=src,
                                     fill_color=colour, fill_alpha=0.2)
            iqm = self.figure.line("step", "iqm", source=src, color=colour, line_width=2)
            mean = self.figure.line("step", "mean", source=src, color=colour,
                                    line_dash="dashed")
            self._hover.renderers = [*self._hover.renderers, iqm]
            self._legend.items = [*self._legend.items,
                                  LegendItem(label=f"{group} IQM 95% CI", renderers=[band]),
                                  LegendItem(label=f"{group} IQM", renderers=[iqm]),
                                  LegendItem(label=f"{group} mean", renderers=[mean])]
            self._sources[group] = src
        return src

    def update(self, frame: pd.DataFrame, title: str) -> None:
        """Show ``frame`` (``group, step, mean, iqm, ci_low, ci_high, n_runs`` rows, e.g.
        :func:`workbench.stats.curves_across_seeds`); groups absent from it are emptied."""
        self.figure.title.text = title
        groups = dict(tuple(frame.groupby("group", sort=False))) if len(frame) else {}
        for group in list(groups) + [g for g in self._sources if g not in groups]:
            d = groups.get(group)
            src = self._source(group)
            if d is None:
                src.data = {k: [] for k in (*self._COLUMNS, "group")}
                continue
            d = d.sort_values("step")
            src.data = {**{k: d[k].to_numpy(dtype=float) for k in self._COLUMNS},
                        "group": np.full(len(d), str(group), dtype=object)}
        _push(self.pane)

    def points(self) -> int:
        """Steps shown, summed over the groups."""
        return sum(len(s.data["step"]) for s in self._sources.values())
