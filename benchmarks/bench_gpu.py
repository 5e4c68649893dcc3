"""GPU training throughput: workbench jobs against bare d3rlpy ``fit`` on the same GPU, in one run.

    python benchmarks/bench_gpu.py                       # on a CUDA machine: the full grid
    python benchmarks/bench_gpu.py --dry-run             # same code paths on the CPU, a few steps
    python benchmarks/bench_gpu.py --json results.json   # also write every row as JSON

The grid (issue 22): CQL (continuous) and IQL on a HalfCheetah-sized dataset (17-d observations,
6-d actions in [-1, 1], 1M transitions, episodes of 1,000 steps ending on a time limit), batch
256 and 1024, ``compile_graph`` off and on (CUDA graphs; CUDA only), and per configuration:

* ``bare``: d3rlpy's own ``algo.fit`` with the same config on the same device (its replay
  buffer, its sampler);
* ``1 job``: one ``wb.train`` job on the thread executor;
* ``4 thread`` / ``4 process``: four concurrent jobs (seeds 0..3) on one GPU, thread and process
  executors; their aggregate throughput.

Throughput is measured in the steady state: the first ``--warmup`` fraction of each run
(CUDA-graph capture, cuDNN autotuning, the process executor's start) is left out, on both sides.
For d3rlpy that is read from ``fit``'s per-step callback, for jobs from their own
``time/updates_per_s`` metric (one value per logging interval).  Alongside: GPU utilisation and
peak memory used, sampled from ``nvidia-smi`` every 0.25 s while the configuration runs (peak
``torch.cuda.max_memory_allocated`` too, for what runs in this process), and the projected time
for 1M updates next to the published anchors (JAX-CORL's README, GTX 1080 Ti, 1M updates on
halfcheetah-medium-expert).

The dataset is **synthetic** by default (Gaussian random-walk observations, uniform actions, a
smooth reward): throughput does not depend on what the numbers mean, and collecting 1M
HalfCheetah steps would cost more than the benchmark itself.  ``--collect`` uses
``wb.collect("HalfCheetah-v5", policy="random", ...)`` instead.

Goals (issue 22, on one H200): 1M CQL updates in <= 20 min (>= 830 updates/s); four concurrent
jobs >= 3x the throughput of one; >= 1.0x bare d3rlpy in every configuration.

``--dry-run`` runs every code path of the grid on the CPU with a small dataset and a few steps
(``compile_graph`` on is then checked to be refused with a ``ConfigError``, since CUDA graphs
need CUDA); ``tests/test_bench_gpu.py`` runs it in CI.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Published times for 1M updates on halfcheetah-medium-expert (JAX-CORL README, GTX 1080 Ti):
#: algorithm -> ((implementation, hours), ...)
ANCHORS = {
    "cql": (("CORL (PyTorch)", 11.5), ("JAX-CORL", 56 / 60)),
    "iql": (("CORL (PyTorch)", 4.1), ("JAX-CORL", 9 / 60)),
}


@dataclass
class Row:
    """One measured configuration (updates/s are steady-state, summed over concurrent jobs)."""

    algo: str
    batch: int
    compile_graph: bool
    mode: str                      # "bare", "1 job", "4 thread", "4 process"
    n_jobs: int
    updates_per_s: float = math.nan
    vs_bare: float = math.nan      # updates_per_s / the bare d3rlpy rate of the same config
    vs_one_job: float = math.nan   # for concurrent modes: aggregate / the 1-job rate
    gpu_util_mean: float = math.nan  # % (nvidia-smi), over the configuration's run
    gpu_mem_peak_mb: float = math.nan  # nvidia-smi memory.used peak
    torch_peak_mb: float = math.nan  # torch.cuda.max_memory_allocated (this process only)
    hours_per_1m: float = math.nan
    wall_s: float = math.nan
    note: str = ""
    per_job: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------- the dataset
def halfcheetah_sized(n: int, seed: int = 0, episode_len: int = 1000):
    """A synthetic dataset of HalfCheetah's shape: (n, 17) float32 observations, (n, 6)
    actions in [-1, 1], episodes of ``episode_len`` steps ending on a time limit."""
    import numpy as np

    from workbench import EpisodeDataset

    rng = np.random.default_rng(seed)
    obs = np.cumsum(rng.normal(0, 0.1, (n + 1, 17)), axis=0).astype(np.float32)
    obs -= obs.mean(0)
    acts = rng.uniform(-1, 1, (n, 6)).astype(np.float32)
    rew = (obs[1:, 8] - 0.1 * (acts ** 2).sum(1)).astype(np.float32)
    term = np.zeros(n, bool)
    tout = np.zeros(n, bool)
    tout[episode_len - 1::episode_len] = True
    tout[-1] = True
    nxt = obs[1:].copy()
    nxt[tout] = obs[:-1][tout]  # any value: the next episode's first observation is not it
    return EpisodeDataset.from_flat(obs[:-1], acts, rew, term, tout, nxt,
                                    metadata={"name": f"halfcheetah-sized-{n}",
                                              "env_id": "HalfCheetah-v5"})


def collected(n: int, seed: int = 0):
    import workbench as wb

    return wb.collect("HalfCheetah-v5", policy="random", n_steps=n, seed=seed, progress=True)


# ----------------------------------------------------------------------------- GPU sampling
class GpuMonitor:
    """Samples ``nvidia-smi`` utilisation and memory in a thread (no-op without it)."""

    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        self.util: list[float] = []
        self.mem: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.available = shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuMonitor:
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                     "--format=csv,noheader,nounits", "--id=0"],
                    capture_output=True, text=True, timeout=5).stdout.strip()
                u, m = (float(x) for x in out.split(","))
                self.util.append(u)
                self.mem.append(m)
            except (ValueError, OSError, subprocess.SubprocessError):
                pass
            self._stop.wait(self.period)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def fill(self, row: Row) -> None:
        if self.util:
            row.gpu_util_mean = sum(self.util) / len(self.util)
            row.gpu_mem_peak_mb = max(self.mem)


def _reset_torch_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _torch_peak(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return math.nan


def steady_rate(times: list[float], warmup: float) -> float:
    """Updates/s from per-update wall times (one per update), the first ``warmup`` fraction
    of updates left out."""
    k = min(int(len(times) * warmup), len(times) - 2)
    if len(times) < 2:
        return math.nan
    return (len(times) - 1 - k) / (times[-1] - times[k])


# ----------------------------------------------------------------------------- measurements
def bare_fit(ds: Any, algo: str, steps: int, batch: int, compile_graph: bool, device: str,
             warmup: float) -> Row:
    """d3rlpy's ``fit`` with the same config on ``ds.to_d3rlpy()`` (setup excluded)."""
    import torch

    from workbench._d3rlpy import d3rlpy
    from workbench.training.algorithms import build_config, resolve_algorithm
    from workbench.training.worker import quiet

    quiet()
    if device.startswith("cpu"):
        torch.set_num_threads(1)
    d3rlpy.seed(0)
    buf = ds.to_d3rlpy()
    cfg = build_config(resolve_algorithm(algo, ds.is_discrete),
                       {"batch_size": batch, "compile_graph": compile_graph})
    a = cfg.create(device=device)
    a.build_with_dataset(buf)
    times: list[float] = []

    def tick(algo_: Any, epoch: int, total_step: int) -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter())

    row = Row(algo, batch, compile_graph, "bare", 1)
    _reset_torch_peak(device)
    t = time.perf_counter()
    with GpuMonitor() as mon:
        a.fit(buf, n_steps=steps, n_steps_per_epoch=steps, show_progress=False,
              logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9,
              callback=tick)
    row.wall_s = time.perf_counter() - t
    mon.fill(row)
    row.torch_peak_mb = _torch_peak(device)
    row.updates_per_s = steady_rate(times, warmup)
    row.per_job = [row.updates_per_s]
    del a, buf
    return row


