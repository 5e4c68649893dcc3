"""workbench: an interactive workbench for offline reinforcement learning.

    import workbench as wb
    ds = wb.load_dataset("cartpole-replay")
"""

from .data import Episode, EpisodeDataset, Space, load_dataset, save_dataset
from .errors import (CollectionError, ConfigError, DatasetError, DiagnosticsError, OPEError,
                     TrainingError, WorkbenchError)

__version__ = "0.1.0"

__all__ = [
    "Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset",
    "WorkbenchError", "DatasetError", "ConfigError", "CollectionError", "DiagnosticsError",
    "TrainingError", "OPEError",
]
