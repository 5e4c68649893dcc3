"""In-memory metric stream: training workers publish rows, UIs and notebooks drain them.

Workers never touch widgets.  Each logging interval a job publishes its rows to the
process-wide :func:`metric_stream`; every :class:`Subscription` gets its own bounded
queue, so several dashboard sessions can read the same stream independently.

Typical dashboard use (a per-session periodic callback)::

    from workbench.training import metric_stream
    sub = metric_stream().subscribe(run_ids={job.run_id})   # or None for every run
    buffer = hv.streams.Buffer(sub.empty_frame(), length=1_000_000, index=False)

    def pump():
        df = sub.drain()                 # tidy DataFrame, possibly empty
        if len(df):
            buffer.send(df)
    pn.state.add_periodic_callback(pump, period=500)
    ...
    sub.close()                          # when the session ends

Rows are ``(run_id, step, name, value, wall_time)``; ``wall_time`` is epoch seconds.
A job also keeps its own subscription: ``job.drain_metrics()``.
Process-executor jobs publish here too (their rows are relayed from the worker process).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MetricStream", "Subscription", "metric_stream", "Row", "COLUMNS"]

Row = tuple[str, int, str, float, float]
COLUMNS = ["run_id", "step", "name", "value", "wall_time"]


class Subscription:
    """One reader's queue of metric rows (thread-safe; oldest rows dropped past ``maxlen``).

    Attributes:
        dropped: rows discarded because the queue was full (the reader fell behind).
    """

    def __init__(self, stream: MetricStream, run_ids: Collection[str] | None,
                 names: Collection[str] | None, maxlen: int) -> None:
        self._stream = stream
        self.run_ids = None if run_ids is None else set(run_ids)
        self.names = None if names is None else set(names)
        self._q: deque[Row] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0
        self.closed = False

    def _offer(self, rows: Iterable[Row]) -> None:
        keep = [r for r in rows if (self.run_ids is None or r[0] in self.run_ids)
                and (self.names is None or r[2] in self.names)]
        if not keep:
            return
        with self._lock:
            overflow = len(self._q) + len(keep) - (self._q.maxlen or 0)
            if self._q.maxlen is not None and overflow > 0:
                self.dropped += overflow
            self._q.extend(keep)

    def follow(self, run_id: str) -> None:
        """Also receive rows of ``run_id`` (no-op when subscribed to every run)."""
        if self.run_ids is not None:
            self.run_ids.add(run_id)

    def drain_rows(self, max_rows: int | None = None) -> list[Row]:
        """Remove and return up to ``max_rows`` queued rows (all by default), oldest first."""
        with self._lock:
            if max_rows is None or max_rows >= len(self._q):
                out = list(self._q)
                self._q.clear()
            else:
                out = [self._q.popleft() for _ in range(max_rows)]
        return out

    def drain(self, max_rows: int | None = None) -> pd.DataFrame:
        """Like :meth:`drain_rows`, as a DataFrame with :data:`COLUMNS` (maybe empty)."""
        import pandas as pd

        rows = self.drain_rows(max_rows)
        df = pd.DataFrame(rows, columns=COLUMNS)
        return df.astype({"step": "int64", "value": "float64", "wall_time": "float64"})

    @staticmethod
    def empty_frame() -> pd.DataFrame:
        """An empty DataFrame with the stream's columns and dtypes (to seed a Buffer)."""
        import pandas as pd

        return pd.DataFrame({"run_id": pd.Series(dtype="object"),
                             "step": pd.Series(dtype="int64"), "name": pd.Series(dtype="object"),
                             "value": pd.Series(dtype="float64"),
                             "wall_time": pd.Series(dtype="float64")})

    def __len__(self) -> int:
        return len(self._q)

    def close(self) -> None:
        """Stop receiving rows (idempotent)."""
        self.closed = True
        self._stream._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MetricStream:
    """Fan-out of metric rows to any number of :class:`Subscription` queues."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, run_ids: Collection[str] | None = None,
                  names: Collection[str] | None = None,
                  maxlen: int = 1_000_000) -> Subscription:
        """A new queue receiving rows published from now on.

        Args:
            run_ids: only these runs (``None``: every run).
            names: only these metric names (``None``: all).
            maxlen: queue bound in rows; the oldest are dropped beyond it.
        """
        sub = Subscription(self, run_ids, names, maxlen)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, rows: Iterable[Row]) -> None:
        """Offer rows to every subscription (called by training workers; never blocks long)."""
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s._offer(rows)

    @property
    def n_subscribers(self) -> int:
        return len(self._subs)


_STREAM = MetricStream()


def metric_stream() -> MetricStream:
    """The process-wide stream every training job publishes to."""
    return _STREAM
