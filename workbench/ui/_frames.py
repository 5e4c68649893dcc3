"""Small data-shaping helpers for the pages: dataset → tidy frames for :mod:`.plots`.

No statistics live here beyond reshaping and sampling: aggregates across seeds come from
:mod:`workbench.stats` (:func:`~workbench.stats.curves_across_seeds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..data.dataset import EpisodeDataset

__all__ = ["episode_steps", "episode_images", "png_bytes", "action_frame", "state_axes",
           "state_frame", "report_table", "distinct_seed_groups", "aggregate_note"]


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1)


def episode_steps(ds: EpisodeDataset, i: int, observations: bool = True) -> pd.DataFrame:
    """One episode as a wide frame: ``step``, ``obs_*`` (T+1 rows), ``act_*``, ``reward``.

    The final row's observation is NaN when the file never logged it (a placeholder is not
    shown as a state).  ``observations=False`` leaves the ``obs_*`` columns out (image
    episodes are shown as frames, not as one line per pixel)."""
    import pandas as pd

    ep = ds.episode(int(i))
    T = len(ep.rewards)
    out: dict[str, Any] = {"step": np.arange(T + 1)}
    if observations:
        obs = _flat(np.array(ep.observations, dtype=float))
        if not ep.final_observation_known:
            obs[-1] = np.nan
        for j in range(obs.shape[1]):
            out[f"obs_{j}"] = obs[:, j]
    acts = np.asarray(ep.actions, dtype=float)
    acts = acts.reshape(T, -1) if acts.ndim > 1 else acts[:, None]
    for j in range(acts.shape[1]):
        out[f"act_{j}"] = np.append(acts[:, j], np.nan)
    out["reward"] = np.append(np.asarray(ep.rewards, dtype=float), np.nan)
    return pd.DataFrame(out)


def action_frame(ds: EpisodeDataset, stats: dict[str, Any] | None = None,
                 max_samples: int = 50_000, seed: int = 0) -> pd.DataFrame:
    """Discrete: ``action, count, probability``; continuous: sampled ``dimension, value``."""
    import pandas as pd

    if ds.is_discrete:
        if stats is None:
            from ..diagnostics import action_stats

            stats = action_stats(ds)
        counts = np.asarray(stats["counts"])
        return pd.DataFrame({"action": np.arange(len(counts)), "count": counts,
                             "probability": np.asarray(stats["probabilities"])})
    from ..diagnostics.projection import sample_indices

    a = _flat(np.asarray(ds.actions, dtype=float))
    a = a[sample_indices(len(a), max_samples, seed)]
    return pd.DataFrame({"dimension": np.repeat([f"a{j}" for j in range(a.shape[1])], len(a)),
                         "value": a.T.reshape(-1)})


def state_axes(ds: EpisodeDataset) -> list[str]:
    """Names of the flattened observation axes (``obs_0`` ...)."""
    return [f"obs_{j}" for j in range(int(np.prod(ds.observation_shape) or 1))]


def state_frame(ds: EpisodeDataset, x: str = "obs_0", y: str = "obs_1", *, pca: bool = False,
                max_samples: int = 50_000, seed: int = 0) -> tuple[pd.DataFrame, str, str]:
    """Sampled states on two axes, or on the first two principal components.

    The numbers are :func:`workbench.diagnostics.state_sample` and, with ``pca``,
    :func:`workbench.diagnostics.principal_components`; this only names the columns.

    Returns ``(frame, x_name, y_name)``; with ``pca`` the names carry the explained variance.
    """
    import pandas as pd

    from ..diagnostics.projection import principal_components, state_sample

    obs = state_sample(ds, max_samples, seed)
    if pca:
        proj, var = principal_components(obs, 2)
        xn, yn = f"PC1 ({var[0]:.0%})", f"PC2 ({var[1]:.0%})"
        return pd.DataFrame({xn: proj[:, 0], yn: proj[:, 1]}), xn, yn
    axes = state_axes(ds)
    ix, iy = axes.index(x), axes.index(y)
    return pd.DataFrame({x: obs[:, ix], y: obs[:, iy]}), x, y


def report_table(report: Any) -> pd.DataFrame:
    """A DiagnosticsReport as ``section, quantity, value`` rows (formatted strings)."""
    import pandas as pd

    rows = [(title, label, value) for title, items in report.sections()
            for label, value in items]
    return pd.DataFrame(rows, columns=["section", "quantity", "value"])


def distinct_seed_groups(runs: Sequence[tuple[str, Any, Any]]) -> tuple[dict[str, Any],
                                                                        list[str]]:
    """Runs grouped for an across-seeds aggregate: one run per (group, seed).

    Two runs of one algorithm with the same seed are not two samples of its seed
    distribution, so only the newest of them is kept.  A seed that is not known (``None``,
    ``"?"``, NaN) counts as a seed of its own.

    Args:
        runs: ``(run_id, group, seed)`` triples, oldest first.

    Returns:
        ``({run_id: group}`` of the runs kept, ``[run ids left out]``, oldest first).
    """
    newest: dict[tuple[Any, Any], str] = {}
    for run_id, group, seed in runs:
        known = seed is not None and seed != "?" and not (isinstance(seed, float)
                                                         and np.isnan(seed))
        newest[(group, int(seed) if known else ("run", run_id))] = run_id
    kept = set(newest.values())
    groups = {rid: g for rid, g, _ in runs if rid in kept}
    return groups, [rid for rid, _, _ in runs if rid not in kept]


def aggregate_note(agg: pd.DataFrame, metric: str, groups: dict[str, Any],
                   seeds: dict[str, Any], left_out: Sequence[str]) -> str:
    """What an across-seeds plot aggregates, in words (Markdown): per group the metric,
    the runs and their seeds, the step range; the runs left out and why.

    Args:
        agg: :func:`workbench.stats.curves_across_seeds` of the runs in ``groups``.
        metric: the metric aggregated.
        groups: ``{run_id: group}`` of the runs aggregated.
        seeds: ``{run_id: seed}``.
        left_out: run ids not aggregated (an older run of the same algorithm and seed).
    """
    lines = []
    for g, d in agg.groupby("group", sort=False):
        ids = [rid for rid, gg in groups.items() if gg == g]
        seed_list = ", ".join(str(seeds.get(r, "?")) for r in ids)
        lo, hi = int(d["step"].min()), int(d["step"].max())
        n_lo, n_hi = int(d["n_runs"].min()), int(d["n_runs"].max())
        per_step = (f"{n_hi}" if n_lo == n_hi else f"{n_lo}–{n_hi}")
        lines.append(f"- **{g}**: `{metric}` over {len(ids)} runs with distinct seeds "
                     f"({seed_list}); steps {lo:,}–{hi:,}, {per_step} runs at each step "
                     "(a step counts once at least two runs reached it)")
    if left_out:
        lines.append(f"- left out: {len(left_out)} older run(s) of an algorithm and seed "
                     "already shown (the same seed is not a new sample): "
                     + ", ".join(f"`{r}`" for r in left_out))
    return "\n".join(lines)


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB ``(H, W, 3)`` uint8 image as PNG bytes (for ``pn.pane.PNG``)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def episode_images(ds: EpisodeDataset, i: int, step: int | None = None, n: int = 10,
                   strip_height: int = 84, frame_height: int = 252) -> tuple[bytes, bytes, int]:
    """An image episode to show: a strip of ``n`` evenly spaced frames about
    ``strip_height`` pixels high, and frame ``step`` (default: the first) about
    ``frame_height`` high, both as PNG bytes (nearest-neighbour upscaling, so MinAtar's
    10x10 cells stay sharp), and the episode's number of frames (``T + 1``).

    Raises:
        DatasetError: the observations are vectors, not images.
    """
    from ..data.images import render_frames

    ep = ds.episode(int(i))
    obs = ep.observations  # (T + 1, C, H, W) uint8
    if obs.ndim != 4:
        ep.frames()  # raises the DatasetError that says so
    n_frames, h = len(obs), int(obs.shape[-2])
    strip = ep.frame_strip(n=min(n, n_frames), scale=max(1, strip_height // h))
    k = 0 if step is None else int(np.clip(step, 0, n_frames - 1))
    big = render_frames(obs[k:k + 1], ep.frame_kind, max(1, frame_height // h))[0]
    return png_bytes(strip), png_bytes(big), n_frames
