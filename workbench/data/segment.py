"""Episode segmentation: D4RL-style flat per-step arrays → aligned episodes.

Flat files (D4RL, d3rlpy dumps, tables) hold one row per step: ``observations[j]``, the
step's action and reward, ``terminals[j]`` / ``timeouts[j]`` on an episode's last step and,
when logged, ``next_observations[j]``.  :func:`split_episodes` turns them into the
episode-major layout of :class:`~workbench.data.dataset.EpisodeDataset`:

* **Splitting**: an episode ends on every step flagged ``terminals`` or ``timeouts``; rows
  after the last flag form an unfinished trailing episode.  A file with no flag at all is
  an error (nothing says where its episodes are).
* **Hidden boundaries**: where ``next_observations[j] != observations[j + 1]`` on a step
  that is not flagged, the file left an episode end unmarked (it happens in some D4RL
  datasets); the episode is split there as a timeout and the count is reported
  (:attr:`Segments.implicit_ends`).
* **The T + 1 interleave**: each episode's ``T`` per-step observations are followed by its
  final observation (``next_observations`` of its last step), so that the observation of
  transition ``j`` in episode ``k`` is row ``j + k`` and its next observation row
  ``j + k + 1``.
* **Unknown final observations**: without ``next_observations`` no episode's final
  observation is known; an all-NaN ``next_observations`` row on a flagged last step (or the
  file's last step) marks that one episode's final observation unknown.  The slot then
  holds a copy of the episode's last observation (a placeholder) and
  :attr:`Segments.final_observation_known` is ``False`` for it.

``next_observations`` rows that merely repeat the following observation are not checked
for NaN/Inf a second time; the others (episode ends) are, under the file's own field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError
from . import validate as V

__all__ = ["Segments", "split_episodes"]


@dataclass(frozen=True)
class Segments:
    """Episodes found in flat arrays (``N`` steps, ``E`` episodes).

    Attributes:
        observations: (N + E, *obs_shape) episode-major, each episode's final observation
            (or its placeholder) after its ``T`` step observations.
        offsets: (E + 1,) int64; episode ``k``'s steps are ``offsets[k]:offsets[k + 1]``.
        terminated: (E,) bool, the episode's last step was flagged ``terminals``.
        truncated: (E,) bool, flagged ``timeouts`` (or split at a hidden boundary).
        final_observation_known: (E,) bool, ``False`` where the final slot is a placeholder.
        implicit_ends: number of hidden boundaries split as timeouts.
    """

    observations: np.ndarray
    offsets: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_observation_known: np.ndarray
    implicit_ends: int = 0


def split_episodes(observations: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray,
                   next_observations: np.ndarray | None = None, *, source: object = None,
                   fields: Mapping[str, str] | None = None) -> Segments:
    """Split checked flat arrays into episodes and lay out their T + 1 observations.

    Args:
        observations: (N, *obs_shape), checked finite
            (:func:`~workbench.data.validate.check_flat`).
        terminals, timeouts: (N,) bool, never both set on one step.
        next_observations: (N, *obs_shape) or ``None``; its finiteness is checked here,
            only on the rows that are not a copy of the following observation.
        source: file name used in error messages.
        fields: the file's own names for ``terminals``, ``timeouts`` and
            ``next_observations`` (for error messages).

    Returns:
        the :class:`Segments` (see the module docstring for the rules).

    Raises:
        DatasetError: no step is flagged as an episode end; NaN/Inf in a
            ``next_observations`` row of an episode end (other than an all-NaN row that
            marks the final observation unknown).
    """
    f = {**V.FLAT_FIELDS, **(fields or {})}
    obs, term, tout, nxt = observations, terminals, timeouts, next_observations
    N = len(obs)
    if not (term | tout).any():
        raise DatasetError(f"no episode ever ends: '{f['terminals']}' and '{f['timeouts']}' "
                           "are all False", source=source, field=f["timeouts"],
                           fix="mark the last step of each episode (set timeouts[-1] = True "
                           "if the data stops mid-episode)")
    hidden = None
    if nxt is not None and N > 1 and np.count_nonzero(term | tout) * 16 >= N:
        # many short episodes: one vectorised pass finds unflagged boundaries up front
        hidden = _hidden_boundaries(obs, nxt, term | tout)
    flagged = term | tout  # ends the file itself marks, and its last row
    flagged[-1] = True
    implicit = 0
    while True:
        if hidden is not None and hidden.any():
            # next_observations[j] != observations[j + 1] inside an "episode" is a boundary
            # the file did not flag: split there as a timeout
            tout = tout.copy()
            tout[:-1] |= hidden
            implicit = int(hidden.sum())
        end_idx = np.flatnonzero(term | tout)
        stops = end_idx + 1
        if stops[-1] != N:  # unfinished trailing episode
            stops = np.append(stops, N)
        starts = np.concatenate([[0], stops[:-1]])
        ep_term = np.append(term[end_idx], False)[: len(stops)]
        ep_trunc = np.append(tout[end_idx], False)[: len(stops)]
        last = stops - 1
        if nxt is None:  # no final observation logged: a placeholder, marked unknown
            known = np.zeros(len(stops), dtype=bool)
            final_obs = obs[last]
        else:
            known = ~_all_nan_rows(nxt, last, flagged)
            final_obs = nxt[last]
            if not known.all():
                final_obs = final_obs.copy()
                final_obs[~known] = obs[last[~known]]
        offsets = np.concatenate([[0], np.cumsum(stops - starts)]).astype(np.int64)
        # with next_observations still unchecked, the layout pass also checks continuity
        check = nxt if (nxt is not None and hidden is None) else None
        all_obs, continuous = _interleave_final(obs, final_obs, offsets, check)
        if continuous:
            break
        assert nxt is not None  # (continuity is only ever checked against next observations)
        hidden = _hidden_boundaries(obs, nxt, term | tout)
    if nxt is not None:
        own = term | tout  # rows whose next observation is not a copy of obs[j + 1] ...
        own[-1] = True
        own[last[~known]] = False  # (all NaN: the file says it does not know them)
        # ... are the only ones whose finiteness is not implied by the observations check
        V.check_finite_rows(nxt, np.flatnonzero(own), source, f["next_observations"])
    return Segments(all_obs, offsets, ep_term, ep_trunc, known, implicit)


def _hidden_boundaries(obs: np.ndarray, nxt: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(N-1,) bool: step j is not flagged as an end, yet ``nxt[j] != obs[j + 1]``."""
    n = len(obs)
    cuts = np.flatnonzero(ends[:-1])
    if len(cuts) * 16 < n:  # few flagged ends: compare each stretch between them wholesale
        hidden = np.zeros(n - 1, dtype=bool)
        starts = np.concatenate([[0], cuts + 1])
        stops = np.concatenate([cuts, [n - 1]])
        for s, e in zip(starts, stops):  # rows s..e-1 must continue into the next row
            if e > s and not (nxt[s:e] == obs[s + 1:e + 1]).all():
                hidden[s:e] = _rows_differ(nxt[s:e], obs[s + 1:e + 1])
        return hidden
    return ~ends[:-1] & _rows_differ(nxt[:-1], obs[1:])


