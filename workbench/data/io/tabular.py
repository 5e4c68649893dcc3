"""Parquet and CSV tables: one row per step.

Columns (what :meth:`EpisodeDataset.to_frame` writes):

=================  ===========================================================
``episode``        episode id (optional; consecutive rows with the same id)
``step``           step within the episode (optional, informational)
``obs_0..obs_k``   observation before the step (required)
``action``         discrete action index (integer), **or**
``action_0..``     continuous action vector
``reward``         reward of the step (required)
``terminated``     True on the last step of an episode that reached a terminal state
``truncated``      True on the last step of an episode cut by a time limit
``next_obs_0..``   observation after the step (optional; without it see
                   :meth:`EpisodeDataset.from_flat`)
other numeric      per-step extras, e.g. ``behavior_log_prob``
=================  ===========================================================

Parquet files written by the workbench also carry the spaces, metadata and a
checksum in the schema metadata (key ``workbench_meta``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import DatasetError
from ..atomic import atomic_file
from ..dataset import EpisodeDataset
from . import _meta

_KNOWN = {"episode", "step", "reward", "terminated", "truncated", "action"}
_ALIASES = {"terminals": "terminated", "terminal": "terminated", "timeouts": "truncated",
            "timeout": "truncated", "rewards": "reward", "episode_id": "episode"}


def _indexed(df: pd.DataFrame, prefix: str) -> list[str]:
    pat = re.compile(rf"^{re.escape(prefix)}_(\d+)$")
    cols = [(int(m.group(1)), c) for c in df.columns if (m := pat.match(str(c)))]
    return [c for _, c in sorted(cols)]


def from_frame(df: pd.DataFrame, source: object,
               meta: dict[str, Any] | None = None) -> EpisodeDataset:
    """Build a dataset from a step table (see the module docstring for the columns)."""
    df = df.rename(columns={k: v for k, v in _ALIASES.items() if k in df.columns
                            and v not in df.columns})
    obs_cols = _indexed(df, "obs")
    if not obs_cols:
        raise DatasetError(f"has no observation columns (found {list(df.columns)[:12]})",
                           source=source, field="obs_0",
                           fix="name observation columns obs_0, obs_1, ...")
    act_cols = _indexed(df, "action")
    if "action" in df.columns:
        act_cols, discrete = ["action"], None
    elif act_cols:
        discrete = False
    else:
        raise DatasetError(f"has no action column (found {list(df.columns)[:12]})", source=source,
                           field="action", fix="name the discrete action column 'action', or "
                           "continuous action columns action_0, action_1, ...")
    for col in ("reward", "terminated"):
        if col not in df.columns:
            raise DatasetError(f"is missing (found {list(df.columns)[:12]})", source=source,
                               field=col, fix=f"add a '{col}' column")
    if len(df) == 0:
        raise DatasetError("has no rows", source=source, field="obs_0",
                           fix="the table is empty; collect or export data first")
    next_cols = _indexed(df, "next_obs")
    if next_cols and len(next_cols) != len(obs_cols):
        raise DatasetError(f"has {len(next_cols)} next_obs columns for {len(obs_cols)} obs "
                           "columns", source=source, field="next_obs_0",
                           fix="write every next_obs_i or none")
    term = df["terminated"].to_numpy()
    tout = df["truncated"].to_numpy() if "truncated" in df.columns else np.zeros(len(df), bool)
    if "episode" in df.columns:
        _check_episode_column(df["episode"].to_numpy(), term, tout, source)
    meta = meta or {}
    extra_names = meta.get("extras")
    used = set(obs_cols) | set(act_cols) | set(next_cols) | _KNOWN
    if extra_names is None:
        extra_cols = {c: [c] for c in df.columns if c not in used
                      and df[c].dtype.kind in "biuf"}
    else:
        extra_cols = {n: ([n] if n in df.columns else _indexed(df, n)) for n in extra_names}
    extras = {n: (df[c[0]].to_numpy() if len(c) == 1 and c[0] == n else df[c].to_numpy())
              for n, c in extra_cols.items()}

    def block(cols: list[str], field: str) -> np.ndarray:
        try:
            return df[cols].to_numpy()
        except Exception as exc:
            raise DatasetError(f"could not be read as numbers ({exc})", source=source,
                               field=field) from None

    acts = df["action"].to_numpy() if act_cols == ["action"] else block(act_cols, "action_0")
    ours = meta.get("workbench")
    return _meta.verify(EpisodeDataset.from_flat(
        block(obs_cols, "obs_0"), acts, df["reward"].to_numpy(), term, tout,
        block(next_cols, "next_obs_0") if next_cols else None, extras=extras,
        discrete=discrete,
        action_space=ours["action_space"] if ours else None,
        observation_space=ours["observation_space"] if ours else None,
        metadata=ours["metadata"] if ours else None, source=source,
        fields={"observations": "obs_*", "actions": "action", "rewards": "reward",
                "terminals": "terminated", "timeouts": "truncated",
                "next_observations": "next_obs_*"}), ours, source)


def _check_episode_column(ep: np.ndarray, term: Any, tout: Any, source: object) -> None:
    """Episode ids must change exactly where a terminated/truncated flag ends an episode."""
    try:
        ends = (np.asarray(term, dtype=bool) | np.asarray(tout, dtype=bool))[:-1]
    except (TypeError, ValueError):
        return  # the flag columns themselves get a precise error from from_flat
    change = ep[1:] != ep[:-1]
    missing = change & ~ends
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DatasetError(f"episode {ep[row]!r} never ends: its last row ({row}) has neither "
                           "terminated nor truncated set", source=source, field="truncated",
                           fix="set truncated=True on the last row of episodes cut short")
    extra = ends & ~change
    if extra.any():
        row = int(np.flatnonzero(extra)[0])
        raise DatasetError(f"row {row} ends episode {ep[row]!r} but the next row has the same "
                           "episode id", source=source, field="episode",
                           fix="give each episode its own id, or fix the flags")


def read_parquet(path: Path) -> EpisodeDataset:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = table.schema.metadata or {}
    meta: dict[str, Any] = {}
    if _meta.KEY.encode() in raw:
        meta["workbench"] = _meta.parse(raw[_meta.KEY.encode()], path)
    if b"workbench_extras" in raw:
        try:
            meta["extras"] = list(json.loads(raw[b"workbench_extras"]))
        except Exception:
            raise DatasetError("is unreadable", source=path, field="workbench_extras",
                               fix="the file may be corrupt; re-create it") from None
    return from_frame(table.to_pandas(), path, meta)


def read_csv(path: Path) -> EpisodeDataset:
    return from_frame(pd.read_csv(path), path)


def write_parquet(ds: EpisodeDataset, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(ds.to_frame(), preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[_meta.KEY.encode()] = _meta.dump(ds).encode()
    md[b"workbench_extras"] = json.dumps(sorted(ds.extras)).encode()
    table = table.replace_schema_metadata(md)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)
