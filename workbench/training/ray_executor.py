"""The ``ray`` executor: jobs on a Ray cluster, watched and recorded by this process.

Reading order: :func:`init_ray` (connect to a cluster, or start a local one on loopback) →
:class:`RayExecutor` (one Ray actor per job; its supervisor thread relays what the actor
sends) → :class:`_Worker` (the actor: :func:`~workbench.training.worker.run_job` in a thread,
reporting through :class:`_RemoteStore` and :class:`_WorkerHooks`).

How things move (the worker may run on another host, without the driver's files):

* **Dataset**: :func:`put_dataset` puts it into Ray's object store once; every job of a
  sweep gets the same ``ObjectRef`` (a single ``train`` puts its own).  Workers on the
  driver's node read it from shared memory, others fetch it once per node.
* **Metrics**: the worker does not open the RunStore.  Its store calls become messages
  (:class:`_RemoteStore`) queued in the actor; the job's supervisor thread long-polls them
  (``poll``: returns as soon as there are messages, else after :data:`POLL_SECONDS`; a plain
  actor call, so it works through Ray Client too, where streaming generators do not) and
  hands metric rows to the driver's single :class:`~workbench.training.ingest.MetricWriter`,
  which commits them in batches and then publishes them to the live metric stream, the path
  the thread and process executors' rows take too.  Status, params and the run's device
  are written by the supervisor.
* **Checkpoints and the final model**: returned as bytes.  The worker writes each
  checkpoint into a scratch directory of its own host, sends it (a tar of the directory,
  or the ``final.d3`` file), and the driver writes it atomically (temporary name, fsync,
  rename) into the run directory under ``$WORKBENCH_HOME``, then records the artefact.
  No shared filesystem is needed; a resumed run's checkpoint travels back the same way.
  The cost is one copy per checkpoint through Ray (these agents' checkpoints are KB to a
  few MB); checkpoints are taken at most every ``checkpoint_every`` updates or
  ``checkpoint_seconds``.
* **Cancel**: :meth:`RayExecutor.interrupt` calls the actor's ``cancel`` method (a threaded
  actor, so it runs beside training); the worker's per-update check sees it and stops
  after the current update, saving its partially trained policy, as in the other
  executors.  A job whose actor has not started yet is killed instead.
* **Crashes**: when the actor's process dies (killed, out of memory, node lost), the
  pending ``poll`` raises a ``RayActorError``; the supervisor records the run ``crashed``
  with the reason.  Rows committed before that stay (the store never deletes them) and
  ``workbench.resume(run_id)`` continues from the last checkpoint that reached the driver.

Ray is optional (``pip install 'workbench[ray]'``); without it ``executor="ray"`` is a
:class:`~workbench.errors.ConfigError`.  A local Ray started here binds 127.0.0.1 only
(node address, GCS, raylet, object manager, workers; no dashboard), with token
authentication on.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import logging
import os
import queue
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..tracking.store import ACTIVE, FINISHED
from .executors import Executor
from .spec import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from .job import TrainingJob

__all__ = ["RayExecutor", "init_ray", "shutdown_ray", "ray_available", "require_ray",
           "check_ray_address", "connect", "put_dataset", "ray_info"]

_INSTALL = "pip install 'workbench[ray]'"


# ---------------------------------------------------------------------------- availability
def ray_available() -> bool:
    """Whether Ray is installed (without importing it)."""
    if "ray" in sys.modules:  # imported already, or blocked (None)
        return sys.modules["ray"] is not None
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def require_ray() -> None:
    """Raise :class:`ConfigError` when Ray is not installed."""
    if not ray_available():
        raise ConfigError(f"executor='ray' needs Ray, which is not installed: {_INSTALL} "
                          "(or use executor='process' on this machine)")


_ADDRESS = re.compile(r"^(ray://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def check_ray_address(address: Any) -> str | None:
    """Validate ``ray_address``: ``None`` (a local Ray on loopback), ``"auto"`` (the cluster
    this machine belongs to, e.g. from ``ray start`` or ``$RAY_ADDRESS``), ``"host:port"``
    (a cluster's GCS) or ``"ray://host:port"`` (Ray Client).

    Raises:
        ConfigError: anything else (the message shows the accepted forms).
    """
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"ray_address must be None, 'auto', 'host:port' or "
                          f"'ray://host:port', got {address!r}")
    a = address.strip()
    if a == "auto":
        return a
    m = _ADDRESS.match(a)
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise ConfigError(f"ray_address={address!r} is not a Ray address: pass None (a local "
                          "Ray on 127.0.0.1), 'auto' (this machine's cluster), 'host:port' "
                          "(the head node's GCS port, 6379 by default) or 'ray://host:port' "
                          "(Ray Client, port 10001 by default)")
    return a


# ---------------------------------------------------------------------------- connection
_CONN: dict[str, Any] = {"started_here": False, "address": None}
_CONN_LOCK = threading.RLock()


def _ray() -> Any:
    require_ray()
    import ray

    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None,
             num_gpus: int | None = None, object_store_memory: int | None = None,
             **ray_kwargs: Any) -> dict[str, Any]:
    """Connect this process to Ray for the ``ray`` executor (idempotent).

    ``wb.train(..., executor="ray")`` and ``wb.sweep(..., executor="ray")`` call it on
    first use; call it yourself to size a local cluster or to pick a remote one.

    Args:
        address: ``None``: start a local Ray bound to 127.0.0.1 only (no dashboard, token
            authentication), or reuse the connection this process already has.
            ``"auto"``, ``"host:port"``, ``"ray://host:port"``: an existing cluster (every
            node needs ``workbench[ray]`` installed, same versions as here).
        num_cpus, num_gpus: resources of a local Ray (default: this machine's cores, its
            GPUs as Ray detects them).  Ignored when connecting to a cluster.
        object_store_memory: bytes of the local object store (default: Ray's, 30 % of RAM).
        **ray_kwargs: passed on to ``ray.init``.

    Returns:
        ``{"address", "local", "started_here", "resources"}``: the GCS address, whether
        the cluster is the local one started here, and the cluster's total resources
        (``{"CPU": 2.0, ...}``).

    Raises:
        ConfigError: Ray not installed, a malformed address, a cluster that cannot be
            reached, or already connected to a different cluster than ``address``.
    """
    address = check_ray_address(address)
    ray = _ray()
    with _CONN_LOCK:
        if ray.is_initialized():
            current = _CONN["address"] or _gcs_address(ray)
            if address not in (None, "auto") and address.removeprefix("ray://") != current:
                raise ConfigError(f"already connected to the Ray cluster at {current}; call "
                                  f"workbench.shutdown_ray() before connecting to {address}")
            return ray_info()
        if address is None:
            _loopback_only(ray)
            # Ray turns token authentication on for a new local cluster (good: other users
            # of this machine cannot submit work to it) and says so on stderr; keep quiet
            notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                for attempt in (1, 2):
                    try:
                        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                                 num_gpus=num_gpus, object_store_memory=object_store_memory,
                                 include_dashboard=False, _node_ip_address="127.0.0.1",
                                 configure_logging=False, log_to_driver=False,
                                 namespace="workbench", **ray_kwargs)
                        break
                    except Exception as exc:
                        ray.shutdown()  # stop what did start
                        # Ray gives its node 30 s to register; a machine busy with other
                        # work can miss that once
                        if attempt == 2 or "timed out during startup" not in str(exc):
                            raise ConfigError(f"could not start a local Ray: {exc}") from exc
            finally:
                notice.setLevel(level)
            _CONN["started_here"] = True
        else:
            _probe(address)
            try:
                ray.init(address=address, configure_logging=False, log_to_driver=False,
                         namespace="workbench", **ray_kwargs)
            except Exception as exc:
                raise ConfigError(f"could not connect to the Ray cluster at {address!r}: "
                                  f"{str(exc).strip().splitlines()[0] if str(exc) else exc!r}. "
                                  "Check the address (ray status on the head node prints it) "
                                  "and that this machine can reach it") from exc
            _CONN["started_here"] = False
        _CONN["address"] = _gcs_address(ray)
        _size_slots()
        return ray_info()


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an unreachable ``host:port`` (``ray.init`` retries for minutes)."""
    m = _ADDRESS.match(address)
    if m is None:  # "auto": Ray finds the address itself and fails fast without one
        return
    host, port = m.group(2).strip("[]"), int(m.group(3))
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"could not connect to the Ray cluster at {address!r}: nothing "
                          f"answers on {host}:{port} ({exc.strerror or exc}). Check the "
                          "address (`ray status` on the head node prints it) and that this "
                          "machine can reach it") from None


def _gcs_address(ray: Any) -> str | None:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001 - client mode and older versions
        return None


def _loopback_only(ray: Any) -> None:
    """Make a local Ray bind 127.0.0.1 only.

    ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough on Linux: Ray replaces a
    loopback node address by the machine's routable one (and its servers then listen on
    every interface) unless its "no cluster" mode is on, the mode Ray uses on macOS and
    Windows.  Turn that mode on for this process and the Ray processes it starts (they
    inherit the environment), and usage statistics off (no network).
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def ray_info() -> dict[str, Any]:
    """The current connection: ``{"address", "local", "started_here", "resources"}``
    (``address`` ``None`` when not connected)."""
    if not ray_available():
        return {"address": None, "local": False, "started_here": False, "resources": {}}
    import ray

    if not ray.is_initialized():
        return {"address": None, "local": False, "started_here": False, "resources": {}}
    return {"address": _CONN["address"] or _gcs_address(ray),
            "local": bool(_CONN["started_here"]), "started_here": bool(_CONN["started_here"]),
            "resources": dict(ray.cluster_resources())}


def shutdown_ray() -> None:
    """Disconnect from Ray; a local Ray started by :func:`init_ray` is stopped.

    Jobs still running on it crash (stop them first: ``job.cancel(wait=True)``).  Called at
    interpreter exit after live jobs were cancelled and joined.
    """
    if not ray_available():
        return
    import ray

    with _CONN_LOCK:
        if ray.is_initialized():
            ray.shutdown()
        _CONN["started_here"] = False
        _CONN["address"] = None


def connect(address: str | None, num_cpus: float, num_gpus: float | None) -> dict[str, Any]:
    """:func:`init_ray` for a job that reserves ``num_cpus`` and ``num_gpus`` per worker.

    Raises:
        ConfigError: as :func:`init_ray`, or the cluster has fewer CPUs or GPUs in all than
            one job asks for (the job would wait for ever).
    """
    info = init_ray(address)
    res = info["resources"]
    for what, want in (("CPU", num_cpus), ("GPU", num_gpus or 0.0)):
        have = float(res.get(what, 0.0))
        if want > have:
            raise ConfigError(f"each job asks for {want:g} {what}(s) but the Ray cluster at "
                              f"{info['address']} has {have:g} in all; lower ray_num_"
                              f"{what.lower()}s or add nodes")
    return info


def put_dataset(ds: Any, address: str | None = None) -> Any:
    """Put a dataset into Ray's object store (connecting first); returns its ``ObjectRef``.

    A sweep calls it once and gives every job the same reference."""
    init_ray(address)
    import ray

    RayExecutor.puts += 1
    return ray.put(ds)


def _size_slots() -> None:
    """Size the Ray executor's slots (jobs started at once) to the cluster's CPUs, unless
    :func:`~workbench.training.set_max_workers` chose a number."""
    from .executors import EXECUTORS

    ex = EXECUTORS.get("ray")
    if isinstance(ex, RayExecutor):
        ex.size_to_cluster()


# ---------------------------------------------------------------------------- executor
class RayExecutor(Executor):
    """Each job runs in its own Ray actor (a fresh worker process, one CPU by default);
    its supervisor thread here relays what the actor sends (see the module docstring).

    At most ``max_workers("ray")`` jobs have an actor at once (default: the cluster's CPUs
    once connected); the others wait ``queued`` here, cancellable without touching Ray.
    """

    name = "ray"
    #: ``ray.put`` calls made for datasets (a sweep makes one; tests read it).
    puts = 0

    def size_to_cluster(self) -> None:
        if self.sized_by_user or not ray_available():
            return
        import ray

        if ray.is_initialized():
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if cpus >= 1:
                self.slots.resize(cpus)

    def _execute(self, job: TrainingJob) -> None:
        import ray

        from .ingest import metric_writer

        spec: RunSpec = job._spec
        writer = metric_writer(job.store)
        relay = _Relay(job, writer)
        actor = None
        try:
            init_ray(spec.ray_address)
            ds_ref = job._ray_ds if job._ray_ds is not None else put_dataset(job._ds)
            job._ds = None
            job.dataset_ref = ds_ref.hex()
            ckpt = _pack(Path(spec.checkpoint)) if spec.checkpoint else None
            worker_cls = _worker_class()
            num_gpus = spec.ray_num_gpus if spec.ray_num_gpus is not None else 0.0
            actor = worker_cls.options(num_cpus=spec.ray_num_cpus, num_gpus=num_gpus,
                                       name=None).remote()
            with job._lock:
                job._ray_actor = actor
                cancelled = job._cancel.is_set()
            if cancelled:
                actor.cancel.remote()
            relay.apply(("hello", ray.get(actor.start.remote(spec, ds_ref, ckpt))))
            finished = False
            while not finished:
                msgs, finished = ray.get(actor.poll.remote(POLL_SECONDS))
                for msg in msgs:
                    relay.apply(msg)
        except Exception as exc:  # noqa: BLE001 - every end is recorded
            relay.ended_without_status(exc)
        finally:
            job._ray_ds = None
            if actor is not None:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        if not relay.final_seen:
            relay.ended_without_status(None)

    def interrupt(self, job: TrainingJob) -> None:
        actor = job._ray_actor
        if actor is None:
            return  # not created yet: _execute sees the job's flag
        try:
            if job._worker is None:
                # the actor has not started (waiting for cluster resources): stop it there
                import ray

                ray.kill(actor, no_restart=True)
            else:
                actor.cancel.remote()
        except Exception:  # noqa: BLE001 - a dead actor needs no cancel
            pass

    def terminate(self, job: TrainingJob) -> None:
        actor = job._ray_actor
        if actor is not None:
            try:
                import ray

                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass

    def shutdown(self) -> None:
        """At interpreter exit, after live jobs were joined: stop the local Ray started
        here (a cluster we only connected to keeps running)."""
        if _CONN["started_here"]:
            shutdown_ray()


# ---------------------------------------------------------------------------- driver side
class _Relay:
    """Applies a Ray worker's messages to the job's handle and the driver's RunStore."""

    def __init__(self, job: TrainingJob, writer: Any) -> None:
        self.job = job
        self.store = job.store
        self.writer = writer
        self.final_seen = False

    def apply(self, msg: tuple[Any, ...]) -> None:
        job, store, kind = self.job, self.store, msg[0]
        if kind == "rows":  # (rows, run_id, step, attempt) committed by the writer
            _, run_id, rows, step, attempt = msg
            self.writer.submit(run_id, rows, step=step, attempt=attempt)
        elif kind == "progress":
            job._step = int(msg[1])
        elif kind == "hello":
            job._worker = dict(msg[1])
        elif kind == "store":
            _, method, args, kwargs = msg
            self.writer.flush()
            if method == "claim":  # owned by this driver process: reaped if it dies
                store.claim(job.run_id)
            elif method == "update_run":
                fields = dict(kwargs)
                if fields.get("status") in ("completed", "cancelled") and "health" not in fields:
                    fields["health"] = _health(store, job.run_id)
                store.update_run(*args, **fields)
            elif method == "log_params":
                store.log_params(*args, **kwargs)
            else:  # pragma: no cover - a worker of another version
                raise RuntimeError(f"unknown store call from the Ray worker: {method}")
        elif kind == "artifact":
            _, name, kind_, step, rel, is_dir, blob = msg
            self.writer.flush()
            target = store.run_dir(job.run_id) / rel
            _unpack(target, is_dir, blob)
            store.add_artifact(job.run_id, name, target, kind=kind_, step=step)
        elif kind == "remove_artifact":
            _, name = msg
            store.remove_artifact(job.run_id, name)
            m = re.fullmatch(r"checkpoint-(\d+)", name)
            if m:
                from .checkpoints import checkpoint_dir

                shutil.rmtree(checkpoint_dir(store.run_dir(job.run_id), int(m.group(1))),
                              ignore_errors=True)
        elif kind == "status":
            status, error = msg[1]
            if status in FINISHED:
                self.writer.flush()
                job._step = max(job._step, int(store.get_run(job.run_id)["step"] or 0))
                self.final_seen = True
            job._set_status(status, error)

    def ended_without_status(self, exc: BaseException | None) -> None:
        """The messages ended (or the worker died) before its final status: record why."""
        if self.final_seen:
            return
        job, store = self.job, self.store
        self.writer.flush()
        self.final_seen = True
        import ray

        if exc is None:
            reason = "the Ray worker ended without reporting a final status"
        elif isinstance(exc, ray.exceptions.RayTaskError):
            reason = f"the Ray worker failed:\n{exc}"
        elif isinstance(exc, ray.exceptions.RayError):
            reason = (f"the Ray worker died before finishing ({type(exc).__name__}: "
                      f"{_first_lines(exc)}); resume it with workbench.resume(run_id)")
        else:
            reason = "".join(traceback.format_exception(exc))
        if job._worker is None and job._cancel.is_set():
            status, reason_ = "cancelled", None  # cancelled before its actor started
        elif isinstance(exc, ray.exceptions.RayTaskError) or not isinstance(
                exc, (ray.exceptions.RayError, type(None))):
            status, reason_ = "failed", reason  # an error, not a lost worker
        else:
            status, reason_ = "crashed", reason
        try:
            if store.status(job.run_id) in ACTIVE:
                store.update_run(job.run_id, status=status, finished=time.time(),
                                 error=reason_)
            else:
                status = store.status(job.run_id)
            job._step = max(job._step, int(store.get_run(job.run_id)["step"] or 0))
        finally:
            job._set_status(status, reason_)


def _first_lines(exc: BaseException, n: int = 3) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return " ".join(ln.strip() for ln in lines[:n])


def _health(store: Any, run_id: str) -> str:
    import json

    from .evaluators import training_health

    return json.dumps(training_health(store.metrics(run_id)).to_dict(orient="records"))


def _pack(path: Path) -> bytes:
    """A directory as an uncompressed tar (its files at the top level)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in sorted(path.iterdir()):
            tar.add(f, arcname=f.name)
    return buf.getvalue()


def _unpack(target: Path, is_dir: bool, blob: bytes) -> None:
    """Write a file or a packed directory atomically at ``target`` (fsynced, renamed)."""
    from ..data.atomic import atomic_dir, atomic_file

    if not is_dir:
        with atomic_file(target) as tmp:
            tmp.write_bytes(blob)
        return
    with atomic_dir(target) as tmp:
        _extract(blob, tmp)
        for f in tmp.iterdir():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())


def _extract(blob: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/" not in m.name
                   and m.name not in ("", ".", "..")]
        for m in members:
            src = tar.extractfile(m)
            assert src is not None
            (into / m.name).write_bytes(src.read())


# ---------------------------------------------------------------------------- worker side
class _RemoteStore:
    """What a Ray worker has instead of the RunStore: each call becomes a message to the
    driver, which applies it to the real store (see :class:`_Relay`).  Files (checkpoints,
    the final model) are written in a scratch directory and sent as bytes."""

    remote = True

    def __init__(self, out: queue.Queue[Any], scratch: Path) -> None:
        self.out = out
        self.scratch = scratch

    def run_dir(self, run_id: str) -> Path:
        return self.scratch

    def claim(self, run_id: str, pid: int | None = None) -> None:
        self.out.put(("store", "claim", (run_id,), {}))

    def update_run(self, run_id: str, **fields: Any) -> None:
        self.out.put(("store", "update_run", (run_id,), fields))

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.out.put(("store", "log_params", (run_id, params), {}))

    def log_metrics(self, run_id: str, rows: Any, step: int | None = None,
                    attempt: int | None = None) -> int:
        rows = [(int(s), str(n), float(v), float(w)) for s, n, v, w in rows]
        self.out.put(("rows", run_id, rows, step, int(attempt or 1)))
        return len(rows)

    def add_artifact(self, run_id: str, name: str, path: Any, *, kind: str = "file",
                     step: int | None = None) -> None:
        p = Path(path)
        rel = p.relative_to(self.scratch).as_posix()
        blob = _pack(p) if p.is_dir() else p.read_bytes()
        self.out.put(("artifact", name, kind, step, rel, p.is_dir(), blob))

    def remove_artifact(self, run_id: str, name: str) -> None:
        self.out.put(("remove_artifact", name))

    def metrics(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError("a Ray worker cannot read the driver's RunStore")


class _WorkerHooks:
    """:class:`~workbench.training.spec.Hooks` of a Ray worker: progress every ``every``
    updates; metric rows travel with the store's messages (not twice); the policy stays in
    the worker (the driver loads ``final.d3``)."""

    def __init__(self, out: queue.Queue[Any], cancel: threading.Event, every: int) -> None:
        self.out, self.cancel, self.every = out, cancel, max(1, every)

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def status(self, status: str, error: str | None = None) -> None:
        self.out.put(("status", (status, error)))

    def rows(self, rows: Any) -> None:
        pass

    def progress(self, step: int) -> None:
        if step % self.every == 0:
            self.out.put(("progress", step))

    def policy(self, algo: Any) -> None:
        pass


#: Seconds a ``poll`` of a Ray worker waits for messages before returning empty-handed.  It
#: returns as soon as a message is queued, a cancel is a call of its own and a dead worker
#: fails the pending poll at once, so a long wait only saves idle round trips (the driver's
#: cost is per poll: ``benchmarks/bench_scale.py``).
POLL_SECONDS = 5.0

#: Scratch directories of Ray workers live under ``<tmp>/workbench-ray/<pid>-<run>-*``; a
#: worker removes those of dead processes on its host when it starts (a killed worker cannot
#: clean up after itself).
SCRATCH = "workbench-ray"


class _Worker:
    """The Ray actor running one job.  A threaded actor: ``cancel`` and ``poll`` run beside
    each other while training runs in a thread of its own."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._out: queue.Queue[Any] = queue.Queue()
        self._finished = False
        self._thread: threading.Thread | None = None

    def cancel(self) -> None:
        self._cancel.set()

    def start(self, spec: RunSpec, ds: Any, checkpoint: bytes | None) -> dict[str, Any]:
        """Start training in a thread; returns this worker's pid and host at once."""
        root = Path(tempfile.gettempdir()) / SCRATCH
        root.mkdir(exist_ok=True)
        _remove_stale_scratch(root)
        scratch = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{spec.run_id}-", dir=root))
        if checkpoint is not None:
            local = scratch / "resume-from" / Path(str(spec.checkpoint)).name
            local.mkdir(parents=True)
            _extract(checkpoint, local)
            spec = dataclasses.replace(spec, checkpoint=str(local))
        # progress once per logging interval: it travels with that interval's rows, one
        # poll of the driver per interval
        hooks = _WorkerHooks(self._out, self._cancel, every=spec.log_every)
        self._thread = threading.Thread(target=_train, args=(spec, ds, hooks, scratch,
                                                             self._out),
                                        name=f"wb-{spec.run_id}", daemon=True)
        self._thread.start()
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def poll(self, timeout: float) -> tuple[list[Any], bool]:
        """The messages queued so far (waiting up to ``timeout`` seconds for the first), and
        whether the run has ended (no message will follow)."""
        if self._finished:
            return [], True
        batch = []
        try:
            batch.append(self._out.get(timeout=timeout))
            while True:
                batch.append(self._out.get_nowait())
        except queue.Empty:
            pass
        if batch and batch[-1] is None:
            batch.pop()
            self._finished = True
        return batch, self._finished


def _remove_stale_scratch(root: Path) -> None:
    from ..tracking.store import pid_alive

    for p in root.iterdir():
        pid = p.name.split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _train(spec: RunSpec, ds: Any, hooks: _WorkerHooks, scratch: Path,
           out: queue.Queue[Any]) -> None:
    try:
        from .worker import run_job

        run_job(spec, ds, hooks, _RemoteStore(out, scratch))
    except BaseException:  # noqa: BLE001 - reported, then the messages end
        hooks.status("failed", traceback.format_exc())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # every file was sent as bytes
        out.put(None)


_WORKER_CLASS: Any = None


def _worker_class() -> Any:
    """The Ray actor class of :class:`_Worker` (made on first use: imports Ray)."""
    global _WORKER_CLASS
    if _WORKER_CLASS is None:
        import ray

        remote: Any = ray.remote  # its typing stubs omit actor options
        _WORKER_CLASS = remote(max_concurrency=3, max_restarts=0)(_Worker)
    return _WORKER_CLASS
