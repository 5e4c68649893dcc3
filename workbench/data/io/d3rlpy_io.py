"""d3rlpy 2.x ``ReplayBuffer``/``MDPDataset`` dumps (``dataset.dump("x.h5")``).

The dump holds per episode ``observations_<i>`` (T rows, no final observation),
``actions_<i>``, ``rewards_<i>`` and ``terminated_<i>``, plus ``columns``,
``num_episodes`` and ``version``.  Every row is a logged step, as in d3rlpy: its
episode keeps every reward (``compute_return`` sums them all), and only the last row of
a non-terminated episode is left out of sampling (``transition_count = T - 1``) because
its next observation is unknown.  This reader keeps every row and marks those episodes'
final observations unknown, so :attr:`EpisodeDataset.td_mask` selects exactly d3rlpy's
transitions.  (A buffer from ``EpisodeDataset.to_d3rlpy()`` pads a truncated episode whose
final observation is known with one zero-action, zero-reward row; d3rlpy cannot mark it as
padding, so it comes back as a step.)
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ...errors import DatasetError
from ..dataset import EpisodeDataset
from . import _h5


def _scalar(f: h5py.File, key: str, path: Path):
    return _h5.read_array(f, key, path)[()]


def read(path: Path) -> EpisodeDataset:
    with h5py.File(path, "r") as f:
        version = _scalar(f, "version", path)
        version = version.decode() if isinstance(version, bytes) else str(version)
        if version == "2.0" or not version.startswith("2"):
            raise DatasetError(f"is a d3rlpy dump of version {version!r}, only 2.1+ is supported",
                               source=path, field="version",
                               fix="re-dump it with d3rlpy >= 2.1")
        columns = [c.decode() if isinstance(c, bytes) else str(c)
                   for c in _h5.read_array(f, "columns", path)]
        for need in ("observations", "actions", "rewards", "terminated"):
            if need not in columns:
                raise DatasetError(f"lists columns {columns}, without {need!r}", source=path,
                                   field="columns", fix="dump a d3rlpy Episode-based buffer")
        n = int(_scalar(f, "num_episodes", path))
        if n <= 0:
            raise DatasetError("holds no episodes", source=path, field="num_episodes",
                               fix="dump a non-empty buffer")
        obs, acts, rews, term, tout = [], [], [], [], []
        for i in range(n):
            if f"observations_{i}" not in f and f"observations_{i}_0" in f:
                raise DatasetError("holds tuple observations, which are not supported",
                                   source=path, field=f"observations_{i}_0",
                                   fix="use vector observations")
            o = _h5.read_array(f, f"observations_{i}", path)
            a = _h5.read_array(f, f"actions_{i}", path)
            r = _h5.read_array(f, f"rewards_{i}", path).reshape(-1)
            t = bool(np.asarray(_h5.read_array(f, f"terminated_{i}", path)).reshape(-1)[0])
            T = len(o)
            if T == 0 or len(a) != T or len(r) != T:
                raise DatasetError(f"episode {i} has {len(o)} observations, {len(a)} actions and "
                                   f"{len(r)} rewards; they must be equal and non-zero",
                                   source=path, field=f"actions_{i}",
                                   fix="the dump is inconsistent; re-dump the buffer")
            obs.append(o)
            acts.append(a)
            rews.append(r)
            ends = np.zeros(T, dtype=bool)
            ends[-1] = True
            term.append(ends & t)
            tout.append(ends & (not t))
    return EpisodeDataset.from_flat(
        np.concatenate(obs), np.concatenate(acts), np.concatenate(rews), np.concatenate(term),
        np.concatenate(tout), None, source=path,
        fields={"observations": "observations_<i>", "actions": "actions_<i>",
                "rewards": "rewards_<i>", "terminals": "terminated_<i>",
                "timeouts": "terminated_<i>"})
