"""Loading a 1M-transition D4RL file: ``wb.load_dataset`` against reading its arrays with h5py.

Target: the full load (validation, episode split, T+1 observation layout) within 2x the time
of h5py alone. Both are measured side by side in this run; best of several repeats (best
of each, interleaved).

    .venv/bin/python benchmarks/bench_load.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import workbench as wb

KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")


def make_file(path: Path, n: int, obs_dim: int = 17, act_dim: int = 6, ep_len: int = 1000) -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
    timeouts = np.zeros(n, bool)
    timeouts[ep_len - 1::ep_len] = True
    terminals = np.zeros(n, bool)
    terminals[ep_len // 2::ep_len * 3] = True
    timeouts &= ~terminals
    with h5py.File(path, "w") as f:  # a plain D4RL file, as D4RL ships them (no checksum)
        f["observations"] = obs[:-1]
        f["next_observations"] = obs[1:]
        f["actions"] = rng.uniform(-1, 1, (n, act_dim)).astype(np.float32)
        f["rewards"] = rng.normal(size=n).astype(np.float32)
        f["terminals"] = terminals
        f["timeouts"] = timeouts


def read_h5py(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in KEYS}


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.hdf5"
        make_file(path, args.n)
        size = path.stat().st_size / 1e6
        read_h5py(path), wb.load_dataset(path)  # warm the page cache
        h5_times, wb_times = [], []
        for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
            h5_times.append(best(lambda: read_h5py(path), 1))
            wb_times.append(best(lambda: wb.load_dataset(path), 1))
        t_h5, t_wb = min(h5_times), min(wb_times)
    print(f"file: {args.n:,} transitions, {size:.0f} MB")
    print(f"h5py arrays only : {t_h5 * 1e3:8.1f} ms (best of {args.repeats})")
    print(f"wb.load_dataset  : {t_wb * 1e3:8.1f} ms (best of {args.repeats})")
    print(f"ratio load_dataset / h5py = {t_wb / t_h5:.2f}x   (target <= 2.0x)")


if __name__ == "__main__":
    main()
