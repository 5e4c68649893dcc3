"""Datasets: the canonical :class:`EpisodeDataset`, readers/writers, collection, catalog."""

from .dataset import Episode, EpisodeDataset, Space
from .io import load_dataset, save_dataset

__all__ = ["Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset"]
