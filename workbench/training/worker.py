"""The training loop of one run: the same function runs in a thread or a spawned process.

Reading order: :func:`run_job` → :class:`_Adapter` (d3rlpy ``LoggerAdapter``: every
logging interval it commits one batch of metric rows to the RunStore, publishes them to
the metric stream and writes due checkpoints, by steps or by wall time: see
:mod:`workbench.training.checkpoints`).

This module imports torch and d3rlpy; the light pieces a caller needs (:class:`RunSpec`,
:class:`Hooks`, checkpoint paths, device checks) live in :mod:`.spec`,
:mod:`.checkpoints` and :mod:`.devices`, so ``train`` stays free of those imports.

d3rlpy's ``fitter`` drives the updates; decision transformers, which d3rlpy trains with
``fit`` only, run :func:`transformer_fitter`, the same loop over trajectory batches of
:class:`~workbench.training.trajectories.TrajectoryBuffer`.  Cancellation raises
:class:`Cancelled` from the per-step ``callback`` (so training stops after the current
update).  ``n_steps`` is split
into segments of whole logging intervals plus a remainder, because ``fitter`` silently drops
``n_steps % n_steps_per_epoch`` steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._d3rlpy import d3rlpy
from .checkpoints import CheckpointSchedule, latest_checkpoint, prune_checkpoints, save_checkpoint
from .devices import check_device, resolve_device
from .spec import Cancelled, Hooks, RunSpec, metric_name

__all__ = ["RunSpec", "Hooks", "Cancelled", "run_job", "save_checkpoint", "latest_checkpoint",
           "load_policy", "INIT_LOCK", "metric_name", "check_device", "config_record",
           "transformer_fitter"]

#: Held while a job seeds torch and builds its networks, so initialisation is reproducible
#: for a seed even when thread jobs start side by side.
INIT_LOCK = threading.Lock()


# ---------------------------------------------------------------------------- quiet d3rlpy
_QUIET_DONE = False


def _drop_noise(_logger: Any, _method: str, event_dict: Any) -> Any:
    import structlog

    if str(event_dict.get("event", "")).startswith("Skip building models"):
        raise structlog.DropEvent
    return event_dict


def quiet() -> None:
    """Silence d3rlpy's INFO logs and its "Skip building models" warning (we prebuild)."""
    global _QUIET_DONE
    if _QUIET_DONE:
        return
    import structlog

    from .._d3rlpy import quiet_d3rlpy

    quiet_d3rlpy()
    procs = list(structlog.get_config().get("processors", []))
    if _drop_noise not in procs:
        structlog.configure(processors=[_drop_noise, *procs])
    _QUIET_DONE = True


# ---------------------------------------------------------------------------- policies
def load_policy(path: str | os.PathLike, device: str = "cpu:0") -> Any:
    """A d3rlpy algorithm from a ``.d3`` file (``algo.save``), ready for ``predict``.

    ``device="auto"`` picks ``cuda:0`` when available, else ``cpu:0``.
    """
    quiet()
    return d3rlpy.load_learnable(str(path), device=resolve_device(device))


def config_record(config: Any) -> dict[str, Any]:
    """The d3rlpy config as JSON (``repr`` of fields that cannot be serialised yet, such
    as unfitted scalers; the fitted config is in every checkpoint's ``model.d3``)."""
    try:
        return json.loads(config.serialize())
    except Exception:
        return {f.name: (v if isinstance(v := getattr(config, f.name), (int, float, str, bool,
                         type(None))) else repr(v)) for f in dataclasses.fields(config)}


