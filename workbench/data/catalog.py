"""Built-in catalog: small named datasets, built on first use and cached.

Families: ``cartpole`` and ``pendulum`` (vector observations) and ``breakout-minatar``
(MinAtar Breakout, image observations: (4, 10, 10) uint8 frames, a small-CNN DQN trained for
20k steps; its "expert" is whatever that agent reached, recorded as ``expert_return``; about
a minute to build on 2 CPU cores).

Each *family* is one environment with the five behaviour schemes of Schweighofer et al.
(``random``, ``replay``, ``expert``, ``noisy``, ``mixed``; see :mod:`workbench.data.collect`),
all from one online training run, so the names are ``<family>-<scheme>``, e.g.
``cartpole-mixed``.  A family is built as a whole the first time any of its datasets is
asked for, into::

    workbench_home()/catalog/<family>/
        family.json          manifest: seeds, settings, reference returns, package versions,
                             per-dataset fingerprint/episodes/transitions/mean return
        <scheme>.npz         the datasets (npz with the workbench metadata)
        expert.d3            the trained online agent (``d3rlpy.load_learnable``)
        .lock                ``fcntl.flock`` lock: concurrent builders wait, build once

Every file is written atomically and the manifest last, so a family counts as built only
when it is complete.  Building is deterministic: the same seeds give the same
``ds.fingerprint`` on the same machine.

Each dataset's metadata holds ``name``, ``family``, ``scheme``, ``env_id``,
``random_return`` and ``expert_return`` (the mean undiscounted episode returns of the
family's ``random`` and ``expert`` datasets: the TQ reference points).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DatasetError
from .collect import SCHEMES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .dataset import EpisodeDataset

__all__ = ["FamilySpec", "FAMILIES", "catalog_names", "catalog_frame", "load_catalog",
           "build_family", "reference_returns", "catalog_dir", "catalog_agent", "is_built"]

CATALOG_VERSION = 1


@dataclass(frozen=True)
class FamilySpec:
    """How one catalog family is built.

    Attributes:
        family: short name (prefix of the dataset names).
        env_id: gymnasium id.
        description: one line for listings.
        seed: seed of the online training run; scheme ``k`` is collected with
            ``seed * 100 + k`` (random 1, expert 2, noisy 3, mixed 4).
        online_steps: env steps of online training (= transitions of ``replay``).
        n_steps: transition budget of each of random/expert/noisy/mixed.
        n_envs: parallel environments.
        noise: ε (discrete) or Gaussian std fraction (continuous) of ``noisy``.
    """

    family: str
    env_id: str
    description: str
    online_steps: int
    n_steps: int
    seed: int = 0
    n_envs: int = 8
    noise: float = 0.2

    def scheme_seed(self, scheme: str) -> int:
        return self.seed if scheme == "replay" else self.seed * 100 + SCHEMES.index(scheme)


FAMILIES: dict[str, FamilySpec] = {
    "cartpole": FamilySpec(
        "cartpole", "CartPole-v1", "CartPole-v1 (discrete, 2 actions), DQN online agent",
        online_steps=20_000, n_steps=20_000),
    "pendulum": FamilySpec(
        "pendulum", "Pendulum-v1", "Pendulum-v1 (continuous, 1-D torque), SAC online agent",
        online_steps=10_000, n_steps=10_000),
    "breakout-minatar": FamilySpec(
        "breakout-minatar", "MinAtar/Breakout-v1",
        "MinAtar Breakout (images: 4x10x10 uint8 frames, 3 actions), small-CNN DQN online agent",
        online_steps=20_000, n_steps=10_000),
}

SCHEME_DESCRIPTIONS = {
    "random": "uniform random actions",
    "replay": "every transition seen while training the online agent",
    "expert": "the final online policy, greedy",
    "noisy": "the final policy with noise (ε = 0.2 / Gaussian std 0.2 × half range)",
    "mixed": "80 % random and 20 % expert transitions (whole episodes)",
}


# ====================================================================== names and paths
def catalog_names() -> list[str]:
    """All catalog dataset names, ``<family>-<scheme>``, e.g. ``"cartpole-mixed"``."""
    return [f"{f}-{s}" for f in FAMILIES for s in SCHEMES]


def _split(name: str) -> tuple[FamilySpec, str | None]:
    """``"cartpole-mixed"`` → (spec, "mixed"); ``"cartpole"`` → (spec, None)."""
    text = str(name).strip().lower()
    if text in FAMILIES:
        return FAMILIES[text], None
    fam, _, scheme = text.rpartition("-")
    if fam in FAMILIES and scheme in SCHEMES:
        return FAMILIES[fam], scheme
    raise DatasetError("is not a catalog dataset or family", source=name,
                       fix="use one of " + ", ".join(catalog_names()) + " (families: "
                       + ", ".join(FAMILIES) + ")")


def catalog_dir(family: str) -> Path:
    """``workbench_home()/catalog/<family>`` (not created)."""
    from .._paths import workbench_home

    spec, _ = _split(family)
    return workbench_home() / "catalog" / spec.family


def _manifest_path(family: str) -> Path:
    return catalog_dir(family) / "family.json"


def _read_manifest(family: str) -> dict[str, Any] | None:
    """The manifest when the family is completely built, else ``None``."""
    path = _manifest_path(family)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("catalog_version") != CATALOG_VERSION:
        return None
    d = path.parent
    if not all((d / info["file"]).exists() for info in manifest.get("datasets", {}).values()):
        return None
    if set(manifest.get("datasets", {})) != set(SCHEMES):
        return None
    return manifest


def is_built(name_or_family: str) -> bool:
    """Whether the family of a catalog name is built and complete in the cache."""
    spec, _ = _split(name_or_family)
    return _read_manifest(spec.family) is not None


# ====================================================================== building
def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("numpy", "torch", "d3rlpy", "gymnasium", "mujoco", "scipy", "minatar", "ale-py"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "missing"
    return out


def build_family(family: str, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Build (or find) all five datasets of a family; returns its manifest.

    Trains the family's online agent (DQN/SAC, cached under ``workbench_home()/agents``),
    then collects random/expert/noisy/mixed with it and takes ``replay`` from the training
    run.  Concurrent callers (threads or processes) serialise on a lock file; the second
    finds the family built.

    Args:
        family: family name (``"cartpole"``, ``"pendulum"``, ``"breakout-minatar"``) or any of
            its dataset names.
        progress: show progress bars.
        force: rebuild even when the family is already built.

    Returns:
        the manifest (also written to ``family.json``): ``family``, ``env_id``, ``seeds``,
        ``settings``, ``random_return``, ``expert_return``, ``versions``, ``build_seconds``
        and ``datasets`` (per scheme: ``file``, ``fingerprint``, ``episodes``,
        ``transitions``, ``mean_return``).

    Raises:
        DatasetError: unknown family.
        CollectionError, ConfigError: collection failed.
    """
    from .atomic import atomic_file, file_lock
    from .collect import collect, online_agent

    spec, _ = _split(family)
    d = catalog_dir(spec.family)
    if not force:
        manifest = _read_manifest(spec.family)
        if manifest is not None:
            return manifest
    d.mkdir(parents=True, exist_ok=True)
    with file_lock(d / ".lock"):
        if not force:
            manifest = _read_manifest(spec.family)
            if manifest is not None:  # built by someone else while we waited
                return manifest
        t0 = time.perf_counter()
        algo, replay = online_agent(spec.env_id, spec.online_steps, spec.seed,
                                    n_envs=spec.n_envs, progress=progress)
        t_train = time.perf_counter() - t0
        datasets = {"replay": replay}  # the training run's own transitions
        for scheme in SCHEMES:
            if scheme != "replay":
                datasets[scheme] = collect(spec.env_id, scheme, spec.n_steps,
                                           spec.scheme_seed(scheme), n_envs=spec.n_envs,
                                           agent=algo, noise=spec.noise, progress=progress)
        random_return = float(datasets["random"].episode_returns().mean())
        expert_return = float(datasets["expert"].episode_returns().mean())
        entries = {}
        for scheme in SCHEMES:
            ds = datasets[scheme].with_metadata(
                name=f"{spec.family}-{scheme}", family=spec.family, scheme=scheme,
                env_id=spec.env_id, seed=spec.scheme_seed(scheme), random_return=random_return,
                expert_return=expert_return, source=f"catalog:{spec.family}-{scheme}",
                description=SCHEME_DESCRIPTIONS[scheme])
            ds.save(d / f"{scheme}.npz", format="npz")
            entries[scheme] = {"file": f"{scheme}.npz", "fingerprint": ds.fingerprint,
                               "episodes": ds.n_episodes, "transitions": ds.n_transitions,
                               "mean_return": float(ds.episode_returns().mean())}
        with atomic_file(d / "expert.d3") as tmp:
            algo.save(str(tmp))
        manifest = {
            "catalog_version": CATALOG_VERSION, "family": spec.family, "env_id": spec.env_id,
            "description": spec.description,
            "seeds": {s: spec.scheme_seed(s) for s in SCHEMES},
            "settings": asdict(spec), "agent": type(algo).__name__, "agent_file": "expert.d3",
            "random_return": random_return, "expert_return": expert_return,
            "versions": _versions(), "build_seconds": round(time.perf_counter() - t0, 2),
            "train_seconds": round(t_train, 2), "datasets": entries,
        }
        with atomic_file(_manifest_path(spec.family)) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
        return manifest


