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

__all__ = ["tq_saco_map", "return_histogram", "length_histogram"]

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

    Returns:
        ``hv.Points * hv.Labels`` (an ``hv.Overlay``); hover shows the name and both values.

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
    points = hv.Points(data, kdims=[xdim, ydim], vdims=[label, "color"]).opts(
        color="color", size=11, tools=["hover"], title=title, padding=0.15,
        show_legend=False, width=520, height=420, show_grid=True)
    labels = hv.Labels(data, kdims=[xdim, ydim], vdims=[label]).opts(
        text_font_size="10pt", yoffset=_offset(data[y]), text_color="#333333")
    return (points * labels).opts(title=title)


def _offset(values: Any) -> float:
    v = np.asarray(values, dtype=float)
    span = float(v.max() - v.min()) if len(v) else 0.0
    return 0.04 * (span if span > 0 else 1.0)


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
