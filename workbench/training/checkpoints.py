"""Checkpoints of a run: where they live, writing and finding them.

A checkpoint is ``<run dir>/checkpoints/step_<step, 9 digits>/`` holding ``model.d3``
(d3rlpy ``algo.save``: config, networks, optimisers) and ``state.pt`` (step, d3rlpy's
gradient step, the sampler's generator state and the torch, NumPy and Python RNG states).
It is written to a temporary directory and renamed into place, so a killed writer never
leaves a half checkpoint.

Only :func:`save_checkpoint` needs torch, and imports it when called.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

__all__ = ["checkpoint_dir", "save_checkpoint", "latest_checkpoint",
           "prune_checkpoints"]


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
