import json
import math
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.tracking import RunStore, runs
from workbench.training import load_run


def test_wal_mode_and_schema(tmp_path):
    s = RunStore(tmp_path / "r.sqlite")
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "params", "metrics", "artifacts"} <= tables
    assert s.integrity_check() == "ok"


def test_runs_params_metrics_artifacts_round_trip(tmp_path):
    s = RunStore(tmp_path / "r.sqlite")
    s.create_run("a", algo="dqn", dataset="toy", seed=1, n_steps=10)
    with pytest.raises(ConfigError, match="already exists"):
        s.create_run("a")
    s.log_params("a", {"spec": {"seed": 1}, "arr": np.arange(3), "x": np.float32(2.5)})
    assert s.params("a") == {"spec": {"seed": 1}, "arr": [0, 1, 2], "x": 2.5}
    n = s.log_metrics("a", [(1, "loss/td", 0.5, 1.0), (1, "eval/return", math.nan, 1.0),
                            (2, "loss/td", 0.25, 2.0)], step=2)
    assert n == 3
    m = s.metrics("a")
    assert list(m.columns) == ["run_id", "step", "name", "value", "wall_time"]
    assert np.isnan(m.query("name == 'eval/return'")["value"].iloc[0])
    assert s.get_run("a")["step"] == 2
    assert len(s.metrics("a", names=["loss/td"], since_step=1)) == 1
    assert s.delete_metrics_after("a", 1) == 1
    s.add_artifact("a", "final", tmp_path / "f.d3", kind="model", step=2)
    assert s.artifacts("a")["name"].tolist() == ["final"]
    with pytest.raises(ConfigError, match="no run 'zzz'"):
        s.get_run("zzz")
    with pytest.raises(ConfigError, match="unknown status"):
        s.update_run("a", status="exploded")
    out = s.export(tmp_path / "m.csv")
    assert pd.read_csv(out)["algo"].tolist() == ["dqn", "dqn"]
    with pytest.raises(ConfigError):
        s.export(tmp_path / "m.xlsx")


def test_dead_owner_is_marked_crashed_on_open(tmp_path):
    path = tmp_path / "r.sqlite"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    s = RunStore(path)
    s.create_run("dead", status="running", pid=child.pid, pid_start=time.time() - 5)
    s.create_run("alive", status="running")  # this process
    s2 = RunStore(path)
    assert s2.status("dead") == "crashed"
    assert "resume" in s2.get_run("dead")["error"]
    assert s2.status("alive") == "running"


def test_reused_pid_is_not_the_owner(tmp_path):
    import os

    s = RunStore(tmp_path / "r.sqlite")
    s.create_run("x", status="running", pid=os.getpid(), pid_start=1.0)  # wrong start time
    assert s.reap() == ["x"]


def test_concurrent_writers_and_reader(tmp_path):
    path = tmp_path / "r.sqlite"
    s = RunStore(path)
    for i in range(4):
        s.create_run(f"r{i}")

    def write(i):
        for step in range(50):
            s.log_metrics(f"r{i}", [(step, "loss/td", float(step), time.time())] * 5, step=step)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    reads = 0
    while any(t.is_alive() for t in threads):
        RunStore(path, reap=False).metrics()
        reads += 1
    for t in threads:
        t.join()
    assert len(s.metrics()) == 4 * 50 * 5 and reads > 0
    assert s.integrity_check() == "ok"


def test_not_a_database(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkbenchError, match="cannot open the run store"):
        RunStore(bad)


