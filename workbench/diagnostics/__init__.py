"""Dataset diagnostics: how exploitative (TQ) and exploratory (SACo) the behaviour was.

Follows Schweighofer et al., "A Dataset Perspective on Offline Reinforcement Learning"
(CoLLAs 2022), with exact counts, plus return, length, reward and action statistics and
the positive-sided return variance of Hong et al. (ICLR 2023).

    import workbench as wb
    rep = wb.diagnose(ds, reference=replay)       # rep.tq, rep.saco, rep.to_frame()
    wb.diagnose_many({"random": r, "expert": e}, reference=replay)   # one tidy DataFrame

Modules: :mod:`.returns` (TQ, return/length/reward statistics), :mod:`.coverage` (exact
unique counts, SACo, lSACo), :mod:`.policy` (action distribution, behaviour-policy
entropy), :mod:`.report` (``diagnose``, ``DiagnosticsReport``, ``diagnose_many``),
:mod:`.projection` (a seeded state sample and its principal components),
:mod:`.cli` (``workbench diagnose``).  Nothing here imports the UI.
"""

from .coverage import CoverageCounts, Limits, coverage_counts, lsaco, reference_counts, saco
from .policy import action_stats, behavior_entropy
from .projection import principal_components, sample_indices, state_sample
from .report import DiagnosticsReport, diagnose, diagnose_many
from .returns import (
    episode_frame,
    length_stats,
    positive_sided_variance,
    return_stats,
    reward_stats,
    tq,
)

__all__ = [
    "tq", "saco", "lsaco", "diagnose", "diagnose_many", "DiagnosticsReport",
    "coverage_counts", "reference_counts", "CoverageCounts", "Limits",
    "return_stats", "length_stats", "reward_stats", "positive_sided_variance", "episode_frame",
    "action_stats", "behavior_entropy", "state_sample", "principal_components", "sample_indices",
]
