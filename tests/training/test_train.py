"""Real d3rlpy training in thread jobs: API, metrics, cancel, failures, bad input."""

import os
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.tracking import runs
from workbench.training import (
    algorithms,
    load_run,
    metric_stream,
    resume,
    set_max_workers,
    train,
    training_health,
)
from workbench.training.algorithms import ALGORITHMS

SMALL = {"batch_size": 32, "hidden_units": [16]}


def test_train_returns_at_once_and_completes(cartpole_small, store):
    t0 = time.perf_counter()
    job = train(cartpole_small, "cql", n_steps=60, log_every=10, eval_every=20,
                env="CartPole-v1", eval_episodes=1, store=store, **SMALL)
    assert time.perf_counter() - t0 < 5.0
    assert job.status in ("queued", "running")
    assert job.algo == "discrete_cql"
    job.wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    assert job.error is None and job.step == 60
    m = job.metrics()
    assert list(m.columns) == ["step", "name", "value", "wall_time"]
    names = set(m["name"])
    assert {"loss/td", "loss/conservative", "loss/total", "time/updates_per_s",
            "eval/return", "eval/td_error", "value/initial", "value/dataset_q"} <= names
    assert sorted(m[m.name == "loss/td"]["step"]) == [10, 20, 30, 40, 50, 60]
    assert sorted(m[m.name == "eval/return"]["step"]) == [20, 40, 60]
    actions = job.policy.predict(cartpole_small.observations[:4].astype(np.float32))
    assert actions.shape == (4,)
    assert set(job.health()["signal"]) == {"overfitting", "underfitting"}
    # the run is recorded with params for reproduction
    r = load_run(job.run_id, store=store)
    assert r.status == "completed"
    assert r.params["dataset"]["fingerprint"] == cartpole_small.fingerprint
    assert {"d3rlpy", "torch", "numpy", "python"} <= set(r.params["versions"])
    assert r.params["spec"]["seed"] == 0 and r.params["hyperparameters"]["batch_size"] == 32
    assert np.array_equal(r.policy().predict(cartpole_small.observations[:4].astype(np.float32)),
                          actions)
    df = runs(store)
    assert df.loc[0, "run_id"] == job.run_id and df.loc[0, "status"] == "completed"


def test_n_steps_not_a_multiple_of_log_every_trains_every_step(toy_discrete, store):
    job = train(toy_discrete, "dqn", n_steps=25, log_every=10, eval_every=0, store=store,
                **SMALL).wait(progress=False)
    assert job.status == "completed", job.error
    steps = sorted(job.metrics().query("name == 'loss/td'")["step"])
    assert steps == [10, 20, 25]
    assert job.policy.grad_step == 25


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_trains(name, toy_discrete, toy_continuous, store):
    ds = toy_discrete if ALGORITHMS[name].discrete else toy_continuous
    hp = {"batch_size": 8}
    job = train(ds, name, n_steps=2, log_every=1, eval_every=2, checkpoint_every=0,
                store=store, **hp).wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    names = set(job.metrics()["name"])
    assert any(n.startswith("loss/") for n in names)
    if ALGORITHMS[name].has_q:
        assert "eval/td_error" in names


def test_cancel_running_stops_within_an_update(cartpole_small, store):
    job = train(cartpole_small, "cql", n_steps=100_000, log_every=100, store=store, **SMALL)
    while job.step < 5:
        time.sleep(0.01)
        assert not job.done, job.error
    assert job.cancel() is True
    at = job.step
    job.wait(progress=False, timeout=30)
    assert job.status == "cancelled"
    assert job.step - at <= 2
    assert store.status(job.run_id) == "cancelled"
    assert job.policy is not None  # the partially trained policy is kept
    assert job.cancel() is False   # finished: no-op
    assert job.status == "cancelled"


def test_cancel_queued_job_never_starts(toy_discrete, store):
    from workbench.training import max_workers

    old = max_workers("thread")
    set_max_workers("thread", 1)
    try:
        blocker = train(toy_discrete, "dqn", n_steps=100_000, log_every=1000, eval_every=0,
                        store=store, **SMALL)
        queued = train(toy_discrete, "dqn", n_steps=10, log_every=5, store=store, **SMALL)
        time.sleep(0.3)
        assert queued.status == "queued"
        assert queued.cancel() is True
        assert queued.status == "cancelled" and store.status(queued.run_id) == "cancelled"
        blocker.cancel()
        blocker.wait(progress=False, timeout=30)
        queued.wait(progress=False, timeout=30)
        assert queued.status == "cancelled" and queued.step == 0
        assert queued.metrics().empty
    finally:
        set_max_workers("thread", old)


def test_completed_cancel_is_noop(toy_discrete, store):
    job = train(toy_discrete, "dqn", n_steps=4, log_every=2, store=store,
                **SMALL).wait(progress=False)
    assert job.status == "completed"
    assert job.cancel() is False and job.status == "completed"


