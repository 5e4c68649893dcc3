"""Checkpoints of a run: where they live, when they are due, writing and finding them.

A checkpoint is ``<run dir>/checkpoints/step_<step, 9 digits>/`` holding ``model.d3``
(d3rlpy ``algo.save``: config, networks, optimisers) and ``state.pt`` (step, d3rlpy's
gradient step, the sampler's generator state and the torch, NumPy and Python RNG states).
It is written to a temporary directory and renamed into place, so a killed writer never
leaves a half checkpoint.

When: :class:`CheckpointSchedule`, at logging steps only (so a resumed run stays aligned
with its logging intervals and, in process mode, continues bit for bit): every
``checkpoint_every`` steps, and also at the first logging step at least
``checkpoint_seconds`` after the previous checkpoint (or the start of the attempt),
whichever comes first.  The wall-time trigger is what saves a long run killed early:
a 200k-step run checkpoints by steps only every 20k steps.

Only :func:`save_checkpoint` needs torch, and imports it when called.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

__all__ = ["CheckpointSchedule", "checkpoint_dir", "save_checkpoint", "latest_checkpoint",
           "prune_checkpoints"]


class CheckpointSchedule:
    """Decides at each logging step whether a checkpoint is due.

    Args:
        every: steps between checkpoints (0 = no step trigger).
        seconds: wall-clock seconds between checkpoints (0 = no time trigger).
        n_steps: the run's total; no checkpoint at (or after) the last step, where the
            final model is written instead.
        now: the start time (``time.monotonic()`` seconds; default: now).
    """

    def __init__(self, every: int, seconds: float, n_steps: int,
                 now: float | None = None) -> None:
        self.every = int(every)
        self.seconds = float(seconds)
        self.n_steps = int(n_steps)
        self.last = time.monotonic() if now is None else float(now)

    def due(self, step: int, now: float | None = None) -> bool:
        """Whether to checkpoint at logging step ``step`` (``now``: monotonic seconds)."""
        if step >= self.n_steps:
            return False
        if self.every and step % self.every == 0:
            return True
        now = time.monotonic() if now is None else now
        return bool(self.seconds) and now - self.last >= self.seconds

    def done(self, now: float | None = None) -> None:
        """A checkpoint was written: the time trigger counts from now."""
        self.last = time.monotonic() if now is None else float(now)


def _ckpt_root(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """The directory of the checkpoint at ``step`` of the run in ``run_dir``."""
    return _ckpt_root(Path(run_dir)) / f"step_{int(step):09d}"


def save_checkpoint(algo: Any, buffer: Any, run_dir: Path, step: int) -> Path:
    """Write ``checkpoints/step_<step>/`` atomically (temp dir + fsync + rename); returns it."""
    import numpy as np
    import torch

    from ..data.atomic import atomic_dir

    target = checkpoint_dir(run_dir, step)
    with atomic_dir(target) as tmp:
        algo.save(str(tmp / "model.d3"))
        state = {"step": int(step), "grad_step": int(algo.grad_step),
                 "sampler": buffer.get_state(), "torch_rng": torch.get_rng_state(),
                 "numpy_rng": np.random.get_state(), "python_rng": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        tokens = getattr(algo.impl, "_tokens", None)
        if tokens is not None:  # DiscreteDecisionTransformer's learning-rate schedule
            state["tokens"] = int(tokens)
        torch.save(state, tmp / "state.pt")
        for f in tmp.iterdir():  # flush before the rename makes it visible
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    return target


def latest_checkpoint(run_dir: str | os.PathLike) -> tuple[int, Path] | None:
    """``(step, directory)`` of the newest complete checkpoint, or ``None``."""
    root = _ckpt_root(Path(run_dir))
    if not root.is_dir():
        return None
    found = []
    for p in root.iterdir():
        if p.name.startswith("step_") and (p / "state.pt").exists() and (p / "model.d3").exists():
            try:
                found.append((int(p.name[5:]), p))
            except ValueError:
                continue
    return max(found) if found else None


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> list[int]:
    """Delete all but the newest ``keep`` checkpoints (and leftovers of killed writers);
    returns the steps deleted."""
    root = _ckpt_root(Path(run_dir))
    steps = sorted(int(p.name[5:]) for p in root.iterdir() if p.name.startswith("step_")
                   and p.name[5:].isdigit())
    gone = steps[:-keep] if keep > 0 else []
    for s in gone:
        shutil.rmtree(root / f"step_{s:09d}", ignore_errors=True)
    for p in root.iterdir():  # leftovers of a killed writer
        if p.name.startswith(".") and ".tmp-" in p.name:
            shutil.rmtree(p, ignore_errors=True)
    return gone
