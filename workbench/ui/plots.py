"""Pure plot functions: DataFrame in, HoloViews element out (no widgets, no computation).

They render with whichever HoloViews backend is loaded (``hv.extension("bokeh")`` in a
notebook; Panel does it for the dashboard) and can be tested without a browser.

* :func:`tq_saco_map` — the TQ–SACo map of Schweighofer et al. (SACo on x, TQ on y), one
  labelled point per dataset, from :func:`workbench.diagnose_many`'s frame.
* :func:`return_histogram`, :func:`length_histogram` — per-episode distributions from
  :func:`workbench.diagnostics.episode_frame` frames (optionally several datasets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DiagnosticsError

if TYPE_CHECKING:  # pragma: no cover
    import holoviews as hv
    import pandas as pd

__all__ = ["tq_saco_map", "return_histogram", "length_histogram", "episode_returns",
           "episode_plot", "action_distribution", "state_coverage", "learning_curves",
           "aggregate_curves", "ope_estimates"]

#: Okabe–Ito colours (colour-blind safe), cycled over datasets.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]


def _hv():
    """HoloViews with the bokeh plotting options registered (no notebook extension call)."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh options)

    return hv


def tq_saco_map(frame: pd.DataFrame, *, x: str = "saco", y: str = "tq",
                label: str = "dataset", title: str = "TQ vs SACo") -> hv.Overlay:
    """The TQ–SACo map: one point per dataset, labelled with its name.

    Args:
        frame: one row per dataset with columns ``label`` (default ``dataset``), ``x``
            (default ``saco``) and ``y`` (default ``tq``), e.g. from
            :func:`workbench.diagnose_many`.  Pass ``x="lsaco"`` for the log variant.
            Rows with a missing x or y are left out.

    The frame is the paper's, whatever the points: TQ from 0 (random) to at least 1
    (expert), SACo from 0 to at least 1 (the reference's coverage), dashed lines at TQ 0
    and 1 and at SACo 1, so a position means the same on every map.

    Returns:
        ``hv.Points * hv.Labels * reference lines`` (an ``hv.Overlay``; the points and the
        labels first); hover shows the name and both values.

    Raises:
        DiagnosticsError: a required column is missing, or no row has both values (e.g.
            the datasets were diagnosed without references).
    """
    hv = _hv()

    missing = [c for c in (label, x, y) if c not in frame.columns]
    if missing:
        raise DiagnosticsError(f"tq_saco_map needs columns {missing} (use diagnose_many's frame)")
    data = frame[[label, x, y]].copy()
    data[x] = data[x].astype(float)
    data[y] = data[y].astype(float)
    data = data.dropna(subset=[x, y]).reset_index(drop=True)
    if data.empty:
        raise DiagnosticsError(f"no dataset has both {y!r} and {x!r}: diagnose them with a "
                               "coverage reference and TQ reference returns")
    data[label] = data[label].astype(str)
    data["color"] = [PALETTE[i % len(PALETTE)] for i in range(len(data))]
    names = {"saco": "SACo", "lsaco": "lSACo", "tq": "TQ"}
    xdim = hv.Dimension(x, label=names.get(x, x))
    ydim = hv.Dimension(y, label=names.get(y, y))
    xlim, ylim = map_frame(data[x], data[y])
    points = hv.Points(data, kdims=[xdim, ydim], vdims=[label, "color"]).opts(
        color="color", size=11, tools=["hover"], title=title,
        show_legend=False, width=520, height=420, show_grid=True, xlim=xlim, ylim=ylim)
    labels = hv.Labels(data, kdims=[xdim, ydim], vdims=[label]).opts(
        text_font_size="10pt", yoffset=0.04 * (ylim[1] - ylim[0]), text_color="#333333")
    guides = [hv.HLine(v).opts(color="#999999", line_dash="dashed", line_width=1)
              for v in (0.0, 1.0)] + [hv.VLine(1.0).opts(color="#999999", line_dash="dashed",
                                                         line_width=1)]
    return hv.Overlay([points, labels, *guides]).opts(title=title, xlim=xlim, ylim=ylim)


