"""``train`` / ``resume`` and the :class:`TrainingJob` handle they return.

A job moves through ``queued → running → completed | failed | cancelled``; ``crashed``
is what the RunStore reports for a run whose process died.  The handle works the same
for both executors:

``thread`` (default)
    a daemon thread in this process; shares the GPU; ``job.policy`` is the live object.
    At most ``max_workers("thread")`` jobs run at once (default: the number of CPU cores
    for CPU jobs); the rest wait ``queued``.  Each CPU job sets torch to one intra-op
    thread (``torch.set_num_threads(1)`` is process-wide: run jobs side by side rather
    than one job on many threads).
``process``
    a spawned worker process per job (``multiprocessing`` "spawn" context); metrics
    and progress are relayed through a queue; bitwise reproducible for a seed.

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
otherwise terminate process-executor workers before they can stop cleanly.

``train`` itself imports neither torch nor d3rlpy: hyperparameters are checked against a
cached description of the d3rlpy configs (:mod:`workbench.training.algorithms`), the
worker imports the training stack in its own thread (or process) and resolves
``device="auto"`` there.
"""

from __future__ import annotations

import atexit
import math
import os
import queue
import threading
import time
import traceback
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, TrainingError
from .checkpoints import latest_checkpoint
from .devices import check_device
from .spec import DEFAULT_CHECKPOINT_SECONDS, Hooks, RunSpec
from .stream import Subscription, metric_stream

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..data.dataset import EpisodeDataset
    from ..tracking.store import RunStore

__all__ = ["TrainingJob", "train", "resume", "set_max_workers", "max_workers", "EXECUTORS",
           "live_jobs", "shutdown_jobs", "EXIT_TIMEOUT"]

EXECUTORS = ("thread", "process")
_FINISHED = ("completed", "failed", "cancelled", "crashed")


