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
* **Image mode** (image observations, chosen automatically for them; :class:`ImageCoding`):
  binning every pixel would make every frame distinct, so each frame is discretised as a
  whole: every channel is averaged over a ``grid × grid`` partition of the frame (8×8 by
  default; block edges ``floor(k * H / grid)``, frames smaller than the grid keep their
  resolution), and each block mean is quantised into ``levels`` equal cells (4 by default)
  of the observation space's value range, 0..255 for uint8 frames
  (:func:`workbench.data.images.block_codes`; exact integer arithmetic on the uint8 data,
  chunk by chunk, no float copy of the frames).  The state is the tuple of the
  ``C × 8 × 8`` codes, counted exactly (no hashing approximation); discrete actions are used
  as they are, continuous ones binned as in binned mode against the reference's limits.
  The codes depend on the frame alone (not on the reference), so: SACo of the reference is
  1; a dataset that repeats one frame has ``u(D)`` = its number of distinct actions; pixel
  noise that leaves every block mean inside its cell changes no code.
* ``u(D)`` is the exact number of distinct discretised pairs (the paper used an
  approximate HyperLogLog counter; we count exactly), and

  - SACo(D) = u(D) / u(D_ref)
  - lSACo(D) = log u(D) / log u(D_ref)

  State and action coverage are the same ratio for distinct states and distinct actions.

All functions raise :class:`~workbench.errors.DiagnosticsError` for: a dataset that is not an
:class:`~workbench.data.EpisodeDataset` or is empty, a reference whose observation or action
shape differs, ``bins < 2``, an unknown ``mode`` (and ``"binned"``/``"exact"`` on image
observations, ``"image"`` on vectors), and a reference with a zero-width axis
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

from ..data import images as I
from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError
from . import _kernels as K

__all__ = ["Limits", "CoverageCounts", "ImageCoding", "coverage_counts", "reference_counts",
           "counts_with_reference", "saco", "lsaco",
           "check_bins", "resolve_mode", "image_state_codes", "DEFAULT_IMAGE_CODING"]

Mode = Literal["auto", "binned", "exact", "image"]


@dataclass(frozen=True)
class ImageCoding:
    """How image mode discretises a frame (see the module docstring).

    Attributes:
        grid: blocks per side (each channel averaged over ``grid × grid`` blocks).
        levels: quantisation cells of the block means over the value range (2..256).
    """

    grid: int = 8
    levels: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.grid, bool) or not isinstance(self.grid, numbers.Integral) \
                or self.grid < 1:
            raise DiagnosticsError(f"ImageCoding.grid must be an integer >= 1, got {self.grid!r}")
        if isinstance(self.levels, bool) or not isinstance(self.levels, numbers.Integral) \
                or not 2 <= self.levels <= 256:
            raise DiagnosticsError(f"ImageCoding.levels must be an integer in 2..256, got "
                                   f"{self.levels!r}")


#: The default image discretisation: 8×8 blocks per channel, 4 levels.
DEFAULT_IMAGE_CODING = ImageCoding()


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
        """The limits of ``ds``'s pairs (one pass over the data, chunked).  For image
        observations only the action limits are taken (image mode quantises frames over
        the value range of their space): ``obs_low``/``obs_high`` are empty."""
        _check_dataset(ds, "dataset")
        if ds.is_image:
            return cls(np.zeros(0), np.zeros(0), *_action_limits(ds))
        obs = _flat_obs(ds)
        d = obs.shape[1]
        lo = np.full(d, np.inf)
        hi = np.full(d, -np.inf)
        for s, e, x in _obs_chunks(ds, obs):
            mn, mx = K.minmax(x)
            lo = np.minimum(lo, mn)
            hi = np.maximum(hi, mx)
        return cls(lo, hi, *_action_limits(ds))

    def zero_width_axes(self) -> list[str]:
        """Names (``obs_i`` / ``action_i``) of the axes with ``min == max``."""
        names = [f"obs_{i}" for i in np.flatnonzero(self.obs_high <= self.obs_low)]
        if self.act_low is not None:
            names += [f"action_{i}" for i in np.flatnonzero(self.act_high <= self.act_low)]
        return names


