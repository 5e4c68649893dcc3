"""OPE page: off-policy estimates of finished runs' policies, with intervals, true values
from the simulator when there is one, and the estimators' selection metrics."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from ..tracking.labels import run_label
from ..tracking.store import WITH_POLICY
from . import plots
from .state import FAILED, WorkbenchState, in_worker, say

__all__ = ["OPEPanel"]

#: Statuses whose runs have a policy to evaluate (a cancelled run keeps its partial policy).
_USABLE = WITH_POLICY
_SHOWN = ["policy", "estimator", "estimate", "ci_low", "ci_high", "true_value", "ess_fraction"]


class OPEPanel(pn.viewable.Viewer):
    """Evaluate finished runs off-policy with :func:`workbench.evaluate_ope`.

    Args:
        state: the dashboard's shared state (datasets, run store), or a
            :class:`~workbench.tracking.RunStore`, or ``None`` (default store).
        datasets: extra ``{name: dataset}`` to evaluate on.
    """

    def __init__(self, state: Any = None, *, datasets: dict | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        from ..ope.estimators import ESTIMATORS
        from ..tracking.store import RunStore

        if not isinstance(state, WorkbenchState):
            state = WorkbenchState(store=state if isinstance(state, RunStore) else None)
        self.state = state
        for n, ds in (datasets or {}).items():
            self.state.add_dataset(n, ds)
        self.runs_select = pn.widgets.MultiChoice(label="Finished runs (policies)", options=[],
                                                  width=520, css_classes=["wb-ope-runs"])
        self.refresh_button = pn.widgets.Button(label="Refresh runs", width=120)
        self.dataset_select = pn.widgets.Select(label="Evaluation dataset", options=[],
                                                width=240, css_classes=["wb-ope-dataset"])
        self.estimators_select = pn.widgets.MultiChoice(
            label="Estimators", options=list(ESTIMATORS),
            value=[e for e in ("fqe", "wis", "pdis", "dr") if e in ESTIMATORS], width=360)
        self.env_input = pn.widgets.TextInput(label="Simulator for true values (optional)",
                                              value="", width=240)
        self.rollouts_input = pn.widgets.IntInput(label="True-value episodes", value=20,
                                                  start=1, width=140)
        self.fqe_steps_input = pn.widgets.IntInput(label="FQE steps", value=1000, start=10,
                                                   step=500, width=120)
        self.bootstrap_input = pn.widgets.IntInput(label="Bootstrap resamples", value=200,
                                                   start=0, width=140)
        self.gamma_input = pn.widgets.FloatInput(label="gamma", value=0.99, start=0.01, end=1.0,
                                                 step=0.01, width=90)
        self.run_button = pn.widgets.Button(label="Evaluate", color="primary",
                                            css_classes=["wb-ope-run"])
        self.status = pn.pane.Alert("Choose finished runs and a dataset, then *Evaluate*.",
                                    alert_type="info", css_classes=["wb-ope-status"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=_SHOWN), disabled=True,
                                          show_index=False, sizing_mode="stretch_width",
                                          height=300, css_classes=["wb-ope-table"])
        self.plot_pane = pn.pane.HoloViews(None, css_classes=["wb-ope-plot"])
        self.selection_table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True,
                                                    show_index=False,
                                                    sizing_mode="stretch_width", height=200)
        self.selection_note = pn.pane.Markdown("")
        self.frame: pd.DataFrame | None = None
        self.selection: pd.DataFrame | None = None
        self.refresh_button.on_click(lambda e: self.refresh_runs())
        self.run_button.on_click(self._on_run)
        self.dataset_select.param.watch(self._on_dataset, "value")
        self.state.param.watch(lambda *e: self._sync_datasets(), ["datasets", "current"])
        self.state.param.watch(lambda *e: self.refresh_runs(), ["runs_version"])
        self._sync_datasets()
        self.refresh_runs()

    # ------------------------------------------------------------------ choices
    def refresh_runs(self) -> None:
        """Offer the store's finished runs (completed, or cancelled with a partial policy)."""
        from ..tracking import runs

        df = runs(self.state.store)
        df = df[df["status"].isin(_USABLE)]
        self._run_info = {r.run_id: r for r in df.itertuples()}
        opts = {f"{run_label(r.algo, r.seed, r.run_id)} · {r.dataset} ({r.status})": r.run_id
                for r in df.itertuples()}
        keep = [v for v in self.runs_select.value if v in opts.values()]
        if not keep:  # preselect the newest finished runs (at most two)
            keep = list(opts.values())[:2]
        self.runs_select.options = opts
        self.runs_select.value = keep

    def _sync_datasets(self) -> None:
        names = list(self.state.datasets)
        self.dataset_select.options = names
        if self.state.current in names and not self.dataset_select.value:
            self.dataset_select.value = self.state.current

    def _on_dataset(self, event: Any) -> None:
        ds = self.state.datasets.get(event.new)
        if ds is not None:
            self.env_input.value = str(ds.metadata.get("env_id") or "")

    # ------------------------------------------------------------------ evaluation
    def _policies(self, run_ids: list[str]) -> dict[str, Any]:
        from ..training import load_run

        out = {}
        for rid in run_ids:
            run = load_run(rid, self.state.store)
            pol = run.policy()
            if pol is None:
                raise WorkbenchError(f"run {rid} has no saved policy")
            out[run_label(run.info["algo"], run.info["seed"], rid)] = pol
        return out

    def _compute(self, run_ids: list[str], dataset: str) -> tuple[pd.DataFrame, Any, str]:
        from ..ope import evaluate_ope, ope_selection_metrics

        ds = self.state.datasets[dataset]
        env = (self.env_input.value or "").strip() or None
        frame = evaluate_ope(ds, self._policies(run_ids), estimators=self.estimators_select.value,
                             env=env, gamma=float(self.gamma_input.value),
                             n_bootstrap=int(self.bootstrap_input.value),
                             n_rollouts=int(self.rollouts_input.value),
                             fqe_config={"n_steps": int(self.fqe_steps_input.value)})
        note = ""
        sel = None
        if "true_value" in frame.columns:
            try:
                sel = ope_selection_metrics(frame)
            except WorkbenchError as exc:
                note = f"Selection metrics: {exc}"
        else:
            note = "Selection metrics need true values: give a simulator."
        return frame, sel, note

    def _check(self) -> tuple[list[str], str]:
        from ..errors import ConfigError

        run_ids = list(self.runs_select.value)
        if not run_ids:
            raise ConfigError("choose at least one finished run")
        if self.dataset_select.value not in self.state.datasets:
            raise ConfigError("load an evaluation dataset on the Datasets page")
        if not self.estimators_select.value:
            raise ConfigError("choose at least one estimator")
        return run_ids, self.dataset_select.value

    def evaluate(self, run_ids: list[str] | None = None, dataset: str | None = None) -> Any:
        """Run the evaluation synchronously (what *Evaluate* does); returns the frame."""
        if run_ids is not None:
            self.runs_select.value = list(run_ids)
        if dataset is not None:
            self.dataset_select.value = dataset
        try:
            ids, name = self._check()
            frame, sel, note = self._compute(ids, name)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return None
        self._show(frame, sel, note, 0.0)
        return frame

    async def _on_run(self, _event: Any = None) -> None:
        try:
            ids, name = self._check()
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return
        say(self.status, f"Evaluating {len(ids)} polic{'y' if len(ids) == 1 else 'ies'} with "
            f"{', '.join(self.estimators_select.value)} …")
        t0 = time.perf_counter()
        computed = await in_worker(self.status, self._compute, ids, name,
                                   button=self.run_button)
        if computed is not FAILED:
            self._show(*computed, time.perf_counter() - t0)

    def _show(self, frame: pd.DataFrame, sel: Any, note: str, seconds: float) -> None:
        self.frame, self.selection = frame, sel
        self.table.value = frame[[c for c in _SHOWN if c in frame.columns]].round(3)
        self.plot_pane.object = plots.ope_estimates(frame)
        self.selection_table.value = (sel.reset_index().round(3) if sel is not None
                                      else pd.DataFrame())
        self.selection_note.object = note
        bv = frame.attrs.get("behavior_value")
        say(self.status, f"Estimated {frame['policy'].nunique()} policies with "
            f"{frame['estimator'].nunique()} estimators"
            + (f" in {seconds:.1f} s" if seconds else "")
            + (f"; behaviour policy's value {bv:.3g}" if bv is not None else "") + ".",
            "success")

    def __panel__(self) -> Any:
        form = pn.Card(
            pn.Row(self.runs_select, self.refresh_button),
            pn.Row(self.dataset_select, self.estimators_select),
            pn.Row(self.env_input, self.rollouts_input, self.fqe_steps_input,
                   self.bootstrap_input, self.gamma_input),
            self.run_button, title="Off-policy evaluation", collapsible=False,
            sizing_mode="stretch_width")
        return pn.Column("## Off-policy evaluation", form, self.status, self.table,
                         self.plot_pane, "### Selection metrics", self.selection_note,
                         self.selection_table, sizing_mode="stretch_width")
