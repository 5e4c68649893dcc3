"""Training engine: d3rlpy agents in background jobs with live metrics and a run store.

    job = train(ds, algo="cql", n_steps=20_000, seed=0)   # returns at once
    job.status, job.metrics(), job.cancel(), job.wait(), job.policy
    resume(run_id)                                        # from the last checkpoint
    sweep(ds, algos=["cql", "bc"], seeds=range(5)).summary()

See :mod:`workbench.training.job` for executors and what stays non-deterministic in
thread mode, :mod:`workbench.training.stream` for the live metric stream API.
"""

from .algorithms import algorithms, resolve_algorithm
from .evaluators import training_health
from .job import TrainingJob, max_workers, resume, set_max_workers, train
from .sampler import FastReplayBuffer
from .stream import MetricStream, Subscription, metric_stream
from .sweep import Sweep, sweep

__all__ = ["train", "resume", "TrainingJob", "algorithms", "resolve_algorithm", "sweep", "Sweep",
           "metric_stream", "MetricStream", "Subscription", "FastReplayBuffer",
           "training_health", "set_max_workers", "max_workers"]
