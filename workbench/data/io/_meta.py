"""The workbench's own metadata block stored inside written files.

It carries the spaces, the dataset metadata and the content fingerprint; on
read the fingerprint is checked, so a file we wrote that was later corrupted is
reported instead of silently loaded with wrong values.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import DatasetError
from ..dataset import FORMAT_VERSION, EpisodeDataset, Space

KEY = "workbench_meta"


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def dump(ds: EpisodeDataset) -> str:
    meta = {k: v for k, v in ds.metadata.items() if k != "source"}
    return json.dumps(_jsonable({
        "format_version": FORMAT_VERSION,
        "observation_space": ds.observation_space.to_json(),
        "action_space": ds.action_space.to_json(),
        "metadata": meta,
        "fingerprint": ds.fingerprint,
    }))


def parse(text: Any, source: object) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        meta = json.loads(str(text))
        if not isinstance(meta, dict):
            raise ValueError("not an object")
        meta["observation_space"] = Space.from_json(meta["observation_space"], source,
                                                    f"{KEY}/observation_space")
        meta["action_space"] = Space.from_json(meta["action_space"], source,
                                               f"{KEY}/action_space")
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"is unreadable ({exc})", source=source, field=KEY,
                           fix="the file may be corrupt; re-create it") from None
    return meta


def verify(ds: EpisodeDataset, meta: dict[str, Any] | None, source: object) -> EpisodeDataset:
    """Check the stored fingerprint (when there is one) against the loaded content."""
    if meta and meta.get("fingerprint") and meta["fingerprint"] != ds.fingerprint:
        raise DatasetError("content does not match the checksum written with it", source=source,
                           field=f"{KEY}/fingerprint",
                           fix="the file was modified or corrupted after writing; re-create it")
    return ds


def from_d4rl_arrays(arrays: dict[str, Any], extras: dict[str, Any], meta: dict[str, Any] | None,
                     source: object) -> EpisodeDataset:
    """Build from the D4RL keys (npz and HDF5 readers), with our metadata block when present."""
    ds = EpisodeDataset.from_flat(
        arrays["observations"], arrays["actions"], arrays["rewards"], arrays["terminals"],
        arrays.get("timeouts"), arrays.get("next_observations"), extras=extras,
        action_space=meta["action_space"] if meta else None,
        observation_space=meta["observation_space"] if meta else None,
        metadata=meta["metadata"] if meta else None, source=source)
    return verify(ds, meta, source)
