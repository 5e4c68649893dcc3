"""OPE estimators over 1,000,000 transitions in 1,000 episodes of varied length.

Run: ``.venv/bin/python benchmarks/bench_ope.py [--transitions N] [--episodes E] [--bootstrap B]``

Targets (issue 5): IS, WIS, PDIS, WPDIS and DR (given Q values) in < 1 s in total, and 1,000
bootstrap resamples of all five in < 2 s.  Each is compared with a straightforward per-episode
Python loop measured in the same run (NumPy inside each episode, the way one writes it first):

* estimators: one loop over episodes computing weights with ``np.cumprod`` and the per-episode
  sums, then the per-time sums of WPDIS by padding every episode to the longest length;
  It is also timed on the same number of transitions cut into ``--short-episodes`` (100,000)
  episodes, where the loop's per-episode overhead shows;
* bootstrap: a loop over resamples, each re-running the per-episode-loop estimators on the
  resampled episodes.  It is timed on ``--loop-resamples`` resamples (default 5) and scaled to
  ``B`` (printed as such): running 1,000 of them would take many minutes.

Both implementations are checked to agree before timing is reported.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbench.ope.estimators import EpisodeEstimators

NAMES = ("is", "wis", "pdis", "wpdis", "dr")


def make_data(n_transitions: int, n_episodes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mean = n_transitions / n_episodes
    lengths = rng.integers(max(1, int(0.5 * mean)), int(1.5 * mean) + 1, n_episodes)
    lengths = np.maximum(1, np.round(lengths * n_transitions / lengths.sum()).astype(np.int64))
    lengths[-1] += n_transitions - lengths.sum()
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    N = int(offsets[-1])
    rewards = rng.normal(1.0, 1.0, N)
    # per-step log-ratios of an ε-soft policy vs a near-uniform behaviour: mean ~0, sd ~0.1
    log_ratio = rng.normal(-0.005, 0.1, N)
    q = rng.normal(5.0, 1.0, N)
    v = q + rng.normal(0.0, 0.1, N)
    return rewards, offsets, log_ratio, q, v


def loop_estimates(rewards, offsets, log_ratio, q, v, gamma):
    """The straightforward version: a Python loop over episodes."""
    E = len(offsets) - 1
    T = int(np.diff(offsets).max())
    isv = np.empty(E); W = np.empty(E); pd_ = np.empty(E); dr = np.empty(E)
    num = np.zeros(T); den = np.zeros(T)
    for i in range(E):
        s, e = offsets[i], offsets[i + 1]
        r = rewards[s:e]
        w = np.cumprod(np.exp(log_ratio[s:e]))
        wp = np.concatenate([[1.0], w[:-1]])
        d = gamma ** np.arange(e - s)
        W[i] = w[-1]
        isv[i] = w[-1] * np.dot(d, r)
        pd_[i] = np.dot(d, w * r)
        dr[i] = np.dot(d, w * (r - q[s:e]) + wp * v[s:e])
        num[: e - s] += w * r
        den[: e - s] += w
        den[e - s:] += w[-1]
    return {"is": isv.mean(), "wis": isv.sum() / W.sum(), "pdis": pd_.mean(),
            "wpdis": float(np.dot(gamma ** np.arange(T), num / den)), "dr": dr.mean()}


def loop_bootstrap(rewards, offsets, log_ratio, q, v, gamma, n, seed):
    rng = np.random.default_rng(seed)
    E = len(offsets) - 1
    out = []
    for _ in range(n):
        idx = rng.integers(0, E, E)
        sel = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in idx])
        off = np.concatenate([[0], np.cumsum(np.diff(offsets)[idx])])
        out.append(loop_estimates(rewards[sel], off, log_ratio[sel], q[sel], v[sel], gamma))
    return out


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, res = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transitions", type=int, default=1_000_000)
    ap.add_argument("--episodes", type=int, default=1_000)
    ap.add_argument("--bootstrap", type=int, default=1_000)
    ap.add_argument("--loop-resamples", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--short-episodes", type=int, default=100_000,
                    help="also time the estimators on this many short episodes (0: skip)")
    args = ap.parse_args()
    gamma = 0.99
    r, off, lr, q, v = make_data(args.transitions, args.episodes)
    lengths = np.diff(off)
    print(f"data: {len(r):,} transitions, {len(off) - 1:,} episodes, lengths "
          f"{lengths.min()}..{lengths.max()} (mean {lengths.mean():.0f})")

    def vectorised():
        est = EpisodeEstimators(r, off, gamma, log_ratio=lr, q_taken=q, v=v)
        return {n: est.estimate(n) for n in NAMES}

    t_vec, res_vec = best_of(vectorised, args.repeat)
    t_loop, res_loop = best_of(lambda: loop_estimates(r, off, lr, q, v, gamma), args.repeat)
    for n in NAMES:
        assert np.isclose(res_vec[n], res_loop[n], rtol=1e-7), (n, res_vec[n], res_loop[n])
    print(f"estimators {', '.join(NAMES)}: vectorised {t_vec:.3f} s, per-episode loop "
          f"{t_loop:.3f} s  -> {t_loop / t_vec:.1f}x  (target < 1 s: "
          f"{'OK' if t_vec < 1 else 'MISSED'})")
    if args.short_episodes:
        # the same number of transitions in many short episodes, where a per-episode loop
        # pays its Python overhead per episode (long episodes make the loop cheap)
        r2, off2, lr2, q2, v2 = make_data(args.transitions, args.short_episodes, seed=1)

        def vec2():
            est = EpisodeEstimators(r2, off2, gamma, log_ratio=lr2, q_taken=q2, v=v2)
            return {n: est.estimate(n) for n in NAMES}

        t2v, a2 = best_of(vec2, args.repeat)
        t2l, b2 = best_of(lambda: loop_estimates(r2, off2, lr2, q2, v2, gamma), 1)
        for n in NAMES:
            assert np.isclose(a2[n], b2[n], rtol=1e-7), n
        print(f"  same estimators, {args.transitions:,} transitions in {args.short_episodes:,} "
              f"episodes: vectorised {t2v:.3f} s, per-episode loop {t2l:.3f} s  -> "
              f"{t2l / t2v:.1f}x")

    est = EpisodeEstimators(r, off, gamma, log_ratio=lr, q_taken=q, v=v)
    est.estimate("wpdis")  # warm the per-time scale cache the way evaluate_ope does

    def boot():
        return est.bootstrap(NAMES, args.bootstrap, seed=0)

    t_boot, reps = best_of(boot, max(1, args.repeat - 1))
    n_loop = max(1, args.loop_resamples)
    t0 = time.perf_counter()
    loop_reps = loop_bootstrap(r, off, lr, q, v, gamma, n_loop, seed=0)
    t_lb = (time.perf_counter() - t0) / n_loop * args.bootstrap
    for n in NAMES:
        assert np.isfinite(reps[n]).all()
        # same statistic, different resamples: check the spread is of the same order
        assert abs(np.mean([x[n] for x in loop_reps]) - res_vec[n]) < 10 * reps[n].std() + 1e-9
    print(f"bootstrap, {args.bootstrap} resamples of all five: vectorised {t_boot:.3f} s, "
          f"loop over resamples {t_lb:.1f} s (timed on {n_loop}, scaled)  -> "
          f"{t_lb / t_boot:.0f}x  (target < 2 s: {'OK' if t_boot < 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
