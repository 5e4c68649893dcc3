"""Image observations: the layout rule, block codes, frames to look at, memory sizes.

**Layout.**  Image observations are stored **channel-first, uint8**: ``(N + E, C, H, W)``,
values 0..255, whatever the file held (d3rlpy's pixel encoder reads channel-first).  A file's
per-step observation shape ``(a, b, c)`` is read by one rule (:func:`infer_layout`):

* the **last** axis is strictly smaller than the other two (``(84, 84, 4)``, ``(210, 160, 3)``,
  MinAtar's ``(10, 10, 4)``): channel-last, transposed to ``(c, a, b)`` on load (a uint8
  transpose: the same size, never a float copy);
* otherwise (the first axis is the smallest, ``(4, 84, 84)``, or the axes tie, ``(10, 10, 10)``):
  channel-first, kept;
* ``(a, b)`` (one grey-scale frame per step) gets a channel axis: ``(1, a, b)``.

The rule maps its own output to itself (a transposed shape reads as channel-first), and files
the workbench writes record ``observation_layout = "channels_first"`` in their metadata, so they
are never transposed again.  Booleans (MinAtar's object layers) become 0/255; other integer
images must lie in 0..255 and become uint8; float images are refused (a float copy of 1M
84×84 frames is 28 GB; store them as uint8).

**Block codes** (:func:`block_means`, :func:`block_codes`): each channel is averaged over a
``grid × grid`` partition of the frame (block edges ``floor(k * H / grid)``; a frame smaller
than the grid keeps its own resolution), computed on integers from the uint8 data chunk by
chunk.  Coverage (:mod:`workbench.diagnostics.coverage`) quantises those means, the state
projection and the behaviour-cloning model use them as features.

**Frames** (:func:`render_frames`, :meth:`~workbench.data.dataset.Episode.frames`): any
image observation as RGB ``(n, H, W, 3)`` uint8 to show: one channel as grey, three as RGB,
a frame stack (Atari) as its newest frame, object layers (MinAtar) in one colour per layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["CHANNELS_FIRST", "CHANNELS_LAST", "FRAME_KINDS", "infer_layout", "is_image_shape",
           "block_edges", "block_means", "block_codes", "render_frames", "frame_strip",
           "chunk_rows", "row_chunks", "format_bytes", "nature_cnn_fits", "SMALL_PIXEL_ENCODER"]

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
#: How the channels of a frame are shown (``metadata["frame_kind"]``): ``"grey"`` (one
#: channel), ``"rgb"``, ``"stack"`` (stacked grey frames, newest last: Atari) and
#: ``"layers"`` (one binary object layer per channel: MinAtar).
FRAME_KINDS = ("grey", "rgb", "stack", "layers")

#: d3rlpy ``PixelEncoderFactory`` settings for frames too small for the Nature-DQN network
#: (MinAtar's 10×10): one 3×3 convolution with 16 filters and a 128-unit layer, the network
#: of the MinAtar paper (Young & Tian 2019).
SMALL_PIXEL_ENCODER: dict[str, Any] = {"filters": [[16, 3, 1]], "feature_size": 128}


def is_image_shape(shape: tuple[int, ...]) -> bool:
    """Whether a per-observation shape is an image in the canonical layout ``(C, H, W)``."""
    return len(shape) == 3


def infer_layout(shape: tuple[int, ...]) -> str:
    """The layout of a per-step image shape ``(a, b, c)`` by the rule in the module docstring:
    :data:`CHANNELS_LAST` when ``c < a`` and ``c < b``, else :data:`CHANNELS_FIRST`."""
    a, b, c = (int(s) for s in shape)
    return CHANNELS_LAST if (c < a and c < b) else CHANNELS_FIRST


def nature_cnn_fits(shape: tuple[int, ...]) -> bool:
    """Whether d3rlpy's default (Nature DQN) pixel encoder fits frames of ``(C, H, W)``:
    its 8/4, 4/2 and 3/1 convolutions need ``H, W >= 36``."""
    return len(shape) == 3 and min(int(shape[1]), int(shape[2])) >= 36


# ------------------------------------------------------------------------------ sizes
def format_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as ``ls -h --si``)."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"  # pragma: no cover


def chunk_rows(row_shape: tuple[int, ...], budget_bytes: int = 1 << 24, itemsize: int = 4,
               max_rows: int = 1 << 16) -> int:
    """Rows per chunk so that a float copy of one chunk stays under ``budget_bytes``
    (default 16 MiB as float32): 148 frames of 4×84×84, 10485 of 4×10×10, ``max_rows`` for
    small vectors."""
    per_row = max(1, int(np.prod(row_shape, dtype=np.int64)) * int(itemsize))
    return int(max(1, min(max_rows, budget_bytes // per_row)))


def row_chunks(n: int, size: int) -> Iterator[slice]:
    """``slice(s, min(s + size, n))`` for ``s = 0, size, 2 size, ...``."""
    for s in range(0, int(n), max(1, int(size))):
        yield slice(s, min(s + size, int(n)))


# ------------------------------------------------------------------------------ block codes
def block_edges(n: int, grid: int) -> np.ndarray:
    """``(min(grid, n) + 1,)`` int64 edges ``floor(k * n / g)`` of ``g = min(grid, n)``
    blocks covering ``0..n`` (each block at least one pixel)."""
    g = max(1, min(int(grid), int(n)))
    return (np.arange(g + 1, dtype=np.int64) * int(n)) // g


def _block_sums(x: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer sums over the blocks of ``x`` (B, C, H, W) and the pixel count per block."""
    B, C, H, W = x.shape
    eh, ew = block_edges(H, grid), block_edges(W, grid)
    # int32 sums are exact for blocks of up to 2**23 pixels of 0..255 (reduceat casts the
    # whole chunk to the sum dtype first: callers size chunks for 4 bytes per pixel)
    dt = np.int32 if H * W < (1 << 23) else np.int64
    s = np.add.reduceat(x, eh[:-1], axis=2, dtype=dt)
    s = np.add.reduceat(s, ew[:-1], axis=3, dtype=dt)
    counts = np.diff(eh)[:, None] * np.diff(ew)[None, :]
    return s.astype(np.int64), counts


