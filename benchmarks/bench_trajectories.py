"""Decision-transformer batches: ``TrajectoryBuffer`` vs d3rlpy's ``sample_trajectory_batch``.

Both build the same kind of batch (``batch_size`` slices of ``context_size`` steps with
returns-to-go, timesteps and masks; bitwise the same for the same end steps, see
``tests/training/test_dt.py``) from the same dataset, measured side by side in one run:

* d3rlpy: ``ds.to_d3rlpy().sample_trajectory_batch(B, L)`` (global ``np.random``, one
  ``BasicTrajectorySlicer`` call per slice);
* workbench: ``TrajectoryBuffer(ds).sample_trajectory_batch(B, L)`` (the run's own
  generator, vectorised gathers, one float32 sum/cumsum per slice for the returns-to-go).

Prints batches/s of each and the ratio.

    python benchmarks/bench_trajectories.py [--steps 20000] [--batch 64] [--context 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def rate(fn, seconds: float = 2.0) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--context", type=int, default=20)
    args = ap.parse_args()

    from workbench.data.collect import collect
    from workbench.training.trajectories import TrajectoryBuffer

    ds = collect("CartPole-v1", policy="random", n_steps=args.steps, seed=0, progress=False)
    rb = ds.to_d3rlpy()
    buf = TrajectoryBuffer(ds, seed=0)
    np.random.seed(0)
    B, L = args.batch, args.context
    d3 = rate(lambda: rb.sample_trajectory_batch(B, L))
    wb = rate(lambda: buf.sample_trajectory_batch(B, L))
    print(f"{ds.n_transitions} steps, {ds.n_episodes} episodes; batch {B} x context {L}")
    print(f"d3rlpy sample_trajectory_batch : {d3:8.0f} batches/s")
    print(f"TrajectoryBuffer               : {wb:8.0f} batches/s  ({wb / d3:.1f}x)")


if __name__ == "__main__":
    main()
