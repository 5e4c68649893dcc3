"""Datasets: the canonical :class:`EpisodeDataset`, readers/writers, collection, catalog.

In data-flow order:

* :mod:`.collect`: gymnasium env + behaviour scheme → episodes (a package: envs,
  behaviors, rollout, agent, schemes);
* :mod:`.io`: files in one of the formats (one module each) ↔ datasets;
  :mod:`.segment` turns the flat per-step arrays of D4RL-style files into episodes;
* :mod:`.dataset`: :class:`EpisodeDataset`, aligned episodes (T + 1 observations each),
  with its :class:`Space` (:mod:`.space`);
* :mod:`.validate`: every check on dataset arrays, in one place;
* :mod:`.catalog`: the built-in datasets, collected on first use and cached;
* :mod:`.atomic`: atomic writes and the lock file concurrent builders share.
"""

from .dataset import Episode, EpisodeDataset
from .io import load_dataset, save_dataset
from .space import Space

__all__ = ["Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset"]
