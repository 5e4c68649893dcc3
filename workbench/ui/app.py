"""The Panel dashboard, shown in a notebook (``wb.Workbench()``) or served (``workbench serve``).

One :class:`Workbench` per notebook object or browser session holds the five pages
(:class:`DatasetsPanel`, :class:`DiagnosticsPanel`, :class:`TrainingPanel`,
:class:`OPEPanel`, :class:`RunsPanel`) around a shared :class:`WorkbenchState`.  The UI holds
no computation: the pages call the same helper functions a notebook user calls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["create_app", "serve", "Workbench", "PAGES"]

#: Tab titles, in order.
PAGES = ("Datasets", "Diagnostics", "Training", "OPE", "Runs")

_EXTENSION_LOADED = False


def _panel() -> Any:
    """Panel with the extensions the pages need, JavaScript inlined (works offline)."""
    global _EXTENSION_LOADED
    import panel as pn

    if not _EXTENSION_LOADED or not pn.state.served:
        pn.extension("tabulator", inline=True, notifications=True,
                     sizing_mode="stretch_width")
        _EXTENSION_LOADED = True
    return pn


class Workbench:
    """The whole dashboard: display it in a notebook cell, or :meth:`servable` / serve it.

    Args:
        store: the :class:`~workbench.tracking.RunStore` (default: the one under
            ``$WORKBENCH_HOME``).
        dataset_roots: directories the Datasets page may load files from; nothing outside is
            read.  ``None``: the current directory in a notebook (the served app passes the
            ``--dataset-root`` options, none by default: catalog and collection only).
        datasets: datasets to start with, ``{name: dataset}``.

    Attributes:
        state: the shared :class:`~workbench.ui.state.WorkbenchState`.
        datasets, diagnostics, training, ope, runs: the pages.
    """

    def __init__(self, store: Any = None, dataset_roots: Sequence[str | os.PathLike] | None = None,
                 datasets: dict[str, Any] | None = None) -> None:
        _panel()
        from .datasets import DatasetsPanel
        from .diagnostics import DiagnosticsPanel
        from .ope import OPEPanel
        from .runs import RunsPanel
        from .state import WorkbenchState
        from .training import TrainingPanel

        if dataset_roots is None:
            dataset_roots = [os.getcwd()]
        self.state = WorkbenchState(dataset_roots, store=store)
        for name, ds in (datasets or {}).items():
            self.state.add_dataset(name, ds)
        self.datasets = DatasetsPanel(self.state)
        self.diagnostics = DiagnosticsPanel(self.state)
        self.training = TrainingPanel(self.state)
        self.ope = OPEPanel(self.state)
        self.runs = RunsPanel(self.state)
        self._tabs: Any = None
        self._sidebar: Any = None

    # ------------------------------------------------------------------ layout
    @property
    def tabs(self) -> Any:
        """``pn.Tabs`` with one tab per page (all rendered up front: switching is client-side)."""
        if self._tabs is None:
            pn = _panel()
            self._tabs = pn.Tabs(*[(t, p) for t, p in zip(PAGES, self.pages)],
                                 dynamic=False, sizing_mode="stretch_width",
                                 css_classes=["wb-tabs"])
        return self._tabs

    @property
    def pages(self) -> list[Any]:
        return [self.datasets, self.diagnostics, self.training, self.ope, self.runs]

    def show_page(self, title: str) -> None:
        """Switch to the tab titled ``title`` (one of :data:`PAGES`)."""
        self.tabs.active = PAGES.index(title)

    def sidebar(self) -> Any:
        """The sidebar: what is loaded, what runs, and where files may come from."""
        if self._sidebar is None:
            pn = _panel()
            from ..tracking.store import ACTIVE
            from .state import ui_jobs

            def summary(datasets: dict, current: str, version: int) -> str:
                jobs = ui_jobs()
                running = sum(1 for j in jobs if j.status in ACTIVE)
                roots = self.state.dataset_roots
                lines = ["### workbench", "Offline RL: dataset → diagnostics → training → "
                         "OPE → runs.", "",
                         f"**Datasets loaded:** {len(datasets)}"]
                lines += [f"- {'**' + n + '**' if n == current else n}" for n in datasets]
                lines += ["", f"**Jobs:** {running} running / {len(jobs)} started here",
                          "", "**Dataset roots:** " + (", ".join(f"`{r}`" for r in roots)
                                                       if roots else "none (catalog and "
                                                       "collection only)")]
                return "\n".join(lines)

            self._sidebar = pn.pane.Markdown(pn.bind(summary, self.state.param.datasets,
                                                     self.state.param.current,
                                                     self.state.param.runs_version),
                                             css_classes=["wb-sidebar"])
        return self._sidebar

    def __panel__(self) -> Any:
        pn = _panel()
        self.training.start_updates()
        return pn.Row(pn.Column(self.sidebar(), width=240), self.tabs,
                      sizing_mode="stretch_width")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.__panel__()._repr_mimebundle_(include, exclude)

    def template(self) -> Any:
        """The served layout: a FastListTemplate with the sidebar and the page tabs."""
        pn = _panel()
        self.training.start_updates()
        # Bootstrap: its resources are bundled (the Fast/Material/Vanilla templates fetch
        # fonts from Google, which an offline, loopback-only dashboard must not do).
        return pn.template.BootstrapTemplate(title="workbench — offline RL",
                                             sidebar=[self.sidebar()], main=[self.tabs],
                                             sidebar_width=260, header_background="#0072B2")

    def servable(self) -> Any:
        return self.template().servable()

    def close(self) -> None:
        """Stop this dashboard's periodic callbacks and metric subscription (jobs go on)."""
        self.state.close()


