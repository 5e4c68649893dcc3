"""The ray executor on a real local Ray (2 CPUs, bound to 127.0.0.1), stopped at the end.

What each test checks against the issue: the executor is chosen like the others and
without Ray is a ConfigError; Ray listens on loopback only; a seed gives the same metrics
and policy as the process executor; a sweep puts its dataset into the object store once and
its metrics reach the driver's RunStore and the live stream; cancel stops a Ray job; a Ray
worker killed mid-run ends the run ``crashed`` with its committed metrics, and resume
continues it from the checkpoint that came back as bytes; exiting Python with a Ray job
running cancels it and stops the local Ray.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import workbench as wb
from workbench.errors import ConfigError
from workbench.training import metric_stream, resume, train
from workbench.training.checkpoints import latest_checkpoint
from workbench.training.ray_executor import SCRATCH, RayExecutor, check_ray_address, ray_info

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}
KW = dict(n_steps=120, log_every=20, checkpoint_every=60, eval_every=0, batch_size=32,
          hidden_units=[16, 16], target_update_interval=40)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for this module: 2 CPUs, a small object store; stopped afterwards."""
    info = wb.init_ray(num_cpus=2, object_store_memory=200 * 1024 ** 2)
    yield info
    wb.shutdown_ray()
    assert ray_info()["address"] is None


def _ray_listeners():
    """(ip, port, process name) of every listening socket of this process and its
    descendants (the Ray processes it started: GCS, raylet, agents, workers)."""
    me = psutil.Process()
    pids = {me.pid} | {p.pid for p in me.children(recursive=True)}
    out = []
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            try:
                name = psutil.Process(c.pid).name()
            except psutil.NoSuchProcess:
                continue
            out.append((c.laddr.ip, c.laddr.port, name))
    return out


def _values(job):
    m = job.metrics()
    m = m[~m["name"].str.startswith("time/")]
    return m[["step", "name", "value"]].reset_index(drop=True)


# ---------------------------------------------------------------------------- settings
def test_without_ray_choosing_it_is_a_config_error(monkeypatch, cartpole_small, store):
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a missing package
    with pytest.raises(ConfigError, match=r"workbench\[ray\]"):
        train(cartpole_small, "dqn", executor="ray", store=store, **KW)
    with pytest.raises(ConfigError, match=r"workbench\[ray\]"):
        wb.sweep(cartpole_small, algos=["dqn"], seeds=[0], executor="ray", store=store, **KW)
    assert store.runs().empty  # nothing recorded
    assert "ray" in wb.training.job.EXECUTORS  # registered: the error says how to install it


def test_bad_ray_addresses_are_config_errors(cartpole_small, store):
    for bad in ("", "nohost", "ray://", "http://x:1", "h:0", "h:99999", 6379):
        with pytest.raises(ConfigError, match="ray_address|Ray address"):
            check_ray_address(bad)
    for good in (None, "auto", "10.0.0.5:6379", "ray://head.local:10001", "[::1]:6379"):
        check_ray_address(good)
    with pytest.raises(ConfigError, match="ray_address"):
        train(cartpole_small, "dqn", executor="ray", ray_address="ray://", store=store, **KW)
    with pytest.raises(ConfigError, match="ray_num_cpus"):
        train(cartpole_small, "dqn", executor="ray", ray_num_cpus=-1, store=store, **KW)
    assert store.runs().empty


def test_cli_offers_the_ray_executor_and_reports_a_bad_address(tmp_path, capsys,
                                                               cartpole_small):
    from workbench.cli import main

    path = tmp_path / "d.npz"
    cartpole_small.save(path, format="npz")
    rc = main(["train", str(path), "--algo", "dqn", "--executor", "ray", "--ray-address",
               "ray://", "--steps", "40", "--no-progress"])
    assert rc == 2 and "ray_address" in capsys.readouterr().err


@pytest.mark.slow
def test_unreachable_cluster_is_a_config_error_quickly(cartpole_small, store):
    if ray_info()["address"] is not None:
        pytest.skip("connected already (the module's local Ray)")
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="could not connect to the Ray cluster"):
        train(cartpole_small, "dqn", executor="ray", ray_address="127.0.0.1:1", store=store,
              **KW)
    assert time.monotonic() - t0 < 30
    assert store.runs().empty


# ---------------------------------------------------------------------------- on Ray
@pytest.mark.slow
def test_local_ray_listens_on_loopback_only(ray_local):
    assert ray_local["started_here"] and ray_local["resources"]["CPU"] == 2.0
    assert wb.training.max_workers("ray") == 2  # slots sized to the cluster's CPUs
    listeners = _ray_listeners()
    names = {n for _, _, n in listeners}
    assert "gcs_server" in names and "raylet" in names, listeners
    assert all(ip in LOOPBACK for ip, _, _ in listeners), listeners


