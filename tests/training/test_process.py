"""Process executor (spawn): bitwise reproducibility, resume, SIGKILL of the training process."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from workbench.tracking import RunStore
from workbench.training import resume, train

KW = dict(n_steps=120, log_every=20, checkpoint_every=60, batch_size=32, hidden_units=[16, 16],
          executor="process")


def _values(job):
    m = job.metrics()
    m = m[~m["name"].str.startswith("time/")]
    return m[["step", "name", "value"]].reset_index(drop=True)


@pytest.mark.slow
def test_process_jobs_bitwise_reproducible_and_resume_continues_exactly(pendulum_small, store):
    # CQL draws torch randomness in every update: only separate processes repeat exactly
    a = train(pendulum_small, "cql", seed=3, store=store, **KW)
    b = train(pendulum_small, "cql", seed=3, store=store, **KW)
    a.wait(progress=False, timeout=180)
    b.wait(progress=False, timeout=180)
    assert a.status == b.status == "completed", (a.error, b.error)
    va, vb = _values(a), _values(b)
    assert len(va) > 0
    assert np.array_equal(va["value"].to_numpy(), vb["value"].to_numpy(), equal_nan=True)
    obs = pendulum_small.observations[:8].astype(np.float32)
    assert np.array_equal(a.policy.predict(obs), b.policy.predict(obs))
    # stop a third copy after its checkpoint at step 60, resume: same curves, same policy
    c = train(pendulum_small, "cql", seed=3, store=store, **KW)
    while c.step < 80 and not c.done:
        time.sleep(0.02)
    c.cancel()
    c.wait(progress=False, timeout=60)
    if c.status == "completed":
        pytest.skip("machine too fast to cancel mid-run")
    d = resume(c.run_id, store=store).wait(progress=False, timeout=180)
    assert d.status == "completed", d.error
    vd = _values(d)
    assert np.array_equal(va["value"].to_numpy(), vd["value"].to_numpy(), equal_nan=True)
    assert np.array_equal(a.policy.predict(obs), d.policy.predict(obs))


@pytest.mark.slow
def test_process_job_failure_and_metric_relay(pendulum_small, store):
    from workbench.training import metric_stream

    with metric_stream().subscribe() as sub:
        job = train(pendulum_small, "td3_plus_bc", store=store, **{**KW, "n_steps": 40})
        job.wait(progress=False, timeout=120)
        assert job.status == "completed", job.error
        rows = sub.drain()
        assert len(rows[rows.run_id == job.run_id]) == len(job.metrics())


CHILD = r"""
import os, sys, time
os.environ["WORKBENCH_HOME"] = sys.argv[1]
from workbench.data.collect import collect
from workbench.training import train
ds = collect("CartPole-v1", policy="random", n_steps=1500, seed=0, progress=False)
job = train(ds, "dqn", n_steps=1_000_000, log_every=20, checkpoint_every=100, eval_every=0,
            batch_size=32, hidden_units=[16])
print(job.run_id, flush=True)
job.wait(progress=False)
"""


@pytest.mark.slow
def test_sigkill_mid_training_loses_nothing_committed(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        store = RunStore(home / "runs.sqlite", reap=False)
        deadline = time.monotonic() + 120
        while (store.get_run(run_id)["step"] or 0) < 300:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen = store.metrics(run_id)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = RunStore(home / "runs.sqlite")  # next open: reaps the dead run
    assert store.integrity_check() == "ok"
    run = store.get_run(run_id)
    assert run["status"] == "crashed"
    after = store.metrics(run_id)
    assert len(after) >= len(seen)
    merged = seen.merge(after, on=["step", "name"], suffixes=("_seen", "_after"))
    assert len(merged) == len(seen)
    assert np.array_equal(merged["value_seen"].to_numpy(), merged["value_after"].to_numpy(),
                          equal_nan=True)
    last_step = int(after["step"].max())
    ckpts = sorted(p.name for p in (home / "runs" / run_id / "checkpoints").iterdir()
                   if p.name.startswith("step_"))
    assert ckpts, "no checkpoint written"
    ck_step = int(ckpts[-1][5:])
    assert ck_step <= last_step
    # resume from the last checkpoint (shorter total so the test ends)
    job = resume(run_id, n_steps=ck_step + 60, store=store).wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    steps = job.metrics().query("name == 'loss/td'")["step"].tolist()
    assert steps == list(range(20, ck_step + 61, 20))
    assert store.integrity_check() == "ok"
