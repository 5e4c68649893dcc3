"""State-action coverage: exact unique counts, SACo and lSACo.

Semantics follow Schweighofer et al., "A Dataset Perspective on Offline Reinforcement
Learning" (CoLLAs 2022):

* Every transition contributes one (state, action) pair: the observation *before* the step
  and the action taken (the final observation of an episode has no action and is not
  counted).  ``N`` pairs for ``N`` transitions.
* **Binned mode** (continuous data, the default): each observation axis, and each action
  axis of a continuous action space, is discretised with
  ``np.digitize(x, np.linspace(min, max, bins))`` where ``min``/``max`` are that axis's
  limits over the *reference* dataset's pairs.  Codes lie in ``0..bins``: values below the
  reference minimum fall in the edge bin ``0`` and values above its maximum in the edge
  bin ``bins`` (which also holds the maximum itself), exactly as the paper's code does;
  :attr:`CoverageCounts.outside` says how many pairs had at least one coordinate outside
  the limits.  Discrete actions are used as they are (one code per action).
* **Exact mode** (discrete observations and actions, chosen automatically when both
  spaces are discrete): pairs are compared on their raw values, no bins.
* ``u(D)`` is the exact number of distinct discretised pairs (the paper used an
  approximate HyperLogLog counter; we count exactly), and

  - SACo(D) = u(D) / u(D_ref)
  - lSACo(D) = log u(D) / log u(D_ref)

  State and action coverage are the same ratio for distinct states and distinct actions.

All functions raise :class:`~workbench.errors.DiagnosticsError` for: a dataset that is not an
:class:`~workbench.data.EpisodeDataset` or is empty, a reference whose observation or action
shape differs, ``bins < 2``, an unknown ``mode``, and a reference with a zero-width axis
(``min == max``: every value would land in one edge bin, so the axis carries no
information and the binning is degenerate).
"""

from __future__ import annotations

import math
import numbers
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError
from . import _kernels as K

__all__ = ["Limits", "CoverageCounts", "coverage_counts", "reference_counts",
           "counts_with_reference", "saco", "lsaco",
           "check_bins", "resolve_mode"]

Mode = Literal["auto", "binned", "exact"]


@dataclass(frozen=True)
class Limits:
    """Per-axis limits of the (state, action) pairs of a dataset.

    Attributes:
        obs_low, obs_high: (obs_dim,) float64 minimum/maximum of each observation axis
            over the observations that have an action (final observations excluded).
        act_low, act_high: (act_dim,) float64 for continuous actions; ``None`` for
            discrete actions (used as they are).
    """

    obs_low: np.ndarray
    obs_high: np.ndarray
    act_low: np.ndarray | None = None
    act_high: np.ndarray | None = None

    @classmethod
    def of(cls, ds: EpisodeDataset) -> Limits:
        """The limits of ``ds``'s pairs (one pass over the data, chunked)."""
        _check_dataset(ds, "dataset")
        obs = _flat_obs(ds)
        d = obs.shape[1]
        lo = np.full(d, np.inf)
        hi = np.full(d, -np.inf)
        for s, e, x in _obs_chunks(ds, obs):
            mn, mx = K.minmax(x)
            lo = np.minimum(lo, mn)
            hi = np.maximum(hi, mx)
        if ds.is_discrete:
            return cls(lo, hi)
        a = ds.actions.reshape(len(ds.actions), -1)
        alo = np.full(a.shape[1], np.inf)
        ahi = np.full(a.shape[1], -np.inf)
        for s in range(0, len(a), K.CHUNK_ROWS):
            mn, mx = K.minmax(a[s:s + K.CHUNK_ROWS])
            alo = np.minimum(alo, mn)
            ahi = np.maximum(ahi, mx)
        return cls(lo, hi, alo, ahi)

    def zero_width_axes(self) -> list[str]:
        """Names (``obs_i`` / ``action_i``) of the axes with ``min == max``."""
        names = [f"obs_{i}" for i in np.flatnonzero(self.obs_high <= self.obs_low)]
        if self.act_low is not None:
            names += [f"action_{i}" for i in np.flatnonzero(self.act_high <= self.act_low)]
        return names