def job_steady_rate(job: Any, warmup: float) -> float:
    """A job's steady updates/s: harmonic mean of its ``time/updates_per_s`` intervals after
    the first ``warmup`` fraction of them (at least the first one is dropped)."""
    m = job.metrics(["time/updates_per_s"])["value"].to_numpy()
    if len(m) == 0:
        return math.nan
    k = max(1, int(len(m) * warmup)) if len(m) > 1 else 0
    m = m[k:]
    return float(len(m) / (1.0 / m).sum())


def workbench_jobs(ds: Any, algo: str, steps: int, batch: int, compile_graph: bool,
                   device: str, executor: str, n_jobs: int, warmup: float, store: Any,
                   mode: str) -> Row:
    """``n_jobs`` concurrent ``wb.train`` jobs (seeds 0..n-1) on ``executor``."""
    from workbench.training import max_workers, set_max_workers, train

    row = Row(algo, batch, compile_graph, mode, n_jobs)
    old = max_workers(executor)
    set_max_workers(executor, max(old, n_jobs))
    log_every = max(1, steps // 20)
    try:
        _reset_torch_peak(device)
        t = time.perf_counter()
        with GpuMonitor() as mon:
            jobs = [train(ds, algo, n_steps=steps, seed=s, device=device, executor=executor,
                          log_every=log_every, eval_every=0, checkpoint_every=0,
                          checkpoint_seconds=0, holdout=0.0, store=store, batch_size=batch,
                          compile_graph=compile_graph, nice=0,
                          name=f"bench-gpu {mode}") for s in range(n_jobs)]
            for j in jobs:
                j.wait(progress=False)
        row.wall_s = time.perf_counter() - t
    finally:
        set_max_workers(executor, old)
    bad = [(j.run_id, j.status, j.error) for j in jobs if j.status != "completed"]
    if bad:
        raise RuntimeError(f"benchmark jobs did not complete: {bad}")
    mon.fill(row)
    if executor == "thread":
        row.torch_peak_mb = _torch_peak(device)
    row.per_job = [job_steady_rate(j, warmup) for j in jobs]
    row.updates_per_s = float(sum(row.per_job))
    return row


def refused_compile_graph(ds: Any, algo: str, store: Any) -> str:
    """On the CPU: ``compile_graph=True`` must be a ConfigError before anything starts."""
    from workbench import ConfigError
    from workbench.training import train

    try:
        job = train(ds, algo, n_steps=10, device="cpu", compile_graph=True, store=store)
    except ConfigError as exc:
        return f"refused on the CPU: {str(exc).splitlines()[0]}"
    job.cancel(wait=True)
    raise RuntimeError("compile_graph=True on the CPU was not refused")


# ----------------------------------------------------------------------------- the grid
def run(args: argparse.Namespace) -> list[Row]:
    import torch

    import workbench as wb
    from workbench.tracking import RunStore

    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda:0" if cuda else "cpu:0"
    if not cuda and not args.dry_run:
        raise SystemExit("bench_gpu: no CUDA device here; run with --dry-run to check the code "
                         "paths on the CPU")
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(0)})" if cuda else "")
          + f"; torch {torch.__version__}; workbench {wb.__version__}")
    t = time.perf_counter()
    ds = collected(args.transitions) if args.collect else halfcheetah_sized(args.transitions)
    print(f"dataset: {ds.name}, {ds.n_transitions:,} transitions, {ds.n_episodes} episodes "
          f"({'collected' if args.collect else 'synthetic'}, {time.perf_counter() - t:.1f} s)")
    store = RunStore(Path(tempfile.mkdtemp(prefix="bench-gpu-")) / "runs.sqlite")
    rows: list[Row] = []
    for algo in args.algos:
        for batch in args.batches:
            for cg in (False, True):
                if cg and not cuda:
                    r = Row(algo, batch, True, "all", 0,
                            note=refused_compile_graph(ds, algo, store))
                    print(f"  {algo} batch {batch} compile_graph on: {r.note}")
                    rows.append(r)
                    continue
                group = [bare_fit(ds, algo, args.steps, batch, cg, device, args.warmup)]
                group.append(workbench_jobs(ds, algo, args.steps, batch, cg, device, "thread",
                                            1, args.warmup, store, "1 job"))
                for ex in args.executors:
                    group.append(workbench_jobs(ds, algo, args.steps, batch, cg, device, ex,
                                                args.jobs, args.warmup, store,
                                                f"{args.jobs} {ex}"))
                bare, one = group[0].updates_per_s, group[1].updates_per_s
                for r in group:
                    r.vs_bare = r.updates_per_s / bare
                    if r.n_jobs > 1:
                        r.vs_one_job = r.updates_per_s / one
                    r.hours_per_1m = 1e6 / r.updates_per_s / 3600 * r.n_jobs
                    print(f"  {algo} batch {batch} cg {'on ' if cg else 'off'} {r.mode:>10}: "
                          f"{r.updates_per_s:9.1f} updates/s  ({r.vs_bare:.2f}x bare)")
                rows.extend(group)
    return rows


