"""The canonical dataset: aligned episodes stored as flat arrays.

Layout (``E`` episodes, ``N`` transitions, ``T_k`` steps in episode ``k``)::

    observations  (N + E, *obs_shape)   T_k + 1 observations per episode, final one included:
                                        vectors (N + E, d), or uint8 images (N + E, C, H, W)
    actions       (N,) int64            discrete, or (N, act_dim) float continuous
    rewards       (N,)
    offsets       (E + 1,) int64        episode k's transitions are offsets[k]:offsets[k+1]
    terminated    (E,) bool             the episode reached a terminal MDP state
    truncated     (E,) bool             the episode was cut by a time limit
    extras        {name: (N, ...)}      per-step extras, e.g. ``behavior_log_prob``
    final_observation_known (E,) bool   the episode's final observation was logged

The observation of transition ``j`` (in episode ``k``) is ``observations[j + k]``
and its next observation ``observations[j + k + 1]``: next-observation alignment
is exact by construction.  Only the *last* episode may have neither flag set
(an unfinished trailing episode, e.g. data that stops mid-episode).

**Every logged step is kept.**  A file without next observations (a D4RL file without
``next_observations``, a d3rlpy dump) does not say where a truncated or unfinished episode
went after its last step.  That step still counts (its action, its reward, its (s, a) pair):
returns, TQ, SACo, coverage and the importance-sampling family see it.  Its episode is
marked ``final_observation_known[k] = False`` and its final-observation slot holds a copy
of the last logged observation (a placeholder, never a real next state).  Only what needs
a next observation leaves that one transition out (:attr:`EpisodeDataset.td_mask`): the
training sampler, FQE targets, the TD-error evaluator and :meth:`EpisodeDataset.to_d3rlpy`,
exactly as d3rlpy's ``transition_count`` does.  A terminated episode never needs its final
observation (nothing is bootstrapped from a terminal state), so all its steps are
complete transitions either way.

**Images** stay uint8, channel-first (:mod:`~workbench.data.images` gives the layout rule
applied on load); :attr:`EpisodeDataset.nbytes` and ``summary()["memory"]`` say how much
memory a dataset holds, :meth:`Episode.frames` renders an episode's frames to look at, and
nothing on the image path makes a float copy of all observations
(:meth:`EpisodeDataset.observations_at` gathers the rows a batch needs).

Around this module: :mod:`~workbench.data.space` (the observation/action
:class:`~workbench.data.space.Space`), :mod:`~workbench.data.segment` (flat per-step arrays
→ episodes, for :meth:`EpisodeDataset.from_flat`) and :mod:`~workbench.data.validate`
(every check, including :func:`~workbench.data.validate.check_dataset`, which each
``EpisodeDataset`` runs on itself when it is built).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetError
from . import images as I
from . import validate as V
from .segment import split_episodes
from .space import Space

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Space", "Episode", "EpisodeDataset"]

FORMAT_VERSION = 1
_VALIDATED: contextvars.ContextVar[bool] = contextvars.ContextVar("validated", default=False)


@contextlib.contextmanager
def _values_checked() -> Iterator[None]:
    """Datasets built inside skip the NaN/Inf pass: their values were checked already."""
    token = _VALIDATED.set(True)
    try:
        yield
    finally:
        _VALIDATED.reset(token)


@dataclass(frozen=True)
class Episode:
    """One episode, as views into the dataset's arrays.

    Attributes:
        observations: (T + 1, *obs_shape), including the final observation.
        actions: (T,) int for discrete, (T, act_dim) for continuous.
        rewards: (T,).
        terminated: the episode ended in a terminal MDP state.
        truncated: the episode was cut by a time limit.
        extras: per-step extras, each (T, ...).
        index: position in the dataset.
        final_observation_known: the final observation was logged; when ``False``,
            ``observations[-1]`` is a placeholder (a copy of ``observations[-2]``).
        frame_kind: how image observations are shown (:data:`workbench.data.images.FRAME_KINDS`,
            from the dataset's ``metadata["frame_kind"]``); ``None``: guessed.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    index: int = 0
    final_observation_known: bool = True
    frame_kind: str | None = None

    def __len__(self) -> int:
        return len(self.actions)

    def frames(self, scale: int = 1, kind: str | None = None) -> np.ndarray:
        """The episode's image observations as RGB frames to show: ``(T + 1, H * scale,
        W * scale, 3)`` uint8 (the final observation included; see
        :func:`workbench.data.images.render_frames`).

        Raises:
            DatasetError: the observations are vectors, not images.
        """
        self._require_images()
        return I.render_frames(self.observations, kind or self.frame_kind, scale)

    def frame_strip(self, n: int = 8, scale: int = 1, kind: str | None = None) -> np.ndarray:
        """``n`` evenly spaced frames side by side, one RGB image ``(H * scale, width, 3)``
        uint8 (:func:`workbench.data.images.frame_strip`).

        Raises:
            DatasetError: the observations are vectors, not images.
        """
        self._require_images()
        return I.frame_strip(self.observations, n, kind or self.frame_kind, scale)

    def _require_images(self) -> None:
        if self.observations.ndim != 4:
            raise DatasetError(f"episode {self.index} has vector observations of shape "
                               f"{self.observations.shape[1:]}, not image frames",
                               field="observations", fix="show vector observations as a table "
                               "(ep.observations)")

    @property
    def episode_return(self) -> float:
        """Undiscounted return (sum of rewards)."""
        return float(np.sum(self.rewards, dtype=np.float64))

    @property
    def finished(self) -> bool:
        return self.terminated or self.truncated


class _EpisodeList(Sequence):
    def __init__(self, ds: EpisodeDataset) -> None:
        self._ds = ds

    def __len__(self) -> int:
        return self._ds.n_episodes

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._ds.episode(i)

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self)):
            yield self._ds.episode(i)


