"""The Panel dashboard, shown in a notebook (``wb.Workbench()``) or served (``workbench serve``).

This first version is the Datasets page: the built-in catalog, built on first use,
with a summary of the chosen dataset.  The UI holds no computation: it calls the
same helper functions a notebook user calls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["create_app", "serve", "Workbench"]


def _panel():
    import panel as pn

    pn.extension("tabulator", inline=True, notifications=True)
    return pn


class DatasetsPage:
    """Pick a catalog dataset (built into ``$WORKBENCH_HOME`` on first use) and read its summary."""

    def __init__(self, dataset_roots: Sequence[str | os.PathLike] = ()) -> None:
        pn = _panel()
        from ..data import catalog

        self.dataset_roots = [Path(r).resolve() for r in dataset_roots]
        self.catalog = pn.widgets.Tabulator(catalog.catalog_frame(), disabled=True,
                                            show_index=False, sizing_mode="stretch_width")
        self.choice = pn.widgets.Select(label="Dataset", options=catalog.catalog_names())
        self.load_button = pn.widgets.Button(label="Load", color="primary")
        self.status = pn.pane.Alert("Pick a dataset and press Load (catalog datasets are built "
                                    "on first use, about a minute for a family).",
                                    alert_type="info")
        self.summary = pn.pane.DataFrame(None, sizing_mode="stretch_width")
        self.load_button.on_click(self._on_load)
        self.dataset = None

    def _on_load(self, _event: Any = None) -> None:
        from ..data.io import load_dataset
        from ..errors import WorkbenchError

        name = self.choice.value
        self.load_button.loading = True
        self.status.object, self.status.alert_type = f"Loading {name} ...", "info"
        try:
            self.dataset = load_dataset(name, progress=False)
        except WorkbenchError as exc:
            self.status.object, self.status.alert_type = str(exc), "danger"
            return
        finally:
            self.load_button.loading = False
        import pandas as pd
        from ..data import catalog

        s = self.dataset.summary()
        self.summary.object = pd.DataFrame({"value": [str(v) for v in s.values()]},
                                           index=list(s.keys()))
        self.catalog.value = catalog.catalog_frame()
        self.status.object, self.status.alert_type = f"Loaded {name}.", "success"

    def __panel__(self):
        pn = _panel()
        return pn.Column("## Datasets", self.catalog,
                         pn.Row(self.choice, self.load_button), self.status, self.summary,
                         sizing_mode="stretch_width")


def create_app(dataset_roots: Sequence[str | os.PathLike] = ()) -> Any:
    """Build the dashboard (a Panel template) for one browser session."""
    pn = _panel()
    page = DatasetsPage(dataset_roots)
    template = pn.template.FastListTemplate(title="workbench — offline RL",
                                            sidebar=[pn.pane.Markdown(
                                                "**Datasets** · diagnostics, training and OPE "
                                                "pages arrive with their issues.")],
                                            main=[pn.panel(page)])
    return template


class Workbench:
    """The dashboard object for a notebook cell: ``wb.Workbench()`` displays it inline."""

    def __init__(self, dataset_roots: Sequence[str | os.PathLike] = ()) -> None:
        self.dataset_roots = list(dataset_roots)
        self._app = None

    @property
    def app(self) -> Any:
        if self._app is None:
            pn = _panel()
            self._app = pn.Column(pn.panel(DatasetsPage(self.dataset_roots)),
                                  sizing_mode="stretch_width")
        return self._app

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.app._repr_mimebundle_(include, exclude)

    def servable(self) -> Any:
        return self.app.servable()


def serve(port: int = 5006, address: str = "127.0.0.1",
          dataset_roots: Sequence[str | os.PathLike] = (), basic_auth: str | None = None,
          show: bool = False, threaded: bool = False) -> Any:
    """Serve the dashboard (blocking unless ``threaded``); same as ``workbench serve``.

    Binds ``address`` (loopback by default) and accepts websocket connections only from
    that host and port (plus ``localhost`` when bound to 127.0.0.1).

    Args:
        port: TCP port (0 picks a free one).
        address: interface to bind.
        dataset_roots: directories the UI may read dataset files from.
        basic_auth: a password, or a path to a JSON file of users, passed to Panel.
        show: open a browser tab.
        threaded: run the server in a background thread and return it.
    """
    pn = _panel()
    origins = [f"{address}:{port}"]
    if address in ("127.0.0.1", "::1"):
        origins.append(f"localhost:{port}")
    kwargs: dict[str, Any] = {}
    if basic_auth:
        kwargs["basic_auth"] = basic_auth
        kwargs["cookie_secret"] = os.environ.get("WORKBENCH_COOKIE_SECRET") or os.urandom(16).hex()
    return pn.serve({"/": lambda: create_app(dataset_roots)}, port=port, address=address,
                    websocket_origin=origins, show=show, threaded=threaded,
                    title="workbench", **kwargs)
