"""Scale-out benchmarks, each printed as a ratio against its baseline in the same run.

    python benchmarks/bench_scale.py [--steps 3000] [--seconds 10] [--quick]

1. Four DQN jobs on the ``ray`` executor (a local Ray on 127.0.0.1 with this machine's
   cores) against the same four on the ``process`` executor: throughput (updates/s of all
   four together, submission to the last job's end) and the job start overhead (submission
   to the worker reporting ``running``: spawning the worker and importing torch and
   d3rlpy in it), medians over the four.  Both run at most ``cpu_count`` jobs at once.
   Then the rate at which the driver takes messages from Ray workers' streaming
   generators (each Ray job's supervisor iterates one) and the driver CPU per message.
2. The driver's RunStore ingest: 64 simulated jobs (threads) logging a batch of 8 metric
   rows at 10 Hz each, through the path Ray jobs' rows take (the driver's single
   :class:`~workbench.training.ingest.MetricWriter`: batched commits, then the live
   stream), for ``--seconds``: rows/s accepted and the delay from a row's creation to it
   being committed and published (p50/p95); then at 40 and 160 Hz per job to find where it
   stops keeping up.  Baseline: the same jobs each committing their own batches (what
   thread and process workers do: one transaction per job and logging interval).

The numbers go into the README's plan for a 1,000-run sweep on a cluster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAMES = ["loss/td", "time/step_s", "time/sample_s", "time/update_s", "time/updates_per_s",
         "value/dataset_q", "value/initial", "eval/td_error"]


# ---------------------------------------------------------------------------- 1. jobs
def run_jobs(ds, executor: str, steps: int, n_jobs: int, store) -> dict[str, float]:
    from workbench.training import train

    kw = dict(n_steps=steps, log_every=100, eval_every=0, checkpoint_every=0,
              checkpoint_seconds=0, batch_size=64, hidden_units=[64, 64],
              target_update_interval=500, nice=0, store=store, executor=executor)
    t0 = time.perf_counter()
    jobs = [train(ds, "dqn", seed=s, **kw) for s in range(n_jobs)]
    started: dict[str, float] = {}
    while not all(j.done for j in jobs):
        now = time.perf_counter()
        for j in jobs:
            if j.run_id not in started and j.status != "queued":
                started[j.run_id] = now
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    bad = [j for j in jobs if j.status != "completed"]
    if bad:
        raise SystemExit(f"{executor}: {[(j.status, j.error) for j in bad]}")
    # start overhead of the first wave only (later jobs also waited for a free slot)
    slots = os.cpu_count() or 1
    first = [started[j.run_id] - t0 for j in jobs[:slots] if j.run_id in started]
    ups = [float(j.metrics(["time/updates_per_s"])["value"].median()) for j in jobs]
    return {"wall_s": wall, "throughput": steps * n_jobs / wall,
            "start_s": statistics.median(first), "job_updates_per_s": statistics.median(ups)}


def bench_jobs(steps: int, n_jobs: int) -> None:
    import workbench as wb
    from workbench.data.collect import collect
    from workbench.tracking import RunStore

    print(f"1. {n_jobs} DQN jobs x {steps} updates, {os.cpu_count()} cores "
          "(at most that many at once)")
    ds = collect("CartPole-v1", policy="random", n_steps=20_000, seed=0, progress=False)
    store = RunStore(Path(tempfile.mkdtemp()) / "runs.sqlite")
    t = time.perf_counter()
    info = wb.init_ray()
    print(f"   local Ray started on 127.0.0.1 in {time.perf_counter() - t:.1f} s "
          f"(once per session; {info['resources'].get('CPU', 0):g} CPUs)")
    proc = run_jobs(ds, "process", steps, n_jobs, store)
    ray = run_jobs(ds, "ray", steps, n_jobs, store)
    for name, r in (("process", proc), ("ray", ray)):
        print(f"   {name:8s} all jobs {r['wall_s']:6.1f} s   {r['throughput']:7.0f} updates/s "
              f"(per job {r['job_updates_per_s']:.0f}/s)   start overhead "
              f"{r['start_s']:.2f} s")
    print(f"   ratio ray/process: throughput {ray['throughput'] / proc['throughput']:.2f}x, "
          f"start overhead {ray['start_s'] / proc['start_s']:.2f}x "
          f"(+{ray['start_s'] - proc['start_s']:.2f} s per job)")
    bench_relay()
    wb.shutdown_ray()


def bench_relay(n_actors: int = 4, n_items: int = 3000, pace_hz: float = 200.0) -> None:
    """How a Ray job's messages reach the driver: the executor's worker actor queues them
    and the job's supervisor long-polls (``POLL_SECONDS``).  Each of ``n_actors`` actors
    queues ``n_items`` messages at ``pace_hz`` (first paced, then as fast as it can); the
    driver's rate, the driver CPU per poll and per message, and the delay."""
    import ray

    from workbench.training.ray_executor import POLL_SECONDS, _worker_class

    cls = _worker_class()

    def fill(worker, n: int, hz: float | None) -> None:  # runs inside the actor
        import threading as th
        import time as tm

        def produce() -> None:
            for i in range(n):
                worker._out.put(("progress", i, tm.time()))
                if hz:
                    tm.sleep(1.0 / hz)
            worker._out.put(None)

        th.Thread(target=produce, daemon=True).start()

    for hz in (pace_hz, None):
        actors = [cls.options(num_cpus=0).remote() for _ in range(n_actors)]
        ray.get([a.__ray_call__.remote(fill, n_items, hz) for a in actors])
        stats = {"msgs": 0, "polls": 0}
        delays: list[float] = []
        lock = threading.Lock()

        def drain(a) -> None:
            finished = False
            while not finished:
                msgs, finished = ray.get(a.poll.remote(POLL_SECONDS))
                now = time.time()
                with lock:
                    stats["msgs"] += len(msgs)
                    stats["polls"] += 1
                    delays.extend(now - m[2] for m in msgs)

        threads = [threading.Thread(target=drain, args=(a,)) for a in actors]
        cpu, t = time.process_time(), time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        d = np.array(delays) * 1000
        what = f"paced at {hz:g} msg/s each" if hz else "as fast as they can"
        print(f"   Ray -> driver, {n_actors} workers {what}: {stats['msgs'] / wall:6.0f} msg/s "
              f"in {stats['polls'] / wall:5.0f} polls/s; driver CPU "
              f"{1000 * cpu / stats['polls']:.2f} ms per poll; delay p50 "
              f"{np.percentile(d, 50):.1f} ms p95 {np.percentile(d, 95):.1f} ms")
        for a in actors:
            ray.kill(a)