# ---------------------------------------------------------------------------- scheduling
class _Slots:
    """A resizable counting semaphore: at most ``n`` jobs of one executor run at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, stop: threading.Event) -> bool:
        with self.cond:
            while self.used >= self.n:
                if stop.is_set():
                    return False
                self.cond.wait(0.1)
            if stop.is_set():
                return False
            self.used += 1
            return True

    def release(self) -> None:
        with self.cond:
            self.used -= 1
            self.cond.notify_all()


_SLOTS = {"thread": _Slots(os.cpu_count() or 1), "process": _Slots(os.cpu_count() or 1)}


def set_max_workers(executor: str, n: int) -> None:
    """Run at most ``n`` jobs of ``executor`` at once (others wait ``queued``).

    Raises:
        ConfigError: unknown executor or ``n < 1``.
    """
    if executor not in _SLOTS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {EXECUTORS}")
    if int(n) < 1:
        raise ConfigError(f"max workers must be >= 1, got {n}")
    slots = _SLOTS[executor]
    with slots.cond:
        slots.n = int(n)
        slots.cond.notify_all()


def max_workers(executor: str) -> int:
    """The concurrency limit of ``executor`` (default: CPU cores)."""
    return _SLOTS[executor].n


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
        executor: ``"thread"`` or ``"process"``.
        store: the :class:`~workbench.tracking.RunStore` the run is recorded in.
    """

    def __init__(self, spec: RunSpec, ds: EpisodeDataset, store: RunStore) -> None:
        self.run_id = spec.run_id
        self.algo = spec.algo
        self.n_steps = spec.n_steps
        self.executor = spec.executor
        self.store = store
        self._spec = spec
        self._ds = ds
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
        if self._policy is None and self._status in ("completed", "cancelled"):
            art = self.store.artifacts(self.run_id)
            final = art[art["name"] == "final"]
            if len(final):
                from .worker import load_policy

                self._policy = load_policy(final["path"].iloc[-1], device=self.device)
        return self._policy

    def _set_status(self, status: str, error: str | None = None) -> None:
        with self._lock:
            if self._status in _FINISHED:
                return
            self._status = status
            if error is not None:
                self._error = error
            if status in _FINISHED:
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
            requested = self._status not in _FINISHED
            if requested:
                self._cancel.set()
                if self._mp_cancel is not None:
                    self._mp_cancel.set()
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
            return self._status in _FINISHED
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
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()
        try:
            self.store.reap()
            if self.store.status(self.run_id) in ("queued", "running"):
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
        target = self._run_thread if self.executor == "thread" else self._run_process
        self._thread = threading.Thread(target=target, name=f"wb-{self.run_id}", daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        slots = _SLOTS["thread"]
        if not slots.acquire(self._cancel):
            self._finish_cancelled_queued()
            return
        try:
            try:  # torch and d3rlpy are imported here, in the job's thread, not train()'s
                from .worker import run_job
            except BaseException:  # noqa: BLE001 - recorded as the job's end
                if self._cancel.is_set():
                    # cancelled while importing, e.g. by the exit handler: at interpreter
                    # shutdown some imports fail ("can't register atexit after shutdown")
                    self.store.update_run(self.run_id, status="cancelled", finished=time.time())
                    self._set_status("cancelled")
                else:
                    self._fail(traceback.format_exc())
                return
            run_job(self._spec, self._ds, _ThreadHooks(self), self.store)
        finally:
            slots.release()
            self._ds = None  # type: ignore[assignment]
            self._done.set()

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

    def _run_process(self) -> None:
        import multiprocessing as mp

        slots = _SLOTS["process"]
        if not slots.acquire(self._cancel):
            self._finish_cancelled_queued()
            return
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        with self._lock:
            self._mp_cancel = ctx.Event()
            if self._cancel.is_set():
                self._mp_cancel.set()
        proc = ctx.Process(target=_process_main, args=(self._spec, self._ds, q, self._mp_cancel),
                           name=f"wb-{self.run_id}", daemon=True)
        try:
            proc.start()
            self._proc = proc
            self._ds = None  # type: ignore[assignment]
            final_seen = False
            while True:
                try:
                    kind, payload = q.get(timeout=0.2)
                except queue.Empty:
                    if not proc.is_alive():
                        # drain what the worker left behind
                        try:
                            while True:
                                kind, payload = q.get(timeout=0.2)
                                final_seen |= self._on_message(kind, payload)
                        except queue.Empty:
                            pass
                        break
                    continue
                final_seen |= self._on_message(kind, payload)
            proc.join()
            if not final_seen:
                err = (f"the worker process exited with code {proc.exitcode} before finishing "
                       "(killed or out of memory?)")
                self.store.reap()
                status = self.store.status(self.run_id)
                if status in ("running", "queued"):
                    self.store.update_run(self.run_id, status="crashed", finished=time.time(),
                                          error=err)
                    status = "crashed"
                self._set_status(status, err)
        finally:
            slots.release()
            self._done.set()

    def _on_message(self, kind: str, payload: Any) -> bool:
        if kind == "rows":
            metric_stream().publish(payload)
            return False
        if kind == "progress":
            self._step = int(payload)
            return False
        if kind == "status":
            status, error = payload
            if status in _FINISHED:
                self._step = max(self._step, int(self.store.get_run(self.run_id)["step"] or 0))
                self._set_status(status, error)
                return True
            self._set_status(status, error)
        return False

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        return (f"TrainingJob(run_id={self.run_id!r}, algo={self.algo!r}, status={self._status!r},"
                f" step={self._step}/{self.n_steps}, executor={self.executor!r})")

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._sub.close()
        except Exception:
            pass


class _ThreadHooks(Hooks):
    def __init__(self, job: TrainingJob) -> None:
        self.job = job

    def cancelled(self) -> bool:
        return self.job._cancel.is_set()

    def status(self, status: str, error: str | None = None) -> None:
        self.job._set_status(status, error)

    def rows(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        metric_stream().publish(rows)

    def progress(self, step: int) -> None:
        self.job._step = step

    def policy(self, algo: Any) -> None:
        self.job._policy = algo


class _QueueHooks(Hooks):
    """Hooks of a spawned worker: everything goes through a multiprocessing queue."""

    def __init__(self, q: Any, cancel: Any, every: int) -> None:
        self.q, self.cancel, self.every = q, cancel, max(1, every)

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def status(self, status: str, error: str | None = None) -> None:
        self.q.put(("status", (status, error)))

    def rows(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        self.q.put(("rows", rows))

    def progress(self, step: int) -> None:
        if step % self.every == 0:
            self.q.put(("progress", step))


def _process_main(spec: RunSpec, ds: Any, q: Any, cancel: Any) -> None:
    """Entry point of a spawned worker process."""
    from .worker import run_job

    hooks = _QueueHooks(q, cancel, every=max(1, min(spec.log_every, 100)))
    try:
        run_job(spec, ds, hooks)
    finally:
        q.close()
        q.join_thread()


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


def _interval(value: int | None, default: int, log_every: int, n_steps: int, what: str) -> int:
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


def train(ds: EpisodeDataset | str, algo: str = "cql", n_steps: int = 10_000, seed: int = 0,
          device: str = "auto", executor: str = "thread", env: Any = None, *,
          log_every: int | None = None, eval_every: int | None = None,
          checkpoint_every: int | None = None,
          checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS, holdout: float = 0.1,
          n_step: int = 1,
          eval_episodes: int = 5, keep_checkpoints: int = 2, store: RunStore | None = None,
          name: str | None = None, nice: int = 10, start: bool = True,
          **hyperparameters: Any) -> TrainingJob:
    """Train a d3rlpy algorithm on ``ds`` in the background; returns a job at once.

    Args:
        ds: the dataset (or anything :func:`workbench.load_dataset` accepts).
        algo: algorithm or family name (see :func:`workbench.training.algorithms`);
            ``"cql"`` is ``discrete_cql`` on a discrete dataset.
        n_steps: gradient updates.
        seed: seeds network initialisation, the sampler's generator, the held-out split and
            the evaluation episodes.
        device: ``"auto"`` (``cuda:0`` when available, else CPU; resolved by the worker
            unless torch is already imported, see :attr:`TrainingJob.device`), ``"cpu"``,
            ``"cuda:N"``.
        executor: ``"thread"`` (default) or ``"process"`` (spawned; bitwise reproducible).
        env: gymnasium id (or environment object, thread executor only) for ``eval/return``.
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
            evaluation (0 = evaluate on the training episodes).
        n_step: n-step returns in the sampled batches (1 = plain transitions).
        eval_episodes: environment episodes per evaluation.
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
            CUDA, an env object with the process executor.  Everything is checked before
            any work starts.
        DatasetError: ``ds`` cannot be loaded.
    """
    from ..data.dataset import EpisodeDataset
    from ..tracking.store import default_store
    from .algorithms import resolve_algorithm, validate_hyperparameters

    if not isinstance(ds, EpisodeDataset):
        from ..data.io import load_dataset

        ds = load_dataset(ds)
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {EXECUTORS}")
    # "auto" stays unresolved (the worker resolves it) unless CUDA graphs need to know now
    dev = check_device(device, defer_auto=not hyperparameters.get("compile_graph"))
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int,)) and not (
            hasattr(n_steps, "__index__")):
        raise ConfigError(f"n_steps must be an integer, got {n_steps!r}")
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ConfigError(f"n_steps must be >= 1, got {n_steps}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if log_every is None:
        log_every = max(1, min(500, n_steps // 10))
    log_every = int(log_every)
    if log_every < 1:
        raise ConfigError(f"log_every must be >= 1, got {log_every}")
    if n_steps < log_every:
        raise ConfigError(f"n_steps={n_steps} is smaller than one logging interval "
                          f"(log_every={log_every}): nothing would be logged. Pass "
                          f"n_steps >= {log_every} or log_every <= {n_steps}")
    eval_every = _interval(eval_every, _round_up(max(1, n_steps // 20), log_every), log_every,
                           n_steps, "eval_every")
    checkpoint_every = _interval(checkpoint_every, _round_up(max(1, n_steps // 10), log_every),
                                 log_every, n_steps, "checkpoint_every")
    checkpoint_seconds = _seconds(checkpoint_seconds, "checkpoint_seconds")
    if not 0.0 <= float(holdout) < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    if int(n_step) < 1:
        raise ConfigError(f"n_step must be >= 1, got {n_step}")
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
        raise ConfigError(f"nice must be an integer from 0 (normal priority) to 19 (lowest), "
                          f"got {nice!r}")
    if env is not None and not isinstance(env, str) and executor == "process":
        raise ConfigError("the process executor needs env as a gymnasium id string (an env "
                          "object cannot be sent to another process)")
    if isinstance(env, str):
        import gymnasium as gym

        if env not in gym.envs.registry:
            raise ConfigError(f"unknown gymnasium environment {env!r}")
    spec_algo = resolve_algorithm(algo, ds.is_discrete)
    if hyperparameters.get("compile_graph") and not dev.startswith("cuda"):
        raise ConfigError(f"compile_graph=True needs a CUDA device (CUDA graphs); device is "
                          f"{dev}. Drop compile_graph or run on a GPU")
    # checked against the cached d3rlpy config description: no d3rlpy import here; the
    # worker builds the config (build_config) and records it as the run's "config" param
    validate_hyperparameters(spec_algo, hyperparameters)
    store = store or default_store()
    run_id = _new_run_id(spec_algo.name)
    spec = RunSpec(run_id=run_id, algo=spec_algo.name, hyperparameters=dict(hyperparameters),
                   seed=seed, n_steps=n_steps, log_every=log_every, eval_every=eval_every,
                   checkpoint_every=checkpoint_every, device=dev, store_path=str(store.path),
                   executor=executor, env=env, eval_episodes=int(eval_episodes),
                   holdout=float(holdout), n_step=int(n_step),
                   keep_checkpoints=int(keep_checkpoints), nice=nice,
                   checkpoint_seconds=checkpoint_seconds, attempt=1)
    source = _dataset_source(ds, store.path.parent)
    store.create_run(run_id, name=name, algo=spec_algo.name, dataset=ds.name,
                     dataset_fingerprint=ds.fingerprint, seed=seed, n_steps=n_steps, step=0,
                     executor=executor, device=dev, status="queued")
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


def _seconds(value: Any, what: str) -> float:
    """A duration in seconds: a finite number >= 0 (0 turns the feature off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number of seconds (0 = off), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a finite number of seconds >= 0 (0 = off), got "
                          f"{value!r}")
    return value


def _round_up(x: int, m: int) -> int:
    return max(m, -(-x // m) * m)


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
    if run["status"] in ("queued", "running"):
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
    dev = check_device(device, defer_auto=True) if device else sp["device"]
    if total <= start_step:
        raise ConfigError(f"n_steps={total} is not beyond the checkpoint at step {start_step}")
    hp = _hyperparameters_from(params, sp, ckpt_path is not None)
    spec = RunSpec(run_id=run_id, algo=sp["algo"], hyperparameters=hp, seed=int(sp["seed"]),
                   n_steps=total, log_every=int(sp["log_every"]),
                   eval_every=int(sp["eval_every"]), checkpoint_every=int(sp["checkpoint_every"]),
                   device=dev, store_path=str(store.path), executor=ex, env=sp.get("env"),
                   eval_episodes=int(sp["eval_episodes"]), holdout=float(sp["holdout"]),
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