def _action_limits(ds: EpisodeDataset) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-axis (low, high) of continuous actions; ``(None, None)`` for discrete ones."""
    if ds.is_discrete:
        return None, None
    a = ds.actions.reshape(len(ds.actions), -1)
    alo = np.full(a.shape[1], np.inf)
    ahi = np.full(a.shape[1], -np.inf)
    for s in range(0, len(a), K.CHUNK_ROWS):
        mn, mx = K.minmax(a[s:s + K.CHUNK_ROWS])
        alo = np.minimum(alo, mn)
        ahi = np.maximum(ahi, mx)
    return alo, ahi


@dataclass(frozen=True)
class CoverageCounts:
    """Exact distinct counts of one dataset's discretised pairs.

    Attributes:
        pairs: N, the number of (state, action) pairs counted (transitions).
        unique_pairs, unique_states, unique_actions: distinct discretised pairs / states /
            actions.
        outside: pairs with at least one coordinate outside the limits (binned into the
            edge bins); 0 in exact mode.
        mode: ``"binned"``, ``"exact"`` or ``"image"``.
        bins: the number of bins (``None`` in exact mode, and in image mode with discrete
            actions).
        limits: the limits used for binning (``None`` in exact mode).
        image: the frame discretisation (image mode only).
    """

    pairs: int
    unique_pairs: int
    unique_states: int
    unique_actions: int
    outside: int = 0
    mode: str = "binned"
    bins: int | None = None
    limits: Limits | None = field(default=None, repr=False, compare=False)
    image: ImageCoding | None = None


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
    """``"auto"`` -> ``"image"`` for image observations, ``"exact"`` when observations and
    actions are discrete, else ``"binned"``.

    Raises:
        DiagnosticsError: an unknown mode; ``"binned"``/``"exact"`` on image observations
            (every pixel an axis) or ``"image"`` on vectors.
    """
    if mode not in ("auto", "binned", "exact", "image"):
        raise DiagnosticsError(f"mode must be 'auto', 'binned', 'exact' or 'image', got {mode!r}")
    if mode == "auto":
        if ds.is_image:
            return "image"
        return "exact" if (ds.observation_space.discrete and ds.is_discrete) else "binned"
    if ds.is_image and mode != "image":
        raise DiagnosticsError(
            f"mode={mode!r} on image observations {ds.observation_shape} would treat every "
            "pixel as an axis (every frame distinct, and a float copy of the frames); use "
            "mode='image' (the default for images: block means, quantised)")
    if mode == "image" and not ds.is_image:
        raise DiagnosticsError(f"mode='image' needs image observations; '{ds.name}' has vectors "
                               f"{ds.observation_shape}; use 'binned' or 'exact'")
    return mode  # type: ignore[return-value]


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


def _value_range(ds: EpisodeDataset) -> tuple[float, float]:
    """The value range image codes quantise: the observation space's finite bounds, else
    0..255 (uint8 frames)."""
    sp = ds.observation_space
    lo = float(np.min(sp.low)) if sp.low is not None and sp.low.size else -np.inf
    hi = float(np.max(sp.high)) if sp.high is not None and sp.high.size else np.inf
    lo = lo if np.isfinite(lo) else 0.0
    hi = hi if np.isfinite(hi) else 255.0
    lo, hi = max(0.0, lo), min(255.0, hi)
    return (lo, hi) if hi > lo else (0.0, 255.0)


def image_state_codes(ds: EpisodeDataset, steps: np.ndarray | None = None,
                      coding: ImageCoding = DEFAULT_IMAGE_CODING) -> np.ndarray:
    """Image-mode codes of the observations of transitions ``steps`` (default: all N):
    ``(len(steps), C * g * g)`` uint8 in ``0..levels - 1`` (see the module docstring),
    computed chunk by chunk from the uint8 frames.

    Raises:
        DiagnosticsError: the observations are not images.
    """
    if not ds.is_image:
        raise DiagnosticsError(f"image_state_codes needs image observations; '{ds.name}' has "
                               f"{ds.observation_shape}")
    steps = np.arange(ds.n_transitions) if steps is None else np.asarray(steps, np.int64)
    lo, hi = _value_range(ds)
    C, H, W = ds.observation_shape
    d = C * len(I.block_edges(H, coding.grid)[1:]) * len(I.block_edges(W, coding.grid)[1:])
    out = np.empty((len(steps), d), np.uint8)
    for sl in I.row_chunks(len(steps), I.chunk_rows(ds.observation_shape, itemsize=8)):
        x = ds.observations_at(steps[sl])
        out[sl] = I.block_codes(x, coding.grid, coding.levels, lo, hi)
    return out


def _image_counts(ds: EpisodeDataset, limits: Limits | None, bins: int, coding: ImageCoding,
                  own_limits: bool) -> CoverageCounts:
    """Counts of ``ds`` in image mode: frame codes packed into words, actions as in binned
    mode (continuous ones binned with ``limits``' action limits)."""
    N = ds.n_transitions
    lo, hi = _value_range(ds)
    C, H, W = ds.observation_shape
    d = C * len(I.block_edges(H, coding.grid)[1:]) * len(I.block_edges(W, coding.grid)[1:])
    radices = [coding.levels] * d
    groups = K.plan_words(radices)
    Ws = len(groups)
    if ds.is_discrete:
        a_binner, Wa = None, 1
    else:
        assert limits is not None and limits.act_low is not None and limits.act_high is not None
        a = ds.actions.reshape(N, -1)
        a_binner = K.Binner(K.BinSpec(limits.act_low, limits.act_high, bins), a.dtype)
        Wa = len(a_binner.word_radices)
    words = np.empty((N, Ws + Wa), dtype=np.uint64)

    def states() -> None:
        for sl in I.row_chunks(N, I.chunk_rows(ds.observation_shape, itemsize=8)):
            x = ds.observations_at(np.arange(sl.start, sl.stop))
            K.pack_words(I.block_codes(x, coding.grid, coding.levels, lo, hi), radices, groups,
                         out=words[sl, :Ws])

    def actions() -> tuple[int | None, int, int]:
        if a_binner is None:
            acts = ds.actions
            n_act = int(max(ds.action_space.n or 0, int(acts.max()) + 1))
            words[:, Ws] = acts
            return n_act, int(np.count_nonzero(np.bincount(acts, minlength=n_act))), 0
        assert limits is not None and limits.act_low is not None and limits.act_high is not None
        outside = np.zeros(N, dtype=bool)
        for s in range(0, N, K.CHUNK_ROWS):
            x = a[s:s + K.CHUNK_ROWS]
            a_binner.words(x, words[s:s + K.CHUNK_ROWS, Ws:])
            rows = None if own_limits else _outside_rows(x, limits.act_low, limits.act_high)
            if rows is not None:
                outside[s:s + len(rows)] |= rows
        radix = a_binner.word_radices[0] if Wa == 1 else None
        return radix, K.unique_count(words[:, Ws:], radix), int(outside.sum())

    _, (a_radix, u_a, outside) = _run_parallel(states, actions)
    u_s, u_sa = K.count_states_pairs(words, Ws, a_radix)
    return CoverageCounts(N, u_sa, u_s, u_a, outside, "image",
                          None if ds.is_discrete else bins, limits, coding)


def coverage_counts(ds: EpisodeDataset, limits: Limits | None = None, bins: int = 100,
                    mode: Mode = "auto",
                    image: ImageCoding = DEFAULT_IMAGE_CODING) -> CoverageCounts:
    """Exact distinct (state, action) pairs, states and actions of ``ds``.

    Args:
        ds: the dataset; its N transitions give N pairs.
        limits: binning limits (normally the reference's, see :func:`reference_counts`);
            ``None`` uses ``ds``'s own limits.  Ignored in exact mode.
        bins: number of edges of ``np.linspace(min, max, bins)`` per axis (>= 2).
        mode: ``"binned"``, ``"exact"`` (raw values, no bins), ``"image"`` (frames as block
            codes) or ``"auto"`` (image for image observations, exact when the observation
            and action spaces are both discrete, else binned).
        image: the frame discretisation of image mode.

    Returns:
        :class:`CoverageCounts`.  Time O(N log N) (one argsort of N 64-bit keys dominates),
        extra memory about 60 bytes per transition (image mode: 8 bytes per packed word of
        codes, e.g. 64 for 4×8×8 codes of 4 levels).

    Raises:
        DiagnosticsError: not a dataset, empty, ``bins < 2``, unknown ``mode``, or limits
            whose shapes do not match the dataset.
    """
    _check_dataset(ds, "dataset")
    bins = check_bins(bins)
    resolved = resolve_mode(ds, mode)
    if resolved == "exact":
        return _exact_counts(ds)
    if resolved == "image":
        own_img = limits is None
        if limits is None and not ds.is_discrete:
            limits = Limits.of(ds)
        return _image_counts(ds, limits, bins, image, own_img)
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
                     limits: Limits | None = None,
                     image: ImageCoding = DEFAULT_IMAGE_CODING) -> CoverageCounts:
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
    key = (bins, resolved, image if resolved == "image" else None)
    cache = _REF_CACHE.setdefault(reference, {})
    if key not in cache:
        if resolved == "exact":
            cache[key] = _exact_counts(reference)
        elif resolved == "image":
            lim = None if reference.is_discrete else (limits or _reference_limits(reference))
            cache[key] = _image_counts(reference, lim, bins, image, own_limits=True)
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
                          mode: Mode = "auto", image: ImageCoding = DEFAULT_IMAGE_CODING
                          ) -> tuple[CoverageCounts, CoverageCounts]:
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
        ref = reference_counts(reference, bins, m, image=image)
        return ref, ref
    cached = _REF_CACHE.get(reference, {}).get((bins, m, image if m == "image" else None))
    if cached is not None or m == "exact":
        ref = cached or reference_counts(reference, bins, m)
        return coverage_counts(ds, ref.limits, bins, m, image), ref
    if m == "image" and reference.is_discrete:  # codes need no limits: count one by one
        ref = reference_counts(reference, bins, m, image=image)
        return coverage_counts(ds, None, bins, m, image), ref
    limits = _reference_limits(reference)
    own, ref = _run_parallel(lambda: coverage_counts(ds, limits, bins, m, image),
                             lambda: reference_counts(reference, bins, m, limits, image))
    return own, ref


