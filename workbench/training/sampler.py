"""A vectorised, read-only replay buffer for d3rlpy with its own random generator.

d3rlpy 2.8.1's ``ReplayBuffer.sample_transition_batch`` draws each index with the *global*
``np.random.randint`` and builds a batch with a Python loop over ``TransitionPicker``
calls (about 2 ms for 256 transitions).  :class:`FastReplayBuffer` precomputes the
per-transition arrays once and builds a batch with a handful of ``np.take`` calls.

**Image observations** are never copied: the buffer keeps row indices into the dataset's uint8
``observations`` (current and next row per transition, 16 bytes) and gathers a batch's frames
by row, casting only the batch to float32 (as d3rlpy's own pickers and
``TransitionMiniBatch.from_transitions`` do; ``PixelObservationScaler`` divides by 255
later).  Vector observations are precomputed as float32 copies (``lazy=False``): at 17-dim
vectors one ``take`` from a contiguous float32 array beats the gather plus cast
(``benchmarks/bench_images.py`` measures both).

Semantics (identical to d3rlpy's pickers on ``ds.to_d3rlpy()``, tested bitwise):

Transitions are the dataset's :attr:`~workbench.data.dataset.EpisodeDataset.td_mask` steps:
every step, except the last step of a truncated/unfinished episode whose final observation
was never logged (d3rlpy's ``transition_count`` leaves out the same step).  d3rlpy's buffer
index ``i`` of ``ds.to_d3rlpy()`` is flat step ``valid[i]`` of the dataset (``valid`` = the
masked steps in episode order; ``valid[i] == i`` when nothing is masked).  With
``n_step == 1`` (``BasicTransitionPicker``):

- ``observations[j]``, ``actions[j]`` (discrete: ``(B, 1)`` float32), ``rewards[j]``;
- ``next_observations``: the next observation, **zeros** on the last step of a
  *terminated* episode (d3rlpy's ``create_zero_observation``); a truncated episode's
  last step keeps its true final observation;
- ``next_actions``: the dataset action of step ``j + 1`` in the same episode, zeros on an
  episode's last step;
- ``terminals``: 1.0 only on the last step of a terminated episode; ``intervals``: 1.

With ``n_step = n > 1`` (``MultiStepTransitionPicker(n, gamma)``): the target is
``min(j + n, end)`` (terminated episode, ``end`` = its length; terminal when it is reached)
or ``min(j + n, T)`` (truncated/unfinished; never terminal; ``T - 1`` when its final
observation is unknown, the last observation logged); ``rewards`` is the
``gamma``-discounted sum up to the target and ``intervals`` the number of steps.

Returns-to-go (only CalQL needs them) come through ``batch.transitions`` as light objects
holding ``rewards_to_go`` views, as d3rlpy's ``TorchMiniBatch.from_batch`` expects.

Randomness: indices are ``valid[rng.integers(0, M, size=batch_size)]`` (``M`` transitions)
from the buffer's own ``np.random.Generator``, so concurrent jobs do not share (or disturb)
the global NumPy RNG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._d3rlpy import d3rlpy  # noqa: F401  (quiet: before any other d3rlpy import)
from ..errors import TrainingError

# isort: split
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import (
    BasicTransitionPicker,
    DatasetInfo,
    MultiStepTransitionPicker,
    ReplayBufferBase,
    Signature,
    Transition,
    TransitionMiniBatch,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..data.dataset import EpisodeDataset

__all__ = ["FastReplayBuffer"]


class _RTG:
    """Stands in for a d3rlpy ``Transition`` where only ``rewards_to_go`` is read."""

    __slots__ = ("rewards_to_go",)

    def __init__(self, rewards_to_go: np.ndarray) -> None:
        self.rewards_to_go = rewards_to_go


class FastReplayBuffer(ReplayBufferBase):
    """Read-only d3rlpy replay buffer over an :class:`EpisodeDataset`, sampled vectorised.

    Args:
        ds: the dataset; every complete transition (``ds.td_mask``) is sampled.
        seed: seed of the buffer's ``np.random.Generator`` (ignored when ``rng`` is given).
        rng: a generator to use instead.
        n_step: steps of the n-step return (1 = plain transitions).
        gamma: discount of the n-step return (only used when ``n_step > 1``).
        need_returns_to_go: also provide per-sample returns-to-go (CalQL).
        lazy: gather observations per batch from ``ds.observations`` instead of precomputing
            float32 copies; ``None`` (default): lazy for image observations only.

    Memory: precomputed (vectors): two float32 copies of the observations (``(N, *obs_shape)``
    each: current and next) plus the per-transition scalars; lazy (images): about 50 bytes per
    transition in all (row indices, flags, actions twice, rewards, intervals; measured by
    ``benchmarks/bench_images.py``), against 225,792 for float32 copies of 4×84×84 frames;
    batches are bitwise the same either way.

    Raises:
        TrainingError: ``n_step < 1``, or no step of ``ds`` has a next observation.
    """

    def __init__(self, ds: EpisodeDataset, *, seed: int | None = None,
                 rng: np.random.Generator | None = None, n_step: int = 1, gamma: float = 0.99,
                 need_returns_to_go: bool = False, lazy: bool | None = None) -> None:
        if int(n_step) < 1:
            raise TrainingError(f"n_step must be >= 1, got {n_step}")
        self._ds = ds
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self.need_returns_to_go = bool(need_returns_to_go)
        self._episodes_cache: Any = None
        N = ds.n_transitions
        offsets = ds.offsets
        lengths = np.diff(offsets)
        ep = ds.episode_index
        obs_idx = np.arange(N) + ep                  # row of observation j in ds.observations
        ends = offsets[1:][ep]                       # (N,) one past the episode's last step
        term_ep = ds.terminated[ep]                  # (N,) the episode terminated
        # (N,) one past the last step a target may reach: the final observation's step,
        # or the last logged observation's when the final one is unknown
        gap = ~ds.final_observation_known & ~ds.terminated
        cap = ends - gap[ep].astype(np.int64)
        self.lazy = bool(ds.is_image if lazy is None else lazy)
        if ds.is_discrete:
            act32 = ds.actions.astype(np.float32).reshape(N, 1)
        else:
            act32 = ds.actions.astype(np.float32, copy=False).reshape(N, -1)
        rew32 = ds.rewards.astype(np.float32, copy=False).reshape(N, 1)
        j = np.arange(N)
        n = self.n_step
        if n == 1:
            target = j + 1
            terminal = term_ep & (target == ends)
        else:
            target = np.minimum(j + n, cap)
            terminal = term_ep & (target == ends)
        interval = target - j
        # next observation: row obs_idx + interval; zeros when terminal (a step outside
        # td_mask points at its episode's placeholder row and is never sampled)
        self._obs_rows = obs_idx
        self._next_rows = obs_idx + interval
        self._terminal = terminal
        self._obs: np.ndarray | None = None
        self._next_obs: np.ndarray | None = None
        if not self.lazy:
            obs32 = ds.observations.astype(np.float32, copy=False)
            nxt = obs32[self._next_rows]
            nxt[terminal] = 0.0
            self._obs = np.ascontiguousarray(obs32[obs_idx])
            self._next_obs = np.ascontiguousarray(nxt)
            del obs32, nxt
        # next action: action at `target` within the episode; zeros at/after the episode end
        has_next_action = target < ends
        next_act = np.zeros_like(act32)
        next_act[has_next_action] = act32[target[has_next_action]]
        if n == 1:
            rewards = rew32
        else:
            acc = np.zeros((N, 1), dtype=np.float64)
            gammas = self.gamma ** np.arange(n)  # as d3rlpy computes them
            for k in range(n):
                valid = (k < interval)
                rk = np.where(valid[:, None], rew32[np.minimum(j + k, N - 1)], 0.0)
                acc = acc + rk.astype(np.float64) * gammas[k] * valid[:, None]
            rewards = acc.astype(np.float32)
        self._actions = np.ascontiguousarray(act32)
        self._next_actions = next_act
        self._rewards = np.ascontiguousarray(rewards)
        self._terminals = terminal.astype(np.float32).reshape(N, 1)
        self._intervals = interval.astype(np.float32).reshape(N, 1)
        self._rew_flat = rew32
        self._ends = ends
        mask = ds.td_mask
        self._valid = None if mask.all() else np.flatnonzero(mask)
        self._n = N if self._valid is None else len(self._valid)
        if self._n == 0:
            raise TrainingError(f"'{ds.name}' has no complete transition: every episode is one "
                                "step long and its next observation was never logged. Fix: "
                                "load a file with next_observations, or longer episodes")
        self._lengths = lengths
        obs_shape = tuple(ds.observations.shape[1:])
        if ds.is_discrete:
            space, size, act_sig = ActionSpace.DISCRETE, int(ds.action_space.n or 0), Signature(
                dtype=[np.dtype(np.int64)], shape=[(1,)])
        else:
            space, size, act_sig = ActionSpace.CONTINUOUS, int(ds.actions.shape[1]), Signature(
                dtype=[np.dtype(np.float32)], shape=[(int(ds.actions.shape[1]),)])
        self._info = DatasetInfo(
            observation_signature=Signature(dtype=[np.dtype(np.float32)], shape=[obs_shape]),
            action_signature=act_sig,
            reward_signature=Signature(dtype=[np.dtype(np.float32)], shape=[(1,)]),
            action_space=space, action_size=size)
        self._picker = (BasicTransitionPicker() if n == 1
                        else MultiStepTransitionPicker(n_steps=n, gamma=self.gamma))

    # ------------------------------------------------------------------ sampling
    def _observations(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(observations, next_observations)`` of steps ``idx`` as float32 (B, *obs_shape);
        next ones zero where terminal."""
        if self._obs is not None and self._next_obs is not None:
            return self._obs.take(idx, axis=0), self._next_obs.take(idx, axis=0)
        src = self._ds.observations
        obs = src.take(self._obs_rows.take(idx), axis=0).astype(np.float32)
        nxt = src.take(self._next_rows.take(idx), axis=0).astype(np.float32)
        term = self._terminal.take(idx)
        if term.any():
            nxt[term] = 0.0
        return obs, nxt

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """``(batch_size,)`` int64 flat step indices, drawn uniformly with replacement among
        the complete transitions (``ds.td_mask``)."""
        i = self.rng.integers(0, self._n, size=int(batch_size))
        return i if self._valid is None else self._valid[i]

    def batch_from_indices(self, idx: np.ndarray) -> TransitionMiniBatch:
        """The d3rlpy mini-batch of the given flat step indices ``(B,)`` (steps of
        ``ds.td_mask``; an index outside it has no next observation).

        Arrays: observations/next_observations ``(B, *obs_shape)``, actions/next_actions
        ``(B, 1)`` (discrete) or ``(B, act_dim)``, rewards/terminals/intervals ``(B, 1)``,
        all float32.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if self.need_returns_to_go:
            transitions: Any = [_RTG(self._rew_flat[i:e]) for i, e in
                                zip(idx.tolist(), self._ends[idx].tolist())]
        else:
            transitions = ()
        obs, nxt = self._observations(idx)
        return TransitionMiniBatch(
            observations=obs,
            actions=self._actions.take(idx, axis=0),
            rewards=self._rewards.take(idx, axis=0),
            next_observations=nxt,
            next_actions=self._next_actions.take(idx, axis=0),
            terminals=self._terminals.take(idx, axis=0),
            intervals=self._intervals.take(idx, axis=0),
            transitions=transitions)

    def sample_transition_batch(self, batch_size: int) -> TransitionMiniBatch:
        """A uniform mini-batch of ``batch_size`` transitions (uses :attr:`rng`)."""
        return self.batch_from_indices(self.sample_indices(batch_size))

    def sample_transition(self) -> Transition:
        """A single transition (the first one; consumes no randomness).

        d3rlpy calls this only to read the observation signature before training.
        """
        j = 0 if self._valid is None else int(self._valid[0])
        obs, nxt = self._observations(np.array([j]))
        return Transition(observation=obs[0], action=self._actions[j],
                          reward=self._rewards[j], next_observation=nxt[0],
                          next_action=self._next_actions[j], terminal=float(self._terminals[j, 0]),
                          interval=int(self._intervals[j, 0]),
                          rewards_to_go=self._rew_flat[j:self._ends[j]])

    def sample_trajectory(self, length: int) -> Any:
        raise TrainingError("FastReplayBuffer samples transitions only; decision transformers "
                            "sample trajectory slices from "
                            "workbench.training.trajectories.TrajectoryBuffer")

    def sample_trajectory_batch(self, batch_size: int, length: int) -> Any:
        return self.sample_trajectory(length)

    # ------------------------------------------------------------------ RNG state
    def get_state(self) -> dict[str, Any]:
        """The generator's state (JSON-able), for checkpoints."""
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`."""
        self.rng.bit_generator.state = state

    # ------------------------------------------------------------------ d3rlpy protocol
    def append(self, observation: Any, action: Any, reward: Any) -> None:
        raise TrainingError("FastReplayBuffer is read-only (offline training)")

    def append_episode(self, episode: Any) -> None:
        raise TrainingError("FastReplayBuffer is read-only (offline training)")

    def clip_episode(self, terminated: bool) -> None:
        raise TrainingError("FastReplayBuffer is read-only (offline training)")

    @classmethod
    def from_episode_generator(cls, *args: Any, **kwargs: Any) -> Any:
        raise TrainingError("build a FastReplayBuffer from an EpisodeDataset")

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> Any:
        raise TrainingError("build a FastReplayBuffer from an EpisodeDataset")

    def dump(self, f: Any) -> None:
        self._d3rlpy().dump(f)

    def _d3rlpy(self) -> Any:
        if self._episodes_cache is None:
            self._episodes_cache = self._ds.to_d3rlpy()
        return self._episodes_cache

    @property
    def episodes(self) -> Any:
        """d3rlpy episodes (built lazily: only scalers fitted on the data need them)."""
        return self._d3rlpy().episodes

    def size(self) -> int:
        return self._ds.n_episodes

    @property
    def buffer(self) -> Any:
        return self._d3rlpy().buffer

    @property
    def transition_count(self) -> int:
        return self._n

    @property
    def transition_picker(self) -> Any:
        return self._picker

    @property
    def trajectory_slicer(self) -> Any:
        return self._d3rlpy().trajectory_slicer

    @property
    def dataset_info(self) -> DatasetInfo:
        return self._info
