"""Checkpoints by steps and by wall time; resume keeps the interrupted attempt's metrics."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.tracking import RunStore, runs
from workbench.training import resume, train
from workbench.training.checkpoints import CheckpointSchedule, latest_checkpoint

SMALL = {"batch_size": 32, "hidden_units": [16]}
ROOT = Path(__file__).resolve().parents[2]


def test_schedule_checkpoints_by_steps_or_by_wall_time_whichever_comes_first():
    s = CheckpointSchedule(every=100, seconds=30.0, n_steps=1000, now=0.0)
    assert not s.due(20, now=10.0)
    assert s.due(100, now=10.0)             # by steps
    s.done(now=10.0)
    assert not s.due(120, now=39.9)
    assert s.due(140, now=40.0)             # by wall time, counted from the last checkpoint
    s.done(now=40.0)
    assert not s.due(160, now=41.0)
    assert not s.due(1000, now=1e9)         # never at the last step (the final model is)
    off = CheckpointSchedule(every=0, seconds=0.0, n_steps=1000, now=0.0)
    assert not any(off.due(k, now=1e9) for k in (100, 200, 500))
    time_only = CheckpointSchedule(every=0, seconds=5.0, n_steps=1000, now=0.0)
    assert not time_only.due(100, now=4.0) and time_only.due(120, now=5.0)


@pytest.mark.parametrize("value", [-1, "30", True, float("nan"), float("inf"), None])
def test_bad_checkpoint_seconds_is_a_config_error(toy_discrete, store, value):
    with pytest.raises(ConfigError, match="checkpoint_seconds"):
        train(toy_discrete, "dqn", n_steps=20, log_every=10, checkpoint_seconds=value,
              store=store)
    assert runs(store).empty


def test_wall_time_checkpoints_at_logging_steps(toy_discrete, store):
    """checkpoint_every=0 and a tiny checkpoint_seconds: a checkpoint at every logging step
    but the last; checkpoint_seconds=0 as well: none.  The interval is in the run's spec."""
    job = train(toy_discrete, "dqn", n_steps=60, log_every=10, eval_every=0, checkpoint_every=0,
                checkpoint_seconds=1e-6, keep_checkpoints=10, store=store, **SMALL)
    job.wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    art = store.artifacts(job.run_id)
    assert sorted(art[art.kind == "checkpoint"]["step"]) == [10, 20, 30, 40, 50]
    assert latest_checkpoint(store.run_dir(job.run_id))[0] == 50
    assert store.params(job.run_id)["spec"]["checkpoint_seconds"] == 1e-6
    off = train(toy_discrete, "dqn", n_steps=60, log_every=10, eval_every=0, checkpoint_every=0,
                checkpoint_seconds=0, store=store, **SMALL).wait(progress=False, timeout=120)
    assert off.status == "completed", off.error
    assert latest_checkpoint(store.run_dir(off.run_id)) is None


CHILD = r"""
import os, sys
os.environ["WORKBENCH_HOME"] = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from _factory import make_dataset
from workbench.training import train
ds = make_dataset(400, discrete=True, ends={99: "terminal", 199: "timeout", 299: "terminal",
                                            399: "terminal"})
job = train(ds, "dqn", n_steps=1_000_000, log_every=20, eval_every=0, checkpoint_seconds=5.0,
            batch_size=32, hidden_units=[16])
print(job.run_id, flush=True)
job.wait(progress=False)
"""


@pytest.mark.slow
def test_run_killed_before_its_first_step_checkpoint_resumes_and_keeps_its_metrics(tmp_path):
    """A 1M-step run checkpoints by steps every 100k steps; killed at a few hundred steps it
    still has a checkpoint (wall-time trigger).  Resuming never deletes the killed attempt's
    rows: the current view replaces them only as the new attempt reproduces their steps."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(ROOT / "tests")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        store = RunStore(home / "runs.sqlite", reap=False)
        run_dir = store.run_dir(run_id)
        deadline = time.monotonic() + 180
        while latest_checkpoint(run_dir) is None:  # the wall-time checkpoint (5 s)
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint by wall time"
            time.sleep(0.05)
        first = latest_checkpoint(run_dir)[0]
        while (store.get_run(run_id)["step"] or 0) < first + 60:  # three more intervals
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        seen = store.metrics(run_id)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = RunStore(home / "runs.sqlite")  # reaps the dead run
    assert store.status(run_id) == "crashed"
    crashed = store.metrics(run_id, attempts="all")
    last = int(crashed["step"].max())
    ck_step = latest_checkpoint(store.run_dir(run_id))[0]
    assert 0 < ck_step < 100_000 and ck_step % 20 == 0 and ck_step <= last
    assert last >= ck_step + 60
    assert len(crashed) >= len(seen)

    # attempt 2: cancel it right after its first committed interval
    job = resume(run_id, store=store)
    deadline = time.monotonic() + 120
    while store.attempts(run_id)["step"].iloc[-1] <= ck_step:
        assert not job.done, job.error
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert job.cancel(wait=True, timeout=60)
    att = store.attempts(run_id)
    assert att["attempt"].tolist() == [1, 2] and att["start_step"].tolist() == [0, ck_step]
    reached = int(att["step"].iloc[1])
    assert ck_step < reached < last
    every = store.metrics(run_id, attempts="all")
    one = every[every.attempt == 1].drop(columns=["attempt", "current"]).reset_index(drop=True)
    assert one.equals(crashed.drop(columns=["attempt", "current"]).reset_index(drop=True))
    expect_current = (every.attempt == 2) | (every.step <= ck_step) | (every.step > reached)
    assert (every["current"] == expect_current).all()
    view = store.metrics(run_id)
    assert not view.duplicated(["step", "name"]).any()
    td = view[view.name == "loss/td"]
    assert td["step"].tolist() == list(range(20, last + 1, 20))  # the crashed tail is still here

    # attempt 3 completes the run at last + 20: its rows replace everything after ck_step
    done = resume(run_id, n_steps=last + 20, store=store).wait(progress=False, timeout=180)
    assert done.status == "completed", done.error
    every = store.metrics(run_id, attempts="all")
    assert len(every[every.attempt == 1]) == len(crashed)  # still never deleted
    cur = every[every.current]
    assert not cur.duplicated(["step", "name"]).any()
    start3 = int(store.attempts(run_id)["start_step"].iloc[2])  # ck_step, or attempt 2's
    assert (cur[cur.step > start3]["attempt"] == 3).all()
    assert (cur[cur.step <= ck_step]["attempt"] == 1).all()
    steps = done.metrics().query("name == 'loss/td'")["step"].tolist()
    assert steps == list(range(20, last + 21, 20))
    assert np.isfinite(done.metrics()["value"].dropna()).all()
    assert store.integrity_check() == "ok"
