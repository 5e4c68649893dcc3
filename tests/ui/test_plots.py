"""Pure plot functions: DataFrame in, HoloViews element out (no browser needed)."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import pytest

from workbench.errors import DiagnosticsError
from workbench.ui import plots


@pytest.fixture
def frame():
    return pd.DataFrame({"dataset": ["random", "expert", "replay", "none"],
                         "tq": [0.0, 1.0, 0.4, None], "saco": [0.3, 0.1, 1.0, 0.5]})


def test_tq_saco_map_has_one_labelled_point_per_dataset(frame):
    el = plots.tq_saco_map(frame)
    assert isinstance(el, hv.Overlay)
    points, labels = el.get(0), el.get(1)
    assert isinstance(points, hv.Points) and isinstance(labels, hv.Labels)
    assert list(points.dimension_values("dataset")) == ["random", "expert", "replay"]
    assert list(points.dimension_values("saco")) == [0.3, 0.1, 1.0]
    assert list(points.dimension_values("tq")) == [0.0, 1.0, 0.4]
    assert list(labels.dimension_values("dataset")) == ["random", "expert", "replay"]
    assert points.kdims[0].label == "SACo" and points.kdims[1].label == "TQ"


def test_tq_saco_map_renders_with_bokeh(frame):
    hv.extension("bokeh")
    fig = hv.render(plots.tq_saco_map(frame, x="saco"))
    assert fig is not None


def test_tq_saco_map_bad_frames(frame):
    with pytest.raises(DiagnosticsError, match="columns"):
        plots.tq_saco_map(frame.drop(columns="tq"))
    with pytest.raises(DiagnosticsError, match="no dataset"):
        plots.tq_saco_map(frame.assign(tq=None))


def test_histograms_share_edges_and_skip_unfinished():
    f = pd.DataFrame({"dataset": ["a"] * 4 + ["b"] * 4, "return": [1, 2, 3, 100, 4, 5, 6, 7],
                      "length": [1, 2, 3, 4, 5, 6, 7, 8],
                      "finished": [True, True, True, False] + [True] * 4})
    h = plots.return_histogram(f, bins=3)
    assert isinstance(h, hv.Overlay) and len(h) == 2
    a, b = h.get(0), h.get(1)
    assert list(a.edges) == list(b.edges) and max(a.edges) == 7
    assert a.dimension_values("episodes").sum() == 3 and b.dimension_values("episodes").sum() == 4
    assert len(plots.length_histogram(f.drop(columns="dataset"))) == 1
    with pytest.raises(DiagnosticsError):
        plots.return_histogram(f.drop(columns="return"))
    with pytest.raises(DiagnosticsError):
        plots.return_histogram(f, bins=0)


def test_learning_curves_one_coloured_line_per_run_sorted_by_step():
    import holoviews as hv

    from workbench.ui import plots

    frame = pd.DataFrame({"run": ["b", "a", "b", "a", "a"], "step": [200, 100, 100, 300, 200],
                          "name": ["loss", "loss", "loss", "loss", "other"],
                          "value": [2.0, 1.0, 3.0, 0.5, 9.0]})
    el = plots.learning_curves(frame, "loss", by="run")
    layers = list(el)
    assert [type(x).__name__ for x in layers] == ["Curve", "Scatter", "Curve", "Scatter"]
    assert [x.label for x in layers] == ["b", "b", "a", "a"]  # order of first appearance
    assert list(layers[0].dimension_values("step")) == [100, 200]  # sorted per run
    assert list(layers[2].dimension_values("value")) == [1.0, 0.5]  # "other" left out
    colours = [hv.Store.lookup_options("bokeh", x, "style").kwargs["color"] for x in layers]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    hv.render(el, backend="bokeh")  # renders
    hv.render(plots.learning_curves(frame, "missing", by="run"), backend="bokeh")


def test_aggregate_curves_band_iqm_and_mean_per_group():
    frame = pd.DataFrame({"group": ["dqn", "dqn", "cql"], "step": [200, 100, 100],
                          "mean": [1.0, 2.0, 3.0], "iqm": [1.1, 2.1, 3.1],
                          "ci_low": [0.5, 1.5, 2.5], "ci_high": [1.5, 2.5, 3.5],
                          "n_runs": [3, 3, 2]})
    el = plots.aggregate_curves(frame, title="loss across seeds")
    layers = list(el)
    assert [type(x).__name__ for x in layers] == ["Area", "Curve", "Curve"] * 2
    assert [x.label for x in layers[:3]] == ["dqn IQM 95% CI", "dqn IQM", "dqn mean"]
    assert list(layers[1].dimension_values("step")) == [100, 200]
    hv.render(el, backend="bokeh")
    with pytest.raises(DiagnosticsError, match="needs columns"):
        plots.aggregate_curves(frame.drop(columns="iqm"))


def test_episode_browser_shows_every_step_and_no_placeholder_state():
    import numpy as np

    from _factory import flat_arrays
    from workbench.data.dataset import EpisodeDataset
    from workbench.ui._frames import episode_steps

    a = flat_arrays(60)  # terminal at 9, timeout at 29, terminal at 59; no next observations
    ds = EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                  a["terminals"], a["timeouts"])
    df = episode_steps(ds, 1)
    assert len(df) == 21 and df["reward"].notna().sum() == 20  # all 20 logged steps
    np.testing.assert_allclose(df["reward"].iloc[:20], a["rewards"][10:30], rtol=1e-6)
    assert df.iloc[-1][["obs_0", "obs_1", "obs_2"]].isna().all()  # final state unknown
