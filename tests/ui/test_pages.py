"""The pages driven in-process (no browser): what the buttons do, refusals, standalone use."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import DatasetError
from workbench.ui.state import WorkbenchState, resolve_under_roots


def test_ui_package_import_is_light():
    import subprocess
    import sys

    code = ("import sys, workbench.ui; "
            "print(any(m in sys.modules for m in ('panel', 'holoviews', 'bokeh', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_paths_outside_the_roots_are_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.npz").write_bytes(b"x")
    (tmp_path / "secret.npz").write_bytes(b"x")
    os.symlink(tmp_path / "secret.npz", root / "link.npz")
    roots = [root.resolve()]
    assert resolve_under_roots(root / "a.npz", roots) == (root / "a.npz").resolve()
    assert resolve_under_roots("a.npz", roots) == (root / "a.npz").resolve()
    for bad in (tmp_path / "secret.npz", "../secret.npz", root / "link.npz", "/etc/passwd"):
        with pytest.raises(DatasetError, match="outside the allowed dataset roots"):
            resolve_under_roots(bad, roots)
    with pytest.raises(DatasetError, match="no dataset root"):
        resolve_under_roots(root / "a.npz", [])
    # nothing is revealed about files outside: missing and existing are refused alike
    with pytest.raises(DatasetError, match="outside"):
        resolve_under_roots(tmp_path / "missing.npz", roots)


def test_datasets_page_loads_catalog_and_refuses_outside_files(catalog_home, tmp_path):
    from workbench.data.catalog import catalog_names
    from workbench.ui import DatasetsPanel

    root = tmp_path / "root"
    root.mkdir()
    wb.load_dataset("cartpole-expert", progress=False).save(root / "expert.npz")
    page = DatasetsPanel(dataset_roots=[root])
    assert page.catalog_select.options == catalog_names()
    assert str((root / "expert.npz").resolve()) in page.file_select.options.values()
    assert page.load("cartpole-mixed").n_episodes > 0
    assert page.status.alert_type == "success" and "cartpole-mixed" in page.status.object
    assert page.summary.value["field"].tolist()[:3] == ["name", "env_id", "episodes"]
    page.episode = 3
    assert page.episode_pane.object is not None
    assert page.load(str(root / "expert.npz")) is not None
    assert list(page.state.datasets) == ["cartpole-mixed", "cartpole-expert"]
    assert page.load("/etc/passwd") is None
    assert page.status.alert_type == "danger" and "outside" in page.status.object
    assert page.load(str(tmp_path / "missing.npz")) is None
    assert "outside" in page.status.object
    assert len(page.state.datasets) == 2


def test_datasets_page_collects_with_progress(catalog_home):
    from workbench.ui import DatasetsPanel

    page = DatasetsPanel()
    seen = []
    page._sink = lambda d, n, t: seen.append((n, t))  # type: ignore[method-assign]
    ds = page.collect("CartPole-v1", "random", 600, 1)
    assert ds is not None and ds.metadata["scheme"] == "random"
    assert seen and seen[-1][0] == seen[-1][1] == 600
    assert page.state.current == "CartPole-v1-random-600-s1"
    assert page.collect("NoSuchEnv-v0", "random", 100, 0) is None
    assert page.status.alert_type == "danger"


def test_diagnostics_page_shows_report_plots_and_map(catalog_home):
    from workbench.ui import DiagnosticsPanel

    state = WorkbenchState()
    for n in ("cartpole-random", "cartpole-expert"):
        state.add_dataset(n, wb.load_dataset(n, progress=False))
    page = DiagnosticsPanel(state)
    assert page.report is not None and page.report.tq is not None
    assert {"TQ", "SACo"} <= set(page.report_table.value["quantity"])
    for pane in (page.returns_pane, page.lengths_pane, page.actions_pane, page.coverage_pane,
                 page.map_pane):
        assert pane.object is not None
    pts = page.map_pane.object.get(0)
    assert set(pts.dimension_values("dataset")) == {"cartpole-random", "cartpole-expert"}
    page.view_select.value = "pca"
    assert "PC1" in page.coverage_pane.object.kdims[0].name
    page.dataset_select.value = "cartpole-random"
    assert state.current == "cartpole-random" and page.report.name == "cartpole-random"


@pytest.fixture(scope="module")
def finished_jobs(catalog_home):
    """Two short DQN runs (seeds 0 and 1) in a private store."""
    import tempfile

    from workbench.tracking import RunStore
    from workbench.ui import TrainingPanel

    os.environ["WORKBENCH_HOME"] = str(catalog_home)
    store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    state = WorkbenchState(store=store)
    state.add_dataset("cartpole-mixed", wb.load_dataset("cartpole-mixed", progress=False))
    panel = TrainingPanel(state)
    jobs = panel.start(algo="dqn", n_steps=600, seeds=[0, 1], env=None)
    for j in jobs:
        j.wait(timeout=300, progress=False)
    panel.pump()
    return state, panel, jobs


def test_training_page_follows_jobs_live_and_aggregates_seeds(finished_jobs):
    state, panel, jobs = finished_jobs
    assert [j.status for j in jobs] == ["completed", "completed"]
    data = panel.buffer.data
    assert set(data["run_id"]) == {j.run_id for j in jobs}
    assert not data.duplicated(["run_id", "step", "name"]).any()
    expected = sum(len(j.metrics()) for j in jobs)
    assert len(data) == expected, "every committed row reaches the Buffer exactly once"
    assert panel.buffer.length >= 1_000_000
    table = panel.status_frame()
    assert table["status"].tolist() == ["completed"] * 2
    assert (table["progress"] == 100).all()
    panel.metric = "loss/td"
    # the live plot holds each logged point of the shown metric once
    assert panel.live.points() == int((data["name"] == "loss/td").sum()) > 0
    panel.view = "across seeds"
    agg = panel.aggregate_frame()
    assert set(agg.columns) >= {"group", "step", "mean", "iqm", "ci_low", "ci_high"}
    assert (agg["n_runs"] == 2).all() and (agg["ci_low"] <= agg["ci_high"]).all()
    steps = agg["step"].nunique()
    assert panel.live_agg.points() == len(agg) and steps > 0  # the band's figure shows them
    assert panel.live_agg.figure.title.text == "loss/td across seeds"
    assert panel.agg_box.visible and "IQM" in panel.agg_note.object


def test_training_panel_alone_on_a_job_and_cancel(catalog_home):
    from workbench.training import train
    from workbench.ui import TrainingPanel

    ds = wb.load_dataset("cartpole-mixed", progress=False)
    job = train(ds, algo="dqn", n_steps=100_000, seed=3)
    panel = TrainingPanel(job)
    try:
        assert [j.run_id for j in panel.jobs] == [job.run_id]
        assert panel.cancel(job.run_id) is True
        job.wait(timeout=60, progress=False)
        panel.pump()
        assert panel.status_frame()["status"].tolist() == ["cancelled"]
        assert panel.cancel(job.run_id) is False
    finally:
        job.cancel()
        panel.state.close()
    assert panel._sub.closed


def test_training_form_errors_are_messages(catalog_home):
    from workbench.ui import TrainingPanel

    state = WorkbenchState()
    panel = TrainingPanel(state)
    panel._on_start()
    assert panel.status.alert_type == "danger" and "load a dataset" in panel.status.object
    state.add_dataset("cartpole-mixed", wb.load_dataset("cartpole-mixed", progress=False))
    form = panel.form  # the page's form viewer
    assert form.algo_select.value == "discrete_cql" and "dqn" in form.algo_select.options
    assert "alpha" in form.hp_widgets
    form.seeds_input.value = "a, b"
    panel._on_start()
    assert "seeds" in panel.status.object
    form.seeds_input.value = "0"
    form.extra_input.value = '{"no_such_hyperparameter": 1}'
    before = len(panel.jobs)
    panel._on_start()
    assert panel.status.alert_type == "danger" and len(panel.jobs) == before


def test_ope_page_estimates_finished_runs(finished_jobs):
    from workbench.ui import OPEPanel

    state, _, jobs = finished_jobs
    page = OPEPanel(state)
    assert set(page.runs_select.value) == {j.run_id for j in jobs}
    page.estimators_select.value = ["fqe", "wis"]
    page.fqe_steps_input.value = 200
    page.rollouts_input.value = 5
    page.bootstrap_input.value = 50
    frame = page.evaluate(dataset="cartpole-mixed")
    assert frame is not None, page.status.object
    assert len(frame) == 4 and frame["true_value"].notna().all()
    wis, fqe = frame[frame.estimator == "wis"], frame[frame.estimator == "fqe"]
    assert (wis["ci_low"] <= wis["ci_high"]).all()
    assert fqe["ci_low"].isna().all() and fqe["ci_method"].str.startswith("none").all()
    assert page.selection is not None and set(page.selection.index) == {"fqe", "wis"}
    assert page.plot_pane.object is not None
    page.runs_select.value = []
    assert page.evaluate() is None and "choose at least one" in page.status.object


def test_runs_page_filters_compares_and_exports(finished_jobs, tmp_path):
    from workbench.ui import RunsPanel

    state, _, jobs = finished_jobs
    page = RunsPanel(state)
    assert set(page.table.value["run_id"]) == {j.run_id for j in jobs}
    page.text_filter.value = jobs[0].run_id[-6:]
    assert page.table.value["run_id"].tolist() == [jobs[0].run_id]
    page.text_filter.value = ""
    page.status_filter.value = ["failed"]
    assert page.table.value.empty
    page.status_filter.value = []
    page.table.selection = [0, 1]
    assert page.compare_pane.object is not None
    page.compare_view.value = "across seeds"  # the two seeds' IQM band, as on Training
    assert [x.label for x in page.compare_pane.object][:3] == ["dqn IQM 95% CI", "dqn IQM",
                                                              "dqn mean"]
    page.compare_view.value = "per run"
    assert set(page.health_table.value["signal"]) == {"overfitting", "underfitting"}
    csv = pd.read_csv(page.export(tmp_path / "m.csv", [jobs[0].run_id]))
    assert set(csv["run_id"]) == {jobs[0].run_id} and len(csv) == len(jobs[0].metrics())
    pq = pd.read_parquet(page.export(tmp_path / "m.parquet"))
    assert set(pq["run_id"]) == {j.run_id for j in jobs}
    assert len(page._download(".csv").getvalue()) > 0


def test_workbench_object_renders_and_closes(catalog_home):
    import panel as pn

    from workbench.ui import Workbench

    bench = Workbench(datasets={"cartpole-mixed": wb.load_dataset("cartpole-mixed",
                                                                   progress=False)})
    assert [t for t, _ in zip(("Datasets", "Diagnostics", "Training", "OPE", "Runs"),
                              bench.tabs)] and len(bench.tabs) == 5
    assert bench.diagnostics.report is not None
    root = pn.panel(bench).get_root()
    assert root is not None
    bundle = bench._repr_mimebundle_()
    assert bundle is not None
    bench.show_page("Training")
    assert bench.tabs.active == 2
    bench.close()
    assert bench.state.closed and bench.training._sub.closed


def test_episode_browser_shows_frames_of_an_image_dataset(catalog_home):
    """An image episode is a strip of frames and one frame on a slider, with its actions and
    rewards: no line per pixel."""
    import io

    from PIL import Image

    from workbench.data.collect import collect
    from workbench.ui import DatasetsPanel

    ds = collect("MinAtar/Breakout-v1", policy="random", n_steps=300, seed=0, n_envs=1,
                 progress=False)
    page = DatasetsPanel()
    page.state.add_dataset("breakout", ds)
    assert page.frames_box.visible
    strip = Image.open(io.BytesIO(page.strip_pane.object))
    frame = Image.open(io.BytesIO(page.frame_pane.object))
    T1 = len(ds.episode(0).observations)
    assert page.frame_slider.end == T1 - 1
    assert frame.size == (250, 250)  # 10x10 cells, 25 pixels each
    assert strip.size[1] == 80 and strip.size[0] >= min(10, T1) * 80
    # the frame shown is the observation rendered (nearest-neighbour)
    want = ds.episode(0).frames(scale=25)[3]
    page._render_frame(3)
    got = np.asarray(Image.open(io.BytesIO(page.frame_pane.object)).convert("RGB"))
    np.testing.assert_array_equal(got, want)
    # the plots: actions and rewards only
    layout = page.episode_pane.object
    assert len(layout) == 2
    # a vector dataset keeps its observation lines and hides the frames
    page.state.add_dataset("cartpole", collect("CartPole-v1", policy="random", n_steps=200,
                                               seed=0, progress=False))
    assert not page.frames_box.visible and len(page.episode_pane.object) == 3
