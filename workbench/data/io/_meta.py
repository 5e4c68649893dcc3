"""The workbench's own metadata block stored inside written files.

It carries the spaces, the dataset metadata and the content fingerprint; on
read the fingerprint is checked, so a file we wrote that was later corrupted is
reported instead of silently loaded with wrong values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ...errors import DatasetError
from ..dataset import FORMAT_VERSION, EpisodeDataset, Space

KEY = "workbench_meta"
#: episodes (indices) whose final observation is unknown, in our metadata block
UNKNOWN_FINAL = "final_observation_unknown"


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
    block = {
        "format_version": FORMAT_VERSION,
        "observation_space": ds.observation_space.to_json(),
        "action_space": ds.action_space.to_json(),
        "metadata": meta,
        "fingerprint": ds.fingerprint,
    }
    unknown = np.flatnonzero(~ds.final_observation_known)
    if len(unknown):  # episodes whose final observation is a placeholder (any format)
        block[UNKNOWN_FINAL] = unknown.tolist()
    return json.dumps(_jsonable(block))


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
    """Restore what our metadata block records beyond the arrays (episodes whose final
    observation is unknown), then check the stored fingerprint against the loaded content."""
    unknown = (meta or {}).get(UNKNOWN_FINAL)
    if unknown:
        try:
            idx = np.asarray(unknown, dtype=np.int64)
            known = ds.final_observation_known.copy()
            known[idx] = False
        except Exception:
            raise DatasetError("lists episodes that are not in the file", source=source,
                               field=f"{KEY}/{UNKNOWN_FINAL}",
                               fix="the file was modified or corrupted after writing; "
                               "re-create it") from None
        ds = ds.with_final_observation_known(known)
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
