"""Vectorised collection vs one environment at a time, same neural policy, same run.

Policy: a torch MLP (obs -> 256 -> 256 -> tanh action, scaled to the bounds), evaluated on
CPU with one torch thread on both sides.

* baseline: a plain loop over one ``gymnasium.make("Pendulum-v1")`` env, one policy call
  per step, recording every transition (obs, action, reward, next obs, flags);
* vectorised: ``workbench.data.collect.collect(env_id, policy=mlp, n_envs=N)``: a
  ``SyncVectorEnv`` of N envs, one batched policy call per vector step, episodes assembled
  with exact boundaries.

Prints steps/s of each and the ratio (target >= 3x on Pendulum-v1).

    python benchmarks/bench_collect.py [--env Pendulum-v1] [--steps 40000] [--n-envs 16]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from workbench.data.collect import collect, torch_threads


def make_policy(env: gym.Env, hidden: int = 256, seed: int = 0):
    torch.manual_seed(seed)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    net = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, act_dim), torch.nn.Tanh())
    low = torch.as_tensor(env.action_space.low)
    high = torch.as_tensor(env.action_space.high)

    @torch.no_grad()
    def policy(obs: np.ndarray) -> np.ndarray:
        """(B, obs_dim) -> (B, act_dim) actions inside the bounds."""
        y = net(torch.as_tensor(obs, dtype=torch.float32))
        return (low + (y + 1) / 2 * (high - low)).numpy()

    return policy


def one_env_loop(env_id: str, policy, n_steps: int, seed: int = 0) -> float:
    """Steps/s of a one-environment-at-a-time loop that records every transition."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    rec = []
    t0 = time.perf_counter()
    with torch_threads(1):
        for _ in range(n_steps):
            a = policy(obs[None])[0]
            nxt, r, term, trunc, _ = env.step(a)
            rec.append((obs, a, r, nxt, term, trunc))
            obs = nxt
            if term or trunc:
                obs, _ = env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return n_steps / dt


def vectorised(env_id: str, policy, n_steps: int, n_envs: int, seed: int = 0) -> float:
    t0 = time.perf_counter()
    ds = collect(env_id, policy, n_steps=n_steps, seed=seed, n_envs=n_envs, progress=False)
    dt = time.perf_counter() - t0
    assert ds.n_transitions > 0
    return n_steps / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--steps", type=int, default=40_000, help="transitions per measurement")
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = p.parse_args()

    policy = make_policy(gym.make(args.env))
    vectorised(args.env, policy, 2_000, args.n_envs)  # warm-up (imports, torch init)
    one_env_loop(args.env, policy, 500)
    single = max(one_env_loop(args.env, policy, args.steps // 4) for _ in range(args.repeats))
    vec = max(vectorised(args.env, policy, args.steps, args.n_envs) for _ in range(args.repeats))
    print(f"{args.env}, MLP 2x256 policy, torch threads 1, best of {args.repeats}")
    print(f"one env at a time      : {single:10.0f} steps/s")
    print(f"vectorised ({args.n_envs:2d} envs)   : {vec:10.0f} steps/s")
    print(f"ratio                  : {vec / single:10.2f}x  (target >= 3x)")


if __name__ == "__main__":
    main()