class _ExplodingEnv:
    """A gymnasium-like env that raises on step (makes a job fail during evaluation)."""

    def reset(self, seed=None):
        return np.zeros(4, np.float32), {}

    def step(self, action):
        raise RuntimeError("boom from the environment")


def test_failing_job_records_traceback_and_others_go_on(cartpole_small, store):
    bad = train(cartpole_small, "dqn", n_steps=20, log_every=10, eval_every=10,
                env=_ExplodingEnv(), store=store, **SMALL)
    good = train(cartpole_small, "dqn", n_steps=40, log_every=10, store=store, **SMALL)
    bad.wait(progress=False, timeout=60)
    good.wait(progress=False, timeout=60)
    assert bad.status == "failed"
    assert "boom from the environment" in bad.error and "Traceback" in bad.error
    assert store.get_run(bad.run_id)["error"] == bad.error
    assert bad.policy is None
    assert good.status == "completed"


@pytest.mark.parametrize("kwargs,match", [
    ({"algo": "td3"}, "needs continuous actions"),
    ({"n_steps": 50, "log_every": 100}, "smaller than one logging interval"),
    ({"device": "tpu"}, "unknown device"),
    ({"device": "cuda:0"}, "CUDA is not available"),
    ({"executor": "dask"}, "unknown executor"),
    ({"learning_rat": 0.1}, "unknown hyperparameter"),
    ({"compile_graph": True}, "needs a CUDA device"),
    ({"eval_every": 15, "log_every": 10}, "multiple of log_every"),
    ({"env": "NoSuchEnv-v9"}, "unknown gymnasium environment"),
    ({"n_steps": 0}, "n_steps must be >= 1"),
    ({"nice": 25}, "nice must be an integer from 0"),
])
def test_bad_input_fails_before_any_work(toy_discrete, store, kwargs, match):
    if kwargs.get("device") == "cuda:0":
        import torch

        if torch.cuda.is_available():
            pytest.skip("machine has CUDA")
    args = {"algo": "cql", "n_steps": 100, **kwargs}
    with pytest.raises(WorkbenchError, match=match) as info:
        train(toy_discrete, store=store, **args)
    assert isinstance(info.value, ConfigError)
    assert runs(store).empty  # nothing recorded, nothing started


def test_metric_stream_delivers_rows_to_subscribers(toy_discrete, store):
    with metric_stream().subscribe() as sub:
        job = train(toy_discrete, "dqn", n_steps=30, log_every=10, store=store, **SMALL)
        job.wait(progress=False)
        df = sub.drain()
        mine = df[df.run_id == job.run_id]
        assert sorted(mine.query("name == 'loss/td'")["step"]) == [10, 20, 30]
        assert list(df.columns) == ["run_id", "step", "name", "value", "wall_time"]
        assert sub.drain().empty
        own = job.drain_metrics()
        assert len(own) == len(mine)
        # the stream carries exactly what the store holds
        stored = job.metrics()
        assert len(stored) == len(own)


def test_stream_subscription_is_bounded():
    from workbench.training.stream import MetricStream

    s = MetricStream()
    sub = s.subscribe(names={"a"}, maxlen=3)
    s.publish([("r", i, "a", float(i), 0.0) for i in range(5)] + [("r", 9, "b", 0.0, 0.0)])
    rows = sub.drain_rows()
    assert [r[1] for r in rows] == [2, 3, 4] and sub.dropped == 2
    sub.close()
    s.publish([("r", 1, "a", 1.0, 0.0)])
    assert len(sub) == 0 and s.n_subscribers == 0


def test_thread_jobs_with_same_seed_match_when_run_alone(toy_discrete, store):
    """DQN draws no torch randomness during updates: one-at-a-time thread runs repeat."""
    a = train(toy_discrete, "dqn", n_steps=20, log_every=5, store=store, **SMALL)
    a.wait(progress=False)
    b = train(toy_discrete, "dqn", n_steps=20, log_every=5, store=store, **SMALL)
    b.wait(progress=False)
    la = a.metrics().query("name == 'loss/td'")["value"].to_numpy()
    lb = b.metrics().query("name == 'loss/td'")["value"].to_numpy()
    assert np.array_equal(la, lb)


def test_resume_cancelled_thread_run(cartpole_small, store):
    job = train(cartpole_small, "dqn", n_steps=200, log_every=10, checkpoint_every=20,
                store=store, **SMALL)
    while job.step < 50 and not job.done:
        time.sleep(0.01)
    job.cancel()
    job.wait(progress=False)
    assert job.status == "cancelled"
    ck = store.get_run(job.run_id)["step"]
    job2 = resume(job.run_id, store=store).wait(progress=False)
    assert job2.status == "completed", job2.error
    assert job2.run_id == job.run_id and job2.step == 200
    steps = job2.metrics().query("name == 'loss/td'")["step"].tolist()
    assert steps == list(range(10, 201, 10)), (ck, steps)
    with pytest.raises(WorkbenchError, match="already completed"):
        resume(job.run_id, store=store)


