"""Datasets: the canonical :class:`EpisodeDataset`, readers/writers, collection, catalog."""

from .dataset import Episode, EpisodeDataset
from .io import load_dataset, save_dataset
from .space import Space

__all__ = ["Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset"]
