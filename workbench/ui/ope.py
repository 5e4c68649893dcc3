"""OPE page: off-policy estimates of finished runs' policies, with intervals, true values
from the simulator when there is one, and the estimators' selection metrics.

An estimate whose weight diagnostics say it cannot be trusted (``evaluate_ope``'s ``flag``)
is marked in the table and drawn hollow and grey in the plot; the page says how each
estimator's interval was made (``ci_method``): FQE is a point estimate unless *FQE refits*
is above 0, which refits it on bootstrap resamples so its interval covers the fitting
variation too.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from ..tracking.labels import run_label
from ..tracking.store import WITH_POLICY
from . import plots
from ._busy import BusyButton
from ._format import fmt_seconds, fmt_value, set_table, table
from .state import WorkbenchState, reread, run_action, say, settle

__all__ = ["OPEPanel"]

#: Statuses whose runs have a policy to evaluate (a cancelled run keeps its partial policy).
_USABLE = WITH_POLICY
_SHOWN = ["policy", "estimator", "estimate", "ci_low", "ci_high", "true_value", "ess_fraction",
          "flag"]


def _policies_text(n: int) -> str:
    return f"{n} polic{'y' if n == 1 else 'ies'}"


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
        self.refresh_button = BusyButton(label="Refresh runs", width=120)
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
        self.fqe_refits_input = pn.widgets.IntInput(
            label="FQE refits (0 = point estimate)", value=0, start=0, end=50, width=200,
            css_classes=["wb-fqe-refits"])
        self.gamma_input = pn.widgets.FloatInput(label="gamma", value=0.99, start=0.01, end=1.0,
                                                 step=0.01, width=90)
        self.run_button = BusyButton(label="Evaluate", color="primary",
                                            css_classes=["wb-ope-run"])
        self.status = pn.pane.Alert("Choose finished runs and a dataset, then *Evaluate*.",
                                    alert_type="info", css_classes=["wb-ope-status"])
        self.table = table(pd.DataFrame(columns=_SHOWN), wrap=["flag"], widths={"flag": 340},
                           css_classes=["wb-ope-table"])
        self.intervals_note = pn.pane.Markdown("", css_classes=["wb-ope-intervals"])
        self.plot_pane = pn.pane.HoloViews(None, css_classes=["wb-ope-plot"])
        self.selection_table = table(css_classes=["wb-ope-selection"])
        self.selection_note = pn.pane.Markdown("")
        self.frame: pd.DataFrame | None = None
        self.selection: pd.DataFrame | None = None
        self._offered: set[str] | None = None  # run ids offered by the last refresh
        self.refresh_button.on_click(self._on_refresh)
        self.run_button.on_click(self._on_run)
        self.dataset_select.param.watch(self._on_dataset, "value")
        self.state.param.watch(lambda *e: self._sync_datasets(), ["datasets", "current"])
        self.state.param.watch(lambda *e: self._runs_changed(), ["runs_version"])
        self._sync_datasets()
        self.refresh_runs()

    # ------------------------------------------------------------------ choices
    def refresh_runs(self) -> list[str]:
        """Offer the store's finished runs (completed, or cancelled with a partial policy);
        returns the run ids offered for the first time.

        The first time, the newest two are selected; afterwards the selection is kept and
        runs finished since the last refresh are added to it, so a newly finished run is
        evaluated with the others (remove it from the box to leave it out).
        """
        return self._offer(self._read_runs())

    def _read_runs(self) -> pd.DataFrame:
        from ..tracking import runs

        df = runs(self.state.store)
        return df[df["status"].isin(_USABLE)]

    def _offer(self, df: pd.DataFrame) -> list[str]:
        self._run_info = {r.run_id: r for r in df.itertuples()}
        opts = {f"{run_label(r.algo, r.seed, r.run_id)} · {r.dataset} ({r.status})": r.run_id
                for r in df.itertuples()}
        ids = list(opts.values())
        new = [] if self._offered is None else [i for i in ids if i not in self._offered]
        keep = [v for v in self.runs_select.value if v in ids]
        keep += [i for i in new if i not in keep]
        if not keep:  # preselect the newest finished runs (at most two)
            keep = ids[:2]
        first = self._offered is None
        self._offered = set(ids)
        self.runs_select.options = opts
        self.runs_select.value = keep
        return ids if first else new

    def _labels(self, run_ids: list[str]) -> str:
        names = {v: k.split(" · ")[0] for k, v in self.runs_select.options.items()}
        return ", ".join(names.get(r, r) for r in run_ids)

    def _refreshed_text(self, new: list[str], seconds: float | None = None) -> str:
        n = len(self.runs_select.options)
        took = "" if seconds is None else f" ({fmt_seconds(seconds)})"
        text = f"{n} finished run{'s' if n != 1 else ''} to choose from{took}."
        if new and self._offered is not None:
            text += f" Newly finished, added to the selection: {self._labels(new)}."
        return text

    async def _on_refresh(self, _event: Any = None) -> None:
        await self._refresh_async(button=self.refresh_button)

    async def _refresh_async(self, button: Any = None) -> None:
        holder: dict[str, list[str]] = {}

        def show(df: pd.DataFrame) -> None:
            holder["new"] = self._offer(df)

        await run_action(self.status, "Reading the finished runs", self._read_runs,
                         button=button, show=show,
                         done=lambda _df, sec: self._refreshed_text(holder.get("new", []),
                                                                   sec))

    def _runs_changed(self) -> None:
        """A job started or finished: re-read the runs (off the event loop when served)."""
        reread(self._read_runs, self._offer)

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
                             fqe_config={"n_steps": int(self.fqe_steps_input.value)},
                             fqe_refits=int(self.fqe_refits_input.value or 0))
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
        t0 = time.perf_counter()
        try:
            ids, name = self._check()
            frame, sel, note = self._compute(ids, name)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return None
        self._show(frame, sel, note)
        say(self.status, *self._done_text(frame, time.perf_counter() - t0))
        return frame

    async def _on_run(self, _event: Any = None) -> None:
        try:
            ids, name = self._check()
        except WorkbenchError as exc:
            settle(self.run_button)
            say(self.status, str(exc), "danger")
            return
        refits = int(self.fqe_refits_input.value or 0)
        extra = (f", FQE refitted {refits} times" if refits and "fqe" in
                 self.estimators_select.value else "")
        await run_action(self.status, f"Evaluating {_policies_text(len(ids))} with "
                         f"{', '.join(self.estimators_select.value)}{extra}", self._compute,
                         ids, name, button=self.run_button, show=lambda r: self._show(*r),
                         done=lambda r, sec: self._done_text(r[0], sec))

    def _done_text(self, frame: pd.DataFrame, seconds: float) -> tuple[str, str]:
        bv = frame.attrs.get("behavior_value")
        n_est = frame["estimator"].nunique()
        text = (f"Estimated {_policies_text(frame['policy'].nunique())} with {n_est} "
                f"estimator{'s' if n_est != 1 else ''} ({fmt_seconds(seconds)})"
                + (f"; behaviour policy's value {bv:.4g}" if bv is not None else "") + ".")
        flagged = int((frame["flag"].fillna("") != "").sum()) if "flag" in frame else 0
        if flagged:
            return (text + f" **{flagged} estimate{'s' if flagged != 1 else ''} cannot be "
                    f"trusted** ({plots.FLAG_MARK} in the table and the plot).", "warning")
        return text, "success"

    def _show(self, frame: pd.DataFrame, sel: Any, note: str, seconds: float = 0.0) -> None:
        """Put an evaluation on the page: the table (flagged estimates marked), how each
        interval was made, the plot and the selection metrics."""
        self.frame, self.selection = frame, sel
        shown = frame[[c for c in _SHOWN if c in frame.columns]].copy()
        if "flag" in shown:
            shown["flag"] = [f"{plots.FLAG_MARK} {f}" if f else ""
                             for f in shown["flag"].fillna("")]
        # a value that does not exist (FQE's interval as a point estimate, the true value
        # without a simulator, ESS of an unweighted estimator) reads "—", not "NaN"
        for c in ("ci_low", "ci_high", "true_value", "ess_fraction"):
            if c in shown and shown[c].isna().any():
                shown[c] = [fmt_value(v) for v in shown[c]]
        set_table(self.table, shown)
        self.intervals_note.object = _intervals_note(frame)
        self.plot_pane.object = plots.ope_estimates(frame)
        set_table(self.selection_table, sel.reset_index() if sel is not None
                  else pd.DataFrame())
        self.selection_note.object = note

    def __panel__(self) -> Any:
        form = pn.Card(
            pn.Row(self.runs_select, self.refresh_button),
            pn.Row(self.dataset_select, self.estimators_select),
            pn.Row(self.env_input, self.rollouts_input, self.fqe_steps_input,
                   self.fqe_refits_input, self.bootstrap_input, self.gamma_input),
            self.run_button, title="Off-policy evaluation", collapsible=False,
            sizing_mode="stretch_width")
        return pn.Column(form, self.status, self.table, self.intervals_note,
                         self.plot_pane, "### Selection metrics", self.selection_note,
                         self.selection_table, sizing_mode="stretch_width")


def _intervals_note(frame: pd.DataFrame) -> str:
    """How each estimator's interval was made (``ci_method``), one line per method."""
    if "ci_method" not in frame:
        return ""
    by_method: dict[str, list[str]] = {}
    for est, method in frame[["estimator", "ci_method"]].drop_duplicates().itertuples(
            index=False):
        by_method.setdefault(str(method), []).append(str(est))
    lines = [f"- **{', '.join(ests)}**: {m}" for m, ests in by_method.items()]
    return "**Intervals** (ci_low – ci_high):\n\n" + "\n".join(lines)
