"""Per-transition calls on observations without a copy of all of them (image datasets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset

__all__ = ["map_transitions", "as_policy_input"]


def as_policy_input(obs: Any) -> np.ndarray:
    """Observations as policies get them: uint8 frames as they are (d3rlpy converts a batch
    and its ``PixelObservationScaler`` divides by 255), anything else as float32."""
    obs = np.asarray(obs)
    return obs if obs.dtype == np.uint8 else obs.astype(np.float32)


def map_transitions(ds: EpisodeDataset, fn: Callable[[np.ndarray, np.ndarray], Any],
                    steps: np.ndarray | None = None) -> np.ndarray:
    """``fn(observations, actions)`` for transitions ``steps`` (default: all N), as float64
    with ``len(steps)`` rows.

    Vector observations: one call on the flat arrays.  Image observations: one call per chunk
    of frames gathered by row (:meth:`EpisodeDataset.observations_at`, ~16 MiB as float32), so
    neither the caller nor ``fn`` ever holds all frames as floats.
    """
    if steps is None:
        steps = np.arange(ds.n_transitions)
    steps = np.asarray(steps, dtype=np.int64)
    if not ds.is_image:
        return np.asarray(fn(ds.observations_at(steps), ds.actions[steps]), np.float64)
    from ..data.images import chunk_rows, row_chunks

    parts = [np.asarray(fn(ds.observations_at(steps[sl]), ds.actions[steps[sl]]), np.float64)
             for sl in row_chunks(len(steps), chunk_rows(ds.observation_shape))]
    return np.concatenate(parts) if parts else np.zeros(0)
