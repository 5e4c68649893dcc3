"""workbench: an interactive workbench for offline reinforcement learning.

    import workbench as wb
    ds = wb.load_dataset("cartpole-replay")      # catalog, file path or Minari id
    rep = wb.diagnose(ds)                        # TQ, SACo, coverage, return statistics

The names below are the public API (DESIGN.md §3); submodules hold the details.
"""

from .data import Episode, EpisodeDataset, Space, load_dataset, save_dataset
from .data.catalog import (build_family, catalog_agent, catalog_frame, catalog_names,
                           load_catalog, reference_returns)
from .data.collect import collect
from .diagnostics import DiagnosticsReport, diagnose, diagnose_many, lsaco, saco, tq
from .ope import evaluate_ope, ope_selection_metrics
from .errors import (CollectionError, ConfigError, DatasetError, DiagnosticsError, OPEError,
                     TrainingError, WorkbenchError)

__version__ = "0.1.0"

__all__ = [
    # datasets
    "Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset", "collect",
    "catalog_names", "catalog_frame", "load_catalog", "build_family", "reference_returns",
    "catalog_agent",
    # diagnostics
    "tq", "saco", "lsaco", "diagnose", "diagnose_many", "DiagnosticsReport",
    # off-policy evaluation
    "evaluate_ope", "ope_selection_metrics",
    # errors
    "WorkbenchError", "DatasetError", "ConfigError", "CollectionError", "DiagnosticsError",
    "TrainingError", "OPEError",
]
