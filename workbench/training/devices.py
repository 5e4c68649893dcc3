"""Device strings: validate them without importing torch where that is possible.

``"auto"`` is resolved by the worker (:func:`resolve_device`) unless torch is already
imported, so :func:`workbench.train` does not pay torch's import (seconds) in the caller's
thread.  Explicit CUDA requests (``"cuda"``, ``"cuda:N"``) are checked at once, importing
torch, so that a machine without that GPU gives its :class:`ConfigError` before any work.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError

__all__ = ["check_device", "resolve_device"]


def check_device(device: str, *, defer_auto: bool = False) -> str:
    """Normalise a device string: ``"auto"`` → ``"cuda:0"`` when CUDA is available else
    ``"cpu:0"``; ``"cpu"`` → ``"cpu:0"``; ``"cuda"``, ``"cuda:N"`` checked against this
    machine.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cpu:0"``, ``"cuda"`` or ``"cuda:N"`` (any case).
        defer_auto: return ``"auto"`` unresolved when torch is not imported yet (the worker
            resolves it with :func:`resolve_device`); without it, ``"auto"`` imports torch.

    Raises:
        ConfigError: unknown device, or CUDA requested where none is available.
    """
    if not isinstance(device, str):
        raise ConfigError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got "
                          f"{device!r}")
    d = device.strip().lower()
    if d == "auto":
        if defer_auto and "torch" not in sys.modules:
            return "auto"
        return resolve_device("auto")
    if d in ("cpu", "cpu:0"):
        return "cpu:0"
    if d == "cuda" or d.startswith("cuda:"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r}: CUDA is not available on this machine; use "
                              "device='auto' or 'cpu'")
        idx = 0 if d == "cuda" else d[5:]
        if not str(idx).isdigit() or int(idx) >= torch.cuda.device_count():
            raise ConfigError(f"device={device!r}: this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s): cuda:0..cuda:{torch.cuda.device_count() - 1}")
        return f"cuda:{int(idx)}"
    raise ConfigError(f"unknown device {device!r}; valid: 'auto', 'cpu', 'cuda', 'cuda:N'")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda:0"`` when torch sees a GPU, else ``"cpu:0"`` (imports torch);
    any other (already checked) device string is returned as is."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu:0"
