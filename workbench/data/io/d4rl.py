"""D4RL HDF5: flat per-step arrays, episodes split on ``terminals`` or ``timeouts``.

Keys read: ``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts``
(optional: without it only terminals split episodes), ``next_observations``
(optional; without it every episode's final observation is unknown, and an all-NaN row on
an episode's last step marks that episode's final observation unknown; every logged step is
kept either way, see :mod:`workbench.data.dataset`),
and numeric per-step arrays under ``infos/`` (kept as extras).  Files written by
the workbench carry a ``workbench_meta`` attribute (spaces, metadata, checksum).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..atomic import atomic_file
from ..dataset import EpisodeDataset
from . import _h5, _meta


def export_transitions(ds: EpisodeDataset) -> dict:
    """The D4RL arrays to write: ``next_observations`` is NaN where an episode's final
    observation is unknown, and left out when no episode's final observation is known (the
    layout of a file that never had them)."""
    t = ds.transitions(mark_unknown=True)
    if not ds.final_observation_known.any():
        del t["next_observations"]
    return t


def read(path: Path) -> EpisodeDataset:
    with h5py.File(path, "r") as f:
        arr: dict[str, np.ndarray | None] = {
            k: _h5.read_array(f, k, path) for k in ("observations", "actions", "rewards",
                                                    "terminals")}
        for k in ("timeouts", "next_observations"):
            arr[k] = _h5.read_array(f, k, path) if k in f else None
        n = len(arr["observations"])  # type: ignore[arg-type]  # read above, never None
        extras = _h5.read_infos(f.get("infos"), n, path)
        meta = _meta.parse(f.attrs[_meta.KEY], path) if _meta.KEY in f.attrs else None
    return _meta.from_d4rl_arrays(arr, extras, meta, path)


def write(ds: EpisodeDataset, path: Path) -> None:
    t = export_transitions(ds)
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in t.items():
                f.create_dataset(key, data=value)
            if ds.extras:
                g = f.create_group("infos")
                for key, value in ds.extras.items():
                    g.create_dataset(key, data=value)
            f.attrs[_meta.KEY] = _meta.dump(ds)