def block_means(x: np.ndarray, grid: int = 8) -> np.ndarray:
    """``(B, C * g_h * g_w)`` float32 mean of each channel over ``grid × grid`` blocks of
    frames ``x`` (B, C, H, W) (uint8 or any integer/bool), in the data's own units (0..255)."""
    s, counts = _block_sums(np.asarray(x), grid)
    return (s / counts).astype(np.float32).reshape(len(s), -1)


def block_codes(x: np.ndarray, grid: int, levels: int, low: float = 0.0,
                high: float = 255.0) -> np.ndarray:
    """``(B, C * g_h * g_w)`` uint8 quantised block means of frames ``x`` (B, C, H, W).

    Code of a block with mean ``m`` (exact integer arithmetic on the block sum):
    ``floor((m - low) * levels / (high - low + 1))`` clipped to ``0..levels - 1``: the value
    range ``low..high`` of integer pixels is cut into ``levels`` equal cells (uint8 0..255
    and 4 levels: cells of 64 values).  Two frames whose block means stay inside the same
    cells get the same codes, whatever their pixels.
    """
    if not 2 <= int(levels) <= 256:
        raise ValueError(f"levels must be in 2..256, got {levels}")
    lo, hi = int(math.floor(low)), int(math.ceil(high))
    s, counts = _block_sums(np.asarray(x), grid)
    num = (s - lo * counts) * int(levels)
    codes = num // (counts * (hi - lo + 1))
    return np.clip(codes, 0, int(levels) - 1).astype(np.uint8).reshape(len(s), -1)


# ------------------------------------------------------------------------------ frames
#: One colour per object layer (MinAtar), cycled when there are more layers.
_PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                     [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                     [210, 245, 60], [250, 190, 212]], dtype=np.uint8)


def guess_frame_kind(obs: np.ndarray) -> str:
    """The :data:`FRAME_KINDS` entry for frames without a recorded kind: 1 channel grey,
    3 RGB, binary (0/255) channels object layers, anything else a frame stack."""
    C = int(obs.shape[1])
    if C == 1:
        return "grey"
    if C == 3:
        return "rgb"
    sample = obs[: min(len(obs), 16)]
    if np.isin(sample, (0, 255)).all():
        return "layers"
    return "stack"


def render_frames(obs: np.ndarray, kind: str | None = None, scale: int = 1) -> np.ndarray:
    """Image observations as RGB frames to show.

    Args:
        obs: (n, C, H, W) uint8 image observations (the canonical layout).
        kind: one of :data:`FRAME_KINDS`; ``None`` guesses (:func:`guess_frame_kind`).
        scale: integer nearest-neighbour upscaling (MinAtar's 10×10 frames are tiny).

    Returns:
        (n, H * scale, W * scale, 3) uint8.

    Raises:
        ValueError: ``obs`` is not (n, C, H, W), an unknown ``kind`` or ``scale < 1``.
    """
    obs = np.asarray(obs)
    if obs.ndim != 4:
        raise ValueError(f"render_frames needs (n, C, H, W) image observations, got {obs.shape}")
    if int(scale) < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    kind = kind or guess_frame_kind(obs)
    if kind not in FRAME_KINDS:
        raise ValueError(f"unknown frame kind {kind!r}; use one of {FRAME_KINDS}")
    if obs.dtype != np.uint8:
        obs = np.clip(obs, 0, 255).astype(np.uint8)
    n, C, H, W = obs.shape
    if kind == "rgb" and C >= 3:
        rgb = np.moveaxis(obs[:, :3], 1, -1)
    elif kind == "layers":
        rgb = np.zeros((n, H, W, 3), np.uint8)
        for c in range(C):  # later layers drawn over earlier ones
            on = obs[:, c] > 127
            rgb[on] = _PALETTE[c % len(_PALETTE)]
    else:  # grey, or the newest frame of a stack
        g = obs[:, 0 if kind == "grey" else C - 1]
        rgb = np.repeat(g[..., None], 3, axis=-1)
    rgb = np.ascontiguousarray(rgb)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, int(scale), axis=1), int(scale), axis=2)
    return rgb


def frame_strip(obs: np.ndarray, n: int = 8, kind: str | None = None, scale: int = 1,
                gap: int = 1) -> np.ndarray:
    """``n`` evenly spaced frames of ``obs`` (T, C, H, W) side by side: one RGB image
    ``(H * scale, k * (W * scale + gap) - gap, 3)`` uint8 with ``k = min(n, T)`` frames
    (first and last included), separated by ``gap`` white columns."""
    obs = np.asarray(obs)
    k = max(1, min(int(n), len(obs)))
    idx = np.unique(np.round(np.linspace(0, len(obs) - 1, k)).astype(np.int64))
    frames = render_frames(obs[idx], kind, scale)
    h, w = frames.shape[1:3]
    out = np.full((h, len(idx) * (w + gap) - gap, 3), 255, np.uint8)
    for j, f in enumerate(frames):
        out[:, j * (w + gap): j * (w + gap) + w] = f
    return out
