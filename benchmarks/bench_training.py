"""Training-engine benchmarks, each printed as a ratio against its baseline in the same run.

    python benchmarks/bench_training.py [--steps 3000] [--quick] [--only first]

1. updates/s of a workbench job vs bare d3rlpy ``algo.fit`` with the same config
   (DiscreteCQL on cartpole-replay, CQL on pendulum-replay; batch 256; one torch thread,
   no evaluation or checkpoints on either side).  Targets: >= 1.5x and >= 1.0x.
2. two jobs on the process executor side by side vs the same two one after another
   (throughput; target >= 1.6x on 2 cores).
3. RunStore: delay from a metric batch being logged to another thread reading it (p50/p95).
4. ``wb.train`` call time right after ``import workbench`` in a fresh process: the first call,
   the next one, and later calls (median of 3, once the first job has finished), against the
   cost of ``import torch`` + d3rlpy measured in other fresh processes of the same run
   (target: first call well under a second; ``train`` must not pay that import).

No GPU benchmark runs here (CPU-only machine); see the issue for the GPU protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _dataset(name: str, fallback_env: str):
    import workbench as wb

    try:
        return wb.load_dataset(name)
    except Exception as exc:  # catalog unavailable: same-sized random data
        print(f"  ({name} unavailable: {exc}; using random {fallback_env} data)")
        from workbench.data.collect import collect

        return collect(fallback_env, policy="random", n_steps=100_000, seed=0, progress=False)


def bare_fit(ds, algo: str, steps: int, batch: int) -> float:
    """updates/s of d3rlpy ``fit`` on ``ds.to_d3rlpy()`` (setup excluded)."""
    import torch

    from workbench._d3rlpy import d3rlpy
    from workbench.training.algorithms import build_config, resolve_algorithm
    from workbench.training.worker import quiet

    quiet()
    torch.set_num_threads(1)
    d3rlpy.seed(0)
    buf = ds.to_d3rlpy()
    cfg = build_config(resolve_algorithm(algo, ds.is_discrete), {"batch_size": batch})
    a = cfg.create(device="cpu:0")
    a.build_with_dataset(buf)
    t = time.perf_counter()
    a.fit(buf, n_steps=steps, n_steps_per_epoch=steps, show_progress=False,
          logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)
    return steps / (time.perf_counter() - t)


_STORE = None


def workbench_job(ds, algo: str, steps: int, batch: int, executor: str = "thread",
                  seed: int = 0):
    """A job recorded in a throwaway RunStore (benchmarks do not pollute the user's)."""
    global _STORE
    from workbench.tracking import RunStore
    from workbench.training import train

    if _STORE is None:
        _STORE = RunStore(Path(tempfile.mkdtemp()) / "runs.sqlite")

    return train(ds, algo, n_steps=steps, seed=seed, device="cpu", executor=executor,
                 log_every=max(1, steps // 10), eval_every=0, checkpoint_every=0,
                 checkpoint_seconds=0, holdout=0.0, store=_STORE, batch_size=batch,
                 nice=0)  # no checkpoints, same priority as the bare fit


def job_rate(job) -> float:
    """Updates/s while training (from the job's own time/updates_per_s, first interval off)."""
    m = job.metrics(["time/updates_per_s"])["value"].to_numpy()
    return float(len(m[1:]) / (1.0 / m[1:]).sum()) if len(m) > 1 else float(m.mean())


def bench_vs_fit(name: str, env: str, algo: str, steps: int, batch: int, target: float) -> None:
    ds = _dataset(name, env)
    print(f"\n[{algo} on {name}: {ds.n_transitions} transitions, batch {batch}, {steps} steps]")
    bare = bare_fit(ds, algo, steps, batch)
    job = workbench_job(ds, algo, steps, batch)
    t = time.perf_counter()
    job.wait(progress=False)
    wall = time.perf_counter() - t
    assert job.status == "completed", job.error
    ours = job_rate(job)
    print(f"  bare d3rlpy fit : {bare:8.1f} updates/s")
    print(f"  workbench job   : {ours:8.1f} updates/s (whole job incl. setup: "
          f"{steps / wall:.1f}/s)")
    print(f"  ratio           : {ours / bare:.2f}x   (target >= {target}x)")
    d3, fast = bench_sampling(ds, batch)
    print(f"  sampling alone  : d3rlpy {d3:.3f} ms/batch, FastReplayBuffer {fast:.3f} ms/batch "
          f"({d3 / fast:.0f}x); an update takes {1e3 / ours:.2f} ms")


def bench_sampling(ds, batch: int, reps: int = 200) -> tuple[float, float]:
    """ms per mini-batch: d3rlpy's ReplayBuffer vs FastReplayBuffer."""
    from workbench.training.sampler import FastReplayBuffer

    rb, fb = ds.to_d3rlpy(), FastReplayBuffer(ds, seed=0)
    out = []
    for buf in (rb, fb):
        t = time.perf_counter()
        for _ in range(reps):
            buf.sample_transition_batch(batch)
        out.append((time.perf_counter() - t) / reps * 1e3)
    return out[0], out[1]


def bench_process(steps: int, batch: int) -> None:
    from workbench.training import max_workers, set_max_workers

    ds = _dataset("cartpole-replay", "CartPole-v1")
    print(f"\n[2 DiscreteCQL jobs on the process executor, {steps} steps each, batch {batch}]")
    old = max_workers("process")
    try:
        set_max_workers("process", 1)
        t = time.perf_counter()
        jobs = [workbench_job(ds, "cql", steps, batch, "process", seed=s) for s in (0, 1)]
        for j in jobs:
            j.wait(progress=False)
        seq = time.perf_counter() - t
        set_max_workers("process", 2)
        t = time.perf_counter()
        jobs = [workbench_job(ds, "cql", steps, batch, "process", seed=s) for s in (0, 1)]
        for j in jobs:
            j.wait(progress=False)
        par = time.perf_counter() - t
        assert all(j.status == "completed" for j in jobs), [j.error for j in jobs]
    finally:
        set_max_workers("process", old)
    print(f"  sequential      : {seq:6.1f} s  ({2 * steps / seq:.0f} updates/s)")
    print(f"  side by side    : {par:6.1f} s  ({2 * steps / par:.0f} updates/s)")
    print(f"  ratio           : {seq / par:.2f}x   (target >= 1.6x on 2 cores; "
          f"{os.cpu_count()} cores here)")


def bench_store(n: int = 300, rows: int = 12) -> None:
    from workbench.tracking import RunStore

    path = Path(tempfile.mkdtemp()) / "runs.sqlite"
    writer = RunStore(path)
    writer.create_run("bench", status="running")
    logged: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def read() -> None:
        r = RunStore(path, reap=False)
        con = r._con()
        last = -1
        while not done.is_set() or last < n - 1:
            got = con.execute("SELECT MAX(step) FROM metrics WHERE run_id='bench'").fetchone()[0]
            if got is not None and got > last:
                now = time.perf_counter()
                for s in range(last + 1, got + 1):
                    seen[s] = now
                last = got
            else:
                time.sleep(0.0002)

    th = threading.Thread(target=read)
    th.start()
    for step in range(n):
        logged[step] = time.perf_counter()
        writer.log_metrics("bench", [(step, f"m{i}", float(i), time.time()) for i in range(rows)],
                           step=step)
        time.sleep(0.002)
    done.set()
    th.join()
    delays = sorted((seen[s] - logged[s]) * 1e3 for s in range(n))
    p50 = statistics.median(delays)
    p95 = delays[int(0.95 * (n - 1))]
    print(f"\n[RunStore: {n} batches of {rows} rows, logged -> readable by another thread]")
    print(f"  delay p50 {p50:.2f} ms, p95 {p95:.2f} ms")


_FIRST_CALL = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
import workbench as wb
t1 = time.perf_counter()
ds = wb.load_dataset(sys.argv[1])       # from a file: train() has no dataset to save
store = wb.RunStore(sys.argv[2])
kw = dict(n_steps=20, log_every=10, eval_every=0, checkpoint_every=0, store=store,
          batch_size=8, hidden_units=[16])

def timed(seed):
    t = time.perf_counter()
    job = wb.train(ds, "dqn", seed=seed, **kw)
    return time.perf_counter() - t, job

first, j1 = timed(0)
torch_in_caller = "torch" in sys.modules
second, j2 = timed(1)                   # while the first job's worker imports torch
j1.wait(progress=False)
j2.wait(progress=False)
later = []
for seed in (2, 3, 4):
    t, j = timed(seed)
    later.append(t)
    j.wait(progress=False)
print(json.dumps({"import_workbench": t1 - t0, "first": first, "second": second,
                  "later": statistics.median(later), "torch_right_after_first": torch_in_caller,
                  "status": [j1.status, j2.status]}))
"""

_IMPORT_COST = r"""
import time
import workbench
t = time.perf_counter()
import torch
from workbench._d3rlpy import d3rlpy
print(time.perf_counter() - t)
"""


def bench_first_call(reps: int = 3) -> None:
    """``wb.train`` call times in fresh processes vs ``import torch`` + d3rlpy."""
    import numpy as np

    from workbench.data.dataset import EpisodeDataset

    root = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    n = 400
    term = np.zeros(n, bool)
    term[99::100] = True
    obs = rng.normal(size=(n + 1, 4)).astype(np.float32)
    ds = EpisodeDataset.from_flat(obs[:-1], rng.integers(0, 2, n), np.ones(n, np.float32), term,
                                  np.zeros(n, bool), obs[1:].copy(), metadata={"name": "bench"})
    path = tmp / "bench.npz"
    ds.save(path, format="npz")
    env = {**os.environ, "PYTHONPATH": str(root), "WORKBENCH_HOME": str(tmp / "home")}

    def run(code: str, *args: str) -> str:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                             text=True, env=env, cwd=root, check=True)
        return out.stdout.strip().splitlines()[-1]

    calls = [json.loads(run(_FIRST_CALL, str(path), str(tmp / f"runs{i}.sqlite")))
             for i in range(reps)]
    imports = [float(run(_IMPORT_COST)) for _ in range(reps)]

    def med(key: str) -> float:
        return statistics.median(c[key] for c in calls)

    imp = statistics.median(imports)
    print(f"\n[wb.train right after `import workbench`, fresh processes, median of {reps}]")
    print(f"  import workbench       : {med('import_workbench'):6.3f} s")
    print(f"  import torch + d3rlpy  : {imp:6.3f} s   (the baseline)")
    print(f"  first wb.train call    : {med('first'):6.3f} s   ({med('first') / imp:.3f}x the "
          f"import; target well under 1 s)")
    print(f"  second call            : {med('second'):6.3f} s   (while the first job's worker "
          "imports torch)")
    print(f"  later calls            : {med('later'):6.3f} s   ({med('later') / imp:.3f}x)")
    print(f"  torch imported by the first call: "
          f"{any(c['torch_right_after_first'] for c in calls)} (a background worker may "
          "already have started importing it); jobs: "
          f"{sorted({s for c in calls for s in c['status']})}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    p.add_argument("--only", choices=["fit", "process", "store", "first"], default=None)
    a = p.parse_args()
    steps = 300 if a.quick else a.steps
    os.environ.setdefault("WORKBENCH_BENCH", "1")
    if a.only in (None, "fit"):
        bench_vs_fit("cartpole-replay", "CartPole-v1", "discrete_cql", steps, a.batch, 1.5)
        bench_vs_fit("pendulum-replay", "Pendulum-v1", "cql", steps // 3, a.batch, 1.0)
    if a.only in (None, "process"):
        bench_process(steps, a.batch)
    if a.only in (None, "store"):
        bench_store()
    if a.only in (None, "first"):
        bench_first_call()


if __name__ == "__main__":
    main()