# ---------------------------------------------------------------------------- 2. ingest
def _producers(n_jobs: int, hz: float | None, seconds: float, emit) -> int:
    """``n_jobs`` threads each calling ``emit(run_id, rows)`` with 8 rows per batch, at
    ``hz`` per job (``None``: as fast as they can) for ``seconds``; returns rows emitted."""
    stop = time.perf_counter() + seconds
    counts = [0] * n_jobs

    def job(i: int) -> None:
        rid, step = f"sim-{i:03d}", 0
        period = None if hz is None else 1.0 / hz
        nxt = time.perf_counter() + (0 if period is None else period * i / n_jobs)
        while True:
            if period is not None:
                delay = nxt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                nxt += period
            if time.perf_counter() >= stop:
                return
            step += 10
            now = time.time()
            emit(rid, [(step, n, float(step), now) for n in NAMES])
            counts[i] += len(NAMES)

    threads = [threading.Thread(target=job, args=(i,), daemon=True) for i in range(n_jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def _fresh_store(n_jobs: int):
    from workbench.tracking import RunStore

    store = RunStore(Path(tempfile.mkdtemp()) / "runs.sqlite")
    for i in range(n_jobs):
        store.create_run(f"sim-{i:03d}", algo="sim", status="running")
        store.begin_attempt(f"sim-{i:03d}")
    return store


def _ingest_run(n_jobs: int, hz: float, seconds: float, mode: str) -> dict[str, float]:
    """One measurement: ``n_jobs`` jobs at ``hz``; ``mode`` ``"writer"`` (the driver's batched
    writer, as Ray jobs' rows) or ``"direct"`` (each job commits its own batches, as thread
    and process workers do).  Delay: row creation -> committed (writer: -> published)."""
    from workbench.training import metric_stream
    from workbench.training.ingest import MetricWriter

    store = _fresh_store(n_jobs)
    delays: list[float] = []
    lock = threading.Lock()
    t = time.perf_counter()
    if mode == "writer":
        writer = MetricWriter(store)
        done = threading.Event()
        with metric_stream().subscribe() as sub:
            def reader() -> None:
                while not done.is_set() or len(sub):
                    rows = sub.drain_rows()
                    now = time.time()
                    delays.extend(now - r[4] for r in rows[::len(NAMES)])  # one per batch
                    time.sleep(0.005)

            rt = threading.Thread(target=reader, daemon=True)
            rt.start()
            sent = _producers(n_jobs, hz, seconds,
                              lambda rid, rows: writer.submit(rid, rows, step=rows[-1][0]))
            writer.flush()
            wall = time.perf_counter() - t
            done.set()
            rt.join()
        tx = writer.transactions
    else:
        def emit(rid: str, rows: list) -> None:
            store.log_metrics(rid, rows, step=rows[-1][0])
            d = time.time() - rows[0][3]
            with lock:
                delays.append(d)

        sent = _producers(n_jobs, hz, seconds, emit)
        wall = time.perf_counter() - t
        tx = len(delays)
    committed = int(store._con().execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
    d = np.array(delays) * 1000
    return {"hz": hz, "offered": n_jobs * hz * len(NAMES), "accepted": committed / wall,
            "sent": sent, "committed": committed, "p50": float(np.percentile(d, 50)),
            "p95": float(np.percentile(d, 95)), "tx_per_s": tx / wall}


def bench_ingest(seconds: float, n_jobs: int = 64, rates: tuple[float, ...] = (10, 40, 160)
                 ) -> None:
    print(f"2. RunStore ingest on the driver: {n_jobs} jobs logging {len(NAMES)} rows per "
          f"batch, {seconds:g} s per rate; delay = row created -> committed")
    results = {}
    for mode in ("writer", "direct"):
        for hz in rates:
            r = results[mode, hz] = _ingest_run(n_jobs, hz, seconds, mode)
            label = ("driver writer (ray)" if mode == "writer"
                     else "each job commits (thread/process)")
            print(f"   {label:34s} {hz:5g} Hz/job: offered {r['offered']:7.0f} rows/s, "
                  f"accepted {r['accepted']:7.0f} rows/s ({r['committed']}/{r['sent']}), "
                  f"{r['tx_per_s']:5.0f} tx/s, delay p50 {r['p50']:6.1f} ms p95 "
                  f"{r['p95']:7.1f} ms")
    w, dr = results["writer", rates[0]], results["direct", rates[0]]
    print(f"   at {rates[0]:g} Hz: the driver writer accepts {w['accepted']:.0f} rows/s with p95 "
          f"{w['p95']:.1f} ms (per-job commits: p95 {dr['p95']:.1f} ms); ratio of "
          f"transactions per second writer/per-job {w['tx_per_s'] / dr['tx_per_s']:.2f}x")
    top = rates[-1]
    w, dr = results["writer", top], results["direct", top]
    print(f"   at {top:g} Hz ({n_jobs * top * len(NAMES):.0f} rows/s offered): writer accepts "
          f"{w['accepted']:.0f} rows/s (p95 {w['p95']:.0f} ms), per-job commits "
          f"{dr['accepted']:.0f} rows/s (p95 {dr['p95']:.0f} ms): ratio "
          f"{w['accepted'] / dr['accepted']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="updates per job")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="ingest seconds per rate")
    ap.add_argument("--quick", action="store_true", help="fewer steps and seconds")
    ap.add_argument("--only", choices=["jobs", "ingest"])
    args = ap.parse_args()
    if args.quick:
        args.steps, args.seconds = 600, 3.0
    if args.only != "ingest":
        bench_jobs(args.steps, args.jobs)
    if args.only != "jobs":
        bench_ingest(args.seconds)


if __name__ == "__main__":
    main()