@dataclass(frozen=True, eq=False)
class EpisodeDataset:
    """Aligned episodes of an offline-RL dataset (see the module docstring for the layout).

    Build one with :meth:`from_flat` (D4RL-style flat arrays), :meth:`from_episodes`
    or a reader (:func:`workbench.load_dataset`); the constructor validates the
    structure and values and raises :class:`~workbench.errors.DatasetError`.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    offsets: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    observation_space: Space
    action_space: Space
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: (E,) bool after construction (``None`` given: every final observation known)
    final_observation_known: np.ndarray = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        """Normalise the array types, then run :func:`~workbench.data.validate.check_dataset`."""
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64))
        object.__setattr__(self, "terminated", np.asarray(self.terminated, dtype=bool))
        object.__setattr__(self, "truncated", np.asarray(self.truncated, dtype=bool))
        object.__setattr__(self, "extras", dict(self.extras))
        object.__setattr__(self, "metadata", dict(self.metadata))
        E = max(len(self.offsets) - 1, 0)
        known = (np.ones(E, dtype=bool) if self.final_observation_known is None
                 else np.asarray(self.final_observation_known, dtype=bool).reshape(-1))
        object.__setattr__(self, "final_observation_known", known)
        V.check_dataset(self, finite=not _VALIDATED.get())

    @classmethod
    def from_flat(cls, observations: Any, actions: Any, rewards: Any, terminals: Any,
                  timeouts: Any | None = None, next_observations: Any | None = None, *,
                  extras: Mapping[str, Any] | None = None, action_space: Space | None = None,
                  observation_space: Space | None = None, discrete: bool | None = None,
                  metadata: Mapping[str, Any] | None = None, source: object = None,
                  fields: Mapping[str, str] | None = None) -> EpisodeDataset:
        """Build from D4RL-style flat per-step arrays, splitting episodes on terminal or timeout.

        The arrays are checked under the file's own names
        (:func:`~workbench.data.validate.check_flat`), then split into episodes
        (:func:`~workbench.data.segment.split_episodes`: unflagged boundaries, where
        ``next_observations`` does not continue into the following observation, are split
        as timeouts with a warning and counted in ``metadata["implicit_episode_ends"]``).

        Args:
            observations: (N, obs_dim) observation before each step, or image frames
                (N, H, W), (N, C, H, W) or (N, H, W, C), kept uint8 and stored channel-first
                (the rule is in :mod:`workbench.data.images`; ``metadata["observation_layout"]``
                overrides it).
            actions: (N,) integer (discrete) or (N, act_dim) float (continuous).
            rewards: (N,).
            terminals, timeouts: (N,) flags; a step may not have both.
            next_observations: (N, obs_dim) observation after each step. When missing,
                the final observation of every episode is unknown; a row that is all NaN
                on a step flagged as an episode's last (or the file's last step) marks that
                one episode's final observation unknown.  Every step is kept either way
                (see the module docstring: only :attr:`td_mask` leaves such a last step
                out, as d3rlpy's ``transition_count`` does).
            extras: per-step arrays, each (N, ...).
            action_space, observation_space: spaces; inferred from the data when missing
                (discrete: ``max(action) + 1`` actions; Box: unbounded).
            discrete: force the action kind; inferred from the dtype when ``None``.
            source: file name used in error messages.
            fields: the file's own names for the arrays (for error messages).

        Raises:
            DatasetError: mismatched lengths, NaN/Inf, wrong dtypes/shapes, both flags set,
                no episode boundary at all, empty data, float or out-of-range images, more
                than three axes per observation, a declared observation space of another
                shape.
        """
        if action_space is not None:
            discrete = action_space.discrete
        layout = (metadata or {}).get("observation_layout")
        flat = V.check_flat(observations, actions, rewards, terminals, timeouts,
                            next_observations, extras, discrete=discrete, source=source,
                            fields=fields, layout=layout)
        seg = split_episodes(flat.observations, flat.terminals, flat.timeouts,
                             flat.next_observations, source=source, fields=flat.fields)
        meta = dict(metadata or {})
        if source is not None:
            meta.setdefault("source", str(source))
        if seg.implicit_ends:
            warnings.warn(f"{source}: {seg.implicit_ends} step(s) have next_observations that "
                          "differ from the following observation without a terminal/timeout "
                          "flag; treating them as episode ends (timeouts)", stacklevel=2)
            meta["implicit_episode_ends"] = seg.implicit_ends
        if action_space is None:
            action_space = Space.infer(flat.actions, flat.discrete)
        observation_space = _observation_space(observation_space, flat.observations,
                                               flat.transposed, source)
        _image_metadata(meta, flat.observations, flat.transposed)
        with _values_checked():  # under the file's own names, above
            return cls(seg.observations, flat.actions, flat.rewards, seg.offsets, seg.terminated,
                       seg.truncated, observation_space, action_space, flat.extras, meta,
                       seg.final_observation_known)

    @classmethod
    def from_episodes(cls, episodes: Sequence[Episode | Mapping[str, Any]], *,
                      action_space: Space | None = None,
                      observation_space: Space | None = None,
                      metadata: Mapping[str, Any] | None = None) -> EpisodeDataset:
        """Build from episodes (``Episode`` objects or dicts with the same keys).

        Each episode needs ``observations`` (T + 1, ...), ``actions`` (T, ...),
        ``rewards`` (T,), ``terminated`` and ``truncated``; optional ``extras`` and
        ``final_observation_known`` (default ``True``; ``False`` when ``observations[-1]``
        is only a placeholder).  Image observations follow the rule of :meth:`from_flat`.

        Raises:
            DatasetError: no episodes, an episode without T + 1 observations, or anything
                the constructor checks.
        """
        if not episodes:
            raise DatasetError("has no episodes", source=(metadata or {}).get("source"),
                               fix="pass at least one episode")
        eps = [e if isinstance(e, Mapping) else e.__dict__ for e in episodes]
        src = (metadata or {}).get("source")
        for k, e in enumerate(eps):
            if len(e["observations"]) != len(e["actions"]) + 1:
                raise DatasetError(f"episode {k} has {len(e['observations'])} observations for "
                                   f"{len(e['actions'])} actions; expected T + 1 observations",
                                   source=src, field="observations",
                                   fix="include the final observation of every episode")
        obs = np.concatenate([np.asarray(e["observations"]) for e in eps])
        act = np.concatenate([np.asarray(e["actions"]) for e in eps])
        rew = np.concatenate([np.asarray(e["rewards"]) for e in eps])
        lengths = np.array([len(e["actions"]) for e in eps], dtype=np.int64)
        names = set().union(*[set(e.get("extras") or {}) for e in eps])
        extras = {n: np.concatenate([np.asarray(e["extras"][n]) for e in eps]) for n in names
                  if all(n in (e.get("extras") or {}) for e in eps)}
        if obs.ndim == 1:
            obs = obs[:, None]
        meta = dict(metadata or {})
        transposed = False
        if obs.ndim >= 3:  # images: uint8, channel-first (vectors keep their dtype)
            layout = meta.get("observation_layout")
            transposed = obs.ndim == 4 and V.observation_layout(obs.shape[1:], layout) == \
                I.CHANNELS_LAST
            obs = V.as_observations(obs, src, "observations", finite=False, layout=layout)
            observation_space = _observation_space(observation_space, obs, transposed, src)
            _image_metadata(meta, obs, transposed)
        discrete = action_space.discrete if action_space is not None else act.dtype.kind in "biu"
        if discrete:
            act = act.reshape(len(act)).astype(np.int64)
        elif act.ndim == 1:
            act = act[:, None]
        if action_space is None:
            action_space = Space.infer(act, discrete)
        if observation_space is None:
            observation_space = Space.infer(obs, discrete=False)
        return cls(obs, act, rew, np.concatenate([[0], np.cumsum(lengths)]),
                   np.array([bool(e["terminated"]) for e in eps]),
                   np.array([bool(e["truncated"]) for e in eps]),
                   observation_space, action_space, extras, meta,
                   np.array([bool(e.get("final_observation_known", True)) for e in eps]))

    # ------------------------------------------------------------------ basic properties
    @property
    def n_episodes(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_transitions(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return self.n_transitions

    @property
    def episodes(self) -> Sequence[Episode]:
        """The episodes as a lazy sequence of :class:`Episode` views."""
        return _EpisodeList(self)

    def episode(self, i: int) -> Episode:
        """Episode ``i`` (negative counts from the end) as views into the arrays; for image
        data ``ds.episode(i).frames()`` gives its frames as RGB images.

        Raises:
            IndexError: ``i`` out of range.
        """
        E = self.n_episodes
        if not -E <= i < E:
            raise IndexError(f"episode {i} out of range for {E} episodes")
        i %= E
        s, e = int(self.offsets[i]), int(self.offsets[i + 1])
        return Episode(self.observations[s + i:e + i + 1], self.actions[s:e], self.rewards[s:e],
                       bool(self.terminated[i]), bool(self.truncated[i]),
                       {k: v[s:e] for k, v in self.extras.items()}, i,
                       bool(self.final_observation_known[i]),
                       self.metadata.get("frame_kind") if self.is_image else None)

    @property
    def is_discrete(self) -> bool:
        return self.action_space.discrete

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def is_image(self) -> bool:
        """The observations are uint8 images ``(C, H, W)`` (see :mod:`workbench.data.images`)."""
        return self.observations.ndim == 4

    @property
    def nbytes(self) -> int:
        """Bytes held by the dataset's arrays: observations, actions, rewards, extras, offsets
        and flags (4×84×84 uint8 frames: 28,224 bytes each, a quarter of a float32 copy)."""
        arrays = [self.observations, self.actions, self.rewards, self.offsets, self.terminated,
                  self.truncated, self.final_observation_known, *self.extras.values()]
        return int(sum(np.asarray(a).nbytes for a in arrays))

    def observations_at(self, steps: Any, next: bool = False) -> np.ndarray:
        """Observations of transitions ``steps`` (flat step indices (B,)), or with ``next``
        their next observations (the episode's final observation after its last step, a
        placeholder where :attr:`td_mask` is False): ``(B, *obs_shape)`` in the stored dtype
        (uint8 for images), gathered by row, so batches never need a copy of all of them.
        """
        steps = np.asarray(steps, dtype=np.int64)
        rows = steps + self.episode_index[steps]
        if next:
            rows = rows + 1
        return self.observations.take(rows, axis=0)

    @property
    def action_shape(self) -> tuple[int, ...]:
        return tuple(self.actions.shape[1:])

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("source") or "dataset")

    @functools.cached_property
    def episode_lengths(self) -> np.ndarray:
        """(E,) number of transitions per episode."""
        return np.diff(self.offsets)

    @functools.cached_property
    def episode_index(self) -> np.ndarray:
        """(N,) episode of each transition."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths)

    @property
    def finished(self) -> np.ndarray:
        """(E,) episodes that ended (terminated or truncated)."""
        return self.terminated | self.truncated

    @functools.cached_property
    def td_mask(self) -> np.ndarray:
        """(N,) bool: the steps that form a complete transition ``(s, a, r, s')``.

        ``False`` only on the last step of a truncated or unfinished episode whose final
        observation was not logged (:attr:`final_observation_known`): its next state is
        unknown, so what bootstraps from ``s'`` (the training sampler, FQE targets, TD-error
        evaluation, :meth:`to_d3rlpy`) leaves it out, as d3rlpy's ``transition_count`` does.
        Returns, TQ, SACo, coverage and importance sampling use every step.
        """
        mask = np.ones(self.n_transitions, dtype=bool)
        gap = ~self.final_observation_known & ~self.terminated
        mask[self.offsets[1:][gap] - 1] = False
        return mask

    def episode_returns(self) -> np.ndarray:
        """(E,) undiscounted returns (float64), including an unfinished last episode."""
        return np.add.reduceat(self.rewards.astype(np.float64), self.offsets[:-1])

    @functools.cached_property
    def _obs_index(self) -> np.ndarray:
        return np.arange(self.n_transitions) + self.episode_index

    def transitions(self, mark_unknown: bool = False) -> dict[str, np.ndarray]:
        """Flat per-transition arrays (D4RL keys), each with N rows.

        This copies every observation twice (current and next): on image data gather what a
        batch needs with :meth:`observations_at` instead.

        ``observations``, ``next_observations``, ``actions``, ``rewards``,
        ``terminals`` (last step of terminated episodes) and ``timeouts`` (last
        step of truncated episodes); unfinished last episodes have neither.

        Args:
            mark_unknown: write NaN rows into ``next_observations`` where an episode's final
                observation is unknown (float observations only; writers and
                :meth:`to_frame` do this).  By default those rows hold the placeholder
                (the step's own observation): select rows with :attr:`td_mask` before
                using ``next_observations``.
        """
        idx = self._obs_index
        N = self.n_transitions
        last = self.offsets[1:] - 1
        terminals = np.zeros(N, dtype=bool)
        timeouts = np.zeros(N, dtype=bool)
        terminals[last[self.terminated]] = True
        timeouts[last[self.truncated]] = True
        nxt = self.observations[idx + 1]
        unknown = ~self.final_observation_known
        if mark_unknown and unknown.any() and nxt.dtype.kind == "f":
            nxt[last[unknown]] = np.nan
        return {"observations": self.observations[idx], "next_observations": nxt,
                "actions": self.actions, "rewards": self.rewards,
                "terminals": terminals, "timeouts": timeouts}

    @functools.cached_property
    def fingerprint(self) -> str:
        """Content hash (hex) of arrays, flags and spaces; metadata excluded."""
        h = hashlib.blake2b(digest_size=16)
        for arr in (self.observations, self.actions, self.rewards, self.offsets,
                    self.terminated, self.truncated):
            a = np.ascontiguousarray(arr)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.data.cast("B"))
        for name in sorted(self.extras):
            a = np.ascontiguousarray(self.extras[name])
            h.update(f"{name}{a.dtype.str}{a.shape}".encode())
            h.update(a.data.cast("B"))
        h.update(json.dumps([self.observation_space.to_json(), self.action_space.to_json()],
                            sort_keys=True).encode())
        if not self.final_observation_known.all():  # (datasets without gaps keep their hash)
            h.update(b"final_observation_known")
            h.update(np.packbits(self.final_observation_known).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ transforms
    def select(self, episodes: Sequence[int] | np.ndarray, **metadata: Any) -> EpisodeDataset:
        """A new dataset with the given episodes (indices or boolean mask), in that order."""
        idx = np.asarray(episodes)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if len(idx) == 0:
            raise DatasetError("selection is empty", source=self.metadata.get("source"),
                               fix="select at least one episode")
        lengths = self.episode_lengths[idx]
        trans = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx])
        obs = np.concatenate([np.arange(self.offsets[i] + i, self.offsets[i + 1] + i + 1)
                              for i in idx])
        unfinished = ~(self.terminated[idx] | self.truncated[idx])
        if unfinished[:-1].any():
            raise DatasetError("an unfinished episode can only be the last one of a selection",
                               source=self.metadata.get("source"),
                               fix="drop the unfinished episode or put it last")
        return EpisodeDataset(self.observations[obs], self.actions[trans], self.rewards[trans],
                              np.concatenate([[0], np.cumsum(lengths)]), self.terminated[idx],
                              self.truncated[idx], self.observation_space, self.action_space,
                              {k: v[trans] for k, v in self.extras.items()},
                              {**self.metadata, **metadata}, self.final_observation_known[idx])

    @staticmethod
    def concat(datasets: Sequence[EpisodeDataset], **metadata: Any) -> EpisodeDataset:
        """Concatenate datasets with equal spaces; only the last may end unfinished.

        Extras are kept when every dataset has them.
        """
        if not datasets:
            raise DatasetError("nothing to concatenate", fix="pass at least one dataset")
        first = datasets[0]
        for d in datasets[1:]:
            if (d.action_space != first.action_space
                    or d.observation_shape != first.observation_shape):
                raise DatasetError(f"cannot concatenate '{d.name}' with '{first.name}': spaces "
                                   "differ",
                                   fix="concatenate datasets of the same environment")
        for d in datasets[:-1]:
            if not d.finished[-1]:
                raise DatasetError(f"'{d.name}' ends with an unfinished episode and is not last",
                                   fix="drop its unfinished episode before concatenating")
        lengths = np.concatenate([d.episode_lengths for d in datasets])
        names = set.intersection(*[set(d.extras) for d in datasets])
        return EpisodeDataset(
            np.concatenate([d.observations for d in datasets]),
            np.concatenate([d.actions for d in datasets]),
            np.concatenate([d.rewards for d in datasets]),
            np.concatenate([[0], np.cumsum(lengths)]),
            np.concatenate([d.terminated for d in datasets]),
            np.concatenate([d.truncated for d in datasets]),
            first.observation_space, first.action_space,
            {n: np.concatenate([d.extras[n] for d in datasets]) for n in names},
            {**first.metadata, **metadata},
            np.concatenate([d.final_observation_known for d in datasets]))

    def with_metadata(self, **metadata: Any) -> EpisodeDataset:
        """The same data with metadata entries added or replaced."""
        return EpisodeDataset(self.observations, self.actions, self.rewards, self.offsets,
                              self.terminated, self.truncated, self.observation_space,
                              self.action_space, self.extras, {**self.metadata, **metadata},
                              self.final_observation_known)

    def with_final_observation_known(self, known: Any) -> EpisodeDataset:
        """The same data with the per-episode ``final_observation_known`` flags replaced.

        Args:
            known: (E,) bool; ``False`` marks an episode whose final observation slot is
                a placeholder (readers use it to restore what a written file recorded).
        """
        with _values_checked():  # the arrays themselves are unchanged
            return EpisodeDataset(self.observations, self.actions, self.rewards, self.offsets,
                                  self.terminated, self.truncated, self.observation_space,
                                  self.action_space, self.extras, self.metadata,
                                  np.asarray(known, dtype=bool))

    # ------------------------------------------------------------------ export
    def save(self, path: Any, format: str | None = None) -> Any:
        """Write the dataset atomically (temp file + rename); returns the written path.

        ``format``: ``"minari"`` (a dataset directory), ``"d4rl"`` (HDF5), ``"npz"`` or
        ``"parquet"``; inferred from the suffix when ``None`` (a path without suffix is
        a Minari directory).  Round trips through :func:`workbench.load_dataset` are lossless.

        Raises:
            DatasetError: unknown format.
        """
        from .io import save_dataset

        return save_dataset(self, path, format)

    def to_frame(self) -> pd.DataFrame:
        """Tidy DataFrame, one row per step (the parquet/CSV layout).

        Columns: ``episode``, ``step``, ``obs_0..obs_{d-1}``, ``action`` (discrete) or
        ``action_0..`` (continuous), ``reward``, ``terminated``, ``truncated`` (True only
        on an episode's last step), ``next_obs_0..`` (NaN on the last step of an episode
        whose final observation is unknown), then one column per extra (``<name>`` or
        ``<name>_i``).

        Raises:
            DatasetError: image observations (tables hold vectors).
        """
        import pandas as pd

        if self.is_image:
            raise DatasetError(f"has image observations {self.observation_shape}: a table would "
                               f"hold {2 * int(np.prod(self.observation_shape))} columns per step",
                               source=self.metadata.get("source"), field="observations",
                               fix="save images as npz, d4rl or minari; look at them with "
                               "ds.episode(i).frames()")
        t = self.transitions(mark_unknown=True)
        cols: dict[str, np.ndarray] = {
            "episode": self.episode_index,
            "step": np.arange(self.n_transitions) - np.repeat(self.offsets[:-1],
                                                               self.episode_lengths)}
        cols.update(_columns("obs", t["observations"]))
        if self.is_discrete:
            cols["action"] = self.actions
        else:
            cols.update(_columns("action", self.actions))
        cols["reward"] = self.rewards
        cols["terminated"] = t["terminals"]
        cols["truncated"] = t["timeouts"]
        cols.update(_columns("next_obs", t["next_observations"]))
        for name, arr in self.extras.items():
            cols.update(_columns(name, arr) if np.ndim(arr) > 1 else {name: arr})
        return pd.DataFrame(cols)

    def to_d3rlpy(self) -> Any:
        """A d3rlpy ``ReplayBuffer`` (infinite) holding exactly these transitions.

        Terminated episodes map to d3rlpy episodes with ``terminated=True``.  A truncated or
        unfinished episode whose final observation is unknown maps to the ``T`` logged rows
        with ``terminated=False``: exactly what d3rlpy's ``MDPDataset`` builds from the same
        flat arrays (every reward kept, ``transition_count = T - 1``).  When its final
        observation is known, that observation is appended with a zero action and reward, so
        d3rlpy's ``transition_count`` (``T`` for non-terminal episodes of ``T + 1`` rows)
        keeps every transition and its true next observation; d3rlpy cannot mark that row
        as padding, so a dump of this buffer read back shows it as one extra zero-reward
        step (save with :meth:`save` for lossless round trips).  In both cases d3rlpy's
        transitions are this dataset's :attr:`td_mask` steps, in order.  Image observations
        stay uint8 (views of this dataset's array: no copy).
        """
        from .._d3rlpy import d3rlpy  # quiet: before any other d3rlpy import

        # isort: split
        from d3rlpy.dataset import Episode as D3Episode
        from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer

        # images stay uint8 (d3rlpy's pickers return them as stored; mini-batches cast per
        # batch and PixelObservationScaler divides by 255); vectors become float32
        obs = (self.observations if self.is_image
               else self.observations.astype(np.float32, copy=False))
        acts = (self.actions.reshape(-1, 1) if self.is_discrete else self.actions).astype(
            np.float32 if not self.is_discrete else np.int64, copy=False)
        rews = self.rewards.astype(np.float32, copy=False).reshape(-1, 1)
        eps = []
        for k in range(self.n_episodes):
            s, e = int(self.offsets[k]), int(self.offsets[k + 1])
            o = obs[s + k:e + k + 1]
            a, r = acts[s:e], rews[s:e]
            if self.terminated[k] or not self.final_observation_known[k]:
                eps.append(D3Episode(o[:-1], a, r, bool(self.terminated[k])))
            else:
                eps.append(D3Episode(o, np.concatenate([a, np.zeros_like(a[:1])]),
                                     np.concatenate([r, np.zeros_like(r[:1])]), False))
        space = (d3rlpy.ActionSpace.DISCRETE if self.is_discrete
                 else d3rlpy.ActionSpace.CONTINUOUS)
        size = int(self.action_space.n or 0) if self.is_discrete else int(self.actions.shape[1])
        return ReplayBuffer(InfiniteBuffer(), episodes=eps, action_space=space, action_size=size)

    # ------------------------------------------------------------------ display
    def summary(self) -> dict[str, Any]:
        """Headline facts: sizes, spaces, memory held (``memory``, e.g. ``"1.2 GB"``;
        :attr:`nbytes` in bytes), return statistics and provenance."""
        returns = self.episode_returns()[self.finished] if self.finished.any() else np.array([])
        return {
            "name": self.name,
            "env_id": self.metadata.get("env_id"),
            "episodes": self.n_episodes,
            "transitions": self.n_transitions,
            "observation_shape": self.observation_shape,
            "observation_dtype": str(self.observations.dtype),
            "memory": I.format_bytes(self.nbytes),
            "action_space": (f"Discrete({self.action_space.n})" if self.is_discrete
                             else f"Box{self.action_shape}"),
            "terminated": int(self.terminated.sum()),
            "truncated": int(self.truncated.sum()),
            "unfinished_last_episode": bool(not self.finished[-1]),
            "unknown_final_observations": int((~self.final_observation_known
                                               & ~self.terminated).sum()),
            "mean_return": float(returns.mean()) if len(returns) else float("nan"),
            "std_return": float(returns.std()) if len(returns) else float("nan"),
            "mean_length": float(self.episode_lengths.mean()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (f"EpisodeDataset(name={s['name']!r}, episodes={s['episodes']}, "
                f"transitions={s['transitions']}, observations={s['observation_shape']}, "
                f"actions={s['action_space']}, mean_return={s['mean_return']:.3g})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                       for k, v in self.summary().items())
        return f"<table><caption>EpisodeDataset</caption>{rows}</table>"

    def equals(self, other: EpisodeDataset) -> bool:
        """Same arrays (bitwise, dtypes included), flags, extras and spaces."""
        return isinstance(other, EpisodeDataset) and self.fingerprint == other.fingerprint


def _observation_space(space: Space | None, obs: np.ndarray, transposed: bool,
                       source: object) -> Space:
    """The observation space of ``obs`` (already in the stored layout): inferred when not
    declared; a declared image space is moved to channel-first when the frames were, and
    boolean bounds become uint8 0..255."""
    if space is None:
        return Space.infer(obs, discrete=False)
    if obs.ndim != 4 or space.discrete:
        return space
    shape = tuple(obs.shape[1:])
    declared = tuple(space.shape)
    if declared == shape:
        return space if space.dtype == "uint8" else space.image_bounds()
    if transposed and declared == (shape[1], shape[2], shape[0]):
        return space.channels_first()
    if declared == shape[1:] and shape[0] == 1 and space.low is not None \
            and space.high is not None:  # grey-scale frames got a channel axis
        return space.image_bounds(space.low[None], space.high[None])
    raise DatasetError(f"declares an observation space of shape {declared} but the frames are "
                       f"{shape} (channel-first)", source=source, field="observation_space",
                       fix="fix the declared space, or store the frames in its shape")


def _image_metadata(meta: dict[str, Any], obs: np.ndarray, transposed: bool) -> None:
    """Record the stored layout of image observations (and that the file's was channel-last)."""
    if obs.ndim != 4:
        return
    meta["observation_layout"] = I.CHANNELS_FIRST
    if transposed:
        meta["observation_layout_read"] = I.CHANNELS_LAST


def _columns(prefix: str, arr: np.ndarray) -> dict[str, np.ndarray]:
    arr = arr.reshape(len(arr), -1)
    return {f"{prefix}_{i}": arr[:, i] for i in range(arr.shape[1])}
