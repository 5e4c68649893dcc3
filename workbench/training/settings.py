"""How a run trains: :class:`TrainSettings`, validated in one place (no torch, no d3rlpy).

``workbench.train(ds, algo=..., n_steps=..., **options)`` builds one from its keywords and
calls :meth:`TrainSettings.resolve` before any work starts: every problem a user can cause
is a :class:`~workbench.errors.ConfigError` there, and every default that depends on the
run (logging, evaluation and checkpoint intervals) is filled in.  Settings that are legal
but make training degenerate for the chosen number of steps (a target network that never
updates, ...) are reported by :func:`degenerate_settings` and warned about by ``train``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .devices import check_device
from .spec import DEFAULT_CHECKPOINT_SECONDS

if TYPE_CHECKING:  # pragma: no cover
    from ..data.dataset import EpisodeDataset
    from .algorithms import AlgorithmSpec

__all__ = ["TrainSettings", "degenerate_settings", "DegenerateTrainingWarning"]


class DegenerateTrainingWarning(UserWarning):
    """A setting is legal but makes training degenerate for the chosen number of steps."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides how a run trains (see :func:`workbench.train` for each).

    Attributes:
        algo: algorithm or family name; :meth:`resolve` turns it into the d3rlpy name.
        n_steps: gradient updates.
        seed: seeds initialisation, the sampler, the held-out split and evaluation episodes.
        device: ``"auto"``, ``"cpu"`` or ``"cuda:N"`` (``"auto"`` is resolved by the worker).
        executor: ``"thread"``, ``"process"`` or ``"ray"``.
        env: gymnasium id (or env object, thread executor only) for ``eval/return``.
        ray_address: with ``executor="ray"``: an existing cluster (``"auto"``,
            ``"host:port"`` or ``"ray://host:port"``); ``None`` starts (or reuses) a local
            Ray on 127.0.0.1 only (see :func:`workbench.training.init_ray`).
        ray_num_cpus: CPUs the cluster reserves for each job (Ray executor).
        ray_num_gpus: GPUs the cluster reserves for each job (Ray executor); ``None``: one
            when ``device`` names CUDA, else none.
        log_every, eval_every, checkpoint_every: intervals in updates (``None``: defaults).
        checkpoint_seconds: wall-clock checkpoint interval in seconds (0 = off).
        holdout: fraction of episodes held out for the TD-error and value evaluation
            (decision transformers have none: they train on every episode).
        n_step: n-step returns in the sampled batches.
        eval_episodes: environment episodes per evaluation.
        target_return: decision transformers only: the return-to-go the policy is conditioned
            on when it is evaluated in ``env`` (``None``: the dataset's best episode return,
            filled in by :meth:`resolve`).
        keep_checkpoints: newest checkpoints kept on disk.
        nice: CPU niceness added to the worker (0..19).
        hyperparameters: fields of the d3rlpy config.
    """

    algo: str = "cql"
    n_steps: int = 10_000
    seed: int = 0
    device: str = "auto"
    executor: str = "thread"
    env: Any = None
    ray_address: str | None = None
    ray_num_cpus: float = 1.0
    ray_num_gpus: float | None = None
    log_every: int | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    holdout: float = 0.1
    n_step: int = 1
    eval_episodes: int = 5
    target_return: float | None = None
    keep_checkpoints: int = 2
    nice: int = 10
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def resolve(self, ds: EpisodeDataset) -> tuple[TrainSettings, AlgorithmSpec]:
        """The settings with every default filled in, and the algorithm for ``ds``.

        Imports neither torch nor d3rlpy (unless ``device`` names a GPU or
        ``compile_graph`` is set): hyperparameters are checked against the cached
        description of the d3rlpy configs.

        Raises:
            ConfigError: unknown algorithm/hyperparameter/device/executor, an algorithm for
                the other action space, ``n_steps`` smaller than one logging interval, bad
                intervals, a negative or non-numeric ``checkpoint_seconds``,
                ``compile_graph`` without CUDA, an env object with the process or Ray
                executor; ``executor="ray"`` without Ray installed, a malformed
                ``ray_address``, negative Ray resources.
        """
        from .algorithms import image_defaults, resolve_algorithm, validate_hyperparameters
        from .executors import EXECUTORS

        hp = dict(self.hyperparameters)
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; valid: {tuple(EXECUTORS)}")
        ray_address, ray_num_cpus, ray_num_gpus = self.ray_address, self.ray_num_cpus, \
            self.ray_num_gpus
        if self.executor == "ray":
            from .ray_executor import check_ray_address, require_ray

            require_ray()
            ray_address = check_ray_address(ray_address)
            ray_num_cpus = _resource(ray_num_cpus, "ray_num_cpus")
            if ray_num_gpus is not None:
                ray_num_gpus = _resource(ray_num_gpus, "ray_num_gpus")
        if self.executor == "ray" and str(self.device).strip().lower().startswith("cuda"):
            # the cluster's GPUs, not this machine's: Ray gives the job one GPU, which the
            # worker sees as cuda:0 (checked against the cluster when connecting)
            dev = _cluster_cuda(self.device)
            if ray_num_gpus is None:
                ray_num_gpus = 1.0
        else:
            # "auto" stays unresolved (the worker resolves it) unless CUDA graphs need it now
            dev = check_device(self.device, defer_auto=not hp.get("compile_graph"))
        n_steps = self.n_steps
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) and not (
                hasattr(n_steps, "__index__")):
            raise ConfigError(f"n_steps must be an integer, got {n_steps!r}")
        n_steps = int(n_steps)
        if n_steps < 1:
            raise ConfigError(f"n_steps must be >= 1, got {n_steps}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        log_every = (max(1, min(500, n_steps // 10)) if self.log_every is None
                     else int(self.log_every))
        if log_every < 1:
            raise ConfigError(f"log_every must be >= 1, got {log_every}")
        if n_steps < log_every:
            raise ConfigError(f"n_steps={n_steps} is smaller than one logging interval "
                              f"(log_every={log_every}): nothing would be logged. Pass "
                              f"n_steps >= {log_every} or log_every <= {n_steps}")
        eval_every = _interval(self.eval_every, _round_up(max(1, n_steps // 20), log_every),
                               log_every, "eval_every")
        checkpoint_every = _interval(self.checkpoint_every,
                                     _round_up(max(1, n_steps // 10), log_every), log_every,
                                     "checkpoint_every")
        checkpoint_seconds = _seconds(self.checkpoint_seconds, "checkpoint_seconds")
        if not 0.0 <= float(self.holdout) < 1.0:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}")
        if int(self.n_step) < 1:
            raise ConfigError(f"n_step must be >= 1, got {self.n_step}")
        nice = self.nice
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise ConfigError(f"nice must be an integer from 0 (normal priority) to 19 (lowest), "
                              f"got {nice!r}")
        env = self.env
        if env is not None and not isinstance(env, str) and self.executor in ("process", "ray"):
            raise ConfigError(f"the {self.executor} executor needs env as a gymnasium id string "
                              "(an env object cannot be sent to another process)")
        if isinstance(env, str):
            import gymnasium as gym

            from ..data.collect.envs import register_image_envs

            register_image_envs(env)  # MinAtar / ALE ids are registered on first use
            if env not in gym.envs.registry:
                raise ConfigError(f"unknown gymnasium environment {env!r}")
        algo = resolve_algorithm(self.algo, ds.is_discrete)
        if hp.get("compile_graph") and not dev.startswith("cuda"):
            raise ConfigError(f"compile_graph=True needs a CUDA device (CUDA graphs); device is "
                              f"{dev}. Drop compile_graph or run on a GPU")
        # checked against the cached d3rlpy config description: no d3rlpy import here; the
        # worker builds the config (build_config) and records it as the run's "config" param
        validate_hyperparameters(algo, hp := image_defaults(algo, ds.observation_shape, hp))
        target_return = _target_return(self.target_return, algo, ds, hp, env)
        resolved = dataclasses.replace(
            self, algo=algo.name, n_steps=n_steps, device=dev, log_every=log_every,
            eval_every=eval_every, checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds, holdout=float(self.holdout),
            n_step=int(self.n_step), eval_episodes=int(self.eval_episodes),
            keep_checkpoints=int(self.keep_checkpoints), hyperparameters=hp,
            target_return=target_return,
            ray_address=ray_address, ray_num_cpus=ray_num_cpus, ray_num_gpus=ray_num_gpus)
        return resolved, algo


def degenerate_settings(algo: AlgorithmSpec, n_steps: int,
                        hyperparameters: dict[str, Any]) -> list[str]:
    """Legal settings that make training degenerate for ``n_steps`` updates, in words.

    Today: a target network synchronised every ``target_update_interval`` updates (the
    algorithm's default when not given, e.g. 8000 for DQN) that is never synchronised
    within the run, and a TD3-style actor updated every ``update_actor_interval`` updates
    that is never updated.  Reads the cached description of the d3rlpy configs (no
    d3rlpy import).
    """
    from .algorithms import config_defaults

    defaults = config_defaults(algo)
    out = []
    for key, what in (("target_update_interval", "the target network is never updated"),
                      ("update_actor_interval", "the actor is never updated")):
        if key not in defaults:
            continue
        value = hyperparameters.get(key, defaults[key])
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= n_steps:
            given = "" if key in hyperparameters else " (the default)"
            out.append(f"{key}={int(value)}{given} is not below n_steps={n_steps}: {what} "
                       f"during the run. Pass {key} well below n_steps (e.g. "
                       f"{max(1, n_steps // 10)}) or train longer")
    return out


def _target_return(value: Any, algo: AlgorithmSpec, ds: EpisodeDataset,
                   hp: dict[str, Any], env: Any) -> float | None:
    """The target return of a decision transformer (default: the dataset's best episode
    return), after checking that its ``max_timestep`` covers the episodes it will see.

    Raises:
        ConfigError: ``target_return`` for another algorithm or not a finite number;
            ``max_timestep`` not above the longest dataset episode or the env's time limit
            (d3rlpy's position embedding has ``max_timestep`` rows, indexed by timestep).
    """
    if not algo.transformer:
        if value is not None:
            raise ConfigError(f"target_return conditions a decision transformer (algo='dt'); "
                              f"{algo.name} has none. Drop target_return")
        return None
    from .algorithms import config_defaults

    max_t = int(hp.get("max_timestep", config_defaults(algo)["max_timestep"]))
    longest = int(ds.episode_lengths.max())
    if longest >= max_t:
        raise ConfigError(f"{algo.name}: max_timestep={max_t} must exceed the longest episode "
                          f"({longest} steps): timesteps 1..{longest} index a position "
                          f"embedding of max_timestep rows. Pass max_timestep={longest + 1} or "
                          "more")
    if isinstance(env, str):
        import gymnasium as gym

        limit = gym.spec(env).max_episode_steps
        if limit is not None and int(limit) >= max_t:
            raise ConfigError(f"{algo.name}: max_timestep={max_t} must exceed the time limit "
                              f"of {env} ({limit} steps) for the evaluation episodes. Pass "
                              f"max_timestep={int(limit) + 1} or more")
    if value is None:
        returns = ds.episode_returns()
        finished = returns[ds.finished] if ds.finished.any() else returns
        return float(finished.max())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            float(value)):
        raise ConfigError(f"target_return must be a finite number, got {value!r}")
    return float(value)


def _interval(value: int | None, default: int, log_every: int, what: str) -> int:
    if value is None:
        value = default
    value = int(value)
    if value < 0:
        raise ConfigError(f"{what} must be >= 0 (0 turns it off), got {value}")
    if value == 0:
        return 0
    if value % log_every:
        raise ConfigError(f"{what}={value} must be a multiple of log_every={log_every} (metrics "
                          f"and checkpoints are taken at logging steps)")
    return value


def _seconds(value: Any, what: str) -> float:
    """A duration in seconds: a finite number >= 0 (0 turns the feature off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number of seconds (0 = off), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a finite number of seconds >= 0 (0 = off), got "
                          f"{value!r}")
    return value


def _resource(value: Any, what: str) -> float:
    """A Ray resource amount: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            float(value)) or float(value) < 0:
        raise ConfigError(f"{what} must be a number >= 0 (a share of the cluster's resources "
                          f"reserved per job), got {value!r}")
    return float(value)


def _cluster_cuda(device: str) -> str:
    """``"cuda"``/``"cuda:N"`` on a Ray cluster: the job's own GPU, ``cuda:0`` in its worker."""
    d = device.strip().lower()
    if d not in ("cuda", "cuda:0"):
        raise ConfigError(f"device={device!r} with executor='ray': Ray assigns each job its "
                          "own GPU, which its worker sees as cuda:0; pass device='cuda'")
    return "cuda:0"


def _round_up(x: int, m: int) -> int:
    return max(m, -(-x // m) * m)