@dataclass(frozen=True)
class CoverageCounts:
    """Exact distinct counts of one dataset's discretised pairs.

    Attributes:
        pairs: N, the number of (state, action) pairs counted (transitions).
        unique_pairs, unique_states, unique_actions: distinct discretised pairs / states /
            actions.
        outside: pairs with at least one coordinate outside the limits (binned into the
            edge bins); 0 in exact mode.
        mode: ``"binned"`` or ``"exact"``.
        bins: the number of bins (``None`` in exact mode).
        limits: the limits used for binning (``None`` in exact mode).
    """

    pairs: int
    unique_pairs: int
    unique_states: int
    unique_actions: int
    outside: int = 0
    mode: str = "binned"
    bins: int | None = None
    limits: Limits | None = field(default=None, repr=False, compare=False)


# ------------------------------------------------------------------------------ validation
def check_bins(bins: Any) -> int:
    """``bins`` as an int >= 2, or a DiagnosticsError."""
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise DiagnosticsError(f"bins must be an integer >= 2, got {bins!r}")
    if bins < 2:
        raise DiagnosticsError(f"bins must be >= 2 (np.linspace(min, max, bins) needs two edges), "
                               f"got {bins}")
    return int(bins)


def _check_dataset(ds: Any, role: str) -> None:
    if not isinstance(ds, EpisodeDataset):
        raise DiagnosticsError(f"the {role} must be an EpisodeDataset, got {type(ds).__name__}; "
                               "load one with workbench.load_dataset(...)")
    if ds.n_transitions == 0:
        raise DiagnosticsError(f"the {role} '{ds.name}' is empty (no transitions)")


def check_compatible(ds: EpisodeDataset, reference: EpisodeDataset) -> None:
    """Same observation shape, same action kind and shape (or number of discrete actions)."""
    _check_dataset(ds, "dataset")
    _check_dataset(reference, "reference")
    if ds.observation_shape != reference.observation_shape:
        raise DiagnosticsError(
            f"the reference '{reference.name}' has observations of shape "
            f"{reference.observation_shape} but '{ds.name}' has {ds.observation_shape}; "
            "compare datasets of the same environment")
    if ds.is_discrete != reference.is_discrete:
        kinds = {True: "discrete", False: "continuous"}
        raise DiagnosticsError(
            f"the reference '{reference.name}' has {kinds[reference.is_discrete]} actions but "
            f"'{ds.name}' has {kinds[ds.is_discrete]} actions; compare datasets of the same "
            "environment")
    if ds.is_discrete:
        if ds.action_space.n != reference.action_space.n:
            raise DiagnosticsError(
                f"the reference '{reference.name}' has {reference.action_space.n} discrete "
                f"actions but '{ds.name}' has {ds.action_space.n}; compare datasets of the same "
                "environment")
    elif ds.action_shape != reference.action_shape:
        raise DiagnosticsError(
            f"the reference '{reference.name}' has actions of shape {reference.action_shape} but "
            f"'{ds.name}' has {ds.action_shape}; compare datasets of the same environment")


def resolve_mode(ds: EpisodeDataset, mode: str) -> Mode:
    """``"auto"`` -> ``"exact"`` when observations and actions are discrete, else ``"binned"``."""
    if mode not in ("auto", "binned", "exact"):
        raise DiagnosticsError(f"mode must be 'auto', 'binned' or 'exact', got {mode!r}")
    if mode == "auto":
        return "exact" if (ds.observation_space.discrete and ds.is_discrete) else "binned"
    return "exact" if mode == "exact" else "binned"


# ------------------------------------------------------------------------------ data access
def _flat_obs(ds: EpisodeDataset) -> np.ndarray:
    obs = ds.observations
    obs = obs.reshape(len(obs), -1)
    if obs.dtype.kind != "f" or obs.dtype.itemsize < 4:
        obs = obs.astype(np.float64)
    return obs


def _obs_chunks(ds: EpisodeDataset, obs: np.ndarray, chunk: int | None = None):
    """Yield ``(start, stop, x)``: the observations of transitions ``start:stop`` (gathered)."""
    chunk = chunk or K.CHUNK_ROWS
    ep = ds.episode_index
    N = ds.n_transitions
    for s in range(0, N, chunk):
        e = min(s + chunk, N)
        rows = np.arange(s, e, dtype=np.int64)
        rows += ep[s:e]
        yield s, e, obs.take(rows, axis=0)


