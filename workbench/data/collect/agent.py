"""The online agent: DQN or SAC trained from scratch, recording every transition it sees.

:func:`train_online` runs the agent's training in the rollout engine (its transitions are
the ``replay`` scheme); :func:`online_agent` caches the trained agent and its replay
dataset under ``workbench_home()/agents`` so that the ``expert``, ``noisy``, ``mixed`` and
``replay`` schemes of one seed share one training run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import is_d3rlpy_algo
from ...errors import ConfigError
from ..atomic import file_lock
from ..dataset import EpisodeDataset
from .behaviors import EpsGreedy, RandomBehavior, SACSample, check_actions, check_algo
from .envs import child_seed, effective_n_envs, make_vec, seed_torch
from .rollout import Progress, rollout, to_dataset

__all__ = ["OnlineResult", "default_online_steps", "make_online_algo", "train_online",
           "online_agent"]

#: Default length (env steps) of the online training run per environment.
_DEFAULT_ONLINE_STEPS = {"CartPole-v1": 20_000, "MountainCar-v0": 60_000, "Acrobot-v1": 30_000,
                         "Pendulum-v1": 10_000}
_MUJOCO_ONLINE_STEPS = 50_000
#: Default online steps for image environments (by id prefix): small budgets, CPU-sized.
_IMAGE_ONLINE_STEPS = {"MinAtar/": 20_000, "ALE/": 10_000}


@dataclass
class OnlineResult:
    """An online training run: the trained algorithm and every transition it saw.

    Attributes:
        algo: the trained d3rlpy algorithm (DQN / SAC by default).
        replay: finished episodes of the training run, with ``extras["behavior_log_prob"]``
            and ``extras["train_step"]`` (int64, the transition's 0-based position in the run).
        seconds: wall-clock training time.
        settings: the settings that define the run (cache key).
    """

    algo: Any
    replay: EpisodeDataset
    seconds: float
    settings: dict[str, Any]


def default_online_steps(env_id: str) -> int:
    """Default number of env steps of online training for ``env_id``."""
    if env_id in _DEFAULT_ONLINE_STEPS:
        return _DEFAULT_ONLINE_STEPS[env_id]
    for prefix, steps in _IMAGE_ONLINE_STEPS.items():
        if env_id.startswith(prefix):
            return steps
    return _MUJOCO_ONLINE_STEPS


def _hparams(discrete: bool, obs_shape: tuple[int, ...] = ()) -> dict[str, Any]:
    """The online agent's settings.  Image observations (3-D ``obs_shape``) get a pixel
    encoder (d3rlpy's Nature-DQN network when the frames are large enough, else the small
    MinAtar network), ``PixelObservationScaler`` and one update per 4 env steps."""
    if len(obs_shape) == 3:
        from ..images import nature_cnn_fits

        return {"algo": "DQN" if discrete else "SAC",
                "encoder": "pixel" if nature_cnn_fits(obs_shape) else "pixel_small",
                "observation_scaler": "pixel", "learning_rate": 1e-3,
                "actor_learning_rate": 3e-4, "critic_learning_rate": 3e-4,
                "temp_learning_rate": 3e-4, "tau": 0.005, "batch_size": 32, "gamma": 0.99,
                "target_update_interval": 500, "learning_starts": 1_000,
                "updates_per_step": 0.25, "epsilon_start": 1.0, "epsilon_final": 0.05,
                "exploration_fraction": 0.3}
    if discrete:
        return {"algo": "DQN", "hidden": [64, 64], "learning_rate": 1e-3, "batch_size": 64,
                "gamma": 0.99, "target_update_interval": 250, "learning_starts": 1_000,
                "updates_per_step": 1.0, "epsilon_start": 1.0, "epsilon_final": 0.02,
                "exploration_fraction": 0.4}
    return {"algo": "SAC", "hidden": [64, 64], "actor_learning_rate": 1e-3,
            "critic_learning_rate": 1e-3, "temp_learning_rate": 1e-3, "batch_size": 128,
            "gamma": 0.99, "tau": 0.01, "learning_starts": 1_000, "updates_per_step": 1.0}


def make_online_algo(space: Any, hp: dict[str, Any] | None = None,
                     obs_shape: tuple[int, ...] = ()) -> Any:
    """The default online learner for a gymnasium action space: DQN (Discrete) or SAC (Box).

    The SAC gets a ``MinMaxActionScaler`` with the env bounds, so ``predict`` returns actions
    in env units.  Image observations (``obs_shape`` (C, H, W)) get a pixel encoder and
    ``PixelObservationScaler`` (see :func:`_hparams`).
    """
    from ..._d3rlpy import d3rlpy
    from ..images import SMALL_PIXEL_ENCODER

    discrete = hasattr(space, "n")
    hp = hp or _hparams(discrete, tuple(obs_shape))
    enc: Any
    scaler_kw: dict[str, Any] = {}
    if hp.get("encoder") == "pixel":
        enc = d3rlpy.models.PixelEncoderFactory()
    elif hp.get("encoder") == "pixel_small":
        enc = d3rlpy.models.PixelEncoderFactory(**SMALL_PIXEL_ENCODER)
    else:
        enc = d3rlpy.models.VectorEncoderFactory(list(hp["hidden"]))
    if hp.get("observation_scaler") == "pixel":
        scaler_kw["observation_scaler"] = d3rlpy.preprocessing.PixelObservationScaler()
    if discrete:
        return d3rlpy.algos.DQNConfig(
            learning_rate=hp["learning_rate"], batch_size=hp["batch_size"], gamma=hp["gamma"],
            target_update_interval=hp["target_update_interval"],
            encoder_factory=enc, **scaler_kw).create(device="cpu:0")
    scaler = d3rlpy.preprocessing.MinMaxActionScaler(
        minimum=np.asarray(space.low, dtype=np.float64),
        maximum=np.asarray(space.high, dtype=np.float64))
    return d3rlpy.algos.SACConfig(
        actor_learning_rate=hp["actor_learning_rate"],
        critic_learning_rate=hp["critic_learning_rate"],
        temp_learning_rate=hp["temp_learning_rate"], batch_size=hp["batch_size"],
        gamma=hp["gamma"], tau=hp["tau"], actor_encoder_factory=enc, critic_encoder_factory=enc,
        action_scaler=scaler, **scaler_kw).create(device="cpu:0")


class _Buffer:
    """Fixed-capacity numpy replay buffer, sampled uniformly with the run's own RNG.

    Observations are kept in the env's dtype when it is uint8 (images: a float32 mini-batch
    is made per sample, never a float copy of the buffer), float32 otherwise.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], act_dim: int,
                 obs_dtype: Any = np.float32) -> None:
        dtype = np.uint8 if np.dtype(obs_dtype) == np.uint8 else np.float32
        self.obs = np.zeros((capacity, *obs_shape), dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros((capacity, 1), np.float32)
        self.term = np.zeros((capacity, 1), np.float32)
        self.size = 0

    def add(self, t: dict[str, np.ndarray]) -> None:
        n = len(t["obs"])
        s = slice(self.size, self.size + n)
        self.obs[s], self.next_obs[s] = t["obs"], t["next_obs"]
        self.act[s] = np.asarray(t["actions"], np.float32).reshape(n, -1)
        self.rew[s, 0], self.term[s, 0] = t["rewards"], t["terminated"]
        self.size += n

    def sample(self, rng: np.random.Generator, batch_size: int) -> Any:
        from d3rlpy.dataset import TransitionMiniBatch

        idx = rng.integers(0, self.size, size=batch_size)
        act = self.act[idx]
        return TransitionMiniBatch(
            observations=self.obs[idx].astype(np.float32, copy=False), actions=act,
            rewards=self.rew[idx],
            next_observations=self.next_obs[idx].astype(np.float32, copy=False),
            next_actions=np.zeros_like(act),
            terminals=self.term[idx], intervals=np.ones((batch_size, 1), np.float32),
            transitions=[])


def train_online(env_id: str, n_steps: int | None = None, seed: int = 0, *, n_envs: int = 8,
                 agent: Any = None, progress: Progress = True) -> OnlineResult:
    """Train an online agent with a vectorised loop and record every transition it saw.

    Discrete actions: DQN with ε-greedy exploration (ε from 1 to 0.02 over the first 40 % of
    the steps; uniform for the first 1000 steps).  Continuous actions: SAC (uniform actions
    for the first 1000 steps, then samples from its tanh-Gaussian policy).  After each
    vector step, ``updates_per_step`` × (new transitions) gradient updates on minibatches
    drawn uniformly from all transitions so far (``algo.update``).  Image environments
    (MinAtar, Atari) get a pixel encoder, ``PixelObservationScaler``, a uint8 buffer, one update
    per 4 env steps and ε from 1 to 0.05 over the first 30 % of the steps.

    Args:
        env_id: gymnasium id.
        n_steps: env steps (transitions) of training; default :func:`default_online_steps`.
        seed: seeds env resets, exploration, minibatch sampling and torch.
        n_envs: parallel environments.
        agent: an *unbuilt or built* d3rlpy Q-learning algorithm to train instead of the
            default DQN/SAC (it must support ``update``; discrete algorithms act ε-greedy on
            ``predict``, continuous ones by ``sample_action``).
        progress: show a progress bar, or a :data:`Progress` callable.

    Returns:
        :class:`OnlineResult` (the replay dataset has ``scheme="replay"`` metadata).

    Raises:
        ConfigError: unknown env, bad arguments, an agent whose action space does not match.
        CollectionError: training produced no finished episode.
    """
    from ..._d3rlpy import d3rlpy  # noqa: F401  (quiet import)

    n_steps = default_online_steps(env_id) if n_steps is None else int(n_steps)
    if n_steps < 1:
        raise ConfigError(f"online_steps must be positive, got {n_steps}")
    n_envs = effective_n_envs(env_id, n_envs, n_steps)
    envs = make_vec(env_id, n_envs)
    try:
        space = envs.single_action_space
        discrete = hasattr(space, "n")
        obs_shape = tuple(envs.single_observation_space.shape)
        hp = _hparams(discrete, obs_shape)
        rng = np.random.default_rng(seed)
        seed_torch(child_seed(rng))
        if agent is None:
            algo = make_online_algo(space, hp, obs_shape)
        elif is_d3rlpy_algo(agent):
            algo = agent
            hp = {**hp, "algo": type(agent).__name__}
        else:
            raise ConfigError("agent must be a d3rlpy algorithm to be trained online (got "
                              f"{type(agent).__name__}). Fix: pass a d3rlpy algo, or use a "
                              "callable agent only with policy='expert'/'noisy'/'mixed'")
        act_size = int(space.n or 0) if discrete else int(space.shape[0])
        if algo.impl is None:
            algo.create_impl(obs_shape, act_size)
        check_algo(algo, space, "agent", obs_shape)
        buf = _Buffer(n_steps + n_envs, obs_shape, 1 if discrete else act_size,
                      envs.single_observation_space.dtype)
        random_b = RandomBehavior(space, rng)
        state = {"steps": 0, "pending": 0.0}
        starts, ups = int(hp["learning_starts"]), float(hp["updates_per_step"])
        bs = int(algo.config.batch_size)

        if discrete:
            n = int(space.n or 0)
            decay = max(1, int(hp["exploration_fraction"] * n_steps))

            def epsilon() -> float:
                t = state["steps"]
                if t < starts:
                    return 1.0
                f = min(1.0, t / decay)
                return hp["epsilon_start"] + f * (hp["epsilon_final"] - hp["epsilon_start"])

            def behavior(obs):
                eps = epsilon()
                if eps >= 1.0:
                    return random_b(obs)
                g = algo.predict(np.asarray(obs, np.float32)).astype(np.int64)
                return EpsGreedy(lambda _o: g, n, rng, eps)(obs)
        else:
            from d3rlpy.algos import SAC

            sample: Callable[[Any], Any]
            if isinstance(algo, SAC):
                sample = SACSample(algo, space)
            else:  # e.g. TD3/DDPG: no density available, so no behavior_log_prob is logged
                def sample(obs: Any) -> Any:
                    a = algo.sample_action(np.asarray(obs, np.float32))
                    return check_actions(a, len(obs), space, "agent"), None

            def behavior(obs):
                return random_b(obs) if state["steps"] < starts else sample(obs)

        def on_step(t: dict[str, np.ndarray]) -> None:
            buf.add(t)
            state["steps"] += len(t["obs"])
            if state["steps"] < starts:
                return
            state["pending"] += ups * len(t["obs"])
            while state["pending"] >= 1.0:
                algo.update(buf.sample(rng, bs))
                state["pending"] -= 1.0

        t0 = time.perf_counter()
        rec = rollout(envs, behavior, n_steps, rng, progress=progress,
                      desc=f"train {hp['algo']} on {env_id}", on_step=on_step,
                      index_name="train_step")
        seconds = time.perf_counter() - t0
        settings = {"env_id": env_id, "online_steps": n_steps, "seed": int(seed),
                    "n_envs": n_envs, "hparams": hp}
        replay = to_dataset(rec, envs, {"env_id": env_id, "scheme": "replay", "seed": int(seed),
                                        "n_envs": n_envs, "online_steps": n_steps,
                                        "agent": hp["algo"],
                                        "source": f"collect:{env_id}:replay"})
        return OnlineResult(algo, replay, seconds, settings)
    finally:
        envs.close()


def _agent_dir(env_id: str, n_steps: int, seed: int, n_envs: int) -> Path:
    import gymnasium as gym

    from ..._paths import workbench_home
    from .envs import make_env

    env = make_env(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    obs_shape = tuple(env.observation_space.shape or ())
    env.close()
    key = json.dumps({"hp": _hparams(discrete, obs_shape), "n_envs": n_envs}, sort_keys=True)
    h = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
    return workbench_home() / "agents" / f"{env_id.replace('/', '_')}-{n_steps}-seed{seed}-{h}"


def online_agent(env_id: str, n_steps: int | None = None, seed: int = 0, *, n_envs: int = 8,
                 progress: Progress = True) -> tuple[Any, EpisodeDataset]:
    """The default online agent (DQN/SAC) of ``env_id`` and its replay dataset, cached.

    Trained once with :func:`train_online` and stored under
    ``workbench_home() / "agents" / "<env_id>-<steps>-seed<seed>-<hash>/"`` (``agent.d3``,
    loadable with ``d3rlpy.load_learnable``, and ``replay.npz``), written atomically under a
    file lock so concurrent callers train it once.

    Returns:
        ``(algo, replay_dataset)``.
    """
    from ..._d3rlpy import d3rlpy
    from ..atomic import atomic_file
    from ..io import load_dataset

    n_steps = default_online_steps(env_id) if n_steps is None else int(n_steps)
    make_vec(env_id, 1).close()  # validates the id early
    n_envs = effective_n_envs(env_id, n_envs, n_steps)
    d = _agent_dir(env_id, n_steps, seed, n_envs)
    agent_path, replay_path = d / "agent.d3", d / "replay.npz"

    def cached():
        if agent_path.exists() and replay_path.exists():
            return d3rlpy.load_learnable(str(agent_path), device="cpu:0"), load_dataset(replay_path)
        return None

    hit = cached()
    if hit is not None:
        return hit
    with file_lock(d.parent / f".{d.name}.lock"):
        hit = cached()
        if hit is not None:
            return hit
        res = train_online(env_id, n_steps, seed, n_envs=n_envs, progress=progress)
        d.mkdir(parents=True, exist_ok=True)
        res.replay.save(replay_path, format="npz")  # atomic
        with atomic_file(agent_path) as tmp:
            res.algo.save(str(tmp))
        with atomic_file(d / "settings.json") as tmp:
            tmp.write_text(json.dumps({**res.settings, "seconds": res.seconds}, indent=1))
        return res.algo, res.replay
