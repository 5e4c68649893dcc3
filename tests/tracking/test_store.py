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
from workbench.tracking import RunStore, load_run, runs


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
