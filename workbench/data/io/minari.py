"""Minari 0.5 datasets (HDF5 storage), read and written without needing ``minari``.

Layout: ``<dataset>/data/metadata.json`` (spaces serialised as Minari does) and
``<dataset>/data/main_data.hdf5`` with one group ``episode_<i>`` per episode holding
``observations`` (T + 1 rows: Minari stores the final observation),
``actions`` (T), ``rewards`` (T), ``terminations`` (T), ``truncations`` (T) and an
``infos`` group.  Observations stay aligned: transition ``t`` goes from
``observations[t]`` to ``observations[t + 1]`` (d3rlpy's ``get_minari`` misaligns
them; this reader does not use it).

Per-step extras are written as ``infos/<name>`` with T + 1 rows (Minari records
the reset info first; that row is a filler and is dropped again on read).

Image observations (Box spaces of (H, W, C) or (C, H, W) frames) are read as the other
formats read them (uint8, channel-first; :mod:`workbench.data.images`); the declared space is
moved to channel-first with the frames.

Minari always stores T + 1 observations.  An episode whose final observation is unknown
(read from a file that never logged it) is written with an all-NaN final row when the
observations are floats (a placeholder copy of the last observation otherwise, recorded in
our metadata block); on read, an all-NaN final row marks that episode's final observation
unknown, whoever wrote the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ...errors import DatasetError
from .. import validate as V
from ..atomic import atomic_dir
from ..dataset import EpisodeDataset, Space
from . import _h5, _meta

MINARI_VERSION = "0.5.0"


def _data_dir(path: Path) -> Path:
    if (path / "data" / "main_data.hdf5").exists():
        return path / "data"
    if path.name == "main_data.hdf5":
        return path.parent
    return path


def _episode_key(name: str) -> int:
    try:
        return int(name.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def read(path: Path) -> EpisodeDataset:
    data = _data_dir(Path(path))
    meta_path = data / "metadata.json"
    if not meta_path.exists():
        raise DatasetError("has no metadata.json next to main_data.hdf5", source=data,
                           field="metadata.json", fix="a Minari dataset directory holds "
                           "data/metadata.json (with observation_space and action_space)")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except Exception as exc:
        raise DatasetError(f"is not valid JSON ({exc})", source=meta_path,
                           fix="re-create the dataset's metadata") from None
    fmt = meta.get("data_format", "hdf5")
    if fmt != "hdf5":
        raise DatasetError(f"uses Minari's {fmt!r} storage, only 'hdf5' is supported",
                           source=meta_path, field="data_format",
                           fix="re-create the dataset with data_format='hdf5'")
    for key in ("observation_space", "action_space"):
        if key not in meta:
            raise DatasetError("is missing", source=meta_path, field=key,
                               fix="add the serialised space (minari.serialization)")
    obs_space = Space.from_json(meta["observation_space"], meta_path, "observation_space")
    act_space = Space.from_json(meta["action_space"], meta_path, "action_space")
    ours = _meta.parse(meta[_meta.KEY], meta_path) if _meta.KEY in meta else None

    h5_path = data / "main_data.hdf5"
    episodes: list[dict[str, Any]] = []
    with h5py.File(h5_path, "r") as f:
        names = sorted((k for k in f.keys() if k.startswith("episode_")), key=_episode_key)
        if not names:
            raise DatasetError("holds no episode groups", source=h5_path, field="episode_0",
                               fix="the dataset is empty or was not written completely")
        for name in names:
            episodes.append(_read_episode(f[name], name, h5_path, act_space))
    for k, ep in enumerate(episodes[:-1]):
        if not (ep["terminated"] or ep["truncated"]):
            raise DatasetError(f"episode {k} never ends (no termination or truncation on its "
                               "last step) but more episodes follow", source=h5_path,
                               field=f"{names[k]}/truncations",
                               fix="set truncations[-1] = True for episodes cut by a time limit")
    metadata = dict(ours["metadata"]) if ours else {"name": meta.get("dataset_id")}
    metadata["source"] = str(path)
    if "env_spec" in meta and "env_id" not in metadata:
        try:
            metadata["env_id"] = json.loads(meta["env_spec"]).get("id")
        except Exception:
            pass
    ds = EpisodeDataset.from_episodes(episodes, action_space=act_space,
                                      observation_space=obs_space, metadata=metadata)
    return _meta.verify(ds, ours, path)


def _read_episode(g: Any, name: str, source: Path, act_space: Space) -> dict[str, Any]:
    if not isinstance(g, h5py.Group):
        raise DatasetError("is not an episode group", source=source, field=name)
    p = f"{name}/"
    obs = V.check_numeric(_h5.read_array(g, "observations", source, p), source,
                          p + "observations")
    if obs.ndim < 3:  # vectors here; images are converted once, for all episodes together
        obs = V.as_observations(obs, source, p + "observations", finite=False)
    acts, _ = V.as_actions(_h5.read_array(g, "actions", source, p), source, p + "actions",
                           act_space.discrete)
    T = len(acts)
    if T == 0:
        raise DatasetError("has no steps", source=source, field=p + "actions",
                           fix="drop empty episodes")
    if len(obs) != T + 1:
        raise DatasetError(f"has {len(obs)} rows for {T} actions; Minari stores T + 1 "
                           "observations (the final one included)", source=source,
                           field=p + "observations", fix="write the final observation too")
    rew = V.check_numeric(_h5.read_array(g, "rewards", source, p), source, p + "rewards")
    rew = rew.reshape(-1) if rew.ndim == 2 and rew.shape[1] == 1 else rew
    V.check_length(rew, T, source, p + "rewards", p + "actions")
    V.check_finite(rew, source, p + "rewards")
    flags = {}
    for key in ("terminations", "truncations"):
        fl = V.as_flags(_h5.read_array(g, key, source, p), source, p + key)
        V.check_length(fl, T, source, p + key, p + "actions")
        if fl[:-1].any():
            raise DatasetError(f"is set at step {int(np.flatnonzero(fl[:-1])[0])} before the "
                               "episode's last step", source=source, field=p + key,
                               fix="an episode ends at its first termination/truncation")
        flags[key] = bool(fl[-1])
    if flags["terminations"] and flags["truncations"]:
        raise DatasetError("terminations and truncations are both set on the last step",
                           source=source, field=p + "truncations",
                           fix="an episode either terminates or is truncated; clear one flag")
    extras = {}
    infos = g.get("infos")
    if isinstance(infos, h5py.Group):
        for key, node in infos.items():
            if isinstance(node, h5py.Dataset) and node.dtype.kind in "biuf" and len(node.shape):
                arr = _h5.read_array(infos, key, source, p + "infos/")
                if len(arr) == T + 1:
                    extras[key] = arr[1:]
                elif len(arr) == T:
                    extras[key] = arr
    if rew.dtype.kind != "f":
        rew = rew.astype(np.float32)
    known = not (obs.dtype.kind == "f" and np.isnan(obs[-1]).all())
    V.check_finite_rows(obs, np.arange(len(obs) - (not known)), source, p + "observations")
    if not known:  # the writer did not know where the episode went: keep a placeholder
        obs = obs.copy()
        obs[-1] = obs[-2]
    return {"observations": obs, "actions": acts, "rewards": rew,
            "terminated": flags["terminations"], "truncated": flags["truncations"],
            "extras": extras, "final_observation_known": known}


def write(ds: EpisodeDataset, path: Path) -> None:
    meta = {
        "dataset_id": str(ds.metadata.get("name") or Path(path).name),
        "total_episodes": ds.n_episodes,
        "total_steps": ds.n_transitions,
        "data_format": "hdf5",
        "jpeg_encoding": False,
        "observation_space": json.dumps(ds.observation_space.to_json()),
        "action_space": json.dumps(ds.action_space.to_json()),
        "minari_version": MINARI_VERSION,
        "author": ["workbench"],
        _meta.KEY: _meta.dump(ds),
    }
    env_id = ds.metadata.get("env_id")
    if env_id:
        meta["env_spec"] = json.dumps({"id": env_id, "entry_point": None, "reward_threshold": None,
                                       "nondeterministic": False, "max_episode_steps": None,
                                       "order_enforce": True, "disable_env_checker": False,
                                       "kwargs": {}, "additional_wrappers": [],
                                       "vector_entry_point": None})
    with atomic_dir(path) as tmp:
        data = tmp / "data"
        data.mkdir()
        with h5py.File(data / "main_data.hdf5", "w", track_order=True) as f:
            for k, ep in enumerate(ds.episodes):
                g = f.create_group(f"episode_{k}")
                g.attrs["id"] = k
                g.attrs["total_steps"] = len(ep)
                obs = ep.observations
                if not ep.final_observation_known and obs.dtype.kind == "f":
                    obs = obs.copy()
                    obs[-1] = np.nan
                g.create_dataset("observations", data=obs)
                g.create_dataset("actions", data=ep.actions)
                g.create_dataset("rewards", data=ep.rewards)
                term = np.zeros(len(ep), dtype=bool)
                trunc = np.zeros(len(ep), dtype=bool)
                term[-1], trunc[-1] = ep.terminated, ep.truncated
                g.create_dataset("terminations", data=term)
                g.create_dataset("truncations", data=trunc)
                infos = g.create_group("infos")
                for key, arr in ep.extras.items():
                    filler = np.full((1, *arr.shape[1:]), np.nan if arr.dtype.kind == "f" else 0,
                                     dtype=arr.dtype)
                    infos.create_dataset(key, data=np.concatenate([filler, arr]))
        (data / "metadata.json").write_text(json.dumps(meta))
