"""Observation and action spaces: a Box (continuous) or Discrete space.

:class:`Space` is what an :class:`~workbench.data.dataset.EpisodeDataset` records about its
observations and actions.  It converts to and from gymnasium spaces and to and from Minari's
JSON serialisation (so datasets round-trip through Minari files and the workbench metadata).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DatasetError

__all__ = ["Space"]


@dataclass(frozen=True)
class Space:
    """A Box (continuous) or Discrete space, JSON-serialisable the way Minari writes it.

    Attributes:
        kind: ``"box"`` or ``"discrete"``.
        shape: element shape (``()`` for discrete).
        dtype: numpy dtype name of the elements.
        low, high: Box bounds, same shape as ``shape`` (``-inf``/``inf`` when unknown).
        n: number of discrete actions/states.
    """

    kind: str
    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    n: int | None = None

    @property
    def discrete(self) -> bool:
        return self.kind == "discrete"

    @classmethod
    def box(cls, low: Any, high: Any, dtype: str = "float32") -> Space:
        low = np.asarray(low, dtype=np.float64)
        high = np.asarray(high, dtype=np.float64)
        return cls("box", tuple(low.shape), str(np.dtype(dtype)), low, high)

    @classmethod
    def unbounded(cls, shape: tuple[int, ...], dtype: str = "float32") -> Space:
        return cls.box(np.full(shape, -np.inf), np.full(shape, np.inf), dtype)

    @classmethod
    def discrete_space(cls, n: int) -> Space:
        return cls("discrete", (), "int64", n=int(n))

    @classmethod
    def infer(cls, values: np.ndarray, discrete: bool) -> Space:
        """The space of data without a declared one: ``Discrete(max + 1)`` for discrete
        ``values`` (N,), a Box of pixels 0..255 for uint8 images (N, C, H, W), else an
        unbounded Box of their element shape and dtype."""
        if discrete:
            return cls.discrete_space(int(values.max()) + 1)
        if values.ndim == 4 and values.dtype == np.uint8:
            return cls.box(np.zeros(values.shape[1:]), np.full(values.shape[1:], 255.0), "uint8")
        return cls.unbounded(values.shape[1:], str(values.dtype))

    def channels_first(self) -> Space:
        """This Box space with its ``(H, W, C)`` shape and bounds moved to ``(C, H, W)``
        (images read channel-last are stored channel-first); booleans become uint8 0..255."""
        assert self.low is not None and self.high is not None and len(self.shape) == 3
        low, high = np.moveaxis(self.low, -1, 0), np.moveaxis(self.high, -1, 0)
        return self.image_bounds(low, high)

    def image_bounds(self, low: np.ndarray | None = None,
                     high: np.ndarray | None = None) -> Space:
        """A uint8 Box with these bounds (default: this space's); a boolean space's 0..1 bounds
        become 0..255, as its frames do (:func:`workbench.data.validate.as_observations`)."""
        low = self.low if low is None else low
        high = self.high if high is None else high
        assert low is not None and high is not None
        if self.dtype == "bool":
            low, high = low * 255.0, high * 255.0
        return Space.box(np.clip(low, 0, 255), np.clip(high, 0, 255), "uint8")

    @classmethod
    def from_gym(cls, space: Any) -> Space:
        """From a gymnasium ``Box`` or ``Discrete`` space; anything else raises DatasetError."""
        import gymnasium as gym

        if isinstance(space, gym.spaces.Discrete):
            if int(space.start) != 0:
                raise DatasetError(f"Discrete space with start={space.start} is not supported",
                                   fix="use actions numbered from 0")
            return cls.discrete_space(int(space.n or 0))
        if isinstance(space, gym.spaces.Box):
            return cls.box(space.low, space.high, str(space.dtype))
        raise DatasetError(f"unsupported space {space!r}",
                           fix="only Box and Discrete spaces are supported (no Dict/Tuple/Text)")

    def to_gym(self) -> Any:
        import gymnasium as gym

        if self.discrete:
            return gym.spaces.Discrete(int(self.n or 0))
        low = np.asarray(self.low, dtype=np.float64)
        high = np.asarray(self.high, dtype=np.float64)
        return gym.spaces.Box(low.astype(self.dtype), high.astype(self.dtype),
                              dtype=np.dtype(self.dtype))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """Minari's serialisation (``minari.serialization.serialize_space``, as a dict)."""
        if self.discrete:
            return {"type": "Discrete", "dtype": "int64", "start": 0, "n": int(self.n or 0)}
        return {"type": "Box", "dtype": self.dtype, "shape": list(self.shape),
                "low": _json_floats(self.low), "high": _json_floats(self.high)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str, source: object = None,
                  field: str = "space") -> Space:
        """Parse Minari's serialised space (dict or JSON string)."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"is not valid JSON ({exc})", source=source, field=field,
                                   fix="rewrite the metadata") from None
        if not isinstance(data, Mapping):
            raise DatasetError(f"is not a serialised space (got {type(data).__name__})",
                               source=source, field=field, fix="rewrite the metadata")
        kind = data.get("type")
        try:
            if kind == "Discrete":
                if int(data.get("start", 0)) != 0:
                    raise DatasetError("Discrete space with a non-zero start is not supported",
                                       source=source, field=field, fix="renumber actions from 0")
                return cls.discrete_space(int(data["n"]))
            if kind == "Box":
                low = np.asarray(_from_json_floats(data["low"]), dtype=np.float64)
                high = np.asarray(_from_json_floats(data["high"]), dtype=np.float64)
                shape = tuple(int(s) for s in data.get("shape", low.shape))
                if low.ndim == 1 and low.size == int(np.prod(shape)) and len(shape) > 1:
                    low, high = low.reshape(shape), high.reshape(shape)  # flat bounds
                low = np.broadcast_to(low, shape).copy()
                high = np.broadcast_to(high, shape).copy()
                return cls("box", shape, str(np.dtype(data.get("dtype", "float32"))), low, high)
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"is a malformed {kind} space ({exc})", source=source, field=field,
                               fix="rewrite the metadata with a valid space") from None
        raise DatasetError(f"has unsupported space type {kind!r}", source=source, field=field,
                           fix="only Box and Discrete spaces are supported (vector observations; "
                           "Dict, Tuple, Text and image spaces are not supported yet)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))


def _json_floats(arr: np.ndarray | None) -> Any:
    """Bounds as JSON values, nested like ``ndarray.tolist()`` (Minari's serialisation) for
    spaces of more than one axis; infinities as strings, NaN as null."""
    if arr is None:
        return None
    if arr.ndim > 1:
        return [_json_floats(a) for a in arr]
    if arr.ndim == 1 and np.isfinite(arr).all():
        return np.asarray(arr, dtype=np.float64).tolist()
    return [None if np.isnan(v) else (str(v) if np.isinf(v) else float(v))
            for v in np.asarray(arr, dtype=np.float64).ravel()] if arr.ndim else float(arr)


def _from_json_floats(values: Any) -> Any:
    if isinstance(values, list):
        return [_from_json_floats(v) for v in values]
    if isinstance(values, str):
        return float(values)  # "inf", "-inf"
    return np.nan if values is None else values
