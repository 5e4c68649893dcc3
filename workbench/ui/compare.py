"""The across-seeds view's "are these agents different?" panel.

Every number comes from :mod:`workbench.stats`, the functions a notebook calls:
:func:`~workbench.stats.final_scores` (each finished run's last value of the shown metric),
:func:`~workbench.stats.compare` (AdaStop's pairwise decisions, family-wise error ``alpha``),
:func:`~workbench.stats.improvement_matrix` (P(X > Y), rliable) and
:func:`~workbench.stats.performance_profiles` (fraction of runs above each score).  This
module only draws them: :func:`improvement_heatmap` and :func:`profile_plot` are pure
functions of those frames, and :class:`SeedsComparison` recomputes only when the set of
finished runs or the metric changes.

The Training page mounts it under its across-seeds curves; a notebook can use it alone::

    view = SeedsComparison()
    view.update(store.metrics(ids), "eval/return", {rid: algo, ...}, finished=set(ids))
    view
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import pandas as pd
import panel as pn

from ..errors import WorkbenchError
from .plots import PALETTE, _empty, _hv

__all__ = ["SeedsComparison", "improvement_heatmap", "profile_plot"]


def improvement_heatmap(frame: pd.DataFrame, *, title: str = "P(row > column)") -> Any:
    """The probability-of-improvement matrix as a heat map with its values written in.

    ``frame``: :func:`workbench.stats.improvement_matrix` (``agent_x, agent_y,
    prob_improvement``); cell (row x, column y) is P(x > y).
    """
    hv = _hv()
    if frame.empty:
        return _empty(hv, title, "agent", "agent")
    d = frame.assign(label=frame["prob_improvement"].map(lambda p: f"{p:.2f}"))
    heat = hv.HeatMap(d, kdims=["agent_y", "agent_x"], vdims=["prob_improvement"]).opts(
        cmap="RdBu", clim=(0.0, 1.0), colorbar=True, tools=["hover"], xlabel="Y (column)",
        ylabel="X (row)", title=title, width=380, height=300)
    return heat * hv.Labels(d, kdims=["agent_y", "agent_x"], vdims=["label"])


def profile_plot(frame: pd.DataFrame, *, metric: str = "score",
                 title: str = "Performance profiles") -> Any:
    """Score distributions, one step curve per agent: the fraction of its runs scoring
    above each threshold.  ``frame``: :func:`workbench.stats.performance_profiles`."""
    hv = _hv()
    if frame.empty:
        return _empty(hv, title, metric, "fraction of runs > τ")
    curves = [hv.Curve(d, kdims=["threshold"], vdims=["fraction"], label=str(a)).opts(
              interpolation="steps-post", color=PALETTE[i % len(PALETTE)], line_width=2)
              for i, (a, d) in enumerate(frame.groupby("agent", sort=False))]
    return hv.Overlay(curves).opts(title=title, width=420, height=300, show_grid=True,
                                   xlabel=f"{metric} threshold τ",
                                   ylabel="fraction of runs > τ", ylim=(-0.02, 1.02),
                                   legend_position="top_right")


class SeedsComparison(pn.viewable.Viewer):
    """Decisions, P(improvement) and performance profiles of the finished runs' scores.

    Args:
        alpha: family-wise error level of :func:`workbench.compare`'s decisions.

    Attributes:
        scores: ``{group: final scores}`` of the last update.
        decisions, matrix, profiles: the frames shown (empty until two groups have
            finished runs).
    """

    def __init__(self, alpha: float = 0.05, **params: Any) -> None:
        super().__init__(**params)
        self.alpha = float(alpha)
        self._key: Any = None
        self.scores: dict[str, Any] = {}
        self.decisions = pd.DataFrame()
        self.matrix = pd.DataFrame()
        self.profiles = pd.DataFrame()
        self.note = pn.pane.Markdown("", css_classes=["wb-compare-note"])
        self.table = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width",
                                       css_classes=["wb-compare-table"])
        self.heatmap = pn.pane.HoloViews(improvement_heatmap(pd.DataFrame()), linked_axes=False)
        self.profile = pn.pane.HoloViews(profile_plot(pd.DataFrame()), linked_axes=False)

    def update(self, frame: pd.DataFrame | Callable[[], pd.DataFrame], metric: str,
               groups: Mapping[str, Any], finished: Collection[str]) -> bool:
        """Recompute from ``frame`` (tidy metric rows, or a function returning them, called
        only when needed) for the ``finished`` runs of ``groups`` (``{run_id: group}``),
        scored on ``metric``; a no-op (``False``) when neither the finished runs nor the
        metric changed since the last call."""
        done = set(finished)
        runs = {r: str(g) for r, g in groups.items() if r in done}  # groups' order
        key = (metric, frozenset(runs.items()))
        if key == self._key:
            return False
        self._key = key
        from ..stats import compare, final_scores, improvement_matrix, performance_profiles

        rows = frame() if callable(frame) else frame
        self.scores = final_scores(rows, metric, runs) if metric and runs else {}
        counts = {g: len(v) for g, v in self.scores.items()}
        if len(self.scores) < 2:
            self._show_message(
                f"**Are these agents different?** needs finished runs of at least two "
                f"algorithms with `{metric or 'a metric'}`; finished so far: "
                + (", ".join(f"{g}: {n}" for g, n in counts.items()) or "none") + ".")
            return True
        try:
            self.decisions = compare(self.scores, alpha=self.alpha)
            self.matrix = improvement_matrix(self.scores)
            self.profiles = performance_profiles(self.scores)
        except WorkbenchError as exc:
            self._show_message(f"**Are these agents different?** {exc}")
            return True
        n = self.decisions.attrs.get("n", min(counts.values()))
        self.note.object = (
            f"**Are these agents different?** AdaStop (Mathieu et al., 2023) on the final "
            f"`{metric}` of {n} finished seed(s) per algorithm, family-wise error "
            f"α = {self.alpha:g}: `larger`/`smaller` are significant, `equal` means the seeds "
            "so far cannot tell them apart (`Sweep.run_until_decided` adds seeds until "
            "they can). P(row > column) and performance profiles after Agarwal et al., 2021.")
        shown = self.decisions[["agent_a", "decision", "agent_b", "mean_diff",
                                "prob_improvement", "n_used_a", "n_used_b"]]
        self.table.object = shown.round({"mean_diff": 3, "prob_improvement": 2})
        self.heatmap.object = improvement_heatmap(self.matrix)
        self.profile.object = profile_plot(self.profiles, metric=metric)
        return True

    def _show_message(self, text: str) -> None:
        self.decisions, self.matrix, self.profiles = (pd.DataFrame(), pd.DataFrame(),
                                                      pd.DataFrame())
        self.note.object = text
        self.table.object = pd.DataFrame()
        self.heatmap.object = improvement_heatmap(self.matrix)
        self.profile.object = profile_plot(self.profiles)

    def __panel__(self) -> Any:
        return pn.Column(self.note, self.table, pn.Row(self.heatmap, self.profile),
                         sizing_mode="stretch_width", css_classes=["wb-compare"])
