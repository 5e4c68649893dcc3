"""workbench: an interactive workbench for offline reinforcement learning.

    import workbench as wb
    ds = wb.load_dataset("cartpole-replay")      # catalog, file path or Minari id
    rep = wb.diagnose(ds)                        # TQ, SACo, coverage, return statistics
    job = wb.train(ds, algo="cql", n_steps=5_000) # returns at once; job.wait()
    wb.evaluate_ope(ds, {"cql": job})             # FQE, IS family, DR, with intervals
    sw = wb.sweep(ds, algos=["cql", "bc"], seeds=range(3), executor="ray")
    wb.compare(sw.wait())                         # AdaStop: are they different?

The names below are the public API (DESIGN.md §3); submodules hold the details.
Training, tracking and the dashboard load torch/d3rlpy/Panel on first use, so
``import workbench`` stays fast.
"""

from importlib import import_module
from typing import Any

from .data import Episode, EpisodeDataset, Space, load_dataset, save_dataset
from .data.catalog import (
    build_family,
    catalog_agent,
    catalog_frame,
    catalog_names,
    load_catalog,
    reference_returns,
)
from .data.collect import collect
from .diagnostics import DiagnosticsReport, diagnose, diagnose_many, lsaco, saco, tq
from .errors import (
    CollectionError,
    ConfigError,
    DatasetError,
    DiagnosticsError,
    OPEError,
    TrainingError,
    WorkbenchError,
)
from .ope import evaluate_ope, ope_selection_metrics

__version__ = "0.1.0"

#: public names imported on first use: name -> module
_LAZY = {
    **{n: ".training" for n in ("train", "resume", "sweep", "Sweep", "algorithms", "TrainingJob",
                                "metric_stream", "training_health", "load_run", "init_ray",
                                "shutdown_ray", "SeedBudget")},
    **{n: ".stats" for n in ("compare",)},
    **{n: ".tracking" for n in ("runs", "RunStore")},
    **{n: ".ui" for n in ("Workbench", "serve")},
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name == "ui":
        return import_module(".ui", __name__)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"ui"})


__all__ = [
    # datasets
    "Episode", "EpisodeDataset", "Space", "load_dataset", "save_dataset", "collect",
    "catalog_names", "catalog_frame", "load_catalog", "build_family", "reference_returns",
    "catalog_agent",
    # diagnostics
    "tq", "saco", "lsaco", "diagnose", "diagnose_many", "DiagnosticsReport",
    # training and tracking
    "train", "resume", "sweep", "Sweep", "algorithms", "TrainingJob", "metric_stream",
    "training_health", "runs", "load_run", "RunStore", "init_ray", "shutdown_ray", "SeedBudget",
    # statistics across seeds
    "compare",
    # off-policy evaluation
    "evaluate_ope", "ope_selection_metrics",
    # dashboard
    "Workbench", "serve",
    # errors
    "WorkbenchError", "DatasetError", "ConfigError", "CollectionError", "DiagnosticsError",
    "TrainingError", "OPEError",
]
