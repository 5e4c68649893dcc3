"""Import d3rlpy quietly.

d3rlpy 2.8.1 imports the unmaintained ``gym`` package, which prints a banner on
stderr, and logs INFO lines through structlog.  Import it through this module
(``from workbench._d3rlpy import d3rlpy``) so neither reaches the user.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings

__all__ = ["d3rlpy", "quiet_d3rlpy"]


def _import_quietly():
    if "d3rlpy" in sys.modules:
        return sys.modules["d3rlpy"]
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import d3rlpy as _d3rlpy
        import gym  # noqa: F401  (prints the banner we swallow)
    return _d3rlpy


def quiet_d3rlpy() -> None:
    """Silence d3rlpy's structlog INFO/DEBUG output (warnings and errors still show)."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


d3rlpy = _import_quietly()
quiet_d3rlpy()
