"""State shared by the pages of one dashboard (one browser session or one notebook object).

Jobs are process-wide: they belong to the Python process, not to a session, so closing a
browser tab stops that session's periodic callbacks and subscriptions but never a job.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import param

from ..errors import DatasetError, WorkbenchError

if TYPE_CHECKING:  # pragma: no cover
    from ..tracking.store import RunStore
    from ..training.job import TrainingJob

__all__ = ["WorkbenchState", "resolve_under_roots", "register_jobs", "ui_jobs", "say",
           "in_worker", "FAILED"]

#: File suffixes the Datasets page offers under the dataset roots.
DATASET_SUFFIXES = (".npz", ".parquet", ".csv", ".hdf5", ".h5")

_JOBS: list[TrainingJob] = []
_JOBS_LOCK = threading.Lock()


#: What :func:`in_worker` returns when the work failed (the page already says why).
FAILED = object()


def say(alert: Any, text: str, kind: str = "info") -> None:
    """Show ``text`` on a page's status ``pn.pane.Alert`` (``kind``: info, success,
    warning, danger)."""
    alert.object, alert.alert_type = text, kind


async def in_worker(alert: Any, fn: Any, *args: Any, button: Any = None, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a worker thread, so the page stays live, and return
    its result.

    A failure is shown on ``alert`` (a :class:`WorkbenchError`'s message; anything else as
    its type and message) and :data:`FAILED` is returned: a page never leaves a traceback
    or a spinning ``button`` (it shows ``loading`` meanwhile) behind.
    """
    if button is not None:
        button.loading = True
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except WorkbenchError as exc:
        say(alert, str(exc), "danger")
    except Exception as exc:
        say(alert, f"{type(exc).__name__}: {exc}", "danger")
    finally:
        if button is not None:
            button.loading = False
    return FAILED


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