def create_app(dataset_roots: Sequence[str | os.PathLike] = (), store: Any = None) -> Any:
    """Build the dashboard (a Panel template) for one browser session.

    When called inside a served session, closing the tab stops that session's callbacks
    (``pn.state.on_session_destroyed``), not the training jobs.
    """
    pn = _panel()
    bench = Workbench(store=store, dataset_roots=list(dataset_roots))
    template = bench.template()
    template.workbench = bench  # for in-process tests
    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None:
        pn.state.on_session_destroyed(lambda _ctx: bench.close())
    return template


def serve(port: int = 5006, address: str = "127.0.0.1",
          dataset_roots: Sequence[str | os.PathLike] = (), basic_auth: str | None = None,
          show: bool = False, threaded: bool = False, **server_kwargs: Any) -> Any:
    """Serve the dashboard (blocking unless ``threaded``); same as ``workbench serve``.

    Binds ``address`` (loopback by default) and accepts websocket connections only from
    that host and port (plus ``localhost`` when bound to 127.0.0.1).

    Args:
        port: TCP port (0 picks a free one).
        address: interface to bind.
        dataset_roots: directories the UI may read dataset files from (nothing else).
        basic_auth: a password, or a path to a JSON file of users, passed to Panel.
        show: open a browser tab.
        threaded: run the server in a background thread and return it.
        **server_kwargs: passed to ``pn.serve`` (e.g. ``unused_session_lifetime``).
    """
    pn = _panel()
    roots = [str(r) for r in dataset_roots]
    origins = [f"{address}:{port}"]
    if address in ("127.0.0.1", "::1"):
        origins.append(f"localhost:{port}")
    # a closed tab's session (and its callbacks) goes after ~10 s instead of Bokeh's 15-32 s
    kwargs: dict[str, Any] = {"check_unused_sessions_milliseconds": 2000,
                              "unused_session_lifetime_milliseconds": 10000}
    if basic_auth:
        kwargs["basic_auth"] = basic_auth
        kwargs["cookie_secret"] = os.environ.get("WORKBENCH_COOKIE_SECRET") or os.urandom(16).hex()
    kwargs.update(server_kwargs)
    return pn.serve({"/": lambda: create_app(roots)}, port=port, address=address,
                    websocket_origin=origins, show=show, threaded=threaded,
                    title="workbench", **kwargs)
