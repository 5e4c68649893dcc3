"""Diagnostics page: the headline numbers (TQ, SACo) and the report of the current dataset,
its distributions and coverage, and the TQ–SACo map of every loaded dataset."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from . import _frames, plots
from ._format import fmt_value, set_table, table
from .state import WorkbenchState, run_action, say, served_loop

__all__ = ["DiagnosticsPanel"]

PCA = "PCA (first two components)"


class DiagnosticsPanel(pn.viewable.Viewer):
    """TQ, SACo and the rest of :func:`workbench.diagnose` for the loaded datasets.

    The report of each dataset is computed once (against its catalog family's replay
    dataset when it has one) and cached in the shared state.

    Args:
        state: the shared :class:`WorkbenchState`; or pass ``datasets={name: ds}``.
    """

    def __init__(self, state: WorkbenchState | None = None, *, datasets: dict | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.state = state or WorkbenchState()
        for name, ds in (datasets or {}).items():
            self.state.add_dataset(name, ds)
        self.dataset_select = pn.widgets.Select(label="Dataset", options=[], width=260,
                                                css_classes=["wb-diag-dataset"])
        self.status = pn.pane.Alert("Load a dataset on the Datasets page.", alert_type="info",
                                    css_classes=["wb-diag-status"])
        self.headline = pn.pane.HTML("", css_classes=["wb-headline"],
                                     sizing_mode="stretch_width")
        # the section is the group header: its column would only repeat it
        self.report_table = table(pd.DataFrame(columns=["section", "quantity", "value"]),
                                  wrap=["quantity", "value"],
                                  widths={"quantity": 250, "value": 270},
                                  round_numbers=False, groupby=["section"],
                                  hidden_columns=["section"], width=560, height=480,
                                  sizing_mode="fixed", css_classes=["wb-report"])
        self.returns_pane = pn.pane.HoloViews(None)
        self.lengths_pane = pn.pane.HoloViews(None)
        self.actions_pane = pn.pane.HoloViews(None)
        self.x_select = pn.widgets.Select(label="x axis", options=[], width=120)
        self.y_select = pn.widgets.Select(label="y axis", options=[], width=120)
        self.view_select = pn.widgets.RadioButtonGroup(options={"two axes": "axes", PCA: "pca"},
                                                       value="axes")
        self.coverage_pane = pn.pane.HoloViews(None)
        self.map_pane = pn.pane.HoloViews(None, css_classes=["wb-tq-saco"])
        self.map_note = pn.pane.Markdown("")
        self.dataset_select.param.watch(self._on_select, "value")
        for w in (self.x_select, self.y_select, self.view_select):
            w.param.watch(lambda e: self._render_coverage(), "value")
        self.state.param.watch(self._sync, ["datasets", "current"])
        self._sync()

    # ------------------------------------------------------------------ state
    def _sync(self, *_: Any) -> None:
        names = list(self.state.datasets)
        self.dataset_select.options = names
        if self.state.current in names:
            if self.dataset_select.value != self.state.current:
                self.dataset_select.value = self.state.current  # triggers _on_select
            elif self.report is None or self._shown != self.state.current:
                self.refresh()

    def _on_select(self, event: Any) -> None:
        if event.new:
            if event.new != self.state.current:
                self.state.current = event.new
            self._schedule()

    def _schedule(self) -> None:
        """Compute in a worker thread in a served session; synchronously otherwise."""
        loop = served_loop()
        if loop is None:
            self.refresh()
        else:
            loop.create_task(self._refresh_async())

    _shown: str | None = None
    report: Any = None

    def _compute(self, name: str) -> tuple[Any, pd.DataFrame]:
        rep = self.state.report(name)
        frame = self._map_frame()
        return rep, frame

    def _map_frame(self) -> pd.DataFrame:
        rows = []
        for n in list(self.state.datasets):
            try:
                rows.append(self.state.report(n).to_frame())
            except WorkbenchError:
                continue
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def refresh(self) -> Any:
        """Compute (or reuse) the report of the selected dataset and redraw everything."""
        name = self.dataset_select.value
        if not name:
            return None
        try:
            rep, frame = self._compute(name)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return None
        self._show(name, rep, frame)
        return rep

    async def _refresh_async(self) -> None:
        name = self.dataset_select.value
        if not name:
            return

        def show(computed: tuple[Any, pd.DataFrame]) -> None:
            if name == self.dataset_select.value:
                self._show(name, *computed)

        await run_action(self.status, f"Diagnosing {name} (TQ, SACo, coverage)", self._compute,
                         name, show=show, done=lambda r, sec: self._summary(name, r[0], sec))

    # ------------------------------------------------------------------ rendering
    def _show(self, name: str, rep: Any, map_frame: pd.DataFrame) -> None:
        from ..diagnostics import episode_frame

        ds = self.state.datasets[name]
        self.report, self._shown = rep, name
        self.headline.object = _headline(rep)
        set_table(self.report_table, _frames.report_table(rep))
        ep = episode_frame(ds).assign(dataset=name)
        self.returns_pane.object = plots.return_histogram(ep, title=f"Episode returns: {name}")
        self.lengths_pane.object = plots.length_histogram(ep, title=f"Episode lengths: {name}")
        self.actions_pane.object = plots.action_distribution(
            _frames.action_frame(ds, getattr(rep, "actions", None)
                                 if ds.is_discrete else None),
            title=f"Action distribution: {name}")
        axes = _frames.state_axes(ds)
        self._quiet = True
        try:
            self.x_select.options, self.y_select.options = axes, axes
            if self.x_select.value not in axes:
                self.x_select.value = axes[0]
            if self.y_select.value not in axes:
                self.y_select.value = axes[min(1, len(axes) - 1)]
        finally:
            self._quiet = False
        self._render_coverage()
        self._render_map(map_frame)
        say(self.status, self._summary(name, rep, None), "success")

    @staticmethod
    def _summary(name: str, rep: Any, seconds: float | None) -> str:
        from ._format import fmt_seconds

        took = "" if seconds is None else f" ({fmt_seconds(seconds)})"
        return (f"**{name}**: TQ {fmt_value(rep.tq, 3)}, SACo {fmt_value(rep.saco, 3)}"
                f"{took}.")

    def _render_coverage(self) -> None:
        name = self._shown
        if getattr(self, "_quiet", False) or not name or name not in self.state.datasets:
            return
        ds = self.state.datasets[name]
        pca = self.view_select.value == "pca"
        self.x_select.disabled = self.y_select.disabled = pca
        axes = _frames.state_axes(ds)
        x = self.x_select.value if self.x_select.value in axes else axes[0]
        y = self.y_select.value if self.y_select.value in axes else axes[-1]
        if x == y and len(axes) > 1:  # two different axes (a browser may echo one value)
            y = axes[(axes.index(x) + 1) % len(axes)]
        try:
            frame, xn, yn = _frames.state_frame(ds, x, y, pca=pca or len(axes) < 2)
            self.coverage_pane.object = plots.state_coverage(frame, xn, yn,
                                                             title=f"State coverage: {name}")
        except WorkbenchError as exc:
            self.coverage_pane.object = None
            self.status.object = f"State coverage: {exc}"

    def _render_map(self, frame: pd.DataFrame) -> None:
        try:
            self.map_pane.object = plots.tq_saco_map(frame, title="TQ vs SACo (loaded datasets)")
            missing = sorted(set(frame["dataset"]) - set(frame.dropna(subset=["tq", "saco"])
                                                         ["dataset"]))
            self.map_note.object = ("" if not missing else "Not on the map (no TQ references "
                                    "or coverage reference): " + ", ".join(missing))
        except WorkbenchError as exc:
            self.map_pane.object = None
            self.map_note.object = f"TQ–SACo map: {exc}"

    def __panel__(self) -> Any:
        return pn.Column(
            self.dataset_select, self.status, self.headline,
            pn.Row(self.report_table, pn.Column(self.map_pane, self.map_note)),
            pn.Row(self.returns_pane, self.lengths_pane),
            pn.Row(self.actions_pane,
                   pn.Column(pn.Row(self.view_select, self.x_select, self.y_select),
                             self.coverage_pane)),
            sizing_mode="stretch_width")


#: What each headline number means, shown under it.
_HEADLINE_HELP = {
    "TQ": "trajectory quality: 0 = random, 1 = expert returns",
    "SACo": "state–action coverage relative to the reference",
    "lSACo": "log-count variant of SACo",
}


def _headline(rep: Any) -> str:
    """The report's headline numbers as large figures (HTML), each with what it means."""
    cells = []
    for label, value in (("TQ", rep.tq), ("SACo", rep.saco), ("lSACo", rep.lsaco)):
        shown = "n/a" if value is None else fmt_value(value, 3)
        cells.append(
            f"<div class='wb-figure' style='display:inline-block;min-width:170px;"
            f"margin:0 28px 6px 0;vertical-align:top'>"
            f"<div style='font-size:13px;color:#555'>{label}</div>"
            f"<div class='wb-figure-value' style='font-size:30px;font-weight:600;"
            f"line-height:1.2'>{html.escape(shown)}</div>"
            f"<div style='font-size:12px;color:#666;max-width:220px'>"
            f"{_HEADLINE_HELP[label]}</div></div>")
    ref = rep.metrics.get("reference")
    cells.append("<div style='display:inline-block;vertical-align:top;font-size:13px;"
                 "max-width:360px'><div style='color:#555'>coverage reference</div>"
                 f"<div style='font-size:15px'>{html.escape(str(ref) if ref else 'none')}"
                 "</div></div>")
    return "<div>" + "".join(cells) + "</div>"
