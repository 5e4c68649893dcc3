"""What a training worker is given and how it reports back (no torch, no d3rlpy here).

:class:`RunSpec` is everything a worker needs (picklable, for the process executor);
:class:`Hooks` is how it reports status, metric rows, progress and the trained policy;
:func:`metric_name` namespaces d3rlpy's metric names.  Kept apart from
:mod:`workbench.training.worker` so that :func:`workbench.train` can build a run without
importing torch or d3rlpy in the caller's thread.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

__all__ = ["RunSpec", "Hooks", "Cancelled", "metric_name", "DEFAULT_CHECKPOINT_SECONDS"]

#: Default of ``train(checkpoint_seconds=...)``: a checkpoint at the first logging step at
#: least this many seconds after the previous one (or after the attempt started).
DEFAULT_CHECKPOINT_SECONDS = 30.0


class Cancelled(Exception):
    """Raised from the per-step callback to stop ``fitter`` (the job was cancelled)."""


@dataclasses.dataclass
class RunSpec:
    """Everything a worker needs to run (picklable, for the process and Ray executors).

    ``device`` may be ``"auto"``: the worker resolves it (``cuda:0`` when available, else
    ``cpu:0``) and records the result in the run's ``device`` column.  ``attempt`` is the
    number of this start of the run (1, then +1 per resume); ``start_step`` and
    ``checkpoint`` say where a resumed attempt continues from.  ``target_return``: what a
    decision transformer is conditioned on in its environment evaluations (``None`` for
    other algorithms).
    """

    run_id: str
    algo: str
    hyperparameters: dict[str, Any]
    seed: int
    n_steps: int
    log_every: int
    eval_every: int
    checkpoint_every: int
    device: str
    store_path: str
    executor: str = "thread"
    env: Any = None
    ray_address: str | None = None
    ray_num_cpus: float = 1.0
    ray_num_gpus: float | None = None
    eval_episodes: int = 5
    target_return: float | None = None
    holdout: float = 0.1
    n_step: int = 1
    keep_checkpoints: int = 2
    torch_threads: int | None = 1
    nice: int = 10
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    start_step: int = 0
    checkpoint: str | None = None
    attempt: int = 1

    @classmethod
    def from_settings(cls, settings: Any, *, run_id: str, store_path: str,
                      **fields: Any) -> RunSpec:
        """The spec of a run from resolved :class:`~workbench.training.settings.TrainSettings`
        (``fields``: ``start_step``, ``checkpoint``, ``attempt``, ... of a resumed attempt)."""
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        values["hyperparameters"] = dict(values["hyperparameters"])
        return cls(run_id=run_id, store_path=store_path, **values, **fields)

    def public(self) -> dict[str, Any]:
        """JSON-able fields recorded as the run's ``spec`` parameter."""
        d = dataclasses.asdict(self)
        d["env"] = self.env if (self.env is None or isinstance(self.env, str)) else repr(self.env)
        d["hyperparameters"] = {k: (v if isinstance(v, (int, float, str, bool, list, tuple,
                                                         type(None))) else {"__repr__": repr(v)})
                                for k, v in self.hyperparameters.items()}
        for k in ("start_step", "checkpoint", "store_path", "attempt"):
            d.pop(k)
        return d


class Hooks(Protocol):
    """How a worker reports back; each executor has its own (:mod:`.executors`)."""

    def cancelled(self) -> bool:
        """Whether the job was cancelled (checked after every update)."""
        ...

    def status(self, status: str, error: str | None = None) -> None:
        """The run's status changed (``running``, then a final one; ``error``: traceback)."""
        ...

    def rows(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        """Metric rows ``(run_id, step, name, value, wall_time)`` just committed."""
        ...

    def progress(self, step: int) -> None:
        """Gradient updates done so far (called every update)."""
        ...

    def policy(self, algo: Any) -> None:
        """The trained (or partially trained) d3rlpy algorithm, at the end."""
        ...


# ---------------------------------------------------------------------------- metric names
_TIME = {"time_step": "time/step_s", "time_sample_batch": "time/sample_s",
         "time_algorithm_update": "time/update_s"}
_PARAMS = {"temp": "param/temperature", "alpha": "param/alpha", "beta": "param/beta"}
_TD_FAMILIES = {"dqn", "double_dqn", "nfq"}
_BC_FAMILIES = {"bc", "dt"}  # decision transformers: return-conditioned action prediction


def metric_name(raw: str, algo: str) -> str:
    """Namespaced name for a d3rlpy loss name (``td_loss`` → ``loss/td``, ...).

    ``loss`` is ``loss/td`` for DQN/DoubleDQN/NFQ, ``loss/imitation`` for behaviour
    cloning and decision transformers (their action-prediction loss: squared error or
    cross-entropy) and ``loss/total`` otherwise; ``<x>_loss`` → ``loss/<x>``; ``time_*`` →
    ``time/*_s`` (seconds per update); ``temp``/``alpha`` → ``param/…``; anything else
    ``train/<name>``.
    """
    if raw in _TIME:
        return _TIME[raw]
    if raw == "loss":
        from .algorithms import ALGORITHMS

        fam = ALGORITHMS[algo].family if algo in ALGORITHMS else algo
        return ("loss/td" if fam in _TD_FAMILIES else "loss/imitation" if fam in _BC_FAMILIES
                else "loss/total")
    if raw.endswith("_loss"):
        return "loss/" + raw[: -len("_loss")]
    if raw in _PARAMS:
        return _PARAMS[raw]
    return "train/" + raw
