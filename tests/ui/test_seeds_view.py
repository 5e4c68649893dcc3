"""The across-seeds "are these agents different?" panel: it shows what workbench.stats
computes (decisions, P(improvement), performance profiles), and the Training page mounts
it; the form offers the Ray executor when Ray is installed."""

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.stats import final_scores, improvement_matrix, performance_profiles
from workbench.ui.compare import SeedsComparison, improvement_heatmap, profile_plot


def _frame(groups, rng):
    """Tidy metric rows: three evaluations per run, the last one its final score."""
    rows = []
    for rid, g in groups.items():
        mu = {"cql": 5.0, "bc": 0.0, "iql": 5.2}[g]
        for i, v in enumerate(rng.normal(mu, 1.0, 3)):
            rows.append((rid, 100 * (i + 1), "eval/return", float(v), 0.0))
    return pd.DataFrame(rows, columns=["run_id", "step", "name", "value", "wall_time"])


def test_seeds_comparison_shows_what_stats_computes():
    rng = np.random.default_rng(0)
    groups = {f"{a}-{s}": a for a in ("cql", "bc", "iql") for s in range(5)}
    frame = _frame(groups, rng)
    view = SeedsComparison(alpha=0.05)
    done = {r for r in groups if not r.endswith("-4")}  # four finished runs per algorithm
    assert view.update(frame, "eval/return", groups, done)
    scores = final_scores(frame, "eval/return", {r: g for r, g in groups.items() if r in done})
    pd.testing.assert_frame_equal(view.decisions, wb.compare(scores, alpha=0.05))
    pd.testing.assert_frame_equal(view.matrix, improvement_matrix(scores))
    pd.testing.assert_frame_equal(view.profiles, performance_profiles(scores))
    assert view.decisions.attrs["n"] == 4
    shown = view.table.object
    assert shown[["agent_a", "agent_b"]].values.tolist() == [["cql", "bc"], ["cql", "iql"],
                                                             ["bc", "iql"]]
    assert "AdaStop" in view.note.object
    # unchanged inputs: nothing recomputed; a newly finished run: recomputed
    assert not view.update(frame, "eval/return", groups, done)
    assert view.update(lambda: frame, "eval/return", groups, set(groups))
    assert view.decisions.attrs["n"] == 5
    # fewer than two algorithms with finished runs: a message, no table
    assert view.update(frame, "eval/return", groups, {"cql-0", "cql-1"})
    assert view.decisions.empty and "at least two" in view.note.object
    assert "cql: 2" in view.note.object
    pn_obj = view.__panel__()
    assert pn_obj is not None


def test_plots_are_pure_functions_of_the_stats_frames():
    scores = {"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]}
    heat = improvement_heatmap(improvement_matrix(scores))
    data = heat.get(0).data  # the HeatMap's frame
    assert set(data["agent_x"]) == {"a", "b"} and len(data) == 2
    prof = profile_plot(performance_profiles(scores, [0.0, 2.5, 5.0]), metric="eval/return")
    assert [c.label for c in prof] == ["a", "b"]
    assert prof.get(0).data["fraction"].tolist() == [1.0, 1 / 3, 0.0]
    assert improvement_heatmap(pd.DataFrame()) is not None  # empty: an empty plot
    assert profile_plot(pd.DataFrame()) is not None


@pytest.mark.slow
def test_training_page_decides_across_seeds_of_two_algorithms(tmp_path):
    from workbench.data.collect import collect
    from workbench.tracking import RunStore
    from workbench.ui import TrainingPanel

    store = RunStore(tmp_path / "runs.sqlite")
    ds = collect("CartPole-v1", policy="random", n_steps=1500, seed=0, progress=False)
    # a sweep of two algorithms x three seeds, followed by the page (not registered as
    # dashboard jobs, so other pages of this process do not pick them up)
    sweep = wb.sweep(ds, algos=["dqn", "bc"], seeds=[0, 1, 2], n_steps=40, env="CartPole-v1",
                     eval_episodes=2, log_every=20, eval_every=40, checkpoint_every=0,
                     batch_size=32, store=store,
                     hyperparameters={"dqn": {"target_update_interval": 20}})
    panel = TrainingPanel(sweep)
    try:
        assert "ray" in panel.form.executor_select.options  # Ray is installed for the tests
        sweep.wait(progress=False, timeout=300)
        assert (sweep.status()["status"] == "completed").all(), [j.error for j in sweep.jobs]
        panel.pump()
        panel.metric = "eval/return"
        panel.view = "across seeds"
        panel.pump()
        assert panel.agg_box.visible  # the comparison is shown under the across-seeds curves
        assert any("wb-compare" in (o.css_classes or []) for o in panel.agg_box.objects)
        pd.testing.assert_frame_equal(panel.compare.decisions, wb.compare(sweep))
        assert panel.compare.decisions.iloc[0][["n_used_a", "n_used_b"]].tolist() == [3, 3]
        assert len(panel.compare.matrix) == 2 and not panel.compare.profiles.empty
    finally:
        sweep.cancel()
        panel.state.close()
