"""NumPy ``.npz``: the D4RL keys as arrays, plus extras and the workbench metadata.

Keys: ``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts``,
optional ``next_observations``, ``infos/<name>`` per-step extras, and
``workbench_meta`` (JSON) when written by the workbench.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..atomic import atomic_file
from ..dataset import EpisodeDataset
from . import _meta
from .d4rl import export_transitions

REQUIRED = ("observations", "actions", "rewards", "terminals")


def read(path: Path) -> EpisodeDataset:
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        missing = [k for k in REQUIRED if k not in keys]
        if missing:
            raise DatasetError(f"missing key(s) {missing}; found {sorted(keys)}", source=path,
                               field=missing[0], fix="an npz dataset needs the D4RL keys "
                               "observations, actions, rewards, terminals (and timeouts)")
        arrays = {k: z[k] for k in keys}
    meta = _meta.parse(arrays.pop(_meta.KEY), path) if _meta.KEY in arrays else None
    extras = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("infos/")}
    return _meta.from_d4rl_arrays(arrays, extras, meta, path)


def write(ds: EpisodeDataset, path: Path) -> None:
    t = export_transitions(ds)
    arrays = {**t, **{f"infos/{k}": v for k, v in ds.extras.items()},
              _meta.KEY: np.array(_meta.dump(ds))}
    with atomic_file(path) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
