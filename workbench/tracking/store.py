"""RunStore: runs, params, metrics and artefacts in one SQLite database (WAL mode).

Layout (``$WORKBENCH_HOME/runs.sqlite`` by default)::

    runs       run_id PK, name, algo, dataset, dataset_fingerprint, status, seed, n_steps,
               step (last logged), executor, device, pid, pid_start, host, created, started,
               finished, error, health (JSON)
    params     run_id, key, value (JSON)                      one row per parameter
    metrics    run_id, step, name, value, wall_time, attempt  batched inserts
    attempts   run_id, attempt, start_step, step, status,     one row per start of a run
               started, finished                              (``train`` = 1, each ``resume`` +1)
    artifacts  run_id, name, kind, path, step, created        checkpoints, final model

Attempts: ``resume`` never deletes metrics.  It starts attempt ``k+1`` from its checkpoint
step ``S``, and the rows the crashed or cancelled attempt committed after ``S`` stay in the
table.  :meth:`RunStore.metrics` returns the *current view* by default: a row of attempt
``k`` at step ``s`` is hidden only once a later attempt that started before ``s``
(``start_step < s``) has committed step ``s`` itself (its ``step >= s``) or has completed
the run.  So a crashed attempt's curve stays readable until the resumed attempt has
reproduced those steps; ``metrics(..., attempts="all")`` returns every row ever committed,
with its ``attempt`` and whether it is ``current``.  Databases written before attempts
existed are migrated on open (their rows become attempt 1).

Durability: WAL journal, ``synchronous=NORMAL``: a committed transaction survives the
writing process being killed (SIGKILL); only an OS crash/power loss can lose the last
commits.  Writers batch metric rows into one transaction per logging interval.

Concurrency: one connection per thread (SQLite connections are not shared between
threads), ``busy_timeout`` 30 s; any number of processes may open the same file.

Crash detection: a run left ``queued``/``running`` whose owner process (pid + its start
time, so a reused pid is not mistaken for the owner) no longer exists on this host is
marked ``crashed`` whenever a store is opened and whenever runs are listed.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, WorkbenchError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["RunStore", "default_store", "STATUSES", "ACTIVE", "FINISHED", "WITH_POLICY",
           "process_start_time", "pid_alive"]

STATUSES = ("queued", "running", "completed", "failed", "cancelled", "crashed")
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled", "crashed")
#: Finished runs that kept a trained policy (a cancelled run keeps its partial one).
WITH_POLICY = ("completed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT,
    algo TEXT,
    dataset TEXT,
    dataset_fingerprint TEXT,
    status TEXT NOT NULL,
    seed INTEGER,
    n_steps INTEGER,
    step INTEGER DEFAULT 0,
    executor TEXT,
    device TEXT,
    pid INTEGER,
    pid_start REAL,
    host TEXT,
    created REAL,
    started REAL,
    finished REAL,
    error TEXT,
    health TEXT
);
CREATE TABLE IF NOT EXISTS params (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    wall_time REAL NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS metrics_run_step ON metrics (run_id, step);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    start_step INTEGER NOT NULL,
    step INTEGER NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    finished REAL,
    PRIMARY KEY (run_id, attempt)
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT,
    path TEXT NOT NULL,
    step INTEGER,
    created REAL,
    PRIMARY KEY (run_id, name)
);
"""

#: A metric row ``m`` is superseded when a later attempt started before its step and has
#: reached that step (or completed the run): the "current view" of :meth:`RunStore.metrics`.
_SUPERSEDED = ("EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = m.run_id AND a.attempt > "
               "m.attempt AND a.start_step < m.step AND (a.step >= m.step OR a.status = "
               "'completed'))")
ATTEMPT_VIEWS = ("current", "all")

_RUN_COLUMNS = ("run_id", "name", "algo", "dataset", "dataset_fingerprint", "status", "seed",
                "n_steps", "step", "executor", "device", "pid", "pid_start", "host", "created",
                "started", "finished", "error", "health")


