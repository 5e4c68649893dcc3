"""User interface: pure plot functions (``plots``) and the Panel dashboard.

    import workbench.ui as ui
    ui.Workbench()                 # the whole dashboard in a notebook cell
    ui.TrainingPanel(job)          # one page alone: DatasetsPanel, DiagnosticsPanel,
                                   # TrainingPanel, OPEPanel, RunsPanel
    ui.serve(port=5006)            # same as `workbench serve`

The pages format and draw; what they compute comes from the core packages a notebook
calls too (``stats.curves_across_seeds``, ``diagnostics.principal_components``,
``tracking.runs``).  Pure plots are in :mod:`.plots`, live ones in :mod:`.live`;
:mod:`.curves` says where each learning curve is drawn.

Importing this package is cheap; Panel and HoloViews load when a name below is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Workbench", "create_app", "serve", "DatasetsPanel", "DiagnosticsPanel",
           "TrainingPanel", "OPEPanel", "RunsPanel", "WorkbenchState", "plots"]

_WHERE = {"Workbench": "app", "create_app": "app", "serve": "app",
          "DatasetsPanel": "datasets", "DiagnosticsPanel": "diagnostics",
          "TrainingPanel": "training", "OPEPanel": "ope", "RunsPanel": "runs",
          "WorkbenchState": "state"}


def __getattr__(name: str) -> Any:
    if name == "plots":
        return import_module(".plots", __name__)
    if name in _WHERE:
        if name != "WorkbenchState":
            from .app import _panel

            _panel()  # the extensions, JavaScript inlined, before any widget exists
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
