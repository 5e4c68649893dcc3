"""Training engine: d3rlpy agents in background jobs with live metrics and a run store.

    job = train(ds, algo="cql", n_steps=20_000, seed=0)   # returns at once
    job.status, job.metrics(), job.cancel(), job.wait(), job.policy
    dt = train(ds, algo="dt", n_steps=20_000, env="CartPole-v1", target_return=200,
               context_size=20)                           # a decision transformer
    resume(run_id)                                        # from the last checkpoint
    sweep(ds, algos=["cql", "bc"], seeds=range(5)).summary()
    sweep(ds, algos=["cql", "bc"], seeds=range(3), executor="ray").run_until_decided(10, 3)

See :mod:`workbench.training.job` for executors, exits and what stays non-deterministic in
thread mode, :mod:`workbench.training.stream` for the live metric stream API,
:mod:`workbench.training.checkpoints` for when checkpoints are written,
:mod:`workbench.training.trajectories` for the trajectory slices decision transformers train on.

Importing this package does not import torch or d3rlpy (``FastReplayBuffer`` is loaded on
first access): :func:`train` returns without paying for them in the caller's thread.
"""

from typing import Any

from .algorithms import algorithms, resolve_algorithm
from .evaluators import training_health
from .executors import max_workers, set_max_workers
from .job import TrainingJob, resume, train
from .ray_executor import init_ray, ray_info, shutdown_ray
from .runs import Run, load_run
from .settings import DegenerateTrainingWarning, TrainSettings, degenerate_settings
from .stream import MetricStream, Subscription, metric_stream
from .sweep import SeedBudget, Sweep, sweep

__all__ = ["train", "resume", "TrainingJob", "TrainSettings", "load_run", "Run", "algorithms",
           "degenerate_settings", "DegenerateTrainingWarning",
           "resolve_algorithm", "sweep", "Sweep", "SeedBudget", "init_ray", "shutdown_ray",
           "ray_info",
           "metric_stream", "MetricStream", "Subscription", "FastReplayBuffer",
           "training_health", "set_max_workers", "max_workers"]


def __getattr__(name: str) -> Any:
    if name == "FastReplayBuffer":  # imports d3rlpy
        from .sampler import FastReplayBuffer

        globals()[name] = FastReplayBuffer
        return FastReplayBuffer
    raise AttributeError(f"module 'workbench.training' has no attribute {name!r}")