def saco(ds: EpisodeDataset, reference: EpisodeDataset, bins: int = 100,
         mode: Mode = "auto", image: ImageCoding = DEFAULT_IMAGE_CODING) -> float:
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
        mode: ``"auto"`` | ``"binned"`` | ``"exact"`` | ``"image"``, see
            :func:`coverage_counts` (image observations: ``"image"``, frames as quantised
            block means, see the module docstring).
        image: the frame discretisation of image mode.

    Raises:
        DiagnosticsError: see the module docstring.
    """
    own, ref = counts_with_reference(ds, reference, bins, mode, image)
    return own.unique_pairs / ref.unique_pairs


def lsaco(ds: EpisodeDataset, reference: EpisodeDataset, bins: int = 100,
          mode: Mode = "auto", image: ImageCoding = DEFAULT_IMAGE_CODING) -> float:
    """Log state-action coverage lSACo = log u(D) / log u(D_ref).

    Same counts as :func:`saco`; ``nan`` when the reference has a single distinct pair
    (``log 1 = 0``).

    Raises:
        DiagnosticsError: see the module docstring.
    """
    own, ref = counts_with_reference(ds, reference, bins, mode, image)
    return log_ratio(own.unique_pairs, ref.unique_pairs)


def log_ratio(u: int, u_ref: int) -> float:
    """``log u / log u_ref``; ``nan`` when ``u_ref <= 1``."""
    if u_ref <= 1:
        return float("nan")
    return math.log(u) / math.log(u_ref) if u > 0 else float("-inf")