@pytest.mark.slow
def test_a_seed_gives_the_same_run_on_ray_as_on_the_process_executor(ray_local, cartpole_small,
                                                                    store):
    a = train(cartpole_small, "dqn", seed=3, executor="ray", store=store, **KW)
    b = train(cartpole_small, "dqn", seed=3, executor="process", store=store, **KW)
    a.wait(progress=False, timeout=300)
    b.wait(progress=False, timeout=300)
    assert a.status == b.status == "completed", (a.error, b.error)
    va, vb = _values(a), _values(b)
    assert len(va) == len(vb) > 0
    assert va[["step", "name"]].equals(vb[["step", "name"]])
    assert np.array_equal(va["value"].to_numpy(), vb["value"].to_numpy(), equal_nan=True)
    obs = cartpole_small.observations[:16].astype(np.float32)
    assert np.array_equal(a.policy.predict(obs), b.policy.predict(obs))
    np.testing.assert_array_equal(a.policy.predict_value(obs, np.zeros(16, int)),
                                  b.policy.predict_value(obs, np.zeros(16, int)))
    # the worker was another process; the run is owned (and reaped) by this driver
    run = store.get_run(a.run_id)
    assert a.worker_pid not in (None, os.getpid()) and run["pid"] == os.getpid()
    assert run["executor"] == "ray" and run["health"]  # health computed by the driver
    arts = store.artifacts(a.run_id)
    assert {"final", "checkpoint-000000060"} <= set(arts["name"])
    assert all(Path(p).is_relative_to(store.run_dir(a.run_id)) for p in arts["path"])


@pytest.mark.slow
def test_sweep_puts_the_dataset_once_and_streams_metrics_to_the_driver(ray_local,
                                                                       cartpole_small, store):
    puts = RayExecutor.puts
    with metric_stream().subscribe() as sub:
        sw = wb.sweep(cartpole_small, algos=["dqn", "bc"], seeds=[0], executor="ray",
                      store=store, env="CartPole-v1", eval_episodes=2, n_steps=60, log_every=20,
                      eval_every=60, checkpoint_every=0, batch_size=32, hidden_units=[16],
                      hyperparameters={"dqn": {"target_update_interval": 20}})
        sw.wait(progress=False, timeout=600)
        rows = sub.drain()
    assert (sw.status()["status"] == "completed").all(), [j.error for j in sw.jobs]
    assert RayExecutor.puts == puts + 1  # one ray.put for both jobs
    assert len({j.dataset_ref for j in sw.jobs}) == 1 and sw.jobs[0].dataset_ref
    for j in sw.jobs:  # every committed row reached the live stream, once
        assert len(rows[rows.run_id == j.run_id]) == len(j.metrics()) > 0
    assert set(sw.metrics()["name"]) >= {"eval/return", "loss/td", "loss/imitation"}
    cmp = wb.compare(sw)  # answers on the sweep (one seed each: it cannot tell them apart)
    assert cmp[["agent_a", "agent_b"]].values.tolist() == [["dqn", "discrete_bc"]]
    assert cmp.loc[0, "n_used_a"] == cmp.loc[0, "n_used_b"] == 1
    assert cmp.loc[0, "decision"] in ("larger", "smaller", "equal")