# ====================================================================== loading
def load_catalog(name: str, progress: bool = True) -> EpisodeDataset:
    """Load a catalog dataset by name, building its family on first use.

    Args:
        name: e.g. ``"cartpole-random"``, ``"pendulum-mixed"`` (see :func:`catalog_names`).
        progress: show progress bars while building.

    Raises:
        DatasetError: unknown name, or the cached file is unreadable (delete
            ``catalog_dir(family)`` to rebuild).
    """
    from .io import load_dataset

    spec, scheme = _split(name)
    if scheme is None:
        raise DatasetError("names a catalog family, not a dataset", source=name,
                           fix="add a scheme, e.g. " + f"{spec.family}-mixed")
    manifest = build_family(spec.family, progress=progress)
    path = catalog_dir(spec.family) / manifest["datasets"][scheme]["file"]
    return load_dataset(path)


def reference_returns(name_or_family: str, progress: bool = True) -> tuple[float, float]:
    """``(random_return, expert_return)`` of a family: mean undiscounted episode returns of
    its ``random`` and ``expert`` datasets (builds the family if needed).

    Raises:
        DatasetError: unknown name.
    """
    spec, _ = _split(name_or_family)
    m = build_family(spec.family, progress=progress)
    return float(m["random_return"]), float(m["expert_return"])


