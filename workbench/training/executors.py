"""Executors: where a job's worker runs.  One interface, one job handle for all of them.

Reading order: :class:`Executor` (what every executor does: take a slot, run the worker,
give the slot back) → :class:`ThreadExecutor` and :class:`ProcessExecutor` (how) → the
hooks a worker reports through (:class:`~workbench.training.spec.Hooks`).

A :class:`~workbench.training.job.TrainingJob` starts one *supervisor* thread that calls
``executor.run(job)``.  The executor runs :func:`workbench.training.worker.run_job`:

``thread`` (default)
    in the supervisor thread itself; hooks update the job directly; shares the GPU.
``process``
    in a spawned worker process; hooks put messages on a queue that the supervisor relays
    (metric rows to the metric stream, progress and status to the job); bitwise
    reproducible for a seed.
``ray``
    in a Ray actor on a cluster (or a local Ray on loopback); the worker's store calls and
    files come back as messages that the supervisor applies to this process's RunStore
    (:mod:`workbench.training.ray_executor`); reproducible like ``process``.

At most :func:`max_workers` jobs of an executor run at once (default: the number of CPU
cores); the rest wait ``queued``.  Neither torch nor d3rlpy is imported here: the worker
imports them in its own thread or process.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..tracking.store import ACTIVE, FINISHED
from .spec import RunSpec
from .stream import metric_stream

if TYPE_CHECKING:  # pragma: no cover
    from .job import TrainingJob

__all__ = ["Executor", "ThreadExecutor", "ProcessExecutor", "EXECUTORS", "executor",
           "set_max_workers", "max_workers", "Slots"]


class Slots:
    """A resizable counting semaphore: at most ``n`` jobs of one executor run at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a free slot; ``False`` (no slot taken) when ``stop`` is set first."""
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

    def resize(self, n: int) -> None:
        with self.cond:
            self.n = int(n)
            self.cond.notify_all()


class Executor:
    """Runs a job's worker somewhere and reports back to its handle.

    Subclasses implement :meth:`_execute` (run the worker to its end, reporting through
    the job) and may implement :meth:`interrupt` (pass a cancellation on to a worker that
    cannot see the job's own flag) and :meth:`terminate` (stop a worker that did not stop).
    """

    name = ""

    def __init__(self) -> None:
        self.slots = Slots(os.cpu_count() or 1)
        #: :func:`set_max_workers` chose the number of slots (the Ray executor otherwise
        #: sizes them to the cluster)
        self.sized_by_user = False

    def run(self, job: TrainingJob) -> None:
        """The job's supervisor thread: take a slot (or end ``cancelled`` while queued),
        run the worker, give the slot back; the job is done afterwards, whatever happened."""
        if not self.slots.acquire(job._cancel):
            job._finish_cancelled_queued()
            return
        try:
            self._execute(job)
        finally:
            self.slots.release()
            job._done.set()

    def _execute(self, job: TrainingJob) -> None:
        raise NotImplementedError

    def interrupt(self, job: TrainingJob) -> None:
        """Called with the job's lock held, after its cancel flag is set."""

    def terminate(self, job: TrainingJob) -> None:
        """Stop a worker that did not stop after its cancellation (called at exit)."""

    def shutdown(self) -> None:
        """Release what the executor holds (called at interpreter exit, after live jobs
        were cancelled and joined)."""


class ThreadExecutor(Executor):
    """The worker runs in the job's supervisor thread."""

    name = "thread"

    def _execute(self, job: TrainingJob) -> None:
        try:
            try:  # torch and d3rlpy are imported here, in the job's thread, not train()'s
                from .worker import run_job
            except BaseException:  # noqa: BLE001 - recorded as the job's end
                if job._cancel.is_set():
                    # cancelled while importing, e.g. by the exit handler: at interpreter
                    # shutdown some imports fail ("can't register atexit after shutdown")
                    job.store.update_run(job.run_id, status="cancelled", finished=time.time())
                    job._set_status("cancelled")
                else:
                    job._fail(traceback.format_exc())
                return
            run_job(job._spec, job._ds, ThreadHooks(job), job.store)
        finally:
            job._ds = None  # the dataset is the caller's; do not keep it alive


class ProcessExecutor(Executor):
    """The worker runs in a spawned process; the supervisor relays its queue."""

    name = "process"

    def _execute(self, job: TrainingJob) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        with job._lock:
            job._mp_cancel = ctx.Event()
            if job._cancel.is_set():
                job._mp_cancel.set()
        proc = ctx.Process(target=_process_main, args=(job._spec, job._ds, q, job._mp_cancel),
                           name=f"wb-{job.run_id}", daemon=True)
        proc.start()
        job._proc = proc
        job._ds = None
        final_seen = False
        while True:
            try:
                kind, payload = q.get(timeout=0.2)
            except queue.Empty:
                if not proc.is_alive():
                    try:  # drain what the worker left behind
                        while True:
                            kind, payload = q.get(timeout=0.2)
                            final_seen |= _relay(job, kind, payload)
                    except queue.Empty:
                        pass
                    break
                continue
            final_seen |= _relay(job, kind, payload)
        proc.join()
        if not final_seen:
            err = (f"the worker process exited with code {proc.exitcode} before finishing "
                   "(killed or out of memory?)")
            job.store.reap()
            status = job.store.status(job.run_id)
            if status in ACTIVE:
                job.store.update_run(job.run_id, status="crashed", finished=time.time(),
                                     error=err)
                status = "crashed"
            job._set_status(status, err)

    def interrupt(self, job: TrainingJob) -> None:
        if job._mp_cancel is not None:
            job._mp_cancel.set()

    def terminate(self, job: TrainingJob) -> None:
        proc = job._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()


def _relay(job: TrainingJob, kind: str, payload: Any) -> bool:
    """Pass one message of a worker process on; ``True`` when it was the final status."""
    if kind == "rows":
        metric_stream().publish(payload)
        return False
    if kind == "progress":
        job._step = int(payload)
        return False
    if kind == "status":
        status, error = payload
        if status in FINISHED:
            job._step = max(job._step, int(job.store.get_run(job.run_id)["step"] or 0))
            job._set_status(status, error)
            return True
        job._set_status(status, error)
    return False


def _ray_executor() -> Executor:
    # registered whether or not Ray is installed: choosing it without Ray is a ConfigError
    # that says how to install it (TrainSettings.resolve); Ray itself is imported on use
    from .ray_executor import RayExecutor

    return RayExecutor()


#: The executors by name (``train(executor=...)``).
EXECUTORS: dict[str, Executor] = {e.name: e for e in (ThreadExecutor(), ProcessExecutor(),
                                                      _ray_executor())}


def executor(name: str) -> Executor:
    """The executor called ``name``.

    Raises:
        ConfigError: unknown executor (the message lists the valid ones).
    """
    try:
        return EXECUTORS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown executor {name!r}; valid: {tuple(EXECUTORS)}") from None


def set_max_workers(executor_name: str, n: int) -> None:
    """Run at most ``n`` jobs of ``executor_name`` at once (others wait ``queued``).

    Raises:
        ConfigError: unknown executor or ``n < 1``.
    """
    ex = executor(executor_name)
    if int(n) < 1:
        raise ConfigError(f"max workers must be >= 1, got {n}")
    ex.slots.resize(int(n))
    ex.sized_by_user = True


def max_workers(executor_name: str) -> int:
    """The concurrency limit of ``executor_name`` (default: CPU cores; for ``ray``, the
    cluster's CPUs once connected)."""
    return executor(executor_name).slots.n


# ---------------------------------------------------------------------------- hooks
class ThreadHooks:
    """:class:`~workbench.training.spec.Hooks` of a worker running in the job's thread."""

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


class QueueHooks:
    """:class:`~workbench.training.spec.Hooks` of a spawned worker: everything goes through
    a multiprocessing queue (progress every ``every`` steps); the policy stays in the
    worker (the handle loads ``final.d3``)."""

    def __init__(self, q: Any, cancel: Any, every: int) -> None:
        self.q, self.cancel, self.every = q, cancel, max(1, every)

    def cancelled(self) -> bool:
        return bool(self.cancel.is_set())

    def status(self, status: str, error: str | None = None) -> None:
        self.q.put(("status", (status, error)))

    def rows(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        self.q.put(("rows", rows))

    def progress(self, step: int) -> None:
        if step % self.every == 0:
            self.q.put(("progress", step))

    def policy(self, algo: Any) -> None:
        pass


def _process_main(spec: RunSpec, ds: Any, q: Any, cancel: Any) -> None:
    """Entry point of a spawned worker process."""
    from .worker import run_job

    hooks = QueueHooks(q, cancel, every=max(1, min(spec.log_every, 100)))
    try:
        run_job(spec, ds, hooks)
    finally:
        q.close()
        q.join_thread()
