"""Small helpers for reading HDF5 datasets with errors that name the field."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import DatasetError


def read_array(group: Any, key: str, source: object, prefix: str = "") -> np.ndarray:
    """``group[key][()]`` as an ndarray; a missing key, a group or unreadable data is a
    DatasetError."""
    import h5py

    name = f"{prefix}{key}"
    if key not in group:
        raise DatasetError(f"is missing (found {sorted(group.keys())[:12]})", source=source,
                           field=name, fix=f"add the '{key}' array or rename the existing one")
    node = group[key]
    if not isinstance(node, h5py.Dataset):
        raise DatasetError("is a group, expected an array (Dict/Tuple spaces are not supported)",
                           source=source, field=name,
                           fix="flatten the observation/action to a single vector array")
    try:
        return np.asarray(node[()])
    except Exception as exc:
        raise DatasetError(f"could not be read ({type(exc).__name__}: {exc})", source=source,
                           field=name,
                           fix="the file may be truncated or corrupt; re-create it") from None


def read_infos(group: Any, n: int, source: object, prefix: str = "infos/") -> dict[str, np.ndarray]:
    """Numeric per-step arrays of an ``infos`` group with ``n`` rows (others are skipped)."""
    import h5py

    out: dict[str, np.ndarray] = {}
    if group is None:
        return out
    for key, node in group.items():
        if isinstance(node, h5py.Dataset) and node.shape[:1] == (n,) and node.dtype.kind in "biuf":
            out[key] = read_array(group, key, source, prefix)
    return out
