"""Live curves: each drain sends only the new points, without touching the model graph."""

from __future__ import annotations

import pandas as pd
from bokeh.document import Document

from workbench.ui.live import LiveCurves


def _rows(run_id, steps, name="loss/td", t0=1000.0):
    return pd.DataFrame({"run_id": run_id, "run": f"dqn {run_id}", "step": steps, "name": name,
                         "value": [float(s) / 10 for s in steps],
                         "wall_time": [t0 + s for s in steps]})


def _events(doc):
    seen = []
    doc.on_change(lambda event: seen.append(event))
    return seen


def test_stream_sends_only_new_points_per_run_and_keeps_the_model_graph():
    live = LiveCurves()
    labels = {"a": "dqn a", "b": "dqn b"}
    live.add_run("a", labels["a"])
    live.add_run("b", labels["b"])
    live.show("loss/td", pd.DataFrame(columns=["run_id", "step", "name", "value", "wall_time"]),
              labels)
    doc = Document()
    doc.add_root(live.figure)
    n_models = len(doc.models)
    events = _events(doc)

    sent = live.stream(pd.concat([_rows("a", [1, 2, 3]), _rows("b", [1, 2]),
                                  _rows("a", [1, 2, 3], name="loss/other")]), labels)
    assert sent == 5 and live.points() == 5  # other metrics are not drawn
    sent = live.stream(_rows("a", [4]), labels)
    assert sent == 1
    assert list(live._sources["a"].data["step"]) == [1, 2, 3, 4]
    assert list(live._sources["a"].data["wall_time"]) == [1001, 1002, 1003, 1004]
    # streamed chunks only (ColumnsStreamed events carrying the new rows), no new models
    kinds = {type(e).__name__ for e in events}
    assert kinds == {"ColumnsStreamedEvent"}, kinds
    assert [len(e.data["step"]) for e in events] == [3, 2, 1]
    doc.models.recompute()
    assert len(doc.models) == n_models


def test_new_run_gets_a_legend_entry_and_metric_switch_redraws_from_history():
    live = LiveCurves()
    history = pd.concat([_rows("a", [1, 2]), _rows("a", [1, 2, 3], name="eval/return"),
                         _rows("b", [5], name="eval/return")])
    labels = {"a": "dqn a", "b": "dqn b"}
    live.show("loss/td", history, labels)
    assert [i.label.value for i in live._legend.items] == ["dqn a", "dqn b"]
    assert live.points() == 2
    live.show("eval/return", history, labels)
    assert live.figure.title.text == "eval/return (live)"
    assert list(live._sources["a"].data["step"]) == [1, 2, 3]
    assert list(live._sources["b"].data["step"]) == [5]
    live.stream(_rows("c", [7], name="eval/return"), {**labels, "c": "cql c"})
    assert [i.label.value for i in live._legend.items][-1] == "cql c"
    assert live.points() == 5


def _agg(groups_steps):
    rows = [{"group": g, "step": s, "mean": 1.0, "iqm": 1.5, "ci_low": 0.5, "ci_high": 2.5,
             "n_runs": 3} for g, steps in groups_steps.items() for s in steps]
    return pd.DataFrame(rows)


def test_live_aggregate_replaces_columns_and_never_adds_tools():
    from workbench.ui.live import LiveAggregate

    live = LiveAggregate()
    doc = Document()
    doc.add_root(live.figure)
    n_tools = len(live.figure.tools)
    live.update(_agg({"dqn": [300, 100, 200]}), title="loss across seeds")
    assert list(live._sources["dqn"].data["step"]) == [100, 200, 300]
    assert live.points() == 3 and live.figure.title.text == "loss across seeds"
    events = _events(doc)
    live.update(_agg({"dqn": [100, 200, 300, 400]}), title="loss across seeds")
    assert [type(e).__name__ for e in events] == ["ColumnDataChangedEvent"]  # data only
    live.update(_agg({"cql": [100]}), title="loss across seeds")  # a new group: dqn emptied
    assert live.points() == 1 and len(live._sources["dqn"].data["step"]) == 0
    # groups share the one hover tool: adding tools to a shown figure with an outside legend
    # made BokehJS repaint in a loop
    assert len(live.figure.tools) == n_tools
    assert len(live._hover.renderers) == 2
    labels = [i.label.value for i in live._legend.items]
    assert labels == ["dqn IQM 95% CI", "dqn IQM", "dqn mean", "cql IQM 95% CI", "cql IQM",
                      "cql mean"]
