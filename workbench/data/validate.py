"""Every check on dataset arrays, in one place.

Readers call these on the raw arrays of a file *before* building an
:class:`~workbench.data.dataset.EpisodeDataset`, so that a problem is reported
with the file's own field names (``terminals``, ``episode_3/actions``, ...)
and a fix; :func:`check_dataset` is the structural check every ``EpisodeDataset``
runs on itself when it is built.  All functions raise
:class:`~workbench.errors.DatasetError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetError
from .images import CHANNELS_FIRST, CHANNELS_LAST

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import EpisodeDataset

__all__ = [
    "as_array",
    "check_numeric",
    "check_finite",
    "check_length",
    "as_flags",
    "as_observations",
    "observation_layout",
    "as_actions",
    "check_exclusive_flags",
    "check_not_empty",
    "check_dataset",
    "check_flat",
    "FlatArrays",
    "FLAT_FIELDS",
]


def as_array(value: Any, source: object, field: str) -> np.ndarray:
    """Convert ``value`` to an ndarray, or raise a DatasetError naming the field."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists, unreadable objects
        raise DatasetError(f"cannot be read as an array ({exc})", source=source, field=field,
                           fix="store it as one rectangular numeric array") from None
    return arr


def check_numeric(arr: np.ndarray, source: object, field: str) -> np.ndarray:
    """Require an integer, unsigned, float or bool dtype."""
    if arr.dtype.kind not in "biuf":
        raise DatasetError(f"has dtype {arr.dtype}, expected a numeric array", source=source,
                           field=field, fix="store numbers (float32/float64 or integers), not "
                           "strings or objects")
    return arr


def check_not_empty(n: int, source: object, field: str = "observations") -> None:
    if n == 0:
        raise DatasetError("is empty: the dataset has no transitions", source=source, field=field,
                           fix="check that the file was written completely, or collect data first")


def check_finite(arr: np.ndarray, source: object, field: str) -> None:
    """Reject NaN/Inf values, naming how many and the first row."""
    if arr.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(arr, axis=None)):  # one pass, no temporary: NaN/Inf propagate
            return
    arr = np.atleast_1d(arr)  # non-finite sum: find the rows (or it was a harmless overflow)
    check_finite_rows(arr, np.arange(len(arr)), source, field)


def check_length(arr: np.ndarray, n: int, source: object, field: str, reference: str) -> None:
    """Require ``len(arr) == n`` (the length of ``reference``)."""
    length = len(arr) if arr.ndim else 0
    if length != n:
        raise DatasetError(f"has {length} rows but '{reference}' has {n}", source=source,
                           field=field, fix="all per-step arrays must have the same length")


def as_flags(arr: np.ndarray, source: object, field: str) -> np.ndarray:
    """Episode-end flags as a 1-D bool array; accepts bool, or numbers that are all 0/1."""
    arr = check_numeric(arr, source, field)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DatasetError(f"has shape {arr.shape}, expected one flag per step (N,)",
                           source=source, field=field, fix="store a 1-D boolean array")
    if arr.dtype != np.bool_:
        check_finite(arr, source, field)
        if not np.isin(arr, (0, 1)).all():
            bad = int(np.flatnonzero(~np.isin(arr, (0, 1)))[0])
            raise DatasetError(f"must be boolean (0/1) but row {bad} holds {arr[bad]!r}",
                               source=source, field=field, fix="store True/False flags")
        arr = arr.astype(bool)
    return arr


def check_finite_rows(arr: np.ndarray, rows: np.ndarray, source: object, field: str) -> None:
    """Like :func:`check_finite`, but only for ``arr[rows]``, reporting original row numbers."""
    if arr.dtype.kind != "f" or len(rows) == 0:
        return
    sub = arr[rows].reshape(len(rows), -1)
    bad = ~np.isfinite(sub).all(axis=1)
    if bad.any():
        raise DatasetError(f"contains {int((~np.isfinite(sub)).sum())} NaN/Inf value(s), first "
                           f"at row {int(rows[np.flatnonzero(bad)[0]])}", source=source,
                           field=field, fix="drop or repair those rows before loading")


