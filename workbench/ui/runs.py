"""Runs page: the RunStore's history (it survives restarts), filters, comparison of chosen
runs' curves (per run, or across seeds per algorithm), training-health flags and export of
metrics to CSV or parquet."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from ..stats import curves_across_seeds
from ..tracking import runs
from ..tracking.labels import preferred_metric, run_label
from ..tracking.store import STATUSES
from . import plots
from .curves import AGGREGATE_REPS
from .state import WorkbenchState

__all__ = ["RunsPanel"]

_SHOWN = ["run_id", "name", "algo", "dataset", "status", "seed", "step", "n_steps",
          "duration_s", "overfitting", "underfitting", "executor", "device", "created", "error"]


class RunsPanel(pn.viewable.Viewer):
    """Browse and compare recorded runs.

    Args:
        state: the dashboard's shared state, a :class:`~workbench.tracking.RunStore`, or
            ``None`` (the default store under ``$WORKBENCH_HOME``).
    """

    def __init__(self, state: Any = None, **params: Any) -> None:
        super().__init__(**params)
        from ..tracking.store import RunStore

        if not isinstance(state, WorkbenchState):
            state = WorkbenchState(store=state if isinstance(state, RunStore) else None)
        self.state = state
        self.status_filter = pn.widgets.MultiChoice(
            label="Status", options=list(STATUSES), value=[], width=300)
        self.text_filter = pn.widgets.TextInput(label="Filter (algorithm, dataset, run id)",
                                                width=260)
        self.refresh_button = pn.widgets.Button(label="Refresh", width=100,
                                                css_classes=["wb-runs-refresh"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=_SHOWN), disabled=True,
                                          show_index=False, selectable="checkbox",
                                          sizing_mode="stretch_width", height=320,
                                          pagination="local", page_size=50,
                                          css_classes=["wb-runs-table"])
        self.metric_select = pn.widgets.Select(label="Compare metric", options=[], width=220)
        self.compare_view = pn.widgets.RadioButtonGroup(options=["per run", "across seeds"],
                                                        value="per run",
                                                        css_classes=["wb-runs-view"])
        self.compare_pane = pn.pane.HoloViews(None, css_classes=["wb-runs-compare"])
        self.health_table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True,
                                                 show_index=False, sizing_mode="stretch_width",
                                                 height=160)
        self.note = pn.pane.Markdown("Tick runs to compare them; the health flags and the "
                                     "export use the ticked runs (all shown runs when none "
                                     "is ticked).")
        self.csv_download = pn.widgets.FileDownload(callback=lambda: self._download(".csv"),
                                                    filename="runs-metrics.csv",
                                                    label="Export metrics (CSV)", width=220)
        self.parquet_download = pn.widgets.FileDownload(
            callback=lambda: self._download(".parquet"), filename="runs-metrics.parquet",
            label="Export metrics (parquet)", width=220)
        self.frame = pd.DataFrame(columns=_SHOWN)
        self.refresh_button.on_click(lambda e: self.refresh())
        for w in (self.status_filter, self.text_filter):
            w.param.watch(lambda e: self._apply_filter(), "value")
        self.table.param.watch(lambda e: self._on_selection(), "selection")
        for w in (self.metric_select, self.compare_view):
            w.param.watch(lambda e: self._render_compare(), "value")
        self.state.param.watch(lambda *e: self.refresh(), ["runs_version"])
        self.refresh()

    # ------------------------------------------------------------------ data
    def refresh(self) -> pd.DataFrame:
        """Re-read the store (runs whose process died show ``crashed``)."""
        df = runs(self.state.store)
        if "duration_s" in df:
            df["duration_s"] = df["duration_s"].round(1)
        self.frame = df[[c for c in _SHOWN if c in df.columns]]
        self._apply_filter()
        return self.frame

    def _apply_filter(self) -> None:
        df = self.frame
        if self.status_filter.value:
            df = df[df["status"].isin(self.status_filter.value)]
        text = (self.text_filter.value or "").strip().lower()
        if text:
            hay = pd.Series([" ".join(str(v) for v in row if v is not None and v == v)
                             for row in df[["run_id", "algo", "dataset", "name"]].itertuples(
                                 index=False)], index=df.index, dtype=object).str.lower()
            df = df[hay.str.contains(text, regex=False).astype(bool)]
        self.table.value = df.reset_index(drop=True)
        self.table.selection = []
        self._on_selection()

    def selected(self) -> list[str]:
        """Ticked run ids (all shown runs when none is ticked)."""
        df = self.table.value
        if df is None or df.empty:
            return []
        idx = self.table.selection or list(range(len(df)))
        return [df.iloc[i]["run_id"] for i in idx if i < len(df)]

    def _metrics(self, run_ids: list[str]) -> pd.DataFrame:
        if not run_ids:
            return pd.DataFrame(columns=["run_id", "step", "name", "value", "wall_time"])
        return self.state.store.metrics(run_ids)

    def _on_selection(self) -> None:
        ids = self.selected()
        m = self._metrics(ids[:20])
        names = sorted(m["name"].unique()) if len(m) else []
        self.metric_select.options = names
        if names and self.metric_select.value not in names:
            self.metric_select.value = preferred_metric(names)
        self._metrics_cache = m
        self._render_compare()
        self._render_health(ids)

    def _render_compare(self) -> None:
        m = getattr(self, "_metrics_cache", None)
        if m is None or m.empty or not self.metric_select.value:
            self.compare_pane.object = None
            return
        metric = self.metric_select.value
        if self.compare_view.value == "across seeds":  # the Training page's view, recorded
            groups = {r.run_id: r.algo for r in self.frame.itertuples()}
            agg = curves_across_seeds(m, metric, groups, reps=AGGREGATE_REPS)
            self.compare_pane.object = plots.aggregate_curves(agg, title=f"Across seeds: "
                                                                         f"{metric}")
            return
        labels = {r.run_id: run_label(r.algo, r.seed, r.run_id)
                  for r in self.frame.itertuples()}
        m = m.assign(run=m["run_id"].map(labels).fillna(m["run_id"]))
        self.compare_pane.object = plots.learning_curves(m, metric, by="run",
                                                         title=f"Compare: {metric}")

    def _render_health(self, ids: list[str]) -> None:
        from ..training.evaluators import training_health

        frames = []
        m = getattr(self, "_metrics_cache", pd.DataFrame())
        for rid in ids[:20]:
            sub = m[m["run_id"] == rid] if len(m) else m
            if sub is None or sub.empty:
                continue
            try:
                h = training_health(sub.drop(columns="run_id"))
            except WorkbenchError:
                continue
            frames.append(h.assign(run_id=rid))
        self.health_table.value = (pd.concat(frames, ignore_index=True) if frames
                                   else pd.DataFrame())

    # ------------------------------------------------------------------ export
    def export(self, path: str | Path, run_ids: list[str] | None = None) -> Path:
        """Write the metrics of ``run_ids`` (default: the selection) to ``.csv``/``.parquet``."""
        return self.state.store.export(path, run_ids if run_ids is not None else self.selected())

    def _download(self, suffix: str) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            path = self.export(Path(tmp) / f"metrics{suffix}")
            return io.BytesIO(path.read_bytes())

    def __panel__(self) -> Any:
        return pn.Column("## Runs", pn.Row(self.status_filter, self.text_filter,
                                           self.refresh_button),
                         self.note, self.table,
                         pn.Row(self.csv_download, self.parquet_download),
                         pn.Row(self.metric_select, self.compare_view), self.compare_pane,
                         "### Training health (Kumar et al., 2021)", self.health_table,
                         sizing_mode="stretch_width")
