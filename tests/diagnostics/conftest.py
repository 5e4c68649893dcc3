"""Hand-made datasets whose diagnostics can be counted by hand."""

from __future__ import annotations

import pytest

from _factory import episodes_dataset


@pytest.fixture
def hand_reference():
    """States 0,1,2,3,4 (1-D) with actions 0,1,0,1,0: bins=5 puts each in its own bin."""
    return episodes_dataset([([0, 1, 2, 3, 4, 4], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1],
                              "terminated")], n_actions=2, name="ref")


@pytest.fixture
def hand_dataset():
    """States 0.5, 0.7, 2.5, 2.5, 9 with actions 0, 0, 1, 1, 0 (9 is above the limits)."""
    return episodes_dataset([([0.5, 0.7, 2.5], [0, 0], [1, 0], "terminated"),
                             ([2.5, 2.5, 9, 9], [1, 1, 0], [0, 0, 3], "truncated")],
                            n_actions=2, name="hand")
