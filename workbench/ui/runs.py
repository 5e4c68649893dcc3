"""Runs page: the RunStore's history (it survives restarts), filters, comparison of chosen
runs' curves (per run, or across seeds per algorithm), training-health verdicts with the
curves they read, and export of metrics to CSV or parquet.

Across seeds, runs are grouped by algorithm over distinct seeds (of two runs with the same
algorithm and seed only the newer counts) and the note says what is aggregated.
"""

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
from ._busy import BusyButton
from ._format import MISSING, fmt_seconds, set_table, table
from ._frames import aggregate_note, distinct_seed_groups
from .curves import AGGREGATE_REPS
from .state import WorkbenchState, reread, run_action, served_loop

__all__ = ["RunsPanel"]

_SHOWN = ["run_id", "name", "algo", "dataset", "status", "seed", "step", "n_steps",
          "duration_s", "overfitting", "underfitting", "executor", "device", "created", "error"]

#: Columns of the health table.
HEALTH_COLUMNS = ["run", "signal", "status", "metric", "reason", "run_id"]

#: Most runs whose metrics are read for the comparison and the health verdicts.
MAX_COMPARED = 20


def _verdict(v: Any) -> str:
    """A health flag as the table shows it (``None``: not assessed or inconclusive)."""
    if v is None or (isinstance(v, float) and v != v):
        return MISSING
    return "yes" if bool(v) else "no"


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
        self.refresh_button = BusyButton(label="Refresh", width=100,
                                                css_classes=["wb-runs-refresh"])
        self.status = pn.pane.Alert("Tick runs to compare them; the health verdicts and the "
                                    "export use the ticked runs (all shown runs when none is "
                                    "ticked).", alert_type="info",
                                    css_classes=["wb-runs-status"])
        self.table = table(pd.DataFrame(columns=_SHOWN), wrap=["error"],
                           widths={"error": 300}, selectable="checkbox", height=320,
                           pagination="local", page_size=50, css_classes=["wb-runs-table"])
        self.metric_select = pn.widgets.Select(label="Compare metric", options=[], width=220)
        self.compare_view = pn.widgets.RadioButtonGroup(options=["per run", "across seeds"],
                                                        value="per run",
                                                        css_classes=["wb-runs-view"])
        self.compare_pane = pn.pane.HoloViews(None, css_classes=["wb-runs-compare"])
        self.compare_note = pn.pane.Markdown("", css_classes=["wb-runs-compare-note"])
        self.health_table = table(pd.DataFrame(columns=HEALTH_COLUMNS), wrap=["reason"],
                                  widths={"reason": 520}, css_classes=["wb-health"])
        self.health_plots = pn.Row(sizing_mode="stretch_width",
                                   css_classes=["wb-health-curves"])
        self.note = self.status  # (the page's message line; kept under its old name)
        self.csv_download = pn.widgets.FileDownload(callback=lambda: self._download(".csv"),
                                                    filename="runs-metrics.csv",
                                                    label="Export metrics (CSV)", width=220)
        self.parquet_download = pn.widgets.FileDownload(
            callback=lambda: self._download(".parquet"), filename="runs-metrics.parquet",
            label="Export metrics (parquet)", width=220)
        self.frame = pd.DataFrame(columns=_SHOWN)
        self._metrics_cache = pd.DataFrame(columns=["run_id", "step", "name", "value",
                                                    "wall_time"])
        self._selection_seq = 0
        self.refresh_button.on_click(self._on_refresh)
        for w in (self.status_filter, self.text_filter):
            w.param.watch(lambda e: self._apply_filter(), "value")
        self.table.param.watch(lambda e: self._on_selection(), "selection")
        for w in (self.metric_select, self.compare_view):
            w.param.watch(lambda e: self._render_compare(), "value")
        self.state.param.watch(lambda *e: self._runs_changed(), ["runs_version"])
        self.refresh()

    # ------------------------------------------------------------------ data
    def refresh(self) -> pd.DataFrame:
        """Re-read the store (runs whose process died show ``crashed``)."""
        self._apply(self._read())
        return self.frame

    def _read(self) -> pd.DataFrame:
        df = runs(self.state.store)
        return df[[c for c in _SHOWN if c in df.columns]]

    def _apply(self, df: pd.DataFrame) -> None:
        self.frame = df
        self._apply_filter()

    async def _on_refresh(self, _event: Any = None) -> None:
        await run_action(self.status, "Reading the run store", self._read,
                         button=self.refresh_button, show=self._apply,
                         done=lambda df, sec: f"{len(df)} recorded runs ({fmt_seconds(sec)}).")

    def _runs_changed(self) -> None:
        """A job started or finished: re-read the store (off the event loop when served)."""
        reread(self._read, self._apply)

    def _shown_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The table as shown: health verdicts in words, ``name`` hidden while no run has
        one."""
        out = df.reset_index(drop=True).copy()
        for c in ("overfitting", "underfitting"):
            if c in out:
                out[c] = [_verdict(v) for v in out[c]]
        return out

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
        named = "name" in df and df["name"].fillna("").astype(str).str.strip().ne("").any()
        self.table.hidden_columns = [] if named else ["name"]
        set_table(self.table, self._shown_frame(df))
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

    def _collect(self, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The metrics and the health verdicts of the first :data:`MAX_COMPARED` runs of
        ``ids`` (no widget touched: a worker thread may run it)."""
        from ..training.evaluators import training_health

        m = self._metrics(ids[:MAX_COMPARED])
        labels = self._labels()
        frames = []
        for rid in ids[:MAX_COMPARED]:
            sub = m[m["run_id"] == rid] if len(m) else m
            if sub is None or sub.empty:
                continue
            try:
                h = training_health(sub.drop(columns="run_id"))
            except WorkbenchError:
                continue
            frames.append(h.assign(run_id=rid, run=labels.get(rid, rid)))
        health = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame(columns=HEALTH_COLUMNS))
        cols = [c for c in HEALTH_COLUMNS if c in health.columns]
        return m, health[cols + [c for c in health.columns if c not in cols and c != "flag"]]

    def _labels(self) -> dict[str, str]:
        return {r.run_id: run_label(r.algo, r.seed, r.run_id) for r in self.frame.itertuples()}

    def _on_selection(self) -> None:
        ids = self.selected()
        self._selection_seq += 1
        loop = served_loop()
        if loop is None:
            self._show_selection(ids, *self._collect(ids))
        else:
            loop.create_task(self._selection_async(ids, self._selection_seq))

    async def _selection_async(self, ids: list[str], seq: int) -> None:
        def show(collected: tuple[pd.DataFrame, pd.DataFrame]) -> None:
            if seq == self._selection_seq:  # a newer selection replaces this one
                self._show_selection(ids, *collected)

        n = min(len(ids), MAX_COMPARED)
        await run_action(self.status, f"Reading the metrics of {n} run{'s' if n != 1 else ''}",
                         self._collect, ids, show=show,
                         done=lambda _r, sec: self._selection_text(ids, sec))

    def _selection_text(self, ids: list[str], seconds: float | None = None) -> str:
        n = min(len(ids), MAX_COMPARED)
        more = (f" (the first {MAX_COMPARED} of {len(ids)})" if len(ids) > MAX_COMPARED
                else "")
        took = "" if seconds is None else f" ({fmt_seconds(seconds)})"
        return (f"Comparing {n} run{'s' if n != 1 else ''}{more}{took}: tick runs in the "
                "table to choose; the health verdicts and the export use the ticked runs (all "
                "shown runs when none is ticked).")

    def _show_selection(self, ids: list[str], m: pd.DataFrame, health: pd.DataFrame) -> None:
        names = sorted(m["name"].unique()) if len(m) else []
        self._metrics_cache = m
        self.metric_select.options = names
        if names and self.metric_select.value not in names:
            self.metric_select.value = preferred_metric(names)
        self._render_compare()
        self._render_health(health)

    def _render_compare(self) -> None:
        m = self._metrics_cache
        if m is None or m.empty or not self.metric_select.value:
            self.compare_pane.object = None
            self.compare_note.object = ""
            return
        metric = self.metric_select.value
        if self.compare_view.value == "across seeds":  # the Training page's view, recorded
            shown = self.frame[self.frame["run_id"].isin(set(m["run_id"]))]
            if "created" in shown:
                shown = shown.sort_values("created", kind="stable")
            triples = [(r.run_id, r.algo, r.seed) for r in shown.itertuples()]
            groups, left_out = distinct_seed_groups(triples)
            agg = curves_across_seeds(m, metric, groups, reps=AGGREGATE_REPS)
            self.compare_pane.object = plots.aggregate_curves(
                agg, title=f"Across seeds: {metric}", ylabel=metric)
            seeds = {rid: seed for rid, _, seed in triples}
            self.compare_note.object = (
                "Solid: IQM across seeds with its 95 % stratified-bootstrap band; dashed: "
                "mean.\n\n" + aggregate_note(agg, metric, groups, seeds, left_out)
                if not agg.empty else
                "Across seeds needs at least two ticked runs of one algorithm with distinct "
                "seeds (runs of the same algorithm and seed count once: the newest)."
                + (f" Left out: {len(left_out)} older run(s) of a seed already ticked."
                   if left_out else ""))
            return
        labels = self._labels()
        m = m.assign(run=m["run_id"].map(labels).fillna(m["run_id"]))
        self.compare_pane.object = plots.learning_curves(m, metric, by="run",
                                                         title=f"Compare: {metric}")
        self.compare_note.object = ""

    def _render_health(self, health: pd.DataFrame) -> None:
        set_table(self.health_table, health)
        m = self._metrics_cache
        panes = []
        if len(health) and m is not None and len(m):
            labels = self._labels()
            m = m.assign(run=m["run_id"].map(labels).fillna(m["run_id"]))
            for metric, h in health.groupby("metric", sort=False):
                if not (m["name"] == metric).any():
                    continue
                signals = " and ".join(sorted(set(h["signal"])))
                el = plots.learning_curves(m, str(metric), by="run",
                                           title=f"{metric} (read by the {signals} verdict)")
                panes.append(pn.pane.HoloViews(el.opts(width=560, height=300)))
        self.health_plots.objects = panes

    # ------------------------------------------------------------------ export
    def export(self, path: str | Path, run_ids: list[str] | None = None) -> Path:
        """Write the metrics of ``run_ids`` (default: the selection) to ``.csv``/``.parquet``."""
        return self.state.store.export(path, run_ids if run_ids is not None else self.selected())

    def _download(self, suffix: str) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            path = self.export(Path(tmp) / f"metrics{suffix}")
            return io.BytesIO(path.read_bytes())

    def __panel__(self) -> Any:
        return pn.Column(pn.Row(self.status_filter, self.text_filter, self.refresh_button),
                         self.status, self.table,
                         pn.Row(self.csv_download, self.parquet_download),
                         pn.Row(self.metric_select, self.compare_view), self.compare_note,
                         self.compare_pane,
                         "### Training health (Kumar et al., 2021)",
                         pn.pane.Markdown("Each verdict names the curve it read and the steps "
                                          "behind it; the curves are drawn below the table. "
                                          "*inconclusive*: the evidence points both ways, so "
                                          "no flag is raised."),
                         self.health_table, self.health_plots,
                         sizing_mode="stretch_width")
