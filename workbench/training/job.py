"""``train`` / ``resume`` and the :class:`TrainingJob` handle they return.

A job moves through ``queued → running → completed | failed | cancelled``; ``crashed``
is what the RunStore reports for a run whose process died.  The handle works the same
whatever runs it (:mod:`workbench.training.executors`): ``thread`` (default: the worker runs
in a thread of this process and shares the GPU; ``job.policy`` is the live object; each CPU
job sets torch to one intra-op thread, ``torch.set_num_threads(1)`` being process-wide, so
run jobs side by side rather than one job on many threads), ``process`` (a spawned worker
process per job; bitwise reproducible for a seed) or ``ray`` (a Ray actor per job on a
cluster or a local Ray; reproducible like ``process``; metrics and checkpoints come back to
this process: :mod:`workbench.training.ray_executor`).  At most ``max_workers(executor)`` jobs
run at once; the rest wait ``queued``.

Reproducibility in thread mode — what stays non-deterministic:

- network initialisation is reproducible (seeded under a lock), and so are the
  mini-batches (each job's sampler owns its ``np.random.Generator``);
- but algorithms that draw random numbers *during* updates (SAC/CQL/IQL policy
  sampling, CQL's uniform actions, BCQ/BEAR/PLAS VAEs, dropout) use torch's
  process-global generator, which concurrent jobs share: their draws interleave in
  thread-scheduling order, so two thread jobs with the same seed that ran alongside
  others can differ.  DQN-family and TD3+BC updates draw no torch randomness (TD3's
  target smoothing noise does) and are reproducible with one job at a time;
- on CUDA, cuDNN/cuBLAS kernels and atomics may be non-deterministic in any mode.

Use ``executor="process"`` when bitwise reproducibility matters.

Exiting Python while jobs run: at interpreter exit every live job of this process is
cancelled and joined, all together for at most :data:`EXIT_TIMEOUT` seconds (30;
the environment variable ``WORKBENCH_EXIT_TIMEOUT`` overrides it), so a cancelled job
records ``cancelled`` (with its partially trained policy) instead of being left
``running`` with its thread inside torch (which aborted the interpreter: "terminate called
without an active exception").  A job that has not stopped in time is recorded
``crashed`` with the reason and can be resumed.  The handler is registered with
``threading._register_atexit``, which runs before non-daemon threads are joined and
before ``atexit`` handlers, in particular before ``multiprocessing``'s, which would
otherwise terminate process-executor workers before they can stop cleanly, and before
Ray's own shutdown; once the jobs are joined, a local Ray started by this process is shut
down (a cluster it only connected to keeps running).

``train`` itself imports neither torch nor d3rlpy: hyperparameters are checked against a
cached description of the d3rlpy configs (:mod:`workbench.training.algorithms`), the
worker imports the training stack in its own thread (or process) and resolves
``device="auto"`` there.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import traceback
import uuid
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, TrainingError
from ..tracking.store import ACTIVE, FINISHED, WITH_POLICY
from .checkpoints import latest_checkpoint
from .devices import check_device
from .executors import EXECUTORS as _EXECUTORS
from .executors import executor as _executor
from .executors import max_workers, set_max_workers
from .settings import DegenerateTrainingWarning, TrainSettings, degenerate_settings
from .spec import DEFAULT_CHECKPOINT_SECONDS, RunSpec
from .stream import Subscription, metric_stream

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..data.dataset import EpisodeDataset
    from ..tracking.store import RunStore

__all__ = ["TrainingJob", "train", "resume", "set_max_workers", "max_workers", "EXECUTORS",
           "live_jobs", "shutdown_jobs", "EXIT_TIMEOUT"]

#: Executor names (see :mod:`workbench.training.executors`).
EXECUTORS = tuple(_EXECUTORS)


# ---------------------------------------------------------------------------- exit
#: Seconds to wait at interpreter exit for every live job to stop (all jobs together).
#: The environment variable ``WORKBENCH_EXIT_TIMEOUT`` overrides it when set.
EXIT_TIMEOUT = 30.0

_LIVE: weakref.WeakSet[TrainingJob] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def live_jobs() -> list[TrainingJob]:
    """Jobs of this process that have not stopped yet (queued, running, or stopping)."""
    with _LIVE_LOCK:
        jobs = list(_LIVE)
    return [j for j in jobs if not j._stopped()]


def _exit_timeout() -> float:
    text = os.environ.get("WORKBENCH_EXIT_TIMEOUT")
    if text:
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
    return float(EXIT_TIMEOUT)


def shutdown_jobs(timeout: float | None = None) -> list[TrainingJob]:
    """Cancel every live job of this process and wait until they have stopped.

    What runs at interpreter exit.  Each job is cancelled (a queued one never starts, a
    running one stops after its current update and records ``cancelled``), then joined:
    all together for at most ``timeout`` seconds (default :data:`EXIT_TIMEOUT`, or
    ``$WORKBENCH_EXIT_TIMEOUT``).  A job still running after that is recorded ``crashed``
    with the reason (its process-executor worker is terminated); none is left
    ``running``.  Returns the jobs that were live.
    """
    jobs = live_jobs()
    if not jobs:
        return []
    timeout = _exit_timeout() if timeout is None else float(timeout)
    deadline = time.monotonic() + timeout
    for j in jobs:
        try:
            j.cancel()
        except Exception:  # noqa: BLE001 - the others must still be stopped
            pass
    for j in jobs:
        j._join(max(0.0, deadline - time.monotonic()))
    for j in jobs:
        if not j._stopped():
            j._abandon(f"Python exited while this job was still stopping (not stopped "
                       f"{timeout:g} s after it was cancelled; WORKBENCH_EXIT_TIMEOUT sets the "
                       "wait); resume it with workbench.resume(run_id)")
    return jobs


def _at_exit() -> None:
    try:
        shutdown_jobs()
    except Exception:  # pragma: no cover - never turn an exit into a traceback
        traceback.print_exc()
    for ex in _EXECUTORS.values():  # e.g. stop the local Ray this process started
        try:
            ex.shutdown()
        except Exception:  # pragma: no cover
            traceback.print_exc()


try:  # runs before non-daemon threads are joined and before atexit handlers
    threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # pragma: no cover - other Pythons
    atexit.register(_at_exit)


# ---------------------------------------------------------------------------- the handle
class TrainingJob:
    """Handle of one training run (returned at once by :func:`train`).

    Attributes:
        run_id: key of the run in the RunStore.
        algo: the resolved d3rlpy algorithm name (``"discrete_cql"``).
        n_steps: total gradient updates of the run.
        executor: ``"thread"``, ``"process"`` or ``"ray"``.
        target_return: what a decision transformer is conditioned on when evaluated
            (``None`` for other algorithms).
        store: the :class:`~workbench.tracking.RunStore` the run is recorded in.
    """

    def __init__(self, spec: RunSpec, ds: EpisodeDataset, store: RunStore) -> None:
        self.run_id = spec.run_id
        self.algo = spec.algo
        self.n_steps = spec.n_steps
        self.executor = spec.executor
        self.target_return = spec.target_return
        self.store = store
        self._spec = spec
        self._ds: EpisodeDataset | None = ds  # dropped once the worker has it
        self._status = "queued"
        self._error: str | None = None
        self._policy: Any = None
        self._step = spec.start_step
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._sub: Subscription = metric_stream().subscribe(run_ids={self.run_id})
        self._thread: threading.Thread | None = None
        self._proc: Any = None
        self._mp_cancel: Any = None
        self._ray_actor: Any = None  # the job's Ray actor (ray executor)
        self._ray_ds: Any = None  # the dataset's ObjectRef when a sweep put it already
        self._worker: dict[str, Any] | None = None  # pid and host of the Ray worker
        #: the id of the dataset's object in Ray's object store (``ray`` executor; the same
        #: for every job of a sweep)
        self.dataset_ref: str | None = None
        with _LIVE_LOCK:
            _LIVE.add(self)

    # ------------------------------------------------------------------ state
    @property
    def status(self) -> str:
        """``queued``, ``running``, ``completed``, ``failed``, ``cancelled`` or ``crashed``."""
        return self._status

    @property
    def done(self) -> bool:
        """The job has finished (any final status)."""
        return self._done.is_set()

    @property
    def step(self) -> int:
        """Gradient updates done so far (updated every step in thread mode, every logging
        interval in process mode)."""
        return self._step

    @property
    def device(self) -> str:
        """The device: ``cpu:0`` or ``cuda:N``; ``"auto"`` until the worker has resolved it
        (``train`` does not import torch to find out)."""
        dev = self._spec.device
        if dev == "auto":
            try:
                dev = str(self.store.get_run(self.run_id)["device"] or "auto")
            except Exception:  # noqa: BLE001 - deleted run: keep "auto"
                pass
        return dev

    @property
    def worker_pid(self) -> int | None:
        """The process id of the job's worker: the spawned process (``process``), the Ray
        actor's process (``ray``; on the host in :attr:`worker_host`), ``None`` in thread
        mode or before the worker started."""
        if self._proc is not None:
            return self._proc.pid
        return None if self._worker is None else int(self._worker["pid"])

    @property
    def worker_host(self) -> str | None:
        """The host name of a Ray job's worker (``None`` for other executors)."""
        return None if self._worker is None else str(self._worker["host"])

    @property
    def error(self) -> str | None:
        """The formatted traceback when the job ``failed``, else ``None``."""
        return self._error

    @property
    def policy(self) -> Any:
        """The trained d3rlpy algorithm (``predict``, ``predict_value``, ``save``).

        Available once the job is ``completed`` or ``cancelled`` (the partially trained
        policy); ``None`` before that and for failed jobs.  Process jobs load it from the
        run's ``final.d3`` artefact on first access.
        """
        if self._policy is None and self._status in WITH_POLICY:
            art = self.store.artifacts(self.run_id)
            final = art[art["name"] == "final"]
            if len(final):
                from .worker import load_policy

                self._policy = load_policy(final["path"].iloc[-1], device=self.device)
        return self._policy

    def _set_status(self, status: str, error: str | None = None) -> None:
        with self._lock:
            if self._status in FINISHED:
                return
            self._status = status
            if error is not None:
                self._error = error
            if status in FINISHED:
                self._done.set()

    # ------------------------------------------------------------------ metrics
    def metrics(self, names: list[str] | None = None, attempts: str = "current") -> pd.DataFrame:
        """Every committed metric of this run: columns ``step, name, value, wall_time``.

        Read from the RunStore (so it is complete and the same after a restart); new rows
        appear once per logging interval.  ``wall_time`` is epoch seconds.  After a
        resume, the interrupted attempt's rows stay until this attempt has committed the
        same steps; ``attempts="all"`` returns every attempt's rows with ``attempt`` and
        ``current`` columns (see :meth:`~workbench.tracking.RunStore.metrics`).
        """
        df = self.store.metrics(self.run_id, names=names, attempts=attempts)
        return df.drop(columns="run_id").reset_index(drop=True)

    def drain_metrics(self) -> pd.DataFrame:
        """Rows published since the last call (``run_id, step, name, value, wall_time``).

        Backed by this job's own :class:`~workbench.training.stream.Subscription`; for a
        dashboard following many jobs, subscribe to :func:`metric_stream` instead.
        """
        return self._sub.drain()

    def health(self) -> pd.DataFrame:
        """Kumar et al.'s overfitting/underfitting flags with reasons (see
        :func:`~workbench.training.evaluators.training_health`)."""
        from .evaluators import training_health

        return training_health(self.metrics())

    # ------------------------------------------------------------------ control
    def cancel(self, wait: bool = False, timeout: float | None = None) -> bool:
        """Stop the job: a queued job never starts; a running one stops after the current
        update and ends ``cancelled`` (its partially trained policy is kept).

        Args:
            wait: also block until the job has stopped: its status is final and its worker
                thread (and process) has ended, so it is safe to exit Python right after.
            timeout: with ``wait``, the most seconds to wait (``None``: no limit).

        Returns ``True`` when a cancellation was requested, ``False`` (a no-op) when the
        job had already finished.

        Raises:
            TimeoutError: ``wait`` and the job had not stopped after ``timeout`` seconds.
        """
        with self._lock:
            requested = self._status not in FINISHED
            if requested:
                self._cancel.set()
                _executor(self.executor).interrupt(self)
            queued = self._status == "queued"
        if requested and queued:
            # the worker thread sees the flag before starting; record it now
            self.store.update_run(self.run_id, status="cancelled", finished=time.time())
            self._set_status("cancelled")
        if wait and not self._join(timeout):
            raise TimeoutError(f"run {self.run_id} had not stopped {timeout}s after cancel "
                               f"(status {self._status})")
        return requested

    def _stopped(self) -> bool:
        """The job is final and its worker thread has ended (or never started)."""
        t = self._thread
        if t is None:
            return self._status in FINISHED
        return not t.is_alive()

    def _join(self, timeout: float | None) -> bool:
        """Wait until :meth:`_stopped` (at most ``timeout`` seconds); returns it."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        else:
            self._done.wait(timeout)
        return self._stopped()

    def _abandon(self, reason: str) -> None:
        """Record a job that did not stop in time as ``crashed`` (never left ``running``);
        a process-executor worker is terminated."""
        _executor(self.executor).terminate(self)
        try:
            self.store.reap()
            if self.store.status(self.run_id) in ACTIVE:
                self.store.update_run(self.run_id, status="crashed", finished=time.time(),
                                      error=reason)
        finally:
            self._set_status("crashed", reason)

    def wait(self, timeout: float | None = None, progress: bool = True) -> TrainingJob:
        """Block until the job finishes (or ``timeout`` seconds pass); returns the job.

        Args:
            timeout: seconds; ``None`` waits for the end.
            progress: show a ``tqdm.auto`` bar of gradient updates (notebook or terminal).

        Raises:
            TimeoutError: ``timeout`` passed before the job finished.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.n_steps, initial=self._step, unit="step",
                       desc=f"{self.algo} {self.run_id[-6:]}", leave=True)
        try:
            while not self._done.wait(0.2):
                if bar is not None:
                    bar.update(self._step - bar.n)
                    bar.set_postfix_str(self._status, refresh=False)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"run {self.run_id} still {self._status} after {timeout}s")
            if self._thread is not None:
                self._thread.join(timeout=5)
            if bar is not None:
                bar.update(self._step - bar.n)
                bar.set_postfix_str(self._status)
        finally:
            if bar is not None:
                bar.close()
        return self

    # ------------------------------------------------------------------ execution
    def _start(self) -> None:
        """Start the job's supervisor thread, which runs it on its executor."""
        self._thread = threading.Thread(target=_executor(self.executor).run, args=(self,),
                                        name=f"wb-{self.run_id}", daemon=True)
        self._thread.start()

    def _fail(self, error: str) -> None:
        try:
            self.store.update_run(self.run_id, status="failed", finished=time.time(),
                                  error=error)
        finally:
            self._set_status("failed", error)

    def _finish_cancelled_queued(self) -> None:
        if self._status != "cancelled":
            self.store.update_run(self.run_id, status="cancelled", finished=time.time())
        self._set_status("cancelled")
        self._done.set()

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        return (f"TrainingJob(run_id={self.run_id!r}, algo={self.algo!r}, status={self._status!r},"
                f" step={self._step}/{self.n_steps}, executor={self.executor!r})")

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._sub.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------- train
def _new_run_id(algo: str) -> str:
    return f"{algo}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("workbench", "d3rlpy", "torch", "numpy", "gymnasium", "pandas", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _dataset_source(ds: EpisodeDataset, home: Any) -> str:
    """Where ``resume``/``load_run`` can find the dataset again.

    A file or directory path or a catalog name when the dataset came from one; otherwise
    the dataset is saved once per fingerprint to ``<home>/datasets/<fingerprint>.npz``.
    """
    from pathlib import Path

    src = ds.metadata.get("source")
    if src and Path(str(src)).exists():
        return str(Path(str(src)).resolve())
    try:
        from ..data.catalog import catalog_names

        for name in (ds.metadata.get("name"), src):
            if name and name in catalog_names():
                return str(name)
    except Exception:  # pragma: no cover - catalog unavailable
        pass
    path = Path(home) / "datasets" / f"{ds.fingerprint}.npz"
    if not path.exists():
        ds.save(path, format="npz")
    return str(path)