def process_start_time(pid: int) -> float | None:
    """Start time of process ``pid`` (epoch seconds), or ``None`` when it does not exist."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except ImportError:  # pragma: no cover - psutil ships with the environment
        return 0.0 if pid_alive(pid) else None
    except Exception:
        return None


def pid_alive(pid: int, start: float | None = None) -> bool:
    """Whether process ``pid`` exists (and, when ``start`` is given, is the same process)."""
    if pid is None or pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if start is not None and start > 0 and abs(p.create_time() - start) > 1.0:
            return False  # the pid was reused by another process
        return True
    except psutil.NoSuchProcess:
        return False
    except Exception:  # pragma: no cover - access denied: assume alive
        return True


def _json(value: Any) -> str:
    def default(o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return repr(o)

    return json.dumps(value, default=default, sort_keys=True)


class RunStore:
    """The run database.  Cheap to open; safe to use from many threads and processes.

    Args:
        path: the SQLite file; default ``workbench_home() / "runs.sqlite"``.
        reap: mark dead runs ``crashed`` on open (see the module docstring).

    Raises:
        WorkbenchError: the file is not an SQLite database or cannot be created.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, reap: bool = True) -> None:
        if path is None:
            from .._paths import workbench_home

            path = workbench_home() / "runs.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._host = socket.gethostname()
        try:
            con = self._con()
            con.executescript(_SCHEMA)
            self._migrate(con)
        except sqlite3.DatabaseError as exc:
            raise WorkbenchError(f"{self.path}: cannot open the run store ({exc}). Fix: move the "
                                 "file aside; a new store will be created") from None
        if reap:
            self.reap()

    @staticmethod
    def _migrate(con: sqlite3.Connection) -> None:
        """Bring a database written by an older version up to the current schema.

        Adds ``metrics.attempt`` (existing rows: attempt 1).  Checked and altered inside one
        ``BEGIN IMMEDIATE`` transaction, so processes opening the store at once do not race.
        """
        def has_attempt() -> bool:
            return any(r[1] == "attempt" for r in con.execute("PRAGMA table_info(metrics)"))

        if has_attempt():
            return
        with _tx(con):
            if not has_attempt():
                con.execute("ALTER TABLE metrics ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1")

    # ------------------------------------------------------------------ connection
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                  check_same_thread=False)
            con.execute("PRAGMA busy_timeout=30000")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. network filesystems
                raise WorkbenchError(f"{self.path}: SQLite WAL mode unavailable ({mode})")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
            self._local.pid = os.getpid()
        return con

    def _write(self, sql: str, args: Sequence[Any] = ()) -> None:
        con = self._con()
        with _tx(con):
            con.execute(sql, args)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def run_dir(self, run_id: str) -> Path:
        """Directory for a run's files (checkpoints, final model): ``<store dir>/runs/<run_id>``."""
        return self.path.parent / "runs" / run_id

    # ------------------------------------------------------------------ runs
    def create_run(self, run_id: str, *, status: str = "queued", **fields: Any) -> None:
        """Insert a run (``fields`` are columns of ``runs``).

        Raises:
            ConfigError: unknown column or status, or the run id exists.
        """
        _check_status(status)
        bad = set(fields) - set(_RUN_COLUMNS)
        if bad:
            raise ConfigError(f"unknown run fields {sorted(bad)}; valid: {_RUN_COLUMNS}")
        row = {"run_id": run_id, "status": status, "created": time.time(), "host": self._host,
               "pid": os.getpid(), "pid_start": process_start_time(os.getpid()), **fields}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            self._write(f"INSERT INTO runs ({cols}) VALUES ({marks})", list(row.values()))
        except sqlite3.IntegrityError:
            raise ConfigError(f"run {run_id!r} already exists") from None

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run (e.g. ``status``, ``step``, ``error``, ``pid``)."""
        if "status" in fields:
            _check_status(fields["status"])
        bad = set(fields) - set(_RUN_COLUMNS)
        if bad:
            raise ConfigError(f"unknown run fields {sorted(bad)}; valid: {_RUN_COLUMNS}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        con = self._con()
        with _tx(con):
            con.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", [*fields.values(), run_id])
            if "status" in fields:  # the latest attempt follows the run's status
                att = {"status": fields["status"]}
                if "started" in fields:
                    att["started"] = fields["started"]
                if "finished" in fields:
                    att["finished"] = fields["finished"]
                con.execute(f"UPDATE attempts SET {', '.join(f'{k} = ?' for k in att)} WHERE "
                            "run_id = ? AND attempt = (SELECT MAX(attempt) FROM attempts WHERE "
                            "run_id = ?)", [*att.values(), run_id, run_id])

    def claim(self, run_id: str, pid: int | None = None) -> None:
        """Mark a run ``running``, owned by ``pid`` (default: this process)."""
        pid = os.getpid() if pid is None else pid
        self.update_run(run_id, status="running", pid=pid, pid_start=process_start_time(pid),
                        host=self._host, started=time.time(), finished=None, error=None)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run's row as a dict.

        Raises:
            ConfigError: no such run (the message lists the most recent ids).
        """
        cur = self._con().execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?",
                                  (run_id,))
        row = cur.fetchone()
        if row is None:
            recent = [r[0] for r in self._con().execute(
                "SELECT run_id FROM runs ORDER BY created DESC LIMIT 5")]
            raise ConfigError(f"no run {run_id!r} in {self.path}; recent runs: {recent}")
        return dict(zip(_RUN_COLUMNS, row))

    def status(self, run_id: str) -> str:
        return str(self.get_run(run_id)["status"])

    def reap(self) -> list[str]:
        """Mark runs whose owner process died as ``crashed``; returns their ids.

        Only runs recorded on this host are judged (a pid means nothing elsewhere).
        """
        rows = self._con().execute(
            "SELECT run_id, pid, pid_start, host FROM runs WHERE status IN ('queued', 'running')"
        ).fetchall()
        dead = [r[0] for r in rows if r[3] == self._host and not pid_alive(r[1], r[2])]
        for run_id in dead:
            con = self._con()
            now = time.time()
            with _tx(con):
                cur = con.execute(
                    "UPDATE runs SET status = 'crashed', finished = ?, error = COALESCE(error, ?) "
                    "WHERE run_id = ? AND status IN ('queued', 'running')",
                    (now, "the process running this job died (killed or crashed); resume it "
                     "with workbench.resume(run_id)", run_id))
                if cur.rowcount:
                    con.execute("UPDATE attempts SET status = 'crashed', finished = ? WHERE "
                                "run_id = ? AND attempt = (SELECT MAX(attempt) FROM attempts "
                                "WHERE run_id = ?)", (now, run_id, run_id))
        return dead

    def runs(self) -> pd.DataFrame:
        """All runs, newest first (after :meth:`reap`), with ``duration_s``."""
        import pandas as pd

        self.reap()
        df = pd.read_sql_query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY created DESC",
                               self._con())
        end = df["finished"].where(df["finished"].notna(), time.time())
        df["duration_s"] = (end - df["started"]).where(df["started"].notna())
        for c in ("created", "started", "finished"):
            df[c] = pd.to_datetime(df[c], unit="s")
        return df

    def delete_run(self, run_id: str) -> None:
        """Remove a run with its params, metrics, attempts and artefact rows (files are left
        alone)."""
        con = self._con()
        with _tx(con):
            for table in ("metrics", "attempts", "params", "artifacts", "runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    # ------------------------------------------------------------------ params
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Store parameters (values JSON-encoded; later values replace earlier ones)."""
        con = self._con()
        with _tx(con):
            con.executemany("INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)",
                            [(run_id, str(k), _json(v)) for k, v in params.items()])

    def params(self, run_id: str) -> dict[str, Any]:
        """``{key: value}`` of a run (JSON-decoded)."""
        rows = self._con().execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY key",
                                   (run_id,)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    # ------------------------------------------------------------------ attempts
    def begin_attempt(self, run_id: str, start_step: int = 0) -> int:
        """Record a new attempt of ``run_id`` starting after step ``start_step``; returns its
        number (1 for a new run, ``k + 1`` after ``k`` attempts).

        Nothing is deleted: the rows earlier attempts committed after ``start_step`` stay
        in the current view until this attempt reproduces their steps (see the module
        docstring).  A run recorded before attempts existed gets its attempt 1 backfilled
        from the run row first.  The new attempt starts ``queued``.

        Raises:
            ConfigError: no such run.
        """
        run = self.get_run(run_id)
        con = self._con()
        with _tx(con):
            last = con.execute("SELECT MAX(attempt) FROM attempts WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
            if last is None:
                legacy = con.execute("SELECT MAX(attempt) FROM metrics WHERE run_id = ?",
                                     (run_id,)).fetchone()[0]
                if legacy is not None:  # metrics from before attempts were recorded
                    con.execute("INSERT INTO attempts (run_id, attempt, start_step, step, status, "
                                "started, finished) VALUES (?, ?, 0, ?, ?, ?, ?)",
                                (run_id, int(legacy), int(run["step"] or 0), run["status"],
                                 run["started"], run["finished"]))
                last = legacy or 0
            k = int(last) + 1
            con.execute("INSERT INTO attempts (run_id, attempt, start_step, step, status) "
                        "VALUES (?, ?, ?, ?, 'queued')", (run_id, k, int(start_step),
                                                          int(start_step)))
        return k

    def attempts(self, run_id: str) -> pd.DataFrame:
        """A run's attempts, oldest first.

        Columns ``attempt, start_step`` (the checkpoint step it resumed from; 0 for the
        first), ``step`` (the last step it committed), ``status``, ``started``,
        ``finished`` (epoch seconds), ``rows`` (metric rows it committed) and
        ``current_rows`` (of those, rows still in the current view).
        """
        import pandas as pd

        return pd.read_sql_query(
            "SELECT a.attempt, a.start_step, a.step, a.status, a.started, a.finished, "
            "(SELECT COUNT(*) FROM metrics m WHERE m.run_id = a.run_id AND m.attempt = "
            "a.attempt) AS rows, (SELECT COUNT(*) FROM metrics m WHERE m.run_id = a.run_id AND "
            f"m.attempt = a.attempt AND NOT {_SUPERSEDED}) AS current_rows FROM attempts a "
            "WHERE a.run_id = ? ORDER BY a.attempt", self._con(), params=[run_id])

    # ------------------------------------------------------------------ metrics
    def log_metrics(self, run_id: str, rows: Iterable[tuple[int, str, float, float]],
                    step: int | None = None, attempt: int | None = None) -> int:
        """Insert ``(step, name, value, wall_time)`` rows in one transaction.

        Args:
            run_id: the run.
            rows: the metric rows; ``step`` in gradient updates, ``wall_time`` epoch seconds.
            step: also record it as the run's and the attempt's last step (same
                transaction, so readers never see an attempt's step without its rows).
            attempt: the attempt writing (default: the run's latest attempt, or 1).

        Returns the number of rows written.  NaN values are stored as NULL (read back as NaN).
        """
        con = self._con()
        if attempt is None:
            attempt = con.execute("SELECT MAX(attempt) FROM attempts WHERE run_id = ?",
                                  (run_id,)).fetchone()[0] or 1
        k = int(attempt)
        data = [(run_id, int(s), str(n), None if v is None or (isinstance(v, float) and
                 math.isnan(v)) else float(v), float(w), k) for s, n, v, w in rows]
        with _tx(con):
            con.executemany("INSERT INTO metrics (run_id, step, name, value, wall_time, attempt) "
                            "VALUES (?, ?, ?, ?, ?, ?)", data)
            if step is not None:
                con.execute("UPDATE runs SET step = ? WHERE run_id = ?", (int(step), run_id))
                con.execute("UPDATE attempts SET step = ? WHERE run_id = ? AND attempt = ?",
                            (int(step), run_id, k))
        return len(data)

    def metrics(self, run_id: str | Sequence[str] | None = None, names: Sequence[str] | None =
                None, since_step: int | None = None, attempts: str = "current") -> pd.DataFrame:
        """Tidy metrics: columns ``run_id, step, name, value, wall_time`` sorted by run, step.

        Args:
            run_id: one id, several, or ``None`` for all runs.
            names: keep only these metric names.
            since_step: keep rows with ``step > since_step``.
            attempts: ``"current"`` (default): the run's current view, one value per step
                and name: a row an earlier attempt committed is left out only once a
                resumed attempt has committed the same step (or completed the run).
                ``"all"``: every row ever committed, with two more columns: ``attempt``
                (1, 2, ...) and ``current`` (whether the row is in the current view).

        Raises:
            ConfigError: ``attempts`` is neither ``"current"`` nor ``"all"``.
        """
        import pandas as pd

        if attempts not in ATTEMPT_VIEWS:
            raise ConfigError(f"attempts={attempts!r}; valid: {ATTEMPT_VIEWS} ('current': the "
                              "run's current curves, 'all': every attempt's rows)")
        where: list[str] = []
        args: list[Any] = []
        if run_id is not None:
            ids = [run_id] if isinstance(run_id, str) else list(run_id)
            where.append(f"m.run_id IN ({', '.join('?' for _ in ids)})")
            args += ids
        if names is not None:
            where.append(f"m.name IN ({', '.join('?' for _ in names)})")
            args += list(names)
        if since_step is not None:
            where.append("m.step > ?")
            args.append(int(since_step))
        cols = "m.run_id, m.step, m.name, m.value, m.wall_time"
        if attempts == "all":
            cols += f", m.attempt, NOT {_SUPERSEDED} AS current"
        else:
            where.append(f"NOT {_SUPERSEDED}")
        sql = f"SELECT {cols} FROM metrics m"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.run_id, m.step, m.rowid"
        df = pd.read_sql_query(sql, self._con(), params=args)
        df["value"] = df["value"].astype("float64")
        if attempts == "all":
            df["attempt"] = df["attempt"].astype("int64")
            df["current"] = df["current"].astype(bool)
        return df

    def delete_metrics_after(self, run_id: str, step: int) -> int:
        """Drop a run's metric rows with ``step > step`` (every attempt's); returns the count.

        Destructive maintenance only: :func:`workbench.resume` does not call it any more
        (a resumed attempt supersedes rows in the current view instead of deleting them).
        """
        con = self._con()
        with _tx(con):
            cur = con.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, step))
            con.execute("UPDATE runs SET step = ? WHERE run_id = ?", (int(step), run_id))
        return cur.rowcount

    # ------------------------------------------------------------------ artefacts
    def add_artifact(self, run_id: str, name: str, path: str | os.PathLike, *, kind: str = "file",
                     step: int | None = None) -> None:
        """Record a file (already written, atomically) under ``name`` (replaces a previous one)."""
        self._write("INSERT OR REPLACE INTO artifacts (run_id, name, kind, path, step, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (run_id, name, kind, str(path), step, time.time()))

    def remove_artifact(self, run_id: str, name: str) -> None:
        self._write("DELETE FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name))

    def artifacts(self, run_id: str) -> pd.DataFrame:
        """Columns ``name, kind, path, step, created``, oldest first."""
        import pandas as pd

        return pd.read_sql_query("SELECT name, kind, path, step, created FROM artifacts WHERE "
                                 "run_id = ? ORDER BY created, rowid", self._con(), params=[run_id])

    # ------------------------------------------------------------------ maintenance
    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result (``"ok"`` when healthy)."""
        return str(self._con().execute("PRAGMA integrity_check").fetchone()[0])

    def export(self, path: str | os.PathLike, run_id: str | Sequence[str] | None = None, *,
               attempts: str = "current") -> Path:
        """Write metrics (tidy, with the runs' algo/dataset/seed) to ``.parquet`` or ``.csv``.

        ``attempts``: ``"current"`` (each run's current view) or ``"all"`` (every attempt's
        rows, with ``attempt`` and ``current`` columns); see :meth:`metrics`.

        Raises:
            ConfigError: another suffix, or an unknown ``attempts``.
        """
        from ..data.atomic import atomic_file

        path = Path(path)
        if path.suffix not in (".parquet", ".csv"):
            raise ConfigError(f"{path}: export to .parquet or .csv")
        m = self.metrics(run_id, attempts=attempts)
        runs = self.runs()[["run_id", "algo", "dataset", "seed", "status"]]
        df = m.merge(runs, on="run_id", how="left")
        with atomic_file(path) as tmp:
            if path.suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
        return path

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"


class _tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error) on an autocommit connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            self.con.execute("ROLLBACK")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}; valid: {STATUSES}")


_DEFAULT: dict[str, RunStore] = {}
_DEFAULT_LOCK = threading.Lock()


def default_store() -> RunStore:
    """The store under the current ``workbench_home()`` (one instance per path)."""
    from .._paths import workbench_home

    path = str(workbench_home() / "runs.sqlite")
    with _DEFAULT_LOCK:
        store = _DEFAULT.get(path)
        if store is None or not Path(path).exists():
            store = _DEFAULT[path] = RunStore(path)
        return store