# ---------------------------------------------------------------------------- adapter
class _Adapter:
    """d3rlpy ``LoggerAdapter``: metrics → RunStore (one commit per interval) + stream."""

    def __init__(self, spec: RunSpec, store: Any, hooks: Hooks, run_dir: Path,
                 buffer: Any) -> None:
        self.spec = spec
        self.store = store
        self.hooks = hooks
        self.run_dir = run_dir
        self.buffer = buffer
        self.offset = 0
        self.pending: dict[str, float] = {}
        self._rows: list[tuple[int, str, float, float]] = []
        self._last_t = time.perf_counter()
        self._last_step = spec.start_step
        self.committed_step = spec.start_step
        self.schedule = CheckpointSchedule(spec.checkpoint_every, spec.checkpoint_seconds,
                                           spec.n_steps)

    # LoggerAdapterFactory
    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> _Adapter:
        return self

    def write_params(self, params: dict[str, Any]) -> None:
        self.store.log_params(self.spec.run_id, {"d3rlpy_config": params})

    def before_write_metric(self, epoch: int, step: int) -> None:
        self._rows = []
        self._wall = time.time()

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        self._rows.append((self.offset + step, metric_name(name, self.spec.algo), float(value),
                           self._wall))

    def after_write_metric(self, epoch: int, step: int) -> None:
        g = self.offset + step
        now = time.perf_counter()
        dt = now - self._last_t
        if dt > 0 and g > self._last_step:
            self._rows.append((g, "time/updates_per_s", (g - self._last_step) / dt, self._wall))
        self._last_t, self._last_step = now, g
        for name, value in self.pending.items():
            self._rows.append((g, name, float(value), self._wall))
        self.pending = {}
        self.store.log_metrics(self.spec.run_id, self._rows, step=g, attempt=self.spec.attempt)
        self.committed_step = g
        self.hooks.rows([(self.spec.run_id, s, n, v, w) for s, n, v, w in self._rows])
        self._rows = []

    def save_model(self, epoch: int, algo: Any) -> None:
        """Called by d3rlpy after each logging interval's commit: checkpoint when due (by
        steps or by wall time, see :class:`CheckpointSchedule`)."""
        g = self.offset + epoch  # d3rlpy passes the segment's total step here
        if not self.schedule.due(g):
            return
        path = save_checkpoint(algo, self.buffer, self.run_dir, g)
        self.schedule.done()
        self.store.add_artifact(self.spec.run_id, f"checkpoint-{g:09d}", path,
                                kind="checkpoint", step=g)
        for s in prune_checkpoints(self.run_dir, self.spec.keep_checkpoints):
            self.store.remove_artifact(self.spec.run_id, f"checkpoint-{s:09d}")

    def watch_model(self, epoch: int, step: int) -> None:
        pass

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------- CUDA graphs
class _CudaGraphGate:
    """Readers–writer gate: capture of a CUDA graph excludes every other job's CUDA work.

    ``torch.cuda.graph`` capture (global mode) fails when another thread launches work
    meanwhile, so every update of a thread job on CUDA holds the shared side, and the first
    ``warmup`` updates of a ``compile_graph`` job (warm-up and capture) hold it exclusively.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def shared(self) -> _Ctx:
        return _Ctx(self._acquire_shared, self._release_shared)

    def exclusive(self) -> _Ctx:
        return _Ctx(self._acquire_excl, self._release_excl)

    def _acquire_shared(self) -> None:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1

    def _release_shared(self) -> None:
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    def _acquire_excl(self) -> None:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True

    def _release_excl(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class _Ctx:
    def __init__(self, enter: Callable[[], None], exit: Callable[[], None]) -> None:
        self._enter, self._exit = enter, exit

    def __enter__(self) -> None:
        self._enter()

    def __exit__(self, *a: object) -> None:
        self._exit()


CUDA_GATE = _CudaGraphGate()


def _gate_updates(algo: Any, compile_graph: bool, warmup: int = 3) -> None:
    """Wrap ``algo.update`` so CUDA-graph capture is serialised across thread jobs."""
    inner = algo.update
    calls = [0]

    def update(batch: Any) -> dict[str, float]:
        if compile_graph and calls[0] < warmup:
            calls[0] += 1
            with CUDA_GATE.exclusive():
                return inner(batch)
        with CUDA_GATE.shared():
            return inner(batch)

    algo.update = update


# ---------------------------------------------------------------------------- the run
def _build(spec: RunSpec, ds: Any, run_dir: Path) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The algorithm (fresh, or restored from ``spec.checkpoint``), the sampler, the
    evaluators and the params to record (``split``; ``config`` for a fresh run)."""
    import torch
    from d3rlpy.algos.utility import (
        build_scalers_with_trajectory_slicer,
        build_scalers_with_transition_picker,
    )

    from .algorithms import ALGORITHMS, build_config
    from .evaluators import EnvEvaluator, HeldOutEvaluator, split_holdout

    aspec = ALGORITHMS[spec.algo]
    config: Any = None if spec.checkpoint else build_config(aspec, spec.hyperparameters)
    record = None if config is None else config_record(config)  # before scalers are fitted
    # decision transformers have no held-out (TD-error) evaluation: they train on every episode
    train_idx, held_idx = split_holdout(ds.n_episodes, 0.0 if aspec.transformer
                                        else spec.holdout, spec.seed)
    train_ds = ds if len(train_idx) == ds.n_episodes else ds.select(train_idx)
    held_ds = ds if len(held_idx) == ds.n_episodes else ds.select(held_idx)
    if spec.checkpoint:
        # the checkpoint's model.d3 holds the config with fitted scalers, networks, optimisers
        ckpt = Path(spec.checkpoint)
        algo = d3rlpy.load_learnable(str(ckpt / "model.d3"), device=spec.device)
        config = algo.config
        buffer = _buffer(spec, aspec, train_ds, algo)
        state = torch.load(ckpt / "state.pt", weights_only=False)
        algo._grad_step = int(state["grad_step"])
        if "tokens" in state:  # DiscreteDecisionTransformer: where its LR schedule stands
            algo.impl._tokens = int(state["tokens"])
        buffer.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    else:
        with INIT_LOCK:
            if spec.executor in ("process", "ray"):  # a process of its own: seed globally
                d3rlpy.seed(spec.seed)
            torch.manual_seed(spec.seed)
            algo = config.create(device=spec.device)
            buffer = _buffer(spec, aspec, train_ds, algo)
            if aspec.transformer:
                build_scalers_with_trajectory_slicer(algo, buffer)
            else:
                build_scalers_with_transition_picker(algo, buffer)
            shape = buffer.dataset_info.observation_signature.shape
            algo.create_impl(shape[0] if len(shape) == 1 else shape,
                             buffer.dataset_info.action_size)
    if spec.algo == "prdc":
        _fit_prdc_neighbours(algo, buffer)
    evaluators: dict[str, Any] = {}
    if spec.eval_every:
        if aspec.has_q:
            evaluators["heldout"] = HeldOutEvaluator(held_ds, float(config.gamma),
                                                     seed=spec.seed)
        if spec.env is not None:
            evaluators["env"] = EnvEvaluator(spec.env, spec.eval_episodes, seed=spec.seed,
                                             target_return=spec.target_return
                                             if aspec.transformer else None)
    info = {"train_episodes": int(len(train_idx)), "heldout_episodes": held_idx.tolist()
            if len(held_idx) < ds.n_episodes else "all (holdout=0)"}
    if aspec.transformer:
        info["heldout_episodes"] = "none (decision transformers have no held-out evaluation)"
    params = {"split": info}
    if record is not None:  # a fresh run: the d3rlpy config it was built with
        params["config"] = record
    return algo, buffer, evaluators, params