def train(ds: EpisodeDataset | str, algo: str = "cql", n_steps: int = 10_000, seed: int = 0,
          device: str = "auto", executor: str = "thread", env: Any = None, *,
          ray_address: str | None = None, ray_num_cpus: float = 1.0,
          ray_num_gpus: float | None = None, log_every: int | None = None,
          eval_every: int | None = None, checkpoint_every: int | None = None,
          checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS, holdout: float = 0.1,
          n_step: int = 1,
          eval_episodes: int = 5, target_return: float | None = None,
          keep_checkpoints: int = 2, store: RunStore | None = None,
          name: str | None = None, nice: int = 10, start: bool = True,
          **hyperparameters: Any) -> TrainingJob:
    """Train a d3rlpy algorithm on ``ds`` in the background; returns a job at once.

    Args:
        ds: the dataset (or anything :func:`workbench.load_dataset` accepts).
        algo: algorithm or family name (see :func:`workbench.training.algorithms`);
            ``"cql"`` is ``discrete_cql`` on a discrete dataset; ``"dt"`` a decision
            transformer (``discrete_decision_transformer`` or ``decision_transformer``),
            trained on trajectory slices of ``context_size`` steps (see
            :mod:`workbench.training.trajectories`).
        n_steps: gradient updates.
        seed: seeds network initialisation, the sampler's generator, the held-out split and
            the evaluation episodes.
        device: ``"auto"`` (``cuda:0`` when available, else CPU; resolved by the worker
            unless torch is already imported, see :attr:`TrainingJob.device`), ``"cpu"``,
            ``"cuda:N"``.
        executor: ``"thread"`` (default), ``"process"`` (spawned; bitwise reproducible) or
            ``"ray"`` (a Ray actor; needs ``workbench[ray]``; reproducible like ``process``).
        env: gymnasium id (or environment object, thread executor only) for ``eval/return``.
        ray_address: with ``executor="ray"``: ``None`` (default) uses this process's Ray
            connection, or starts a local Ray on 127.0.0.1 only (see
            :func:`~workbench.training.init_ray` to size it); ``"auto"``, ``"host:port"``
            or ``"ray://host:port"``: an existing cluster.  Connecting happens here, in the
            caller's thread (starting a local Ray takes ~15 s on 2 cores, once).
        ray_num_cpus: CPUs reserved on the cluster per job (default 1: one torch thread).
        ray_num_gpus: GPUs reserved per job (default: 1 with ``device="cuda"``, else 0).
        log_every: updates per logging interval (metrics are means over it; one store commit
            each); default ``min(500, n_steps // 10)`` (at least 1).
        eval_every: updates between evaluations (a multiple of ``log_every``; 0 = off);
            default about ``n_steps / 20``.
        checkpoint_every: updates between checkpoints (a multiple of ``log_every``; 0 = off);
            default about ``n_steps / 10``.
        checkpoint_seconds: also checkpoint at the first logging step at least this many
            wall-clock seconds after the previous checkpoint (or the start of the attempt),
            whichever of the two triggers comes first; 0 = off.  Default 30 s, so a long
            run killed early still has a recent checkpoint to resume from.  Checkpoints are
            only taken at logging steps (every ``log_every`` updates).
        holdout: fraction of episodes held out of training for the TD-error and value
            evaluation (0 = evaluate on the training episodes).  Decision transformers have
            no such evaluation and train on every episode.
        n_step: n-step returns in the sampled batches (1 = plain transitions).
        eval_episodes: environment episodes per evaluation.
        target_return: decision transformers only: the return-to-go the policy is conditioned
            on in its ``env`` evaluations (``eval/return``); default the dataset's best
            episode return.  Recorded in the run's spec (``wb.evaluate_ope`` rolls the policy
            out at it).
        keep_checkpoints: newest checkpoints kept on disk.
        store: RunStore to record into (default: ``$WORKBENCH_HOME/runs.sqlite``).
        name: free-text label of the run.
        nice: CPU niceness added to the worker (0 = the caller's priority, up to 19): the
            notebook, the dashboard and the browser are served first, training gets every
            cycle left.  Applies to the worker's thread on Linux and to the worker process
            of the process executor; ignored where the OS cannot do it.
        start: start (queue) the job now; ``False`` returns it unstarted (``job._start()``).
        **hyperparameters: fields of the d3rlpy config (``batch_size``, ``learning_rate``,
            ``alpha``, ``compile_graph``...); see :mod:`workbench.training.algorithms`.

    Returns:
        A :class:`TrainingJob` in status ``queued`` (it starts as soon as a worker slot is
        free).  The call imports neither torch nor d3rlpy (unless ``device`` names a GPU or
        ``compile_graph`` is set): the worker does, in its own thread or process.

    Raises:
        ConfigError: unknown algorithm/hyperparameter/device/executor, an algorithm for the
            other action space, ``n_steps`` smaller than one logging interval, bad intervals,
            a negative or non-numeric ``checkpoint_seconds``, ``compile_graph`` without
            CUDA, an env object with the process or Ray executor; ``executor="ray"`` without
            Ray installed, a malformed ``ray_address``, a cluster that cannot be reached or
            is too small for one job.  Everything is checked before any work starts.
        DatasetError: ``ds`` cannot be loaded.
    """
    from ..data.dataset import EpisodeDataset
    from ..tracking.store import default_store

    if not isinstance(ds, EpisodeDataset):
        from ..data.io import load_dataset

        ds = load_dataset(ds)
    settings, spec_algo = TrainSettings(
        algo=algo, n_steps=n_steps, seed=seed, device=device, executor=executor, env=env,
        ray_address=ray_address, ray_num_cpus=ray_num_cpus, ray_num_gpus=ray_num_gpus,
        log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds, holdout=holdout, n_step=n_step,
        eval_episodes=eval_episodes, target_return=target_return,
        keep_checkpoints=keep_checkpoints, nice=nice,
        hyperparameters=dict(hyperparameters)).resolve(ds)
    for problem in degenerate_settings(spec_algo, settings.n_steps, settings.hyperparameters):
        warnings.warn(f"{spec_algo.name}: {problem}", DegenerateTrainingWarning, stacklevel=2)
    if settings.executor == "ray":  # connect now: an unreachable cluster is a ConfigError
        from .ray_executor import connect

        connect(settings.ray_address, settings.ray_num_cpus, settings.ray_num_gpus)
    store = store or default_store()
    run_id = _new_run_id(spec_algo.name)
    spec = RunSpec.from_settings(settings, run_id=run_id, store_path=str(store.path))
    source = _dataset_source(ds, store.path.parent)
    store.create_run(run_id, name=name, algo=spec_algo.name, dataset=ds.name,
                     dataset_fingerprint=ds.fingerprint, seed=spec.seed, n_steps=spec.n_steps,
                     step=0, executor=spec.executor, device=spec.device, status="queued")
    store.begin_attempt(run_id, start_step=0)
    store.log_params(run_id, {
        "spec": spec.public(), "hyperparameters": spec.public()["hyperparameters"],
        "versions": _versions(),
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "source": source,
                    "env_id": ds.metadata.get("env_id"), "n_episodes": ds.n_episodes,
                    "n_transitions": ds.n_transitions,
                    "action_space": "discrete" if ds.is_discrete else "continuous"}})
    job = TrainingJob(spec, ds, store)
    if start:
        job._start()
    return job


