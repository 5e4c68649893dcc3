"""The driver's metric writer: one thread per RunStore file commits every job's rows.

Workers of the ``ray`` executor may run on other hosts, where the driver's SQLite file is
out of reach, so they do not write to the RunStore: they send their metric rows back
(:mod:`workbench.training.ray_executor`) and the driver commits them here.  One
:class:`MetricWriter` per store file and process (:func:`metric_writer`) takes rows from any
number of jobs, commits what has accumulated since its last commit (one transaction per run
with new rows, so a busy driver commits many rows per transaction instead of one small
transaction per job and logging interval, and no two writers of this process contend for
SQLite's write lock), then publishes the committed rows to the live
:func:`~workbench.training.stream.metric_stream`: committed first, published second, as the
thread and process workers do.

:meth:`MetricWriter.flush` waits until everything submitted before it is committed; a job
flushes before it records a checkpoint or its final status, so the store never shows a
final run without its last rows.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

from .stream import metric_stream

__all__ = ["MetricWriter", "metric_writer"]

#: a submitted batch: (run_id, attempt, step, rows ((step, name, value, wall_time), ...))
_Batch = tuple[str, int, int, list[tuple[int, str, float, float]]]


class MetricWriter:
    """Commits metric rows of many jobs to one RunStore from a single thread.

    Args:
        store: the :class:`~workbench.tracking.RunStore` (its file is what matters: the
            writer thread opens its own connection).
        publish: also publish committed rows to the process's metric stream.

    Attributes:
        rows_committed: metric rows committed so far.
        transactions: SQLite transactions used for them.
        errors: tracebacks of commits that failed (the rows are dropped and the writer goes
            on; a failing store also fails the jobs' own status writes, which report it).
    """

    def __init__(self, store: Any, publish: bool = True) -> None:
        self.store = store
        self.publish = publish
        self.rows_committed = 0
        self.transactions = 0
        self.errors: list[str] = []
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"wb-writer-{store.path.name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, run_id: str, rows: Iterable[tuple[int, str, float, float]], *,
               step: int | None = None, attempt: int = 1) -> None:
        """Queue ``(step, name, value, wall_time)`` rows of ``run_id`` (returns at once).

        ``step`` (gradient updates) is recorded as the run's and the attempt's last step in
        the same transaction; ``attempt`` is the attempt that logged them.
        """
        rows = list(rows)
        last = int(step) if step is not None else max((int(r[0]) for r in rows), default=0)
        self._q.put((run_id, int(attempt), last, rows))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted before this call is committed (and published);
        ``False`` when ``timeout`` seconds passed first."""
        done = threading.Event()
        self._q.put(done)
        return done.wait(timeout)

    #: most batches taken into one commit cycle (keeps a cycle short under a flood)
    MAX_BATCHES = 4096

    def _loop(self) -> None:
        while True:
            items = [self._q.get()]
            while len(items) < self.MAX_BATCHES:  # what accumulated meanwhile, together
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                batches: list[_Batch] = [i for i in items if isinstance(i, tuple)]
                if batches:
                    self._commit(batches)
            except Exception:  # noqa: BLE001 - the writer must outlive any one batch
                self.errors.append(traceback.format_exc())
            finally:  # waiters are released whatever happened
                for i in items:
                    if isinstance(i, threading.Event):
                        i.set()

    def _commit(self, batches: list[_Batch]) -> None:
        grouped: dict[tuple[str, int], tuple[int, list[tuple[int, str, float, float]]]] = {}
        for run_id, attempt, step, rows in batches:
            last, acc = grouped.get((run_id, attempt), (step, []))
            acc.extend(rows)
            grouped[(run_id, attempt)] = (max(last, step), acc)
        published: list[tuple[str, int, str, float, float]] = []
        for (run_id, attempt), (step, rows) in grouped.items():
            try:
                self.store.log_metrics(run_id, rows, step=step, attempt=attempt)
            except Exception:  # noqa: BLE001 - keep serving the other runs
                self.errors.append(traceback.format_exc())
                continue
            self.rows_committed += len(rows)
            self.transactions += 1
            published.extend((run_id, s, n, v, w) for s, n, v, w in rows)
        if self.publish and published:
            metric_stream().publish(published)
        self.last_commit = time.time()


_WRITERS: dict[str, MetricWriter] = {}
_WRITERS_LOCK = threading.Lock()


def metric_writer(store: Any) -> MetricWriter:
    """The writer of ``store``'s file in this process (created on first use)."""
    key = str(store.path.resolve())
    with _WRITERS_LOCK:
        w = _WRITERS.get(key)
        if w is None:
            w = _WRITERS[key] = MetricWriter(store)
        elif w.store is not store and not w.store.path.exists():
            w.store = store  # the file was deleted and created again: use the new store
        return w