def _buffer(spec: RunSpec, aspec: Any, train_ds: Any, algo: Any) -> Any:
    """The run's sampler, seeded with ``spec.seed``: trajectory slices for decision
    transformers, transitions for everything else."""
    rng = np.random.default_rng(spec.seed)
    if aspec.transformer:
        from .trajectories import TrajectoryBuffer

        return TrajectoryBuffer(train_ds, rng=rng)
    from .sampler import FastReplayBuffer

    return FastReplayBuffer(train_ds, rng=rng, n_step=spec.n_step,
                            gamma=float(algo.config.gamma),
                            need_returns_to_go=bool(algo.need_returns_to_go))


def transformer_fitter(algo: Any, buffer: Any, *, n_steps: int, n_steps_per_epoch: int,
                       experiment_name: str, logger_adapter: Any,
                       callback: Callable[[Any, int, int], None],
                       epoch_callback: Callable[[Any, int, int], None]) -> Any:
    """d3rlpy's ``fitter`` loop for a transformer algorithm (which has ``fit`` only).

    The same steps in the same order as ``QLearningAlgoBase.fitter`` (with d3rlpy's
    ``D3RLPyLogger``, so metrics, times and checkpoints reach ``logger_adapter`` exactly as
    for the other algorithms): per update, a trajectory batch of ``batch_size`` slices of
    ``context_size`` steps from ``buffer`` (its own generator), ``algo.update(batch)`` and
    ``callback``; per epoch of ``n_steps_per_epoch`` updates, ``epoch_callback``, one
    commit of the epoch's mean metrics and ``save_model``.  Yields ``(epoch, metrics)``.
    The algorithm must be built (scalers fitted, ``create_impl`` called).
    """
    from d3rlpy.base import save_config
    from d3rlpy.logging import D3RLPyLogger

    logger = D3RLPyLogger(algo=algo, adapter_factory=logger_adapter,
                          experiment_name=experiment_name, n_steps_per_epoch=n_steps_per_epoch,
                          with_timestamp=False)
    save_config(algo, logger)
    batch_size, length = int(algo.config.batch_size), int(algo.config.context_size)
    total = 0
    for epoch in range(1, n_steps // n_steps_per_epoch + 1):
        for _ in range(n_steps_per_epoch):
            with logger.measure_time("step"):
                with logger.measure_time("sample_batch"):
                    batch = buffer.sample_trajectory_batch(batch_size, length=length)
                with logger.measure_time("algorithm_update"):
                    loss = algo.update(batch)
                for name, val in loss.items():
                    logger.add_metric(name, val)
            total += 1
            callback(algo, epoch, total)
        epoch_callback(algo, epoch, total)
        metrics = logger.commit(epoch, total)
        logger.save_model(total, algo)
        yield epoch, metrics
    logger.close()


def _fit_prdc_neighbours(algo: Any, buffer: Any) -> None:
    """Do what ``PRDC.fit`` does before training (``fitter`` skips it): fit the
    nearest-neighbour index on the (scaled) dataset.  d3rlpy keeps that index as a *class*
    attribute shared by every PRDC instance; give each job its own."""
    from sklearn.neighbors import NearestNeighbors

    obs, act = buffer._obs, buffer._actions
    if algo.observation_scaler is not None and algo.observation_scaler.built:
        obs = algo.observation_scaler.transform_numpy(obs)
    if algo.action_scaler is not None and algo.action_scaler.built:
        act = algo.action_scaler.transform_numpy(act)
    nn = NearestNeighbors(n_neighbors=1, algorithm="auto", n_jobs=1)
    nn.fit(np.concatenate([np.multiply(obs.reshape(len(obs), -1), algo.config.beta), act], axis=1))
    algo._nbsr = nn
    if algo.impl is not None:
        algo.impl._nbsr = nn


def lower_cpu_priority(nice: int, whole_process: bool) -> bool:
    """Add ``nice`` to the CPU niceness of the calling thread (Linux) or process (POSIX).

    Training is background work: at a higher niceness the scheduler serves the notebook
    kernel, the dashboard's server and the browser first, and training still gets every
    cycle nobody else wants.  A thread-executor job lowers only its own thread, which Linux
    allows (elsewhere a thread cannot be reniced alone, so nothing changes).  Returns whether
    the priority was changed; failures (no permission, no ``os.setpriority``) are ignored.
    """
    import sys

    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    if whole_process:
        who = 0
    elif sys.platform.startswith("linux"):
        who = threading.get_native_id()  # Linux: a thread id renices that thread alone
    else:
        return False
    try:
        now = os.getpriority(os.PRIO_PROCESS, who)
        os.setpriority(os.PRIO_PROCESS, who, min(19, now + int(nice)))
    except OSError:
        return False
    return True


def run_job(spec: RunSpec, ds: Any, hooks: Hooks, store: Any | None = None) -> str:
    """Train one run to completion, cancellation or failure; returns the final status.

    Never raises for a training failure: the run ends ``failed`` with the traceback in the
    store (``runs.error``) and in ``hooks.status``.  ``store`` is the RunStore (default:
    the one at ``spec.store_path``) or, on a Ray worker, a stand-in that sends every call
    to the driver (:class:`~workbench.training.ray_executor._RemoteStore`).
    ``spec.device == "auto"`` is resolved here and recorded in the run's ``device`` column;
    metric rows are written as attempt ``spec.attempt``.
    """
    import torch

    from ..tracking.store import RunStore
    from .algorithms import ALGORITHMS
    from .evaluators import training_health

    quiet()
    lower_cpu_priority(spec.nice, whole_process=spec.executor in ("process", "ray"))
    store = store or RunStore(spec.store_path, reap=False)
    run_dir = store.run_dir(spec.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    algo = None
    try:
        if hooks.cancelled():
            store.update_run(spec.run_id, status="cancelled", finished=time.time())
            hooks.status("cancelled")
            return "cancelled"
        if spec.device == "auto":
            spec = dataclasses.replace(spec, device=resolve_device(spec.device))
            store.update_run(spec.run_id, device=spec.device)
        store.claim(spec.run_id)
        hooks.status("running")
        if spec.torch_threads and spec.device.startswith("cpu"):
            torch.set_num_threads(int(spec.torch_threads))
        algo, buffer, evaluators, params = _build(spec, ds, run_dir)
        store.log_params(spec.run_id, params)
        if spec.device.startswith("cuda") and spec.executor == "thread":
            _gate_updates(algo, bool(spec.hyperparameters.get("compile_graph")))
        adapter = _Adapter(spec, store, hooks, run_dir, buffer)
        eval_every = spec.eval_every

        def on_step(_algo: Any, _epoch: int, total: int) -> None:
            hooks.progress(adapter.offset + total)
            if hooks.cancelled():
                raise Cancelled

        def on_epoch(algo_: Any, _epoch: int, total: int) -> None:
            g = adapter.offset + total
            if eval_every and (g % eval_every == 0 or g == spec.n_steps):
                for ev in evaluators.values():
                    adapter.pending.update(ev(algo_))

        step = spec.start_step
        remaining = spec.n_steps - step
        segments = []
        whole = remaining // spec.log_every * spec.log_every
        if whole:
            segments.append((whole, spec.log_every))
        if remaining - whole:
            segments.append((remaining - whole, remaining - whole))
        transformer = ALGORITHMS[spec.algo].transformer
        for n, per_epoch in segments:
            adapter.offset = step
            loop = (transformer_fitter(algo, buffer, n_steps=n, n_steps_per_epoch=per_epoch,
                                       experiment_name=spec.run_id, logger_adapter=adapter,
                                       callback=on_step, epoch_callback=on_epoch)
                    if transformer else
                    algo.fitter(buffer, n_steps=n, n_steps_per_epoch=per_epoch,
                                experiment_name=spec.run_id, with_timestamp=False,
                                logger_adapter=adapter, show_progress=False, save_interval=1,
                                callback=on_step, epoch_callback=on_epoch))
            for _ in loop:
                pass
            step += n
        status = "completed"
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:  # noqa: BLE001 - the job must end in a recorded state
        tb = traceback.format_exc()
        try:
            store.update_run(spec.run_id, status="failed", finished=time.time(), error=tb)
        finally:
            hooks.status("failed", tb)
        if not isinstance(exc, Exception):
            raise
        return "failed"
    finally:
        for ev in locals().get("evaluators", {}).values():
            if hasattr(ev, "close"):
                ev.close()
    # completed or cancelled: keep the (partially) trained policy
    try:
        if algo is not None and algo.impl is not None:
            from ..data.atomic import atomic_file

            final = run_dir / "final.d3"
            with atomic_file(final) as tmp:
                algo.save(str(tmp))
            store.add_artifact(spec.run_id, "final", final, kind="model",
                               step=adapter.committed_step)
            hooks.policy(algo)
        fields: dict[str, Any] = {}
        if not getattr(store, "remote", False):  # a Ray worker's driver computes it
            health = training_health(store.metrics(spec.run_id))
            fields["health"] = json.dumps(health.to_dict(orient="records"))
        store.update_run(spec.run_id, status=status, finished=time.time(), **fields)
    except BaseException:
        tb = traceback.format_exc()
        store.update_run(spec.run_id, status="failed", finished=time.time(), error=tb)
        hooks.status("failed", tb)
        return "failed"
    hooks.status(status)
    return status