def catalog_agent(family: str, progress: bool = True) -> Any:
    """The family's trained online agent (a d3rlpy DQN/SAC), building the family if needed."""
    from .._d3rlpy import d3rlpy

    spec, _ = _split(family)
    m = build_family(spec.family, progress=progress)
    return d3rlpy.load_learnable(str(catalog_dir(spec.family) / m["agent_file"]), device="cpu:0")


def catalog_frame() -> pd.DataFrame:
    """One row per catalog dataset, without building anything.

    Columns: ``name``, ``family``, ``env_id``, ``scheme``, ``description``, ``built``
    (bool), and, for built families (else NaN/None): ``episodes``, ``transitions``,
    ``mean_return``, ``random_return``, ``expert_return``, ``path``.
    """
    import pandas as pd

    rows = []
    for fam, spec in FAMILIES.items():
        m = _read_manifest(fam)
        for scheme in SCHEMES:
            row: dict[str, Any] = {"name": f"{fam}-{scheme}", "family": fam,
                                   "env_id": spec.env_id, "scheme": scheme,
                                   "description": f"{spec.env_id}: {SCHEME_DESCRIPTIONS[scheme]}",
                                   "built": m is not None}
            info = m["datasets"][scheme] if m else {}
            row["episodes"] = info.get("episodes")
            row["transitions"] = info.get("transitions")
            row["mean_return"] = info.get("mean_return")
            row["random_return"] = m["random_return"] if m else None
            row["expert_return"] = m["expert_return"] if m else None
            row["path"] = str(catalog_dir(fam) / info["file"]) if m else None
            rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("episodes", "transitions"):
        df[col] = df[col].astype("Int64")
    for col in ("mean_return", "random_return", "expert_return"):
        df[col] = df[col].astype(float)
    return df
