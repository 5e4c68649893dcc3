"""State shared by the pages of one dashboard (one browser session or one notebook object).

Jobs are process-wide: they belong to the Python process, not to a session, so closing a
browser tab stops that session's periodic callbacks and subscriptions but never a job.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import param

from ..errors import DatasetError, WorkbenchError

if TYPE_CHECKING:  # pragma: no cover
    from ..tracking.store import RunStore
    from ..training.job import TrainingJob

__all__ = ["WorkbenchState", "resolve_under_roots", "register_jobs", "ui_jobs", "say",
           "run_action", "in_session", "served_loop", "reread", "settle", "FAILED"]

#: File suffixes the Datasets page offers under the dataset roots.
DATASET_SUFFIXES = (".npz", ".parquet", ".csv", ".hdf5", ".h5")

_JOBS: list[TrainingJob] = []
_JOBS_LOCK = threading.Lock()


#: What :func:`run_action` returns when the work failed (the page already says why).
FAILED = object()


def say(alert: Any, text: str, kind: str = "info") -> None:
    """Show ``text`` on a page's status ``pn.pane.Alert`` (``kind``: info, success,
    warning, danger)."""
    alert.object, alert.alert_type = text, kind


def settle(button: Any) -> None:
    """Take away the spinner a :class:`~workbench.ui._busy.BusyButton` put on ``button``
    (a click that was refused before any work started)."""
    if hasattr(button, "settle"):
        button.settle()
    else:
        button.loading = True
        button.loading = False


def served_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the served session whose callback is running, or ``None`` (in a
    notebook or plain Python the pages work synchronously, as a notebook cell expects)."""
    import panel as pn

    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None:
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def reread(read: Any, apply: Any) -> None:
    """``apply(read())`` after a job started or finished, the way every page re-reads.

    In a notebook or plain Python at once; served, ``read`` runs off the event loop and
    ``apply`` on it afterwards.  A read that fails (:class:`WorkbenchError`) or a server
    shutting down (no executor left for the read) leaves the page as it is: nobody asked.
    """
    loop = served_loop()
    if loop is None:
        apply(read())
        return

    async def quietly() -> None:
        try:
            value = await asyncio.to_thread(read)
        except WorkbenchError:
            return
        except RuntimeError:  # the server is shutting down (no executor left)
            return
        apply(value)

    loop.create_task(quietly())