def _locate_dataset(params: dict[str, Any], dataset: Any) -> EpisodeDataset:
    from ..data.dataset import EpisodeDataset
    from ..data.io import load_dataset

    info = params.get("dataset", {})
    fp = info.get("fingerprint")
    if dataset is not None:
        ds = dataset if isinstance(dataset, EpisodeDataset) else load_dataset(dataset)
        if fp and ds.fingerprint != fp:
            raise ConfigError(f"the dataset passed has fingerprint {ds.fingerprint}, the run was "
                              f"trained on {fp}: pass the same dataset")
        return ds
    src = info.get("source")
    try:
        ds = load_dataset(src)
    except Exception as exc:
        raise TrainingError(f"cannot find the run's dataset at {src!r} ({exc}); pass "
                            "dataset=... to resume") from None
    if fp and ds.fingerprint != fp:
        raise TrainingError(f"the dataset at {src!r} changed since the run (fingerprint "
                            f"{ds.fingerprint}, expected {fp}); pass dataset=... explicitly")
    return ds


def resume(run_id: str, *, dataset: Any = None, n_steps: int | None = None,
           executor: str | None = None, device: str | None = None,
           store: RunStore | None = None) -> TrainingJob:
    """Continue a crashed, cancelled or failed run from its last checkpoint.

    The run keeps its id and gets a new *attempt* (2, 3, ...) that starts from the last
    checkpoint (step ``S``), or from step 0 with the same seed when there is none.  No
    metric is deleted: the rows the interrupted attempt committed after ``S`` stay in
    :meth:`TrainingJob.metrics` until the new attempt has committed the same steps (or
    completed the run), and stay readable with ``attempts="all"`` for ever (see
    :meth:`~workbench.tracking.RunStore.metrics`).  In process mode a resumed run
    continues bit for bit as if it had never stopped.

    Args:
        run_id: the run.
        dataset: the dataset, when it cannot be found from the run's params (it was built in
            memory and the cached copy is gone); must have the same fingerprint.
        n_steps: a new total (to train a completed run further); default the run's own.
        executor, device: override the run's.
        store: the RunStore (default the one under ``$WORKBENCH_HOME``).

    Raises:
        ConfigError: unknown run, mismatching dataset, bad overrides.
        TrainingError: the run is still running, or already completed with ``n_steps``
            not larger than its steps, or its dataset cannot be found.
    """
    from ..tracking.store import default_store

    store = store or default_store()
    store.reap()
    run = store.get_run(run_id)
    if run["status"] in ACTIVE:
        raise TrainingError(f"run {run_id} is still {run['status']} (pid {run['pid']}); cancel "
                            "it or wait for it to finish")
    params = store.params(run_id)
    sp = dict(params["spec"])
    total = int(n_steps) if n_steps is not None else int(sp["n_steps"])
    ck = latest_checkpoint(store.run_dir(run_id))
    start_step, ckpt_path = (ck[0], str(ck[1])) if ck else (0, None)
    if run["status"] == "completed":
        raise TrainingError(f"run {run_id} already completed {run['step']} of {sp['n_steps']} "
                            "steps; start a new run to train longer")
    ds = _locate_dataset(params, dataset)
    ex = executor or sp["executor"]
    if ex not in EXECUTORS:
        raise ConfigError(f"unknown executor {ex!r}; valid: {EXECUTORS}")
    ray_address = sp.get("ray_address")
    ray_num_cpus = float(sp.get("ray_num_cpus", 1.0))
    ray_num_gpus = sp.get("ray_num_gpus")
    if ex == "ray":
        from .ray_executor import check_ray_address, connect

        ray_address = check_ray_address(ray_address)
        connect(ray_address, ray_num_cpus, ray_num_gpus)
    dev = check_device(device, defer_auto=True) if device else sp["device"]
    if total <= start_step:
        raise ConfigError(f"n_steps={total} is not beyond the checkpoint at step {start_step}")
    hp = _hyperparameters_from(params, sp, ckpt_path is not None)
    spec = RunSpec(run_id=run_id, algo=sp["algo"], hyperparameters=hp, seed=int(sp["seed"]),
                   n_steps=total, log_every=int(sp["log_every"]),
                   eval_every=int(sp["eval_every"]), checkpoint_every=int(sp["checkpoint_every"]),
                   device=dev, store_path=str(store.path), executor=ex, env=sp.get("env"),
                   ray_address=ray_address, ray_num_cpus=ray_num_cpus, ray_num_gpus=ray_num_gpus,
                   eval_episodes=int(sp["eval_episodes"]),
                   target_return=sp.get("target_return"), holdout=float(sp["holdout"]),
                   n_step=int(sp["n_step"]), keep_checkpoints=int(sp["keep_checkpoints"]),
                   torch_threads=sp.get("torch_threads", 1), nice=int(sp.get("nice", 10)),
                   checkpoint_seconds=float(sp.get("checkpoint_seconds",
                                                   DEFAULT_CHECKPOINT_SECONDS)),
                   start_step=start_step, checkpoint=ckpt_path)
    # a new attempt; nothing is deleted (the current view supersedes rows as they are redone)
    spec.attempt = store.begin_attempt(run_id, start_step=start_step)
    store.update_run(run_id, status="queued", pid=os.getpid(), finished=None, error=None,
                     n_steps=total, executor=ex, device=dev, step=start_step)
    store.log_params(run_id, {"resumed": {"from_step": start_step, "attempt": spec.attempt,
                                          "at": time.time()}})
    job = TrainingJob(spec, ds, store)
    job._start()
    return job


def _hyperparameters_from(params: dict[str, Any], sp: dict[str, Any],
                          has_checkpoint: bool) -> dict[str, Any]:
    hp = dict(sp.get("hyperparameters", {}))
    objects = [k for k, v in hp.items() if isinstance(v, dict) and "__repr__" in v]
    if objects and not has_checkpoint:
        raise TrainingError(f"cannot restart run from step 0: hyperparameters {objects} were "
                            "objects that were recorded only by repr; start a new run")
    return {k: v for k, v in hp.items() if k not in objects}