def _f(x: float, fmt: str) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    cols = ("algo", "batch", "CUDA graphs", "mode", "updates/s", "x bare d3rlpy", "x one job",
            "GPU util %", "GPU mem peak MB", "h per 1M updates (each job)", "note")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        mem = r.torch_peak_mb if math.isnan(r.gpu_mem_peak_mb) else r.gpu_mem_peak_mb
        cells = (r.algo, str(r.batch), "on" if r.compile_graph else "off", r.mode,
                 _f(r.updates_per_s, ".1f"), _f(r.vs_bare, ".2f"), _f(r.vs_one_job, ".2f"),
                 _f(r.gpu_util_mean, ".0f"), _f(mem, ".0f"), _f(r.hours_per_1m, ".2f"), r.note)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def anchors(rows: list[Row]) -> str:
    """Projected time for 1M updates of one job next to the published anchors."""
    out = ["", "1M updates, one job (best measured configuration) vs published anchors "
           "(GTX 1080 Ti, halfcheetah-medium-expert):"]
    for algo, refs in ANCHORS.items():
        ones = [r for r in rows if r.algo == algo and r.mode == "1 job"
                and not math.isnan(r.updates_per_s)]
        if not ones:
            continue
        best = max(ones, key=lambda r: r.updates_per_s)
        ref = ", ".join(f"{name} {h:.2f} h ({1e6 / (h * 3600):.0f} updates/s)"
                        for name, h in refs)
        out.append(f"  {algo}: workbench {best.hours_per_1m * 60:.1f} min "
                   f"({best.updates_per_s:.0f} updates/s, batch {best.batch}, CUDA graphs "
                   f"{'on' if best.compile_graph else 'off'}); {ref}")
    goal = [r for r in rows if r.algo == "cql" and r.mode == "1 job"
            and not math.isnan(r.updates_per_s)]
    if goal:
        best = max(r.updates_per_s for r in goal)
        out.append(f"  goal: 1M CQL updates <= 20 min (>= 830 updates/s): "
                   f"{'met' if best >= 830 else 'not met'} ({best:.0f} updates/s)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true",
                   help="CPU, a small dataset and a few steps: checks the code paths")
    p.add_argument("--steps", type=int, default=None,
                   help="updates per run (default 20,000; dry run 40)")
    p.add_argument("--transitions", type=int, default=None,
                   help="dataset size (default 1,000,000; dry run 4,000)")
    p.add_argument("--jobs", type=int, default=None,
                   help="concurrent jobs (default 4; dry run 2)")
    p.add_argument("--algos", nargs="+", default=["cql", "iql"])
    p.add_argument("--batches", nargs="+", type=int, default=[256, 1024])
    p.add_argument("--executors", nargs="+", default=["thread", "process"])
    p.add_argument("--warmup", type=float, default=0.2,
                   help="fraction of each run left out of the steady-state rate")
    p.add_argument("--collect", action="store_true",
                   help="collect HalfCheetah-v5 with a random policy instead of synthetic data")
    p.add_argument("--json", type=Path, default=None, help="write the rows to this file")
    args = p.parse_args(argv)
    dry = args.dry_run
    args.steps = args.steps or (40 if dry else 20_000)
    args.transitions = args.transitions or (4_000 if dry else 1_000_000)
    args.jobs = args.jobs or (2 if dry else 4)
    rows = run(args)
    print()
    print(table(rows))
    print(anchors(rows))
    if args.json is not None:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in rows], indent=1, default=float))
        tmp.replace(args.json)
    return rows


if __name__ == "__main__":
    main()
