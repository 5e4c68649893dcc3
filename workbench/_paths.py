"""Where the workbench keeps its files (catalog cache, trained agents, run store)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["workbench_home"]


def workbench_home() -> Path:
    """The workbench's home directory, created if needed.

    ``$WORKBENCH_HOME`` when set, else the user's cache directory
    (``~/.cache/workbench`` on Linux, via :mod:`platformdirs`).
    """
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        import platformdirs

        home = Path(platformdirs.user_cache_dir("workbench", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home
