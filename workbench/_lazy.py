"""Questions about heavy optional modules, answered without importing them."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["is_d3rlpy_algo", "is_transformer_policy"]


def is_d3rlpy_algo(obj: Any) -> bool:
    """Whether ``obj`` is a d3rlpy algorithm (``LearnableBase``).

    d3rlpy is not imported when it is not loaded yet (no d3rlpy object can exist before
    it is), and when it is, it is imported quietly (``workbench._d3rlpy``: no gym banner).
    """
    if "d3rlpy" not in sys.modules:
        return False
    from ._d3rlpy import d3rlpy  # noqa: F401  (quiet: before any other d3rlpy import)

    # isort: split
    from d3rlpy.base import LearnableBase

    return isinstance(obj, LearnableBase)


def is_transformer_policy(obj: Any) -> bool:
    """Whether ``obj`` is a d3rlpy transformer algorithm (``TransformerAlgoBase``: a decision
    transformer) or its ``StatefulTransformerWrapper`` (without importing d3rlpy when it is
    not loaded)."""
    if "d3rlpy" not in sys.modules:
        return False
    from ._d3rlpy import d3rlpy  # noqa: F401  (quiet: before any other d3rlpy import)

    # isort: split
    from d3rlpy.algos import StatefulTransformerWrapper, TransformerAlgoBase

    return isinstance(obj, (TransformerAlgoBase, StatefulTransformerWrapper))
