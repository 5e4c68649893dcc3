"""Trajectory mini-batches for decision transformers, drawn with the run's own generator.

d3rlpy trains its transformer algorithms (``DecisionTransformer``,
``DiscreteDecisionTransformer``) on ``ReplayBuffer.sample_trajectory_batch``, which draws
every end index with the *global* ``np.random.randint`` and slices each one with a Python
call to ``BasicTrajectorySlicer``.  :class:`TrajectoryBuffer` builds the same batches from an
:class:`~workbench.data.dataset.EpisodeDataset`'s flat arrays, with the buffer's own
``np.random.Generator`` (so concurrent jobs neither share nor disturb the global NumPy RNG,
and a checkpoint can store the sampler's state).

Semantics (those of ``BasicTrajectorySlicer`` on ``ds.to_d3rlpy()``, tested bitwise), for a
slice of length ``L = context_size`` ending at step ``j`` of an episode that starts at flat
step ``s0`` (positions ``start = max(j + 1 - L, s0) .. j``; ``pad = L - (j + 1 - start)``):

- end steps are drawn uniformly with replacement among the dataset's
  :attr:`~workbench.data.dataset.EpisodeDataset.td_mask` steps, which are d3rlpy's
  transitions of ``ds.to_d3rlpy()`` (every step but the last one of a truncated/unfinished
  episode whose final observation was never logged);
- ``observations``, ``actions`` (discrete: ``(B, L, 1)``), ``rewards`` ``(B, L, 1)``: the
  steps ``start..j``, left-padded with ``pad`` rows of zeros;
- ``returns_to_go[t] = sum of the episode's rewards from step t to its end`` (computed as
  d3rlpy does: ``sum(r[start:]) - cumsum(r[start:]) + r[start:]`` in float32; a truncated
  episode whose final observation is known carries the zero-reward row ``to_d3rlpy`` appends
  for it), padded with zeros;
- ``timesteps``: the position in the episode plus one (``j - s0 + 1`` at the end), 0 on padding;
- ``masks``: 1 on real steps, 0 on padding;
- ``terminals``: 1 at the last position only when ``j`` is the last step of a terminated
  episode.

Every array is float32 ``(B, L, ...)``, as ``TrajectoryMiniBatch.from_partial_trajectories``
casts them.  Image observations are gathered by row from the uint8 array and cast per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._d3rlpy import d3rlpy  # noqa: F401  (quiet: before any other d3rlpy import)
from .sampler import FastReplayBuffer

# isort: split
from d3rlpy.dataset import BasicTrajectorySlicer, TrajectoryMiniBatch

if TYPE_CHECKING:  # pragma: no cover
    from ..data.dataset import EpisodeDataset

__all__ = ["TrajectoryBuffer"]


class TrajectoryBuffer(FastReplayBuffer):
    """Read-only d3rlpy replay buffer that samples trajectory slices (decision transformers).

    A :class:`~workbench.training.sampler.FastReplayBuffer` that never copies observations
    (``lazy=True``) and adds :meth:`sample_trajectory_batch` / :meth:`batch_from_ends`.
    ``rng`` (or ``seed``) is the generator every end index is drawn from; its state is what
    checkpoints store (:meth:`get_state`).

    Raises:
        TrainingError: no step of ``ds`` has a next observation (as ``FastReplayBuffer``).
    """

    def __init__(self, ds: EpisodeDataset, *, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(ds, seed=seed, rng=rng, lazy=True)
        starts = ds.offsets[:-1]
        self._ep = ds.episode_index
        self._ep_start = starts
        self._ep_end = ds.offsets[1:]
        self._terminated = np.asarray(ds.terminated, dtype=bool)
        # each episode's rewards as to_d3rlpy's episode holds them ((T, 1) float32, plus the
        # zero-reward row of a truncated episode whose final observation is known), so that
        # returns-to-go are summed exactly as d3rlpy sums them
        padded = ~self._terminated & np.asarray(ds.final_observation_known, dtype=bool)
        zero = np.zeros((1, 1), dtype=np.float32)
        self._ep_rewards = [
            np.concatenate([self._rew_flat[s:e], zero]) if padded[k] else self._rew_flat[s:e]
            for k, (s, e) in enumerate(zip(starts.tolist(), self._ep_end.tolist()))]

    @property
    def trajectory_slicer(self) -> Any:
        return BasicTrajectorySlicer()

    def batch_from_ends(self, ends: np.ndarray, length: int) -> TrajectoryMiniBatch:
        """The d3rlpy trajectory mini-batch of the slices of ``length`` steps ending at the
        flat steps ``ends`` ``(B,)`` (see the module docstring for every array)."""
        ends = np.asarray(ends, dtype=np.int64).reshape(-1)
        L = int(length)
        B = len(ends)
        ep = self._ep.take(ends)
        s0 = self._ep_start.take(ep)
        start = np.maximum(ends + 1 - L, s0)                       # (B,)
        src = ends[:, None] + 1 - L + np.arange(L)[None, :]         # (B, L) flat steps
        valid = src >= start[:, None]                               # False on the padding
        rows = np.where(valid, src, 0)
        obs_rows = self._obs_rows.take(rows)
        obs = self._ds.observations.take(obs_rows.reshape(-1), axis=0).astype(np.float32)
        obs = obs.reshape(B, L, *obs.shape[1:])
        obs[~valid] = 0.0
        act = self._actions.take(rows, axis=0)                      # (B, L, act) float32
        act[~valid] = 0.0
        rew = self._rew_flat.take(rows, axis=0)                     # (B, L, 1)
        rew[~valid] = 0.0
        rtg = np.zeros((B, L, 1), dtype=np.float32)
        for b, (e, st, first) in enumerate(zip(ep.tolist(), start.tolist(), s0.tolist())):
            r = self._ep_rewards[e][st - first:]
            n = int(ends[b]) + 1 - st
            # d3rlpy's BasicTrajectorySlicer, verbatim (float32 sum and cumsum)
            rtg[b, L - n:] = (np.sum(r) - np.cumsum(r, axis=0) + r)[:n]
        timesteps = np.where(valid, src - s0[:, None] + 1, 0).astype(np.float32)
        masks = valid.astype(np.float32)
        terminals = np.zeros((B, L, 1), dtype=np.float32)
        terminals[:, -1, 0] = (self._terminated.take(ep)
                               & (ends == self._ep_end.take(ep) - 1)).astype(np.float32)
        return TrajectoryMiniBatch(observations=obs, actions=act, rewards=rew,
                                   returns_to_go=rtg, terminals=terminals, timesteps=timesteps,
                                   masks=masks, length=L)

    def sample_trajectory_batch(self, batch_size: int, length: int) -> TrajectoryMiniBatch:
        """``batch_size`` slices of ``length`` steps ending at uniformly drawn steps (uses
        :attr:`rng`)."""
        return self.batch_from_ends(self.sample_indices(batch_size), length)

    def sample_trajectory(self, length: int) -> Any:
        from ..errors import TrainingError

        raise TrainingError("TrajectoryBuffer samples batches: use sample_trajectory_batch")