def _all_nan_rows(nxt: np.ndarray, rows: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """(len(rows),) bool: ``nxt[rows[i]]`` is entirely NaN and the file flags that row as an
    episode end (an unflagged NaN row is an error reported by the finiteness check)."""
    if nxt.dtype.kind != "f":
        return np.zeros(len(rows), dtype=bool)
    vals = nxt[rows].reshape(len(rows), -1)
    return np.isnan(vals).all(axis=1) & flagged[rows]


def _rows_differ(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """(N,) bool: row i of ``a`` differs from row i of ``b`` (chunked to stay in cache)."""
    n = len(a)
    a2, b2 = a.reshape(n, -1), b.reshape(n, -1)
    out = np.empty(n, dtype=bool)
    for s in range(0, n, chunk):
        np.any(a2[s:s + chunk] != b2[s:s + chunk], axis=1, out=out[s:s + chunk])
    return out


def _interleave_final(obs: np.ndarray, final_obs: np.ndarray, offsets: np.ndarray,
                      nxt: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """(N, ...) per-step observations + (E, ...) final ones -> (N + E, ...) episode-major.

    With ``nxt`` (next observations aligned with ``obs``), also report whether
    ``nxt[j] == obs[j + 1]`` for every step that is not its episode's last; the check runs
    on each freshly copied, cache-warm block, so it costs no extra pass over ``obs``.
    """
    N, E = len(obs), len(final_obs)
    out = np.empty((N + E, *obs.shape[1:]), dtype=np.result_type(obs.dtype, final_obs.dtype))
    continuous = True
    if E * 16 < N:  # long episodes: block copies beat fancy indexing
        for k in range(E):
            s, e = offsets[k], offsets[k + 1]
            block = out[s + k:e + k]
            block[...] = obs[s:e]
            out[e + k] = final_obs[k]
            if nxt is not None and continuous and not (block[1:] == nxt[s:e - 1]).all():
                continuous = False
        return out, continuous
    ep = np.repeat(np.arange(E), np.diff(offsets))
    out[np.arange(N) + ep] = obs
    out[offsets[1:] + np.arange(E)] = final_obs
    if nxt is not None:
        inner = np.ones(N, dtype=bool)
        inner[offsets[1:] - 1] = False
        continuous = not (inner[:-1] & _rows_differ(nxt[:-1], obs[1:])).any()
    return out, continuous