def _outside_rows(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """(C,) bool rows of ``x`` with a value outside ``[lo, hi]``; ``None`` when there are none."""
    mn, mx = K.minmax(x)
    if (mn >= lo).all() and (mx <= hi).all():
        return None
    x64 = x.astype(np.float64, copy=False)
    return np.asarray(((x64 < lo) | (x64 > hi)).any(axis=1))


# ------------------------------------------------------------------------------ counting
#: run independent parts (reference vs dataset, states vs actions) in threads; NumPy
#: releases the GIL in sorts and in the ufuncs over whole chunks.
PARALLEL = True


def _run_parallel(*fns):
    """Call ``fns`` (the first in this thread, the others in worker threads); their results."""
    if len(fns) == 1 or not PARALLEL:
        return [f() for f in fns]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(fns) - 1,
                            thread_name_prefix="workbench-diagnostics") as pool:
        futures = [pool.submit(f) for f in fns[1:]]
        first = fns[0]()
        return [first] + [f.result() for f in futures]


def _or_rows(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is not None:
        a |= b
    return a


def _binned_counts(ds: EpisodeDataset, limits: Limits, bins: int,
                   own_limits: bool = False) -> CoverageCounts:
    """Counts of ``ds`` binned with ``limits``; ``own_limits``: the limits are ``ds``'s own
    (nothing can fall outside, so the check is skipped)."""
    N = ds.n_transitions

    def mark(outside: np.ndarray | None, s: int, x: np.ndarray, lo: np.ndarray,
             hi: np.ndarray) -> np.ndarray | None:
        if own_limits:
            return outside
        rows = _outside_rows(x, lo, hi)
        if rows is None:
            return outside
        if outside is None:
            outside = np.zeros(N, dtype=bool)
        outside[s:s + len(rows)] |= rows
        return outside

    obs = _flat_obs(ds)
    s_binner = K.Binner(K.BinSpec(limits.obs_low, limits.obs_high, bins), obs.dtype)
    Ws = len(s_binner.word_radices)
    if ds.is_discrete:
        a_binner, Wa = None, 1
    else:
        a = ds.actions.reshape(N, -1)
        assert limits.act_low is not None and limits.act_high is not None  # continuous
        a_binner = K.Binner(K.BinSpec(limits.act_low, limits.act_high, bins), a.dtype)
        Wa = len(a_binner.word_radices)
    # one (N, Ws + Wa) array, so the sort's verification gathers each row once
    words = np.empty((N, Ws + Wa), dtype=np.uint64)
    s_hash = np.empty(N, dtype=np.uint64)
    a_hash = None if ds.is_discrete else np.empty(N, dtype=np.uint64)

    def states():
        outside = None
        for s, e, x in _obs_chunks(ds, obs):
            s_binner.words(x, words[s:e, :Ws], s_hash[s:e])
            outside = mark(outside, s, x, limits.obs_low, limits.obs_high)
        return outside

    def actions():
        if a_binner is None:
            acts = ds.actions
            n_act = int(max(ds.action_space.n or 0, int(acts.max()) + 1))
            words[:, Ws] = acts
            return n_act, int(np.count_nonzero(np.bincount(acts, minlength=n_act))), None
        outside = None
        for s in range(0, N, K.CHUNK_ROWS):
            x = a[s:s + K.CHUNK_ROWS]
            a_binner.words(x, words[s:s + K.CHUNK_ROWS, Ws:], a_hash[s:s + K.CHUNK_ROWS])
            outside = mark(outside, s, x, limits.act_low, limits.act_high)
        radix = a_binner.word_radices[0] if Wa == 1 else None
        return radix, K.unique_count(words[:, Ws:], radix), outside

    s_out, (a_radix, u_a, a_out) = _run_parallel(states, actions)
    u_s, u_sa = K.count_states_pairs(words, Ws, a_radix, state_hash=s_hash,
                                     action_hash=a_hash)
    outside = _or_rows(s_out, a_out)
    return CoverageCounts(N, u_sa, u_s, u_a, int(outside.sum()) if outside is not None else 0,
                          "binned", bins, limits)


def _exact_codes(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Raw values -> (n, d) uint64 codes and radices, equal codes iff equal values."""
    n, d = x.shape
    codes = np.empty((n, d), dtype=np.uint64)
    radices = []
    for c in range(d):
        col = x[:, c]
        if col.dtype.kind in "biu" or (col.dtype.kind == "f" and np.array_equal(col,
                                                                               np.floor(col))):
            lo, hi = col.min(), col.max()
            span = float(hi) - float(lo)
            if span < 2 ** 53:
                codes[:, c] = (col - lo).astype(np.uint64) if col.dtype.kind == "f" else \
                    (col.astype(np.int64) - np.int64(lo)).astype(np.uint64)
                radices.append(int(span) + 1)
                continue
        if col.dtype.kind == "f":
            col = col + col.dtype.type(0.0)  # -0.0 -> +0.0
            if col.dtype.itemsize == 4:
                codes[:, c] = col.view(np.uint32)
                radices.append(1 << 32)
            else:
                codes[:, c] = col.astype(np.float64).view(np.uint64)
                radices.append(1 << 64)
        else:  # integers beyond 2**53 wide: reinterpret the bits
            codes[:, c] = col.astype(np.int64).view(np.uint64)
            radices.append(1 << 64)
    return codes, radices


def _exact_counts(ds: EpisodeDataset) -> CoverageCounts:
    N = ds.n_transitions
    obs = ds.observations.reshape(len(ds.observations), -1)
    rows = np.arange(N, dtype=np.int64) + ds.episode_index
    s_codes, s_radices = _exact_codes(obs.take(rows, axis=0))
    s_words = K.pack_words(s_codes, s_radices, K.plan_words(s_radices))
    del s_codes
    a_codes, a_radices = _exact_codes(ds.actions.reshape(N, -1))
    a_groups = K.plan_words(a_radices)
    a_words = K.pack_words(a_codes, a_radices, a_groups)
    a_wr = K.word_radices(a_radices, a_groups)
    a_radix = a_wr[0] if len(a_groups) == 1 else None
    u_a = K.unique_count(a_words, a_radix)
    u_s, u_sa = K.count_states_pairs(np.hstack([s_words, a_words]), s_words.shape[1], a_radix)
    return CoverageCounts(N, u_sa, u_s, u_a, 0, "exact", None, None)


def coverage_counts(ds: EpisodeDataset, limits: Limits | None = None, bins: int = 100,
                    mode: Mode = "auto") -> CoverageCounts:
    """Exact distinct (state, action) pairs, states and actions of ``ds``.

    Args:
        ds: the dataset; its N transitions give N pairs.
        limits: binning limits (normally the reference's, see :func:`reference_counts`);
            ``None`` uses ``ds``'s own limits.  Ignored in exact mode.
        bins: number of edges of ``np.linspace(min, max, bins)`` per axis (>= 2).
        mode: ``"binned"``, ``"exact"`` (raw values, no bins) or ``"auto"`` (exact when the
            observation and action spaces are both discrete).

    Returns:
        :class:`CoverageCounts`.  Time O(N log N) (one argsort of N 64-bit keys dominates),
        extra memory about 60 bytes per transition.

    Raises:
        DiagnosticsError: not a dataset, empty, ``bins < 2``, unknown ``mode``, or limits
            whose shapes do not match the dataset.
    """
    _check_dataset(ds, "dataset")
    bins = check_bins(bins)
    if resolve_mode(ds, mode) == "exact":
        return _exact_counts(ds)
    own = limits is None
    if limits is None:
        limits = Limits.of(ds)
    d = int(np.prod(ds.observation_shape))
    if len(limits.obs_low) != d or (not ds.is_discrete and (
            limits.act_low is None or len(limits.act_low) != int(np.prod(ds.action_shape)))):
        raise DiagnosticsError(f"the binning limits do not match the shapes of '{ds.name}' "
                               f"(observations {ds.observation_shape}, actions "
                               f"{ds.action_shape or 'discrete'})")
    return _binned_counts(ds, limits, bins, own_limits=own)


# ------------------------------------------------------------------------------ references
_REF_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_counts(reference: EpisodeDataset, bins: int = 100, mode: Mode = "auto",
                     limits: Limits | None = None) -> CoverageCounts:
    """The reference's own counts, binned with its own limits (``.limits``); cached.

    The result is cached per reference object (weakly), so comparing many datasets with
    one reference counts the reference once.  ``limits``: the reference's limits when
    already known (from :func:`_reference_limits`).

    Raises:
        DiagnosticsError: as :func:`coverage_counts`, and for a zero-width reference axis
            in binned mode.
    """
    _check_dataset(reference, "reference")
    bins = check_bins(bins)
    resolved = resolve_mode(reference, mode)
    key = (bins, resolved)
    cache = _REF_CACHE.setdefault(reference, {})
    if key not in cache:
        if resolved == "exact":
            cache[key] = _exact_counts(reference)
        else:
            limits = limits or _reference_limits(reference)
            cache[key] = _binned_counts(reference, limits, bins, own_limits=True)
    return cache[key]


def _reference_limits(reference: EpisodeDataset) -> Limits:
    """The reference's limits, rejecting zero-width axes."""
    limits = Limits.of(reference)
    zero = limits.zero_width_axes()
    if zero:
        raise DiagnosticsError(
            f"the reference '{reference.name}' has zero-width axes {', '.join(zero)} "
            "(min == max): every value would fall into one edge bin; use a reference "
            "that varies along every axis, or drop the constant columns")
    return limits


def counts_with_reference(ds: EpisodeDataset, reference: EpisodeDataset, bins: int = 100,
                          mode: Mode = "auto") -> tuple[CoverageCounts, CoverageCounts]:
    """``(counts of ds, counts of reference)``, both binned with the reference's limits.

    The reference's counts are cached (see :func:`reference_counts`); when they are not
    yet known they are computed in a worker thread while ``ds`` is counted.

    Raises:
        DiagnosticsError: see the module docstring.
    """
    check_compatible(ds, reference)
    bins = check_bins(bins)
    m = resolve_mode(reference, mode)
    if m != resolve_mode(ds, mode):
        raise DiagnosticsError("mode 'auto' resolves differently for the dataset and the "
                               "reference (their observation spaces differ in kind); pass "
                               "mode='binned' or mode='exact'")
    if ds is reference:
        ref = reference_counts(reference, bins, m)
        return ref, ref
    cached = _REF_CACHE.get(reference, {}).get((bins, m))
    if cached is not None or m == "exact":
        ref = cached or reference_counts(reference, bins, m)
        return coverage_counts(ds, ref.limits, bins, m), ref
    limits = _reference_limits(reference)
    own, ref = _run_parallel(lambda: coverage_counts(ds, limits, bins, m),
                             lambda: reference_counts(reference, bins, m, limits))
    return own, ref


def saco(ds: EpisodeDataset, reference: EpisodeDataset, bins: int = 100,
         mode: Mode = "auto") -> float:
    """State-action coverage SACo = u(D) / u(D_ref) (Schweighofer et al.).

    ``u`` is the exact number of distinct (state, action) pairs after discretising every
    axis into ``bins`` equal-width bins, ``np.digitize(x, np.linspace(min, max, bins))``,
    with ``min``/``max`` taken per axis from the reference (values outside fall into the
    edge bins).  In exact mode (discrete observations and actions) pairs are compared on
    raw values.  ``saco(ref, ref) == 1``; a dataset can exceed 1 when it covers more than
    the reference.

    Args:
        ds: the dataset, N transitions.
        reference: the reference dataset (the paper uses the replay dataset of the same
            environment); same observation and action shapes.
        bins: number of edges per axis, >= 2 (the paper uses 100).
        mode: ``"auto"`` | ``"binned"`` | ``"exact"``, see :func:`coverage_counts`.

    Raises:
        DiagnosticsError: see the module docstring.
    """
    own, ref = counts_with_reference(ds, reference, bins, mode)
    return own.unique_pairs / ref.unique_pairs


def lsaco(ds: EpisodeDataset, reference: EpisodeDataset, bins: int = 100,
          mode: Mode = "auto") -> float:
    """Log state-action coverage lSACo = log u(D) / log u(D_ref).

    Same counts as :func:`saco`; ``nan`` when the reference has a single distinct pair
    (``log 1 = 0``).

    Raises:
        DiagnosticsError: see the module docstring.
    """
    own, ref = counts_with_reference(ds, reference, bins, mode)
    return log_ratio(own.unique_pairs, ref.unique_pairs)


def log_ratio(u: int, u_ref: int) -> float:
    """``log u / log u_ref``; ``nan`` when ``u_ref <= 1``."""
    if u_ref <= 1:
        return float("nan")
    return math.log(u) / math.log(u_ref) if u > 0 else float("-inf")