def test_health_flags_from_synthetic_curves():
    steps = np.arange(1, 21) * 100
    q_over = np.concatenate([np.linspace(0, 10, 10), np.linspace(10, 4, 10)])
    td_flat = np.full(20, 50.0)
    m = pd.DataFrame({"step": np.concatenate([steps, steps]),
                      "name": ["value/dataset_q"] * 20 + ["eval/td_error"] * 20,
                      "value": np.concatenate([q_over, td_flat])})
    # TD error high and flat: underfitting; the fall of Q after its peak is then no evidence
    # of overfitting, and the flags never fire together
    h = training_health(m).set_index("signal")
    assert h.loc["underfitting", "flag"] and "not falling" in h.loc["underfitting", "reason"]
    assert not h.loc["overfitting", "flag"] and h.loc["overfitting", "status"] == "inconclusive"
    assert "peaked" in h.loc["overfitting", "reason"]
    assert h.loc["underfitting", "metric"] == "eval/td_error"
    # TD error low and falling, Q peaks and falls: overfitting alone, with its evidence
    over = m.copy()
    over.loc[over.name == "eval/td_error", "value"] = np.geomspace(0.5, 0.01, 20)
    h = training_health(over).set_index("signal")
    assert h.loc["overfitting", "flag"] and not h.loc["underfitting", "flag"]
    assert "peaked at 10 (step 1000)" in h.loc["overfitting", "reason"]
    assert h.loc["overfitting", "metric"] == "value/dataset_q"
    # a wobble of a fraction of a percent of the peak is noise, not a fall (it rises by 1 and
    # falls by half of that, but the peak is 101)
    wobble = over.copy()
    qv = 100 + np.concatenate([np.linspace(0, 1, 10), np.linspace(1, 0.5, 10)])
    wobble.loc[wobble.name == "value/dataset_q", "value"] = qv
    assert training_health(wobble, min_fall=0.0).set_index("signal").loc["overfitting", "flag"]
    assert not training_health(wobble).set_index("signal").loc["overfitting", "flag"]
    good = m.copy()
    good.loc[good.name == "value/dataset_q", "value"] = np.linspace(0, 10, 20)
    good.loc[good.name == "eval/td_error", "value"] = np.geomspace(50, 0.01, 20)
    h = training_health(good).set_index("signal")
    assert not h["flag"].any()
    assert (training_health(m.iloc[:3])["status"] == "insufficient data").all()


def test_algorithms_frame_is_public():
    assert len(algorithms()) == len(ALGORITHMS)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads renice alone on Linux")
@pytest.mark.parametrize("executor", ["thread", pytest.param("process", marks=pytest.mark.slow)])
def test_training_runs_at_lower_cpu_priority(executor, cartpole_small, store):
    """Workers yield the CPU to the notebook/dashboard: the job's thread (not the caller's)
    or its worker process runs ``nice`` levels lower."""
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    job = train(cartpole_small, "dqn", n_steps=1_000_000, log_every=100, eval_every=0,
                checkpoint_every=0, store=store, executor=executor, nice=7)
    try:
        def worker_nice():
            if executor == "thread":
                return os.getpriority(os.PRIO_PROCESS, job._thread.native_id)
            proc = getattr(job, "_proc", None)
            return os.getpriority(os.PRIO_PROCESS, proc.pid) if proc is not None else None

        deadline = time.monotonic() + 120
        while job.status != "running" or worker_nice() != min(19, base + 7):
            assert time.monotonic() < deadline, (job.status, worker_nice(), job.error)
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the notebook's process: unchanged
    finally:
        job.cancel()
        job.wait(timeout=120, progress=False)
    assert job.status == "cancelled"


def test_settings_that_make_training_degenerate_are_warned_about(store):
    """DQN syncs its target network every 8000 updates by default: a 200-step run would
    never update it. train() says so (and names the fix); a sensible value is silent."""
    import warnings

    from _factory import make_dataset
    from workbench.training.settings import DegenerateTrainingWarning, TrainSettings

    ds = make_dataset(60)
    with pytest.warns(DegenerateTrainingWarning, match="target network is never updated"):
        train(ds, algo="dqn", n_steps=200, store=store, start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTrainingWarning)
        train(ds, algo="dqn", n_steps=200, store=store, start=False,
              target_update_interval=20)
    resolved, algo = TrainSettings(algo="cql", n_steps=1000).resolve(ds)
    assert algo.name == "discrete_cql" and resolved.log_every == 100
    assert resolved.eval_every == 100 and resolved.checkpoint_every == 100
    with pytest.raises(ConfigError, match="log_every"):
        TrainSettings(n_steps=10, log_every=20).resolve(ds)