@pytest.mark.slow
def test_cancel_stops_a_ray_job_and_keeps_its_policy(ray_local, cartpole_small, store):
    job = train(cartpole_small, "dqn", executor="ray", store=store, n_steps=1_000_000,
                log_every=10, eval_every=0, checkpoint_every=0, checkpoint_seconds=0,
                batch_size=32, hidden_units=[16])
    deadline = time.monotonic() + 180
    while job.step < 30:
        assert not job.done and time.monotonic() < deadline, job.error
        time.sleep(0.02)
    t0 = time.monotonic()
    assert job.cancel(wait=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert job.status == store.status(job.run_id) == "cancelled"
    assert job.step < 1_000_000 and "final" in set(store.artifacts(job.run_id)["name"])
    assert job.policy is not None  # the partially trained policy came back as bytes


@pytest.mark.slow
def test_a_killed_ray_worker_crashes_the_run_keeping_its_metrics_and_resume_continues(
        ray_local, cartpole_small, store):
    job = train(cartpole_small, "dqn", executor="ray", store=store, n_steps=1_000_000,
                log_every=20, checkpoint_every=100, checkpoint_seconds=0, eval_every=0,
                batch_size=32, hidden_units=[16], target_update_interval=50)
    deadline = time.monotonic() + 180
    while (store.get_run(job.run_id)["step"] or 0) < 300 or job.worker_pid is None:
        assert not job.done and time.monotonic() < deadline, job.error
        time.sleep(0.05)
    seen = store.metrics(job.run_id)
    killed = job.worker_pid
    assert killed != os.getpid()
    os.kill(killed, signal.SIGKILL)  # the Ray worker process, mid-run
    job.wait(progress=False, timeout=60)
    assert job.status == store.status(job.run_id) == "crashed"
    assert "died" in job.error and "resume" in job.error
    after = store.metrics(job.run_id)
    merged = seen.merge(after, on=["step", "name"], suffixes=("_seen", "_after"))
    assert len(merged) == len(seen) and len(after) >= len(seen)
    assert np.array_equal(merged["value_seen"].to_numpy(), merged["value_after"].to_numpy(),
                          equal_nan=True)
    ck = latest_checkpoint(store.run_dir(job.run_id))  # it came back as bytes, on this host
    assert ck is not None and ck[0] >= 100 and ck[0] % 100 == 0
    ck_step = ck[0]
    again = resume(job.run_id, n_steps=ck_step + 60, store=store).wait(progress=False,
                                                                        timeout=300)
    assert again.executor == "ray" and again.status == "completed", again.error
    steps = again.metrics().query("name == 'loss/td'")["step"].tolist()
    assert steps == list(range(20, ck_step + 61, 20))
    att = store.attempts(job.run_id)
    assert att["status"].tolist() == ["crashed", "completed"]
    assert att["start_step"].tolist() == [0, ck_step]
    # the killed worker's scratch directory was removed by the next worker on this host
    scratch = Path(tempfile.gettempdir()) / SCRATCH
    assert not [p for p in scratch.iterdir() if p.name.startswith(f"{killed}-")]


EXIT_SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import psutil
from _factory import make_dataset
import workbench as wb

def main():
    wb.init_ray(num_cpus=2, object_store_memory=100 * 1024 ** 2)
    ds = make_dataset(400, discrete=True, ends={99: "terminal", 199: "timeout",
                                                299: "terminal", 399: "terminal"})
    job = wb.train(ds, "dqn", n_steps=1_000_000, log_every=10, eval_every=0, checkpoint_every=0,
                   checkpoint_seconds=0, batch_size=64, executor="ray")
    deadline = time.monotonic() + 180
    while job.step < 30:
        if job.done or time.monotonic() > deadline:
            sys.exit(f"job did not train: {job!r} {job.error}")
        time.sleep(0.02)
    ray_pids = [p.pid for p in psutil.Process().children(recursive=True)]
    print(job.run_id, *ray_pids, flush=True)  # and exit with the job training

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_exit_with_a_ray_job_cancels_it_and_stops_the_local_ray(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    script = tmp_path / "exit_ray.py"
    script.write_text(EXIT_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(ROOT / "tests")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=400)
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    assert "terminate called" not in out.stderr, out.stderr[-3000:]
    run_id, *pids = out.stdout.split()
    assert pids, out.stdout
    con = sqlite3.connect(home / "runs.sqlite")
    try:
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
        finals = {r for (r,) in con.execute("SELECT run_id FROM artifacts WHERE name='final'")}
    finally:
        con.close()
    assert status == "cancelled" and run_id in finals, out.stderr[-3000:]
    deadline = time.monotonic() + 30  # the local Ray's processes are gone
    alive = [int(p) for p in pids]
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.5)
    assert not alive, [psutil.Process(p).cmdline()[:3] for p in alive]


@pytest.mark.slow
def test_the_dashboard_runs_seeds_on_ray_with_live_curves_and_cancel(ray_local, cartpole_small,
                                                                     store):
    """The Training page's form with executor "ray": jobs start on Ray, their rows reach the
    page's live history exactly once, and the page's Cancel stops them."""
    from workbench.ui import TrainingPanel
    from workbench.ui import state as ui_state

    state = ui_state.WorkbenchState(store=store)
    state.add_dataset("cartpole", cartpole_small)
    panel = TrainingPanel(state)
    jobs = []
    try:
        assert "ray" in panel.form.executor_select.options
        panel.form.executor_select.value = "ray"
        jobs = panel.start(algo="dqn", n_steps=1_000_000, seeds=[0, 1], env=None, log_every=20,
                           eval_every=0, checkpoint_every=0, checkpoint_seconds=0,
                           hyperparameters={"target_update_interval": 20, "batch_size": 32})
        assert [j.executor for j in jobs] == ["ray", "ray"]
        deadline = time.monotonic() + 180
        while min(len(j.metrics()) for j in jobs) < 5:
            assert not any(j.done for j in jobs) and time.monotonic() < deadline
            panel.pump()
            time.sleep(0.1)
        assert len({j.dataset_ref for j in jobs}) == 1  # the page's sweep: one put
        for j in jobs:
            assert panel.cancel(j.run_id)
        for j in jobs:
            j.wait(progress=False, timeout=60)
        panel.pump()
        assert panel.status_frame()["status"].tolist() == ["cancelled", "cancelled"]
        data = panel.buffer.data
        for j in jobs:  # every committed row reached the page once
            assert len(data[data.run_id == j.run_id]) == len(j.metrics()) > 0
        assert not data.duplicated(["run_id", "step", "name"]).any()
    finally:
        for j in jobs:
            j.cancel()
        state.close()
        with ui_state._JOBS_LOCK:  # the page registered them process-wide: forget them, so
            for j in jobs:         # pages of later tests do not follow them
                if j in ui_state._JOBS:
                    ui_state._JOBS.remove(j)
