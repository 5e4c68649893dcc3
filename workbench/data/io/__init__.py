"""Readers and writers, one module per format, behind two functions.

``load_dataset(source)`` detects the format from the path (suffix, directory
layout, then file signature); ``save_dataset(ds, path, format)`` writes through
:mod:`workbench.data.atomic` so an interrupted write never leaves a half file.

Every reader turns *any* failure into a :class:`~workbench.errors.DatasetError`
naming the file: a corrupt or truncated file must never surface as an h5py,
zipfile or pyarrow traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DatasetError
from ..dataset import EpisodeDataset

__all__ = ["load_dataset", "save_dataset", "detect_format", "FORMATS", "WRITE_FORMATS"]

#: format name -> (module of this package, function) that reads / writes it
_READERS = {"minari": ("minari", "read"), "d4rl": ("d4rl", "read"), "d3rlpy": ("d3rlpy_io", "read"),
            "npz": ("npz", "read"), "parquet": ("tabular", "read_parquet"),
            "csv": ("tabular", "read_csv")}
_WRITERS = {"minari": ("minari", "write"), "d4rl": ("d4rl", "write"), "npz": ("npz", "write"),
            "parquet": ("tabular", "write_parquet")}
#: The formats :func:`load_dataset` reads, and those :func:`save_dataset` writes.
FORMATS = tuple(_READERS)
WRITE_FORMATS = tuple(_WRITERS)
_SUFFIX = {".hdf5": "hdf5", ".h5": "hdf5", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet",
           ".csv": "csv"}
_MAGIC = {b"\x89HDF\r\n\x1a\n": "hdf5", b"PK\x03\x04": "npz", b"PAR1": "parquet"}


def _load(table: dict, fmt: str):
    import importlib

    module, func = table[fmt]
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def _reader(fmt: str):
    return _load(_READERS, fmt)


def _writer(fmt: str):
    return _load(_WRITERS, fmt)


def _sniff_hdf5(path: Path) -> str:
    """Tell d3rlpy dumps, Minari episode files and D4RL files apart by their keys."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
    except Exception as exc:
        raise DatasetError(f"is not a readable HDF5 file ({type(exc).__name__}: {exc})",
                           source=path, fix="the file may be truncated or corrupt; re-create or "
                           "re-download it") from None
    if {"columns", "num_episodes", "version"} <= keys:
        return "d3rlpy"
    if "observations" in keys:
        return "d4rl"
    if any(k.startswith("episode_") for k in keys):
        return "minari"
    raise DatasetError(f"is HDF5 but holds neither D4RL keys ('observations', 'actions', "
                       f"'rewards', 'terminals', 'timeouts'), Minari episode groups nor a d3rlpy "
                       f"dump; found keys {sorted(keys)[:10]}", source=path,
                       field="observations", fix="rename the arrays to the D4RL keys")


def detect_format(path: str | os.PathLike) -> str:
    """The format of a dataset file or directory: one of :data:`FORMATS`.

    Raises:
        DatasetError: the path does not exist or its format is not recognised.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "data" / "main_data.hdf5").exists() or (path / "main_data.hdf5").exists():
            return "minari"
        raise DatasetError("is a directory but not a Minari dataset (no data/main_data.hdf5)",
                           source=path, fix="point at a Minari dataset directory or a file")
    if not path.exists():
        raise DatasetError("does not exist", source=path,
                           fix="check the path, or use a catalog name (workbench.catalog_names())")
    kind = _SUFFIX.get(path.suffix.lower())
    if kind is None:
        with open(path, "rb") as fh:
            head = fh.read(8)
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        raise DatasetError(f"has an unknown format (suffix {path.suffix!r})", source=path,
                           fix="use one of: Minari directory, .hdf5/.h5 (D4RL or d3rlpy), .npz, "
                           ".parquet or .csv")
    return _sniff_hdf5(path) if kind == "hdf5" else kind


def _minari_root() -> Path:
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env) if env else Path.home() / ".minari" / "datasets"


def load_dataset(source: str | os.PathLike | EpisodeDataset, *, format: str | None = None,
                 progress: bool = True) -> EpisodeDataset:
    """Load a dataset from a path, a catalog name or a Minari dataset id.

    Args:
        source: a Minari dataset directory, a D4RL ``.hdf5``, a d3rlpy ``.h5`` dump, an
            ``.npz``, a ``.parquet``/``.csv`` table, a catalog name such as
            ``"cartpole-mixed"`` (built into ``$WORKBENCH_HOME`` on first use), or a
            Minari dataset id found under ``$MINARI_DATASETS_PATH`` (default
            ``~/.minari/datasets``).  An ``EpisodeDataset`` is returned as is.
        format: force a format (one of ``FORMATS``) instead of detecting it.
        progress: show a progress bar when a catalog dataset has to be built.

    Returns:
        The dataset, with ``metadata["source"]`` set.

    Raises:
        DatasetError: missing file, unknown format, or any problem with the content
            (the message names the file, the field and a fix).
    """
    if isinstance(source, EpisodeDataset):
        return source
    text = os.fspath(source)
    path = Path(text).expanduser()
    if not path.exists() and format is None:
        from .. import catalog

        if text in catalog.catalog_names():
            return catalog.load_catalog(text, progress=progress)
        minari_dir = _minari_root() / text
        if path.suffix.lower() in _SUFFIX:
            raise DatasetError("does not exist", source=text,
                               fix="check the path and the working directory")
        if (minari_dir / "data" / "main_data.hdf5").exists():
            path = minari_dir
        else:
            raise DatasetError(
                "is neither an existing path, a catalog name nor a Minari dataset id under "
                f"{_minari_root()}", source=text,
                fix="check the path; catalog names are " + ", ".join(catalog.catalog_names()))
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}", source=path, fix=f"use one of {FORMATS}")
    try:
        ds = _reader(fmt)(path)
    except DatasetError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # corrupt files: never leak a library traceback
        raise DatasetError(f"could not be read as {fmt} ({type(exc).__name__}: {exc})",
                           source=path, fix="the file may be truncated or corrupt; re-create or "
                           "re-download it") from None
    env_id = ds.metadata.get("env_id")
    if isinstance(env_id, str) and env_id.startswith(("ALE/", "MinAtar/")):
        from ..collect.envs import register_image_envs

        register_image_envs(env_id)  # so gymnasium knows the dataset's env (wb.train(env=...))
    return ds


def save_dataset(ds: EpisodeDataset, path: str | os.PathLike, format: str | None = None) -> Path:
    """Write ``ds`` atomically in ``format`` (inferred from the suffix when ``None``).

    Suffixes: ``.npz`` → npz, ``.hdf5``/``.h5`` → d4rl, ``.parquet`` → parquet, no
    suffix → a Minari dataset directory.  Returns the written path.

    Raises:
        DatasetError: unknown or unwritable format.
    """
    path = Path(path).expanduser()
    if format is None:
        format = {"npz": "npz", "hdf5": "d4rl", "parquet": "parquet", "csv": "csv"}.get(
            _SUFFIX.get(path.suffix.lower(), ""), "minari" if not path.suffix else None)
    if format not in WRITE_FORMATS:
        raise DatasetError(f"cannot write format {format!r}", source=path,
                           fix=f"use one of {WRITE_FORMATS}")
    _writer(format)(ds, path)
    return path
