"""Where the states lie: a seeded sample of them and their first principal components.

The Diagnostics page's state-coverage view draws these; a notebook gets the same numbers::

    from workbench.diagnostics import principal_components, state_sample
    proj, explained = principal_components(state_sample(ds))   # (n, 2), (2,)

* :func:`sample_indices` — sorted indices of a seeded sample without replacement.
* :func:`state_sample` — the dataset's observations (final ones included), flattened to
  ``(n, obs_dim)`` float64, at most ``max_samples`` of them; image observations as the
  means of each channel over 8×8 blocks (``(n, C * 64)``, pixel units), at most
  :data:`MAX_IMAGE_SAMPLES` frames, so a projection of Atari frames never makes a float copy
  of the dataset.
* :func:`principal_components` — projection of rows onto their first ``k`` principal
  components (SVD of the centred rows) with the fraction of the variance each explains.
"""

from __future__ import annotations

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError

__all__ = ["sample_indices", "state_sample", "principal_components", "MAX_IMAGE_SAMPLES",
           "IMAGE_GRID"]

#: Image observations: at most this many frames are sampled, ...
MAX_IMAGE_SAMPLES = 5_000
#: ... each described by its channels' means over ``IMAGE_GRID × IMAGE_GRID`` blocks.
IMAGE_GRID = 8


def sample_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Indices ``0..n-1`` when ``n <= k``; else ``k`` of them drawn without replacement by
    ``np.random.default_rng(seed)``, sorted (so the sample keeps the data's order).

    Returns:
        ``(min(n, k),)`` int64.
    """
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def state_sample(ds: EpisodeDataset, max_samples: int = 50_000, seed: int = 0) -> np.ndarray:
    """At most ``max_samples`` of the dataset's observations (each episode's final one
    included), flattened: ``(n, prod(observation_shape))`` float64, in dataset order.

    The sample is :func:`sample_indices` with ``seed``: the same call gives the same states.
    Image observations: at most ``min(max_samples, MAX_IMAGE_SAMPLES)`` frames, each as
    ``(C * 8 * 8,)`` block means (:func:`workbench.data.images.block_means`).
    """
    n = len(ds.observations)
    if ds.is_image:
        from ..data.images import block_means, chunk_rows, row_chunks

        idx = sample_indices(n, min(int(max_samples), MAX_IMAGE_SAMPLES), seed)
        parts = [block_means(ds.observations.take(idx[sl], axis=0), IMAGE_GRID)
                 for sl in row_chunks(len(idx), chunk_rows(ds.observation_shape, itemsize=8))]
        return np.concatenate(parts).astype(np.float64)
    idx = sample_indices(n, max_samples, seed)
    return np.asarray(ds.observations[idx], dtype=float).reshape(len(idx), -1)


def principal_components(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``x`` onto their first ``k`` principal components.

    Args:
        x: ``(n, d)`` rows (e.g. :func:`state_sample`).
        k: components kept.  With fewer than ``k`` axes (or rows) the missing components
            are zero, with zero explained variance.

    Returns:
        ``(projection, explained)``: ``(n, k)`` float64 coordinates of the centred rows and
        ``(k,)`` the fraction of the total variance each component explains (0 for
        constant data).

    Raises:
        DiagnosticsError: ``x`` is not 2-D or has no rows, or ``k < 1``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or len(x) == 0:
        raise DiagnosticsError(f"principal_components needs (n, d) rows with n >= 1, got shape "
                               f"{x.shape}")
    if k < 1:
        raise DiagnosticsError(f"principal_components: k must be >= 1, got {k}")
    centred = x - x.mean(axis=0)
    if centred.shape[1] < k:
        centred = np.column_stack([centred, np.zeros((len(centred), k - centred.shape[1]))])
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:k].T
    var = s ** 2 / max(float((s ** 2).sum()), 1e-12)
    explained = np.zeros(k)
    explained[:min(k, len(var))] = var[:k]
    if proj.shape[1] < k:
        proj = np.column_stack([proj, np.zeros((len(proj), k - proj.shape[1]))])
    return proj, explained
