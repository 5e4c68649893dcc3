"""Image datasets: memory per frame, and the sampler's batches/s against d3rlpy's own buffer.

* Memory: bytes per stored frame (uint8, channel-first) against what a float32 copy would take,
  the dataset's ``nbytes``/``summary()["memory"]``, and what ``FastReplayBuffer`` adds on top
  (row indices, measured with tracemalloc) against its precomputed float32 path.
* Sampling: ``FastReplayBuffer.sample_transition_batch`` against d3rlpy 2.8.1's
  ``ReplayBuffer.sample_transition_batch`` on ``ds.to_d3rlpy()`` (the same uint8 frames), side by
  side in this run (interleaved rounds, best of each), as the ratio ours / d3rlpy.  Both hand
  d3rlpy float32 batches (its ``TransitionMiniBatch`` asserts float32): at 256 Atari frames a
  batch is 2 x 29 MB of freshly allocated float32, and both are bound by writing that memory;
  our gain is the per-transition Python loop d3rlpy runs, visible at smaller batches.
* For the record, the vector path's choice: precomputed float32 copies against gathering per
  batch (``lazy=True``) on 17-dim vectors.
* Image-mode SACo throughput.

    .venv/bin/python benchmarks/bench_images.py [--n 50000] [--batch 256]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from workbench._d3rlpy import d3rlpy  # noqa: F401  (quiet import before d3rlpy's modules)

# isort: split
from workbench.data.dataset import EpisodeDataset
from workbench.data.images import format_bytes
from workbench.data.space import Space
from workbench.diagnostics import coverage_counts
from workbench.training.sampler import FastReplayBuffer


def image_dataset(n: int, shape=(4, 84, 84), ep_len: int = 1000, seed: int = 0) -> EpisodeDataset:
    """``n`` transitions of Atari-sized uint8 frames (a moving sprite on noise-free frames,
    so generating them is cheap), episodes of ``ep_len`` steps, alternately terminated and
    truncated."""
    rng = np.random.default_rng(seed)
    E = -(-n // ep_len)
    lengths = np.full(E, ep_len)
    lengths[-1] = n - ep_len * (E - 1)
    obs = np.zeros((n + E, *shape), np.uint8)
    C, H, W = shape
    ys, xs = rng.integers(0, H - 8, n + E), rng.integers(0, W - 8, n + E)
    for i in range(n + E):  # an 8x8 block per frame
        obs[i, :, ys[i]:ys[i] + 8, xs[i]:xs[i] + 8] = 200
    term = np.arange(E) % 2 == 0
    return EpisodeDataset(obs, rng.integers(0, 4, n), rng.normal(size=n).astype(np.float32),
                          np.concatenate([[0], np.cumsum(lengths)]), term, ~term,
                          Space.infer(obs, False), Space.discrete_space(4),
                          metadata={"name": "bench-images"})


def vector_dataset(n: int, dim: int = 17, ep_len: int = 1000) -> EpisodeDataset:
    rng = np.random.default_rng(0)
    E = -(-n // ep_len)
    lengths = np.full(E, ep_len)
    lengths[-1] = n - ep_len * (E - 1)
    obs = rng.normal(size=(n + E, dim)).astype(np.float32)
    return EpisodeDataset(obs, rng.integers(0, 4, n), rng.normal(size=n).astype(np.float32),
                          np.concatenate([[0], np.cumsum(lengths)]), np.zeros(E, bool),
                          np.ones(E, bool), Space.unbounded((dim,)), Space.discrete_space(4))


def rate(sample, batch: int, seconds: float) -> float:
    """Batches per second of ``sample(batch)`` over about ``seconds``."""
    sample(batch)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sample(batch)
        n += 1
    return n / (time.perf_counter() - t0)


def side_by_side(ours, theirs, batch: int, rounds: int, seconds: float) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):  # interleaved: load from other processes hits both alike
        a.append(rate(ours, batch, seconds))
        b.append(rate(theirs, batch, seconds))
    return max(a), max(b)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=50_000, help="image transitions (4x84x84 frames)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    p.add_argument("--vector-n", type=int, default=1_000_000)
    args = p.parse_args()

    t0 = time.perf_counter()
    ds = image_dataset(args.n)
    print(f"dataset: {args.n:,} transitions of {ds.observation_shape} uint8 frames "
          f"({ds.n_episodes} episodes; built in {time.perf_counter() - t0:.1f} s)")
    frame = int(np.prod(ds.observation_shape))
    print("\n-- memory")
    print(f"per frame, uint8 (stored)       : {frame:>9,} bytes")
    print(f"per frame, a float32 copy       : {4 * frame:>9,} bytes  (4.0x)")
    print(f"dataset nbytes / transition     : {ds.nbytes / ds.n_transitions:>9,.0f} bytes  "
          f"(summary()['memory'] = {ds.summary()['memory']}; a float32 copy of the "
          f"observations alone: {format_bytes(4 * ds.observations.nbytes)})")
    tracemalloc.start()
    fb = FastReplayBuffer(ds, seed=0)
    built, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"FastReplayBuffer (lazy) adds    : {built / ds.n_transitions:>9,.1f} bytes / transition "
          f"(precomputed float32 would add {2 * 4 * frame:,}: observations and next)")
    rb = ds.to_d3rlpy()
    assert rb.episodes[0].observations.dtype == np.uint8
    assert np.shares_memory(rb.episodes[0].observations, ds.observations)
    print("ds.to_d3rlpy()                  : uint8 views of the same frames (no copy)")

    print(f"\n-- sampling, batch {args.batch} (best of {args.rounds} interleaved rounds)")
    ours, theirs = side_by_side(fb.sample_transition_batch, rb.sample_transition_batch,
                                args.batch, args.rounds, args.seconds)
    print(f"FastReplayBuffer           : {ours:8.1f} batches/s "
          f"({ours * args.batch:,.0f} transitions/s)")
    print(f"d3rlpy ReplayBuffer        : {theirs:8.1f} batches/s "
          f"({theirs * args.batch:,.0f} transitions/s)")
    print(f"ratio ours / d3rlpy        : {ours / theirs:8.2f}x   (both write "
          f"{format_bytes(2 * args.batch * 4 * frame)} of fresh float32 per batch: memory-bound)")
    small = 32
    o2, t2 = side_by_side(fb.sample_transition_batch, rb.sample_transition_batch, small,
                          args.rounds, args.seconds / 2)
    print(f"batch {small}: ours {o2:.0f} vs d3rlpy {t2:.0f} batches/s, ratio {o2 / t2:.2f}x")

    print(f"\n-- vector path (17-dim, {args.vector_n:,} transitions): precomputed vs lazy")
    vds = vector_dataset(args.vector_n)
    pre, lazy = FastReplayBuffer(vds, seed=0), FastReplayBuffer(vds, seed=0, lazy=True)
    a, b = side_by_side(pre.sample_transition_batch, lazy.sample_transition_batch, args.batch,
                        args.rounds, args.seconds)
    print(f"precomputed {a:.0f} vs lazy {b:.0f} batches/s: precomputed / lazy = {a / b:.2f}x "
          f"({'kept' if a >= b else 'lazy would be faster'} for vectors)")

    print("\n-- image-mode coverage (8x8 block means, 4 levels)")
    t0 = time.perf_counter()
    c = coverage_counts(ds)
    dt = time.perf_counter() - t0
    print(f"coverage_counts: {args.n:,} frames in {dt:.2f} s ({args.n / dt:,.0f} frames/s), "
          f"{c.unique_states:,} distinct states")


if __name__ == "__main__":
    main()