def map_frame(saco: Any, tq: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """The TQ–SACo map's axis ranges ``(x_range, y_range)``: SACo from 0 to the largest
    of 1 and the values, TQ from the smallest of 0 and the values to the largest of 1 and
    the values, with a margin."""
    sv = np.asarray(saco, dtype=float)
    tv = np.asarray(tq, dtype=float)
    x_hi = max(1.0, float(np.nanmax(sv)) if sv.size else 1.0)
    y_lo = min(0.0, float(np.nanmin(tv)) if tv.size else 0.0)
    y_hi = max(1.0, float(np.nanmax(tv)) if tv.size else 1.0)
    return (0.0, 1.08 * x_hi), (y_lo - 0.06 * (y_hi - y_lo), y_hi + 0.1 * (y_hi - y_lo))


def _histogram(frame: pd.DataFrame, column: str, by: str, bins: int, xlabel: str,
               title: str) -> hv.Overlay:
    hv = _hv()

    if column not in frame.columns:
        raise DiagnosticsError(f"the frame has no {column!r} column (use "
                               "workbench.diagnostics.episode_frame)")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DiagnosticsError(f"bins must be a positive integer, got {bins!r}")
    values = frame[column].astype(float)
    if "finished" in frame.columns:
        keep = frame["finished"].astype(bool)
        frame, values = frame[keep], values[keep]
    if values.empty:
        raise DiagnosticsError(f"no finished episode to histogram ({column})")
    edges = np.histogram_bin_edges(values.to_numpy(), bins=int(bins))
    groups = [(str(k), g) for k, g in frame.groupby(by, sort=False)] if by in frame.columns \
        else [(column, frame)]
    hists = []
    for i, (name, g) in enumerate(groups):
        counts, _ = np.histogram(g[column].astype(float).to_numpy(), bins=edges)
        hists.append(hv.Histogram((edges, counts), kdims=[hv.Dimension(column, label=xlabel)],
                                  vdims=["episodes"], label=name).opts(
            fill_color=PALETTE[i % len(PALETTE)], fill_alpha=0.5, line_alpha=0.6))
    return hv.Overlay(hists).opts(title=title, width=520, height=320, show_legend=len(hists) > 1)


def return_histogram(frame: pd.DataFrame, *, by: str = "dataset", bins: int = 30,
                     title: str = "Episode returns") -> hv.Overlay:
    """Histogram of finished-episode returns, one overlaid histogram per ``by`` value.

    ``frame``: per-episode rows with a ``return`` column (and optionally ``finished`` and
    ``by``), e.g. :func:`workbench.diagnostics.episode_frame` outputs concatenated with a
    ``dataset`` column.  All histograms share the same bin edges.

    Raises:
        DiagnosticsError: no ``return`` column, bad ``bins``, no finished episode.
    """
    return _histogram(frame, "return", by, bins, "episode return", title)


def length_histogram(frame: pd.DataFrame, *, by: str = "dataset", bins: int = 30,
                     title: str = "Episode lengths") -> hv.Overlay:
    """Histogram of finished-episode lengths (``length`` column); see :func:`return_histogram`."""
    return _histogram(frame, "length", by, bins, "episode length (steps)", title)


# ---------------------------------------------------------------------------- datasets
def _empty(hv: Any, title: str, xlabel: str = "x", ylabel: str = "y") -> Any:
    return hv.Curve([], kdims=[hv.Dimension("x", label=xlabel)],
                    vdims=[hv.Dimension("y", label=ylabel)]).opts(
        title=title, width=520, height=320, show_grid=True)


def episode_returns(frame: pd.DataFrame, *, title: str = "Per-episode returns") -> hv.Overlay:
    """Return of each episode against its index (finished episodes in colour, others grey).

    ``frame``: :func:`workbench.diagnostics.episode_frame` rows (``episode``, ``return``,
    ``length``; ``finished`` optional).  Hover shows the episode, its return and length.

    Raises:
        DiagnosticsError: a required column is missing.
    """
    hv = _hv()
    missing = [c for c in ("episode", "return", "length") if c not in frame.columns]
    if missing:
        raise DiagnosticsError(f"episode_returns needs columns {missing} (use episode_frame)")
    data = frame[["episode", "return", "length"]].copy()
    data["finished"] = frame["finished"].astype(bool) if "finished" in frame.columns else True
    data["status"] = np.where(data["finished"], "finished", "unfinished")
    pts = hv.Points(data, kdims=["episode", "return"], vdims=["length", "status"]).opts(
        color=hv.dim("status").categorize({"finished": PALETTE[0], "unfinished": "#999999"}),
        size=5, tools=["hover", "tap"], width=520, height=320, show_grid=True, title=title)
    return hv.Overlay([pts]).opts(title=title)


def episode_plot(frame: pd.DataFrame, *, title: str = "Episode") -> hv.Layout:
    """One episode's observations, actions and rewards against the step, one panel each.

    ``frame``: one row per step ``t`` with a ``step`` column, observation columns named
    ``obs_*`` (``T+1`` rows: the final observation has NaN action and reward), action
    columns ``act_*`` and ``reward``.

    Returns:
        ``hv.Layout`` of three overlays (observations, actions, rewards), one column; two
        (actions, rewards) when the frame has no ``obs_*`` column (image episodes, whose
        frames are shown as pictures).

    Raises:
        DiagnosticsError: no ``step`` column.
    """
    hv = _hv()
    if "step" not in frame.columns:
        raise DiagnosticsError("episode_plot needs a 'step' column")
    obs = [c for c in frame.columns if str(c).startswith("obs_")]
    act = [c for c in frame.columns if str(c).startswith("act_")]

    def overlay(cols: list[str], name: str, step_plot: bool = False) -> Any:
        curves = []
        for i, c in enumerate(cols):
            d = frame[["step", c]].dropna()
            el = hv.Curve(d, kdims=["step"], vdims=[hv.Dimension(c, label=name)], label=c)
            curves.append(el.opts(color=PALETTE[i % len(PALETTE)], tools=["hover"],
                                  interpolation="steps-post" if step_plot else "linear"))
        if not curves:
            return _empty(hv, name, "step", name)
        return hv.Overlay(curves).opts(title=f"{title}: {name}", width=620, height=220,
                                       show_grid=True, legend_position="right",
                                       show_legend=len(curves) > 1)

    rew = ["reward"] if "reward" in frame.columns else []
    panels = [overlay(obs, "observations")] if obs else []
    panels += [overlay(act, "actions", True), overlay(rew, "reward", True)]
    return hv.Layout(panels).cols(1)


def action_distribution(frame: pd.DataFrame, *, title: str = "Action distribution") -> Any:
    """The behaviour's action distribution.

    ``frame``: either discrete counts — columns ``action`` and ``count`` (``hv.Bars``; the
    hover adds ``probability`` when present) — or continuous samples — columns
    ``dimension`` and ``value`` (one overlaid histogram per action dimension).

    Raises:
        DiagnosticsError: neither layout.
    """
    hv = _hv()
    if {"action", "count"} <= set(frame.columns):
        data = frame.copy()
        data["action"] = data["action"].astype(str)
        vdims = ["count"] + (["probability"] if "probability" in data.columns else [])
        return hv.Bars(data, kdims=["action"], vdims=vdims).opts(
            color=PALETTE[0], tools=["hover"], width=520, height=320, title=title,
            show_grid=True)
    if {"dimension", "value"} <= set(frame.columns):
        values = frame["value"].astype(float).to_numpy()
        if len(values) == 0:
            raise DiagnosticsError("no actions to plot")
        edges = np.histogram_bin_edges(values, bins=40)
        hists = []
        for i, (dim, g) in enumerate(frame.groupby("dimension", sort=True)):
            counts, _ = np.histogram(g["value"].astype(float).to_numpy(), bins=edges)
            hists.append(hv.Histogram((edges, counts), kdims=["action"], vdims=["count"],
                                      label=str(dim)).opts(
                fill_color=PALETTE[i % len(PALETTE)], fill_alpha=0.5, line_alpha=0.6))
        return hv.Overlay(hists).opts(title=title, width=520, height=320,
                                      show_legend=len(hists) > 1)
    raise DiagnosticsError("action_distribution needs columns (action, count) or "
                           "(dimension, value)")


def state_coverage(frame: pd.DataFrame, x: str, y: str, *, gridsize: int = 40,
                   title: str = "State coverage") -> Any:
    """2-D density of visited states on two axes (raw observation axes or a projection).

    ``frame``: one row per (sampled) state with columns ``x`` and ``y``.  Returns
    ``hv.HexTiles`` (log colour scale) — or an empty curve when ``frame`` has no rows.

    Raises:
        DiagnosticsError: ``x`` or ``y`` is not a column.
    """
    hv = _hv()
    missing = [c for c in (x, y) if c not in frame.columns]
    if missing:
        raise DiagnosticsError(f"state_coverage: no column(s) {missing}")
    if frame.empty:
        return _empty(hv, title, x, y)
    data = frame[[x, y]].astype(float)
    return hv.HexTiles(data, kdims=[x, y]).opts(
        gridsize=gridsize, cmap="viridis", logz=True, colorbar=True, tools=["hover"],
        width=520, height=420, title=title, min_count=1)


# ---------------------------------------------------------------------------- training
def learning_curves(frame: pd.DataFrame, metric: str, *, by: str = "run_id",
                    title: str | None = None) -> Any:
    """One coloured line (with its logged points) per ``by`` value of ``metric`` against the
    step, for comparing finished runs (the live view streams instead: ``ui.live``).

    ``frame``: tidy metric rows (``run_id, step, name, value`` and optionally
    ``wall_time``), e.g. :meth:`TrainingJob.metrics` or :meth:`RunStore.metrics`.  Rows of
    other metrics are ignored; an empty selection gives an empty (but renderable) plot.

    Returns:
        ``hv.Overlay`` of an ``hv.Curve`` and an ``hv.Scatter`` per run, in the order the
        runs first appear, coloured alike and labelled by ``by`` (hover: step, value, run).

    Raises:
        DiagnosticsError: ``frame`` lacks ``step``, ``name`` or ``value``.
    """
    hv = _hv()
    title = title or metric
    need = [c for c in ("step", "name", "value") if c not in frame.columns]
    if need:
        raise DiagnosticsError(f"learning_curves needs columns {need}")
    sel = frame[frame["name"] == metric]
    if by not in frame.columns:
        sel = sel.assign(**{by: metric})
    pts = sel[["step", "value", by]].astype({"step": float, "value": float})
    pts[by] = pts[by].astype(str)
    common = {"width": 820, "height": 380, "show_grid": True}
    layers = []
    for i, (key, g) in enumerate(pts.groupby(by, sort=False)):
        g = g.sort_values("step", kind="stable")
        colour = PALETTE[i % len(PALETTE)]
        layers.append(hv.Curve(g, kdims=["step"], vdims=["value", by], label=key).opts(
            color=colour, line_width=1.5, tools=["hover"], **common))
        layers.append(hv.Scatter(g, kdims=["step"], vdims=["value", by], label=key).opts(
            color=colour, size=4, **common))
    if not layers:
        return _empty(hv, title, "gradient step", metric)
    return hv.Overlay(layers).opts(title=title, xlabel="gradient step", ylabel=metric,
                                   legend_position="right", show_legend=True)


def aggregate_curves(frame: pd.DataFrame, *, title: str = "Across seeds",
                     ylabel: str = "value") -> Any:
    """Mean and IQM across seeds with the IQM's bootstrap confidence band, per group: the
    recorded counterpart of the Training page's live view (Runs page, notebooks).

    ``frame``: one row per (``group``, ``step``) with ``mean``, ``iqm``, ``ci_low``,
    ``ci_high`` (and ``n_runs``), e.g. :func:`workbench.stats.curves_across_seeds`.
    The band is the IQM's stratified-bootstrap interval (Agarwal et al., 2021); the IQM is
    solid, the mean dashed; ``ylabel`` names the metric.
    """
    hv = _hv()
    need = [c for c in ("group", "step", "mean", "iqm", "ci_low", "ci_high")
            if c not in frame.columns]
    if need:
        raise DiagnosticsError(f"aggregate_curves needs columns {need}")
    if frame.empty:
        return _empty(hv, title, "gradient step", "value")
    els = []
    for i, (g, d) in enumerate(frame.groupby("group", sort=False)):
        d = d.sort_values("step")
        c = PALETTE[i % len(PALETTE)]
        els.append(hv.Area(d, kdims=["step"], vdims=["ci_low", "ci_high"],
                           label=f"{g} IQM 95% CI").opts(color=c, alpha=0.2, line_alpha=0))
        els.append(hv.Curve(d, kdims=["step"], vdims=["iqm", "n_runs"] if "n_runs" in d
                            else ["iqm"], label=f"{g} IQM").opts(color=c, line_width=2,
                                                                tools=["hover"]))
        els.append(hv.Curve(d, kdims=["step"], vdims=["mean"], label=f"{g} mean").opts(
            color=c, line_dash="dashed"))
    return hv.Overlay(els).opts(title=title, width=820, height=380, show_grid=True,
                                legend_position="right", xlabel="gradient step",
                                ylabel=ylabel)


# ---------------------------------------------------------------------------- OPE
#: Marks an estimate whose weight diagnostics say it cannot be trusted (plot and table).
FLAG_MARK = "⚠"

#: Fonts of the larger plots (OPE): readable at a glance.
_FONTS = {"title": "14pt", "labels": "12pt", "xticks": "11pt", "yticks": "11pt",
          "legend": "11pt"}


def ope_estimates(frame: pd.DataFrame, *, title: str = "OPE estimates") -> Any:
    """Each (policy, estimator) estimate with its confidence interval; the simulator's true
    value (when the frame has ``true_value``) as a red cross per policy.

    ``frame``: :func:`workbench.evaluate_ope` output (``policy, estimator, estimate,
    ci_low, ci_high`` and optionally ``true_value`` and ``flag``).  Horizontal: one row per
    pair.  An estimate with a non-empty ``flag`` (its weight diagnostics say it cannot be
    trusted) is drawn hollow and grey with a grey interval, its row label ends with
    :data:`FLAG_MARK`, and hover shows the flag; an estimate without an interval (FQE's
    point estimate) is a marker alone.
    """
    hv = _hv()
    need = [c for c in ("policy", "estimator", "estimate", "ci_low", "ci_high")
            if c not in frame.columns]
    if need:
        raise DiagnosticsError(f"ope_estimates needs columns {need}")
    if frame.empty:
        return _empty(hv, title, "policy", "estimate")
    d = frame.copy()
    d["flag"] = (d["flag"].fillna("").astype(str) if "flag" in d.columns else "")
    flagged = d["flag"] != ""
    d["pair"] = (d["policy"].astype(str) + " · " + d["estimator"].astype(str)
                 + np.where(flagged, f" {FLAG_MARK}", ""))
    lo = (d["estimate"] - d["ci_low"]).fillna(0.0).clip(lower=0)
    hi = (d["ci_high"] - d["estimate"]).fillna(0.0).clip(lower=0)
    d["neg"], d["pos"] = lo, hi
    d["shown_flag"] = np.where(flagged, d["flag"], "none")
    height = max(300, 34 * len(d) + 110)
    colours = {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(d["estimator"].unique())}
    vdims = ["estimate", "ci_low", "ci_high", "estimator", hv.Dimension("shown_flag",
                                                                        label="flag")]
    els = []
    ok, bad = d[~flagged], d[flagged]
    if len(ok):
        els.append(hv.ErrorBars(ok, kdims=["pair"], vdims=["estimate", "neg", "pos"]).opts(
            line_width=2))
        els.append(hv.Scatter(ok, kdims=["pair"], vdims=vdims, label="estimate").opts(
            color=hv.dim("estimator").categorize(colours), size=11, tools=["hover"]))
    if len(bad):
        els.append(hv.ErrorBars(bad, kdims=["pair"], vdims=["estimate", "neg", "pos"]).opts(
            line_width=2, color="#999999", line_dash="dashed"))
        els.append(hv.Scatter(bad, kdims=["pair"], vdims=vdims,
                              label=f"{FLAG_MARK} cannot be trusted (see flag)").opts(
            color="#999999", fill_alpha=0.0, line_width=2.5, size=13, tools=["hover"]))
    if "true_value" in d.columns and d["true_value"].notna().any():
        els.append(hv.Scatter(d.dropna(subset=["true_value"]), kdims=["pair"],
                              vdims=["true_value"], label="true value").opts(
            color="#D55E00", marker="x", size=14, line_width=3, tools=["hover"]))
    return hv.Overlay(els).opts(title=title, invert_axes=True, width=900, height=height,
                                show_grid=True, xlabel="", ylabel="estimated value",
                                fontsize=_FONTS, legend_position="right",
                                show_legend=True)