def observation_layout(shape: tuple[int, ...], layout: str | None = None) -> str | None:
    """The layout of per-step observations of ``shape`` (without the step axis): ``None``
    for vectors and grey-scale frames ``(H, W)``, else ``layout`` when given, or the rule of
    :func:`workbench.data.images.infer_layout`."""
    if len(shape) != 3:
        return None
    from .images import infer_layout

    return layout or infer_layout(shape)


def _image_dtype(arr: np.ndarray, source: object, field: str) -> np.ndarray:
    """Image values as uint8: bool -> 0/255, integers in 0..255 kept; floats refused."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.view(np.uint8) * np.uint8(255)
    if arr.dtype.kind in "iu":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 255:
            raise DatasetError(f"has shape {arr.shape} (image observations) with integer values "
                               f"{lo}..{hi}; images must be uint8 pixels 0..255", source=source,
                               field=field, fix="rescale the frames to 0..255 and store uint8")
        return arr.astype(np.uint8)
    raise DatasetError(f"has shape {arr.shape} and dtype {arr.dtype}: image observations must be "
                       "uint8 pixels 0..255 (a float copy of 1M 84x84 frames takes 28 GB)",
                       source=source, field=field,
                       fix="store frames as uint8, e.g. np.round(x * 255).astype(np.uint8) for "
                       "values in [0, 1], or flatten non-image tensors to vectors")


def as_observations(arr: np.ndarray, source: object, field: str,
                    finite: bool = True, layout: str | None = None) -> np.ndarray:
    """Observations as vectors ``(N, obs_dim)`` or uint8 images ``(N, C, H, W)``.

    Vectors: 1-D arrays become (N, 1); booleans float32; NaN/Inf checked with ``finite``.
    Images (see :mod:`workbench.data.images` for the rule): ``(N, H, W)`` grey-scale frames
    get a channel axis, ``(N, H, W, C)`` is transposed to channel-first when its last axis is
    the smallest (or when ``layout="channels_last"``), booleans become 0/255 and integer
    frames in 0..255 uint8.  Nothing is converted to float.

    Args:
        arr: the array as read.
        source, field: the file and field named in errors.
        finite: check float vectors for NaN/Inf.
        layout: ``"channels_first"``/``"channels_last"`` when the file records it; ``None``
            applies the rule.

    Raises:
        DatasetError: a scalar, more than three feature axes, float or out-of-range image
            values, a 2-D float tensor per step.
    """
    arr = check_numeric(arr, source, field)
    if arr.ndim == 0:
        raise DatasetError("is a scalar, expected one observation per step", source=source,
                           field=field, fix="store an (N, obs_dim) array")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2:
        if arr.dtype == np.bool_:
            arr = arr.astype(np.float32)
        if finite:
            check_finite(arr, source, field)
        return arr
    if arr.ndim > 4:
        raise DatasetError(f"has shape {arr.shape}: observations with more than three axes per "
                           "step are not supported (vectors (N, d) and images (N, C, H, W) or "
                           "(N, H, W, C) are)", source=source, field=field,
                           fix="flatten each observation to a vector, or store one image per step")
    if arr.ndim == 3 and arr.dtype.kind == "f":
        raise DatasetError(f"has shape {arr.shape}: a float matrix per step is neither a vector "
                           "nor a uint8 image", source=source, field=field,
                           fix="flatten each observation to a vector, or store grey-scale frames "
                           "as uint8")
    arr = _image_dtype(arr, source, field)
    if arr.ndim == 3:  # (N, H, W) grey-scale: a channel axis, no copy
        return arr[:, None]
    if layout not in (None, CHANNELS_FIRST, CHANNELS_LAST):
        raise DatasetError(f"has an unknown observation_layout {layout!r}", source=source,
                           field=field, fix=f"use {CHANNELS_FIRST!r} or {CHANNELS_LAST!r}")
    if observation_layout(arr.shape[1:], layout) == CHANNELS_LAST:
        arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))  # uint8: same size
    return arr


def as_actions(arr: np.ndarray, source: object, field: str,
               discrete: bool | None = None) -> tuple[np.ndarray, bool]:
    """Actions as (N,) int64 when discrete or (N, act_dim) float when continuous.

    ``discrete=None`` infers the kind from the dtype (integers/bools are discrete).
    Returns ``(actions, discrete)``.
    """
    arr = check_numeric(arr, source, field)
    if discrete is None:
        discrete = arr.dtype.kind in "biu"
    if discrete:
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DatasetError(f"has shape {arr.shape}, but discrete actions need one integer per "
                               "step (N,)", source=source, field=field,
                               fix="store the action index, not a one-hot vector")
        if arr.dtype.kind == "f":
            check_finite(arr, source, field)
            if not np.all(arr == np.round(arr)):
                raise DatasetError("holds non-integer values for a discrete action space",
                                   source=source, field=field,
                                   fix="store integer action indices, or declare the action "
                                   "space continuous")
        arr = arr.astype(np.int64)
        if len(arr) and arr.min() < 0:
            raise DatasetError(f"holds a negative action index ({int(arr.min())})",
                               source=source, field=field, fix="action indices start at 0")
        return arr, True
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DatasetError(f"has shape {arr.shape}, expected (N, action_dim)", source=source,
                           field=field, fix="store one action vector per step")
    check_finite(arr, source, field)
    return arr, False


def check_exclusive_flags(terminals: np.ndarray, timeouts: np.ndarray, source: object,
                          fields: tuple[str, str] = ("terminals", "timeouts")) -> None:
    """A step cannot be both a termination and a truncation."""
    both = terminals & timeouts
    if both.any():
        first = int(np.flatnonzero(both)[0])
        raise DatasetError(f"'{fields[0]}' and '{fields[1]}' are both set at {int(both.sum())} "
                           f"step(s), first at row {first}", source=source, field=fields[1],
                           fix="an episode ends either by termination (MDP terminal state) or by "
                           "a time limit; clear the timeout flag where the episode terminated")


def check_dataset(ds: EpisodeDataset, finite: bool = True) -> None:
    """The structure and values of a dataset's arrays (its own field names in messages).

    Episode offsets start at 0 and every episode has a step; ``actions`` and ``rewards``
    have ``N`` rows, ``observations`` ``N + E``, the per-episode flags ``E``; no episode
    both terminates and truncates, and only the last may be unfinished; observations,
    actions and rewards are numeric (and finite, with ``finite``: readers that checked
    the values under the file's own names skip it); rewards are (N,); observations are
    vectors (N + E, d) or uint8 images (N + E, C, H, W); discrete actions are (N,) integers
    inside the action space, continuous ones (N, act_dim); every extra has ``N`` rows.

    Args:
        ds: the dataset, with ``offsets`` (int64), flags and ``final_observation_known``
            (bool) already converted to arrays.
        finite: also reject NaN/Inf in observations, actions and rewards.

    Raises:
        DatasetError: the first problem found, naming the field.
    """
    src = ds.metadata.get("source", "<dataset>")
    offsets = ds.offsets
    E = len(offsets) - 1
    if E < 1:
        raise DatasetError("has no episodes", source=src, field="episodes",
                           fix="check the file was written completely, or collect data first")
    check_length(np.asarray(ds.final_observation_known), E, src, "final_observation_known",
                 "episodes")
    N = int(offsets[-1])
    check_not_empty(N, src, "actions")
    if offsets[0] != 0 or np.any(np.diff(offsets) < 1):
        raise DatasetError("episode offsets must start at 0 and every episode needs at least "
                           "one step", source=src, field="offsets")
    check_length(ds.actions, N, src, "actions", "offsets[-1]")
    check_length(ds.rewards, N, src, "rewards", "actions")
    check_length(ds.observations, N + E, src, "observations", "actions + episodes")
    check_length(ds.terminated, E, src, "terminated", "episodes")
    check_length(ds.truncated, E, src, "truncated", "episodes")
    check_exclusive_flags(ds.terminated, ds.truncated, src, ("terminated", "truncated"))
    unfinished = ~(ds.terminated | ds.truncated)
    if unfinished[:-1].any():
        k = int(np.flatnonzero(unfinished[:-1])[0])
        raise DatasetError(f"episode {k} never ends (neither terminated nor truncated) but "
                           "is followed by another episode", source=src, field="terminated",
                           fix="mark the last step of every episode as terminal or timeout")
    for name, arr in (("observations", ds.observations), ("actions", ds.actions),
                      ("rewards", ds.rewards)):
        check_numeric(arr, src, name)
        if finite:
            check_finite(arr, src, name)
    if ds.rewards.ndim != 1:
        raise DatasetError(f"has shape {ds.rewards.shape}, expected (N,)", source=src,
                           field="rewards", fix="store one scalar reward per step")
    obs = ds.observations
    if obs.ndim == 4:
        if obs.dtype != np.uint8:
            raise DatasetError(f"holds image observations of dtype {obs.dtype}; images are "
                               "stored as uint8 (N + E, C, H, W)", source=src,
                               field="observations", fix="build the dataset with uint8 frames "
                               "(readers and from_flat/from_episodes convert them)")
    elif obs.ndim != 2:
        as_observations(obs, src, "observations")
    actions, space = ds.actions, ds.action_space
    if space.discrete:
        if actions.ndim != 1 or actions.dtype.kind not in "iu":
            raise DatasetError("discrete actions must be a 1-D integer array", source=src,
                               field="actions")
        if actions.max() >= (space.n or 0) or actions.min() < 0:
            raise DatasetError(f"holds action {int(actions.max())} outside the discrete "
                               f"space of {space.n} actions", source=src,
                               field="actions", fix="fix the actions or the action space")
    elif actions.ndim != 2:
        raise DatasetError(f"continuous actions must be (N, act_dim), got "
                           f"{actions.shape}", source=src, field="actions")
    for name, arr in ds.extras.items():
        check_length(np.asarray(arr), N, src, f"extras/{name}", "actions")


#: The D4RL names of the flat per-step arrays (a file's own names replace them in messages).
FLAT_FIELDS: Mapping[str, str] = {
    "observations": "observations", "actions": "actions", "rewards": "rewards",
    "terminals": "terminals", "timeouts": "timeouts", "next_observations": "next_observations"}


@dataclass(frozen=True)
class FlatArrays:
    """D4RL-style per-step arrays after :func:`check_flat` (``N`` rows each).

    Attributes:
        observations: (N, obs_dim), finite, or uint8 images (N, C, H, W).
        actions: (N,) int64 (discrete) or (N, act_dim) float (continuous), finite.
        discrete: the action kind.
        rewards: (N,) float, finite.
        terminals, timeouts: (N,) bool, never both set on one step.
        next_observations: (N, obs_dim) or ``None``; *not* checked for NaN/Inf yet
            (:func:`~workbench.data.segment.split_episodes` does, where it matters).
        extras: per-step numeric arrays, each (N, ...).
        fields: the file's names for the arrays (:data:`FLAT_FIELDS` keys).
        transposed: the file held channel-last images, transposed to channel-first.
    """

    observations: np.ndarray
    actions: np.ndarray
    discrete: bool
    rewards: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    next_observations: np.ndarray | None
    extras: dict[str, np.ndarray]
    fields: Mapping[str, str]
    transposed: bool = False


def check_flat(observations: Any, actions: Any, rewards: Any, terminals: Any,
               timeouts: Any | None = None, next_observations: Any | None = None,
               extras: Mapping[str, Any] | None = None, *, discrete: bool | None = None,
               source: object = None, fields: Mapping[str, str] | None = None,
               layout: str | None = None) -> FlatArrays:
    """Check and normalise D4RL-style flat per-step arrays, naming the file's fields.

    Args:
        observations: (N, obs_dim) or (N,) observation before each step, or image frames
            (N, H, W), (N, C, H, W), (N, H, W, C) (see :func:`as_observations`).
        actions: (N,) integer (discrete) or (N, act_dim) float (continuous).
        rewards: (N,) or (N, 1).
        terminals, timeouts: (N,) flags (bool, or 0/1 numbers); ``timeouts=None`` means
            no step is a timeout.
        next_observations: (N, obs_dim) or ``None``.
        extras: per-step arrays, each (N, ...).
        discrete: force the action kind; inferred from the dtype when ``None``.
        source: file name used in error messages.
        fields: the file's own names for the arrays (keys of :data:`FLAT_FIELDS`).
        layout: the image layout the file records (``None``: the rule).

    Returns:
        the normalised :class:`FlatArrays` (integer rewards become float32; images uint8,
        channel-first).

    Raises:
        DatasetError: empty data, mismatched lengths, NaN/Inf, wrong dtypes or shapes,
            both flags set on a step.
    """
    f = {**FLAT_FIELDS, **(fields or {})}
    raw = as_array(observations, source, f["observations"])
    transposed = raw.ndim == 4 and observation_layout(raw.shape[1:], layout) == CHANNELS_LAST
    obs = as_observations(raw, source, f["observations"], layout=layout)
    del raw
    N = len(obs)
    check_not_empty(N, source, f["observations"])
    act, discrete = as_actions(as_array(actions, source, f["actions"]), source, f["actions"],
                               discrete)
    check_length(act, N, source, f["actions"], f["observations"])
    rew = check_numeric(as_array(rewards, source, f["rewards"]), source, f["rewards"])
    if rew.ndim == 2 and rew.shape[1] == 1:
        rew = rew[:, 0]
    if rew.ndim != 1:
        raise DatasetError(f"has shape {rew.shape}, expected (N,)", source=source,
                           field=f["rewards"], fix="store one scalar reward per step")
    check_length(rew, N, source, f["rewards"], f["observations"])
    check_finite(rew, source, f["rewards"])
    if rew.dtype.kind != "f":
        rew = rew.astype(np.float32)
    term = as_flags(as_array(terminals, source, f["terminals"]), source, f["terminals"])
    check_length(term, N, source, f["terminals"], f["observations"])
    if timeouts is None:
        tout = np.zeros(N, dtype=bool)
    else:
        tout = as_flags(as_array(timeouts, source, f["timeouts"]), source, f["timeouts"])
        check_length(tout, N, source, f["timeouts"], f["observations"])
    check_exclusive_flags(term, tout, source, (f["terminals"], f["timeouts"]))
    nxt = None
    if next_observations is not None:
        # finiteness is checked later, only where next_observations is not a copy of the
        # (already checked) following observation
        nxt = as_observations(as_array(next_observations, source, f["next_observations"]),
                              source, f["next_observations"], finite=False, layout=layout)
        check_length(nxt, N, source, f["next_observations"], f["observations"])
        if nxt.shape[1:] != obs.shape[1:]:
            raise DatasetError(f"has shape {nxt.shape[1:]} per step but observations have "
                               f"{obs.shape[1:]}", source=source, field=f["next_observations"])
    ext = {}
    for name, arr in (extras or {}).items():
        a = check_numeric(as_array(arr, source, name), source, name)
        check_length(a, N, source, name, f["observations"])
        ext[name] = a
    return FlatArrays(obs, act, discrete, rew, term, tout, nxt, ext, f, transposed)
