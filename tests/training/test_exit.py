"""Exiting Python while jobs run: live jobs are cancelled and joined, none is left running.

Each case runs a real Python process with real thread or process jobs (DQN, 256x256
networks: an update spends its time inside torch, where a daemon thread caught by
interpreter finalisation used to abort the process with "terminate called without an
active exception").
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.training import train
from workbench.training.job import live_jobs

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from _factory import make_dataset
import workbench as wb
from workbench.training import set_max_workers

def main():
    executor, case = sys.argv[1], sys.argv[2]
    ds = make_dataset(400, discrete=True, ends={99: "terminal", 199: "timeout",
                                                299: "terminal", 399: "terminal"})
    kw = dict(n_steps=1_000_000, log_every=10, eval_every=0, checkpoint_every=0,
              checkpoint_seconds=0, batch_size=256, executor=executor, nice=0)
    if case == "at_once":  # start a job and exit at once
        print(wb.train(ds, "dqn", **kw).run_id, flush=True)
        return
    # two jobs training (their workers inside torch), one cancelled; a third still queued
    set_max_workers(executor, 2)
    a, b = wb.train(ds, "dqn", seed=0, **kw), wb.train(ds, "dqn", seed=1, **kw)
    deadline = time.monotonic() + 180
    while a.step < 30 or b.step < 30:
        if a.done or b.done or time.monotonic() > deadline:
            sys.exit(f"jobs did not train: {a!r} {b!r} {a.error} {b.error}")
        time.sleep(0.01)
    c = wb.train(ds, "dqn", seed=2, **kw)
    a.cancel()  # cancel and exit at once
    print(a.run_id, b.run_id, c.run_id, flush=True)

if __name__ == "__main__":
    main()
"""


def _run(tmp_path, executor, case):
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, executor, case, str(ROOT / "tests")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert (home / "runs.sqlite").exists(), (out.returncode, out.stderr[-3000:])
    con = sqlite3.connect(home / "runs.sqlite")  # raw read: no reaping of dead runs
    try:
        rows = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        finals = {r for (r,) in con.execute("SELECT run_id FROM artifacts WHERE name='final'")}
    finally:
        con.close()
    return out, rows, finals


@pytest.mark.slow
@pytest.mark.parametrize("executor,case", [("thread", "at_once"), ("thread", "training"),
                                           ("process", "training")])
def test_exit_with_live_jobs_cancels_and_records_them(tmp_path, executor, case):
    out, status, finals = _run(tmp_path, executor, case)
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    assert "terminate called" not in out.stderr, out.stderr[-3000:]
    ids = out.stdout.split()
    assert ids and set(ids) == set(status), (out.stdout, status)
    # nothing left running or queued: every job is recorded cancelled
    assert all(status[r] == "cancelled" for r in ids), (status, out.stderr[-3000:])
    if case == "training":
        a, b, c = ids
        assert {a, b} <= finals  # the two that trained kept their partially trained policy
        assert c not in finals   # the queued one never started


def test_cancel_wait_returns_once_the_job_has_stopped(cartpole_small, store):
    job = train(cartpole_small, "dqn", n_steps=1_000_000, log_every=50, eval_every=0,
                checkpoint_every=0, checkpoint_seconds=0, store=store, batch_size=32,
                hidden_units=[16])
    assert job in live_jobs()
    deadline = time.monotonic() + 120
    while job.step < 5:
        assert not job.done and time.monotonic() < deadline, job.error
        time.sleep(0.01)
    assert job.cancel(wait=True, timeout=60) is True
    # stopped: final status recorded, worker thread ended, policy saved
    assert job.status == "cancelled" and store.status(job.run_id) == "cancelled"
    assert not job._thread.is_alive()
    assert "final" in set(store.artifacts(job.run_id)["name"])
    assert job not in live_jobs()
    assert job.cancel(wait=True) is False  # finished: no-op, returns at once