async def in_session(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` where the session's document may be changed, and return its result.

    In a served session that is a callback of the session's next tick, which holds the
    document lock: a coroutine (an action after its worker returned) may change Panel
    objects, but changing Bokeh models directly (the live curves) needs that lock.  Outside
    a served session ``fn`` runs at once.
    """
    import panel as pn

    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None:
        return fn(*args)
    fut = asyncio.get_running_loop().create_future()

    def call() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting coroutine
            if not fut.done():
                fut.set_exception(exc)
        else:
            if not fut.done():
                fut.set_result(result)

    doc.add_next_tick_callback(call)
    return await fut


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


async def run_action(alert: Any, busy: str, work: Any, *args: Any, button: Any = None,
                     show: Any = None, done: Any = None, tick: Any = None,
                     period: float = 0.5, **kwargs: Any) -> Any:
    """What every button that starts work does: busy at once, work off the event loop,
    the result shown with the time the user waited.

    At once (before any work, so the browser shows it within one round trip): ``button``
    spins (``loading``) and ``alert`` says ``busy`` with an ellipsis.  Then ``work(*args,
    **kwargs)`` runs in a worker thread while the page stays live; every ``period``
    seconds ``tick(elapsed_seconds)`` is called on the event loop (to show progress;
    by default the alert counts the seconds).  ``show(result)`` then puts the result on
    the page (in the session's next tick: :func:`in_session`), and ``done(result, seconds)`` gives
    the message (text, shown as a success, or ``(text, kind)``), where ``seconds`` runs
    from the click's arrival to the result on the page, rendering included: what the user
    waited.

    Returns:
        ``work``'s result, or :data:`FAILED` when ``work`` or ``show`` raised; the alert
        then says why (a :class:`WorkbenchError`'s message; anything else as its type and
        message), and the button never keeps spinning.
    """
    t0 = time.perf_counter()
    if button is not None:
        button.loading = True
    say(alert, f"{busy} …", "info")
    fut = asyncio.ensure_future(asyncio.to_thread(work, *args, **kwargs))
    try:
        while True:
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), timeout=period)
                break
            except asyncio.TimeoutError:
                elapsed = time.perf_counter() - t0
                if tick is not None:
                    tick(elapsed)
                else:
                    from ._format import fmt_seconds

                    say(alert, f"{busy} … ({fmt_seconds(elapsed)} so far)", "info")
        if show is not None:
            await in_session(show, result)
    except Exception as exc:
        say(alert, _error_text(exc), "danger")
        return FAILED
    finally:
        if button is not None:
            button.loading = False
    if done is not None:
        msg = done(result, time.perf_counter() - t0)
        say(alert, *(msg if isinstance(msg, tuple) else (msg, "success")))
    return result


def register_jobs(jobs: Sequence[TrainingJob]) -> None:
    """Remember jobs started from a dashboard (process-wide: a new tab sees them)."""
    with _JOBS_LOCK:
        for j in jobs:
            if j not in _JOBS:
                _JOBS.append(j)


def ui_jobs() -> list[TrainingJob]:
    """Jobs started from any dashboard in this process, oldest first."""
    with _JOBS_LOCK:
        return list(_JOBS)


def resolve_under_roots(path: str | os.PathLike, roots: Sequence[Path]) -> Path:
    """The real path of ``path`` if it lies under one of ``roots``; else :class:`DatasetError`.

    Relative paths are taken relative to the first root.  Symbolic links are resolved first,
    so a link inside a root pointing outside it is refused too.
    """
    text = os.fspath(path).strip()
    if not roots:
        raise DatasetError("loading files is turned off: no dataset root is configured",
                           source=text, fix="start the dashboard with --dataset-root DIR "
                           "(or Workbench(dataset_roots=[...]))")
    if not text:
        raise DatasetError("no path given", source=text, fix="type a path under "
                           + ", ".join(map(str, roots)))
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = roots[0] / p
    real = p.resolve()
    if not any(real == r or real.is_relative_to(r) for r in roots):
        raise DatasetError("is outside the allowed dataset roots " + ", ".join(map(str, roots)),
                           source=text, fix="move the file under a root or add its directory "
                           "with --dataset-root")
    if not real.exists():
        raise DatasetError("does not exist", source=text, fix="check the path")
    return real


def files_under(roots: Sequence[Path], limit: int = 500, depth: int = 3) -> list[str]:
    """Dataset files (and Minari dataset directories) under ``roots``, at most ``limit``."""
    out: list[str] = []
    for root in roots:
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            if len(d.parts) - base_depth >= depth:
                dirnames[:] = []
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            if (d / "data" / "main_data.hdf5").exists():
                out.append(str(d))
                dirnames[:] = []
                continue
            for f in sorted(filenames):
                if f.endswith(DATASET_SUFFIXES) and d.name != "data":
                    out.append(str(d / f))
            if len(out) >= limit:
                return out[:limit]
    return out


class WorkbenchState(param.Parameterized):
    """What the pages of one dashboard share: loaded datasets, reports, the run store.

    Args:
        dataset_roots: directories files may be loaded from (nothing else is read).
        store: the RunStore (default: the one under ``$WORKBENCH_HOME``).
    """

    datasets = param.Dict(default={}, doc="name -> EpisodeDataset, in loading order")
    current = param.String(default="", doc="the dataset the pages show")
    reports = param.Dict(default={}, doc="name -> DiagnosticsReport (computed on demand)")
    runs_version = param.Integer(default=0, doc="bumped when jobs start or finish")

    def __init__(self, dataset_roots: Sequence[str | os.PathLike] = (),
                 store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.dataset_roots = [Path(r).expanduser().resolve() for r in dataset_roots]
        self._store = store
        self._callbacks: list[Any] = []
        self._closers: list[Any] = []
        self.closed = False

    @property
    def store(self) -> RunStore:
        if self._store is None:
            from ..tracking.store import default_store

            self._store = default_store()
        return self._store

    # ------------------------------------------------------------------ datasets
    def add_dataset(self, name: str, ds: Any) -> str:
        """Add (or replace) a loaded dataset and make it current; returns its name."""
        self.datasets = {**{k: v for k, v in self.datasets.items() if k != name}, name: ds}
        if name in self.reports:
            self.reports = {k: v for k, v in self.reports.items() if k != name}
        self.current = name
        return name

    def report(self, name: str) -> Any:
        """The (cached) diagnostics report of a loaded dataset (catalog default reference)."""
        rep = self.reports.get(name)
        if rep is None:
            from ..diagnostics import diagnose

            rep = diagnose(self.datasets[name], name=name)
            self.reports = {**self.reports, name: rep}
        return rep

    # ------------------------------------------------------------------ lifecycle
    def add_periodic_callback(self, fn: Any, period: int) -> Any:
        """A per-session periodic callback, stopped by :meth:`close`."""
        import panel as pn

        cb = pn.state.add_periodic_callback(fn, period=period, start=True)
        self._callbacks.append(cb)
        return cb

    def on_close(self, fn: Any) -> None:
        """Call ``fn`` when this dashboard closes (at once when it already has)."""
        if self.closed:
            fn()
            return
        self._closers.append(fn)

    def close(self) -> None:
        """Stop this session's callbacks and subscriptions (jobs keep running)."""
        if self.closed:
            return
        self.closed = True
        for cb in self._callbacks:
            try:
                cb.stop()
            except Exception:  # pragma: no cover - already stopped
                pass
        for fn in self._closers:
            try:
                fn()
            except Exception:  # pragma: no cover
                pass

    @property
    def n_callbacks_running(self) -> int:
        return sum(1 for cb in self._callbacks if getattr(cb, "running", False))