def test_runs_and_load_run_use_default_store(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    from workbench.tracking import default_store

    s = default_store()
    assert s.path == tmp_path / "runs.sqlite"
    s.create_run("k", algo="bc", status="completed",
                 health='[{"signal": "overfitting", "flag": true, "status": "warning", '
                        '"reason": "r"}]')
    df = runs()
    assert df.loc[0, "overfitting"] is True or df.loc[0, "overfitting"] == True  # noqa: E712
    r = load_run("k")
    assert r.status == "completed" and r.metrics.empty and r.policy() is None


def test_runs_lists_runs_that_have_no_health_flags_yet(tmp_path):
    from workbench.tracking import RunStore, runs

    store = RunStore(tmp_path / "runs.sqlite")
    store.create_run("queued-1", algo="dqn", dataset="x")
    store.create_run("done-2", algo="cql", dataset="y")
    store.update_run("done-2", health=json.dumps([
        {"signal": "overfitting", "flag": True, "status": "flagged"},
        {"signal": "underfitting", "flag": False, "status": "ok"}]))
    df = runs(store).set_index("run_id")
    assert set(df.index) == {"queued-1", "done-2"}
    assert df.loc["done-2", "overfitting"] is True or df.loc["done-2", "overfitting"] == True  # noqa: E712
    assert df.loc["queued-1", "overfitting"] is None


# ---------------------------------------------------------------------------- attempts
def _rows(steps, value):
    return [(s, "loss/td", float(value + s), 1000.0 + s) for s in steps]


def _all_rows(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT run_id, attempt, step, name, value FROM metrics "
                           "ORDER BY rowid").fetchall()
    finally:
        con.close()


def test_resumed_attempt_supersedes_rows_only_as_it_reproduces_them(tmp_path):
    """Resume never deletes: the crashed attempt's rows stay in the current view until a
    later attempt has committed the same steps (or completed the run)."""
    path = tmp_path / "r.sqlite"
    s = RunStore(path)
    s.create_run("a", algo="dqn", n_steps=200)
    assert s.begin_attempt("a", start_step=0) == 1
    s.claim("a")
    s.log_metrics("a", _rows(range(10, 101, 10), 0), step=100, attempt=1)
    s.update_run("a", status="crashed")
    before = _all_rows(path)

    # attempt 2 resumes from the checkpoint at 40: nothing is hidden yet
    assert s.begin_attempt("a", start_step=40) == 2
    assert _all_rows(path) == before
    assert s.metrics("a")["step"].tolist() == list(range(10, 101, 10))

    # it reproduces 50 and 60: only those two rows of attempt 1 leave the current view
    s.claim("a")
    s.log_metrics("a", _rows([50, 60], 1000), step=60, attempt=2)
    view = s.metrics("a")
    assert view["step"].tolist() == list(range(10, 101, 10))  # one row per step
    by_step = dict(zip(view["step"], view["value"]))
    assert [by_step[k] for k in (40, 50, 60, 70)] == [40.0, 1050.0, 1060.0, 70.0]
    assert s.metrics("a", since_step=55)["value"].tolist() == [1060.0, 70.0, 80.0, 90.0, 100.0]

    # every row is still there, marked with its attempt and whether it is current
    every = s.metrics("a", attempts="all")
    assert list(every.columns) == ["run_id", "step", "name", "value", "wall_time", "attempt",
                                   "current"]
    assert len(every) == 12 and (every["attempt"] == 1).sum() == 10
    hidden = every[~every["current"]]
    assert hidden[["attempt", "step"]].values.tolist() == [[1, 50], [1, 60]]

    # attempt 2 is cancelled; attempt 3 resumes from 60 and completes at 80: the run ends
    # at 80, so attempt 1's rows after 80 leave the current view too
    s.update_run("a", status="cancelled")
    assert s.begin_attempt("a", start_step=60) == 3
    s.claim("a")
    s.log_metrics("a", _rows([70, 80], 2000), step=80, attempt=3)
    assert s.metrics("a")["step"].tolist() == list(range(10, 101, 10))  # not completed yet
    s.update_run("a", status="completed", finished=time.time())
    view = s.metrics("a")
    assert view["step"].tolist() == list(range(10, 81, 10))
    assert view["value"].tolist() == [10.0, 20.0, 30.0, 40.0, 1050.0, 1060.0, 2070.0, 2080.0]
    assert len(_all_rows(path)) == 14  # never deleted

    att = s.attempts("a")
    assert att[["attempt", "start_step", "step", "status"]].values.tolist() == [
        [1, 0, 100, "crashed"], [2, 40, 60, "cancelled"], [3, 60, 80, "completed"]]
    assert att["rows"].tolist() == [10, 2, 2]
    assert att["current_rows"].tolist() == [4, 2, 2]

    # load_run and export read the current view; export can take every attempt
    r = load_run("a", store=s)
    assert r.metrics["step"].tolist() == list(range(10, 81, 10))
    assert len(r.all_metrics()) == 14 and len(r.attempts) == 3
    assert len(pd.read_csv(s.export(tmp_path / "cur.csv", "a"))) == 8
    every_csv = pd.read_csv(s.export(tmp_path / "all.csv", "a", attempts="all"))
    assert len(every_csv) == 14 and set(every_csv["attempt"]) == {1, 2, 3}
    with pytest.raises(ConfigError, match="attempts="):
        s.metrics("a", attempts="latest")


def test_log_metrics_defaults_to_the_latest_attempt_and_reap_marks_it(tmp_path):
    s = RunStore(tmp_path / "r.sqlite")
    s.create_run("b")
    s.log_metrics("b", _rows([1], 0), step=1)  # no attempt recorded: attempt 1
    assert s.metrics("b", attempts="all")["attempt"].tolist() == [1]
    assert s.begin_attempt("b", 0) == 2          # attempt 1 backfilled from the run
    assert s.attempts("b")["attempt"].tolist() == [1, 2]
    s.log_metrics("b", _rows([2], 0), step=2)
    assert s.metrics("b", attempts="all")["attempt"].tolist() == [1, 2]
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    s.update_run("b", status="running", pid=child.pid, pid_start=time.time() - 5)
    assert s.reap() == ["b"]
    assert s.attempts("b")["status"].tolist() == ["queued", "crashed"]
    s.delete_run("b")
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0


def test_store_written_before_attempts_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE metrics (run_id TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL,
                              value REAL, wall_time REAL NOT NULL);
        INSERT INTO metrics VALUES ('old', 10, 'loss/td', 1.5, 1.0),
                                   ('old', 20, 'loss/td', 2.5, 2.0);
    """)
    con.commit()
    con.close()
    s = RunStore(path)
    s2 = RunStore(path)  # a second open finds the column already there
    assert s2.integrity_check() == "ok"
    m = s.metrics("old", attempts="all")
    assert m["attempt"].tolist() == [1, 1] and m["value"].tolist() == [1.5, 2.5]
    s.create_run("old", status="crashed", step=20)
    assert s.begin_attempt("old", start_step=10) == 2
    assert s.attempts("old")[["attempt", "start_step", "step", "status"]].values.tolist() == [
        [1, 0, 20, "crashed"], [2, 10, 10, "queued"]]
    s.log_metrics("old", [(20, "loss/td", 9.0, 3.0)], step=20, attempt=2)
    assert s.metrics("old")["value"].tolist() == [1.5, 9.0]
