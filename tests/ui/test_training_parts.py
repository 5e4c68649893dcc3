"""The Training page's parts alone, without a browser or a training job: the form, the job
table, the curves and their history."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.stats import curves_across_seeds
from workbench.ui.curves import AGGREGATE_REPS, COLUMNS, MetricHistory, TrainingCurves
from workbench.ui.jobs import JOB_COLUMNS, JobTable
from workbench.ui.state import WorkbenchState


def _rows(run_id, steps, name="loss/td", value=None):
    vals = [float(s) / 100 + (value or 0.0) for s in steps]
    return pd.DataFrame({"run_id": run_id, "run": f"dqn {run_id}", "step": steps, "name": name,
                         "value": vals, "wall_time": [1000.0 + s for s in steps]})[COLUMNS]


def test_metric_history_appends_chunks_joins_on_read_and_keeps_the_newest_rows():
    h = MetricHistory(length=5)
    assert h.data.empty and list(h.data.columns) == COLUMNS
    h.send(_rows("a", [1, 2]))
    h.send(_rows("b", [1]))
    h.send(_rows("a", [3]).iloc[:0])  # nothing
    assert len(h._chunks) == 2  # appending does not copy the history
    assert h.data["run_id"].tolist() == ["a", "a", "b"] and list(h.data.index) == [0, 1, 2]
    assert len(h._chunks) == 1  # joined once, kept
    h.send(_rows("a", [3, 4, 5, 6]))
    assert len(h) == 5 and h.data["step"].tolist() == [1, 3, 4, 5, 6]
    for s in range(7, 30):  # memory stays bounded between reads
        h.send(_rows("a", [s]))
        assert h._n <= 2 * h.length
    assert h.data["step"].tolist() == [25, 26, 27, 28, 29]


def test_curves_alone_pick_the_preferred_metric_stream_and_aggregate_across_seeds():
    curves = TrainingCurves()
    for rid in ("a", "b", "c"):
        curves.add_run(rid, f"dqn {rid}", "dqn")
    first = pd.concat([_rows(r, [100, 200], value=i) for i, r in enumerate("abc")]
                      + [_rows("a", [100], name="eval/return")], ignore_index=True)
    assert curves.append(first) == 7
    assert curves.metric == "eval/return"  # preferred over loss/td
    assert curves.live.points() == 1
    curves.metric = "loss/td"  # redrawn from the history
    assert curves.live.points() == 6
    curves.append(pd.concat([_rows(r, [300]) for r in "ab"], ignore_index=True))
    assert curves.live.points() == 8  # only the new points were streamed
    curves.view = "across seeds"
    assert curves.agg_box.visible
    agg = curves.aggregate_frame()
    expected = curves_across_seeds(curves.history.data, "loss/td", curves.groups,
                                   reps=AGGREGATE_REPS)
    pd.testing.assert_frame_equal(agg, expected)
    assert agg["step"].tolist() == [100, 200, 300] and agg["n_runs"].tolist() == [3, 3, 2]
    assert curves.live_agg.points() == 3 and "IQM" in curves.agg_note.object


def test_curves_across_seeds_note_says_what_is_missing():
    curves = TrainingCurves()
    curves.add_run("a", "dqn a", "dqn")
    curves.append(_rows("a", [1, 2]))
    curves.view = "across seeds"
    assert "needs at least two runs" in curves.agg_note.object
    assert "dqn: 1" in curves.agg_note.object


class _Store:
    def get_run(self, run_id):
        if run_id == "unknown":
            raise ConfigError("no run")
        return {"seed": 7}


class _Job:
    def __init__(self, run_id, status="running", step=50, error=None):
        self.run_id, self.algo, self.n_steps, self.executor = run_id, "dqn", 200, "thread"
        self.status, self.step, self.error, self.store = status, step, error, _Store()
        self.cancelled = False

    def cancel(self):
        if self.status in ("completed", "failed", "cancelled", "crashed"):
            return False
        self.cancelled, self.status = True, "cancelled"
        return True


def test_job_table_alone_shows_progress_seeds_and_cancels():
    state = WorkbenchState()
    cancelled = []
    table = JobTable(state, on_cancel=cancelled.append)
    assert table.add(_Job("r1")) and table.add(_Job("unknown", error="Traceback\nboom\n"))
    assert not table.add(_Job("r1"))  # once
    table.note(pd.DataFrame({"run_id": ["r1"], "name": ["time/updates_per_s"],
                             "value": [123.456]}))
    table.refresh(force=True)
    shown = table.table.value
    assert list(shown.columns) == JOB_COLUMNS and shown["seed"].tolist() == [7, "?"]
    assert shown["progress"].tolist() == [25.0, 25.0] and shown["updates/s"].iloc[0] == 123.5
    assert shown["error"].tolist() == ["", "boom"] and table.busy()
    version = state.runs_version

    class Click:
        column, row = "cancel", 0

    table._on_click(Click())
    assert cancelled == ["r1"] and table.jobs[0].cancelled
    assert state.runs_version == version + 1  # a job finished: the other pages re-read
    assert table.table.value["status"].iloc[0] == "cancelled"
    assert table.cancel("r1") is False and table.cancel("nope") is False


def test_training_form_alone_reads_its_fields():
    from _factory import flat_arrays
    from workbench.data.dataset import EpisodeDataset
    from workbench.ui.training_form import TrainingForm

    state = WorkbenchState()
    form = TrainingForm(state)
    assert form.start_button.disabled
    with pytest.raises(WorkbenchError, match="load a dataset"):
        form.values()
    a = flat_arrays(60)
    state.add_dataset("tiny", EpisodeDataset.from_flat(a["observations"], a["actions"],
                                                       a["rewards"], a["terminals"],
                                                       a["timeouts"]))
    assert not form.start_button.disabled and form.algo_select.value == "discrete_cql"
    form.seeds_input.value = "0, 1 2"
    form.hp_widgets["gamma"].value = 0.9
    form.extra_input.value = '{"n_critics": 2}'
    v = form.values()
    assert v["dataset"] == "tiny" and v["seeds"] == [0, 1, 2] and v["n_steps"] == 2000
    assert v["hyperparameters"] == {"gamma": 0.9, "n_critics": 2}  # defaults left out
    form.extra_input.value = "[1]"
    with pytest.raises(ConfigError, match="JSON object"):
        form.values()
