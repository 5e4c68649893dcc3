"""The Panel dashboard, shown in a notebook (``wb.Workbench()``) or served (``workbench serve``).

One :class:`Workbench` per notebook object or browser session holds the five pages
(:class:`DatasetsPanel`, :class:`DiagnosticsPanel`, :class:`TrainingPanel`,
:class:`OPEPanel`, :class:`RunsPanel`) around a shared :class:`WorkbenchState`; a page is
built when its tab is first opened, so a new session pays for one page.  The UI holds no
computation: the pages call the same helper functions a notebook user calls.

Served, ``GET /liveness`` answers ``{"/liveness": true}`` without building a page (for
health checks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["create_app", "serve", "Workbench", "PAGES", "SERVE_OPTIONS"]

#: Tab titles, in order.
PAGES = ("Datasets", "Diagnostics", "Training", "OPE", "Runs")

#: Where each page's class lives (imported when the page is first built).
_PAGE_CLASSES = {"Datasets": (".datasets", "DatasetsPanel"),
                 "Diagnostics": (".diagnostics", "DiagnosticsPanel"),
                 "Training": (".training", "TrainingPanel"), "OPE": (".ope", "OPEPanel"),
                 "Runs": (".runs", "RunsPanel")}

_EXTENSION_LOADED = False


def _panel() -> Any:
    """Panel with the extensions the pages need, JavaScript inlined (works offline)."""
    global _EXTENSION_LOADED
    import panel as pn

    if not _EXTENSION_LOADED or not pn.state.served:
        pn.extension("tabulator", inline=True, notifications=True,
                     sizing_mode="stretch_width")
        # a live figure is empty until its first run: not a mistake worth a log line
        from bokeh.core.validation import silence
        from bokeh.core.validation.warnings import MISSING_RENDERERS

        silence(MISSING_RENDERERS, True)
        _EXTENSION_LOADED = True
    return pn


#: Options of ``pn.serve`` the dashboard is served with (``workbench serve``, :func:`serve`):
#: a closed tab's session (and its callbacks) goes after ~10 s instead of Bokeh's 15-32 s;
#: ``/liveness`` answers health checks without building a page.
SERVE_OPTIONS: dict[str, Any] = {"check_unused_sessions_milliseconds": 2000,
                                 "unused_session_lifetime_milliseconds": 10000,
                                 "liveness": True}


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
        datasets, diagnostics, training, ope, runs: the pages, each built on first use
            (:meth:`page`).
    """

    def __init__(self, store: Any = None, dataset_roots: Sequence[str | os.PathLike] | None = None,
                 datasets: dict[str, Any] | None = None) -> None:
        _panel()
        from .state import WorkbenchState

        if dataset_roots is None:
            dataset_roots = [os.getcwd()]
        self.state = WorkbenchState(dataset_roots, store=store)
        for name, ds in (datasets or {}).items():
            self.state.add_dataset(name, ds)
        self._built: dict[str, Any] = {}  # title -> page, in the order they were built
        self._slots: dict[str, Any] = {}  # title -> the tab's column (placeholder, then page)
        self._tabs: Any = None
        self._sidebar: Any = None

    # ------------------------------------------------------------------ pages, built lazily
    def page(self, title: str) -> Any:
        """The page titled ``title`` (one of :data:`PAGES`), built on first use.

        A page is built when its tab is first opened, or when code asks for it
        (``bench.training``): a new browser session pays for the page it shows, not for
        all five.  A page built while its tab exists is put into the tab at once.
        """
        if title not in PAGES:
            raise KeyError(f"no page {title!r}; pages: {', '.join(PAGES)}")
        page = self._built.get(title)
        if page is None:
            page = self._build(title)
            self._built[title] = page
            slot = self._slots.get(title)
            if slot is not None:
                slot.objects = [page]
        return page

    def _build(self, title: str) -> Any:
        import importlib

        module, cls = _PAGE_CLASSES[title]
        return getattr(importlib.import_module(module, __package__), cls)(self.state)

    @property
    def datasets(self) -> Any:
        """The Datasets page (:class:`~workbench.ui.datasets.DatasetsPanel`)."""
        return self.page("Datasets")

    @property
    def diagnostics(self) -> Any:
        """The Diagnostics page (:class:`~workbench.ui.diagnostics.DiagnosticsPanel`)."""
        return self.page("Diagnostics")

    @property
    def training(self) -> Any:
        """The Training page (:class:`~workbench.ui.training.TrainingPanel`)."""
        return self.page("Training")

    @property
    def ope(self) -> Any:
        """The OPE page (:class:`~workbench.ui.ope.OPEPanel`)."""
        return self.page("OPE")

    @property
    def runs(self) -> Any:
        """The Runs page (:class:`~workbench.ui.runs.RunsPanel`)."""
        return self.page("Runs")

    @property
    def built(self) -> list[str]:
        """Titles of the pages built so far."""
        return list(self._built)

    # ------------------------------------------------------------------ layout
    @property
    def tabs(self) -> Any:
        """``pn.Tabs`` with one tab per page.  Only the active page is built up front; the
        others are built when their tab is first opened (their tab shows a line meanwhile),
        then stay in the page, so switching back is client-side."""
        if self._tabs is None:
            pn = _panel()
            for t in PAGES:
                self._slots[t] = pn.Column(
                    pn.pane.Markdown(f"Opening the {t} page …", css_classes=["wb-page-loading"]),
                    sizing_mode="stretch_width", css_classes=[f"wb-page-{t.lower()}"])
            self._tabs = pn.Tabs(*[(t, self._slots[t]) for t in PAGES],
                                 dynamic=False, sizing_mode="stretch_width",
                                 css_classes=["wb-tabs"])
            self._tabs.param.watch(self._on_tab, "active")
            for t in self._built:  # built before the tabs existed (notebook use)
                self._slots[t].objects = [self._built[t]]
            self.page(PAGES[self._tabs.active])
        return self._tabs

    def _on_tab(self, event: Any) -> None:
        title = PAGES[event.new]
        if title in self._built:
            return
        import panel as pn

        doc = pn.state.curdoc
        if doc is not None and getattr(doc, "session_context", None) is not None:
            # after this event is answered: the tab and its placeholder show at once
            doc.add_next_tick_callback(lambda: self.page(title))
        else:
            self.page(title)

    @property
    def pages(self) -> list[Any]:
        """The five pages, in :data:`PAGES` order (building those not built yet)."""
        return [self.page(t) for t in PAGES]

    def show_page(self, title: str) -> None:
        """Switch to the tab titled ``title`` (one of :data:`PAGES`), building its page."""
        self.tabs.active = PAGES.index(title)
        self.page(title)

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
        return pn.Row(pn.Column(self.sidebar(), width=240), self.tabs,
                      sizing_mode="stretch_width")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.__panel__()._repr_mimebundle_(include, exclude)

    def template(self) -> Any:
        """The served layout: a FastListTemplate with the sidebar and the page tabs."""
        pn = _panel()
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
    that host and port (plus ``localhost`` when bound to 127.0.0.1).  ``GET /liveness``
    answers without building a page (Panel's liveness endpoint, for health checks).

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
    kwargs: dict[str, Any] = {**SERVE_OPTIONS}
    if basic_auth:
        kwargs["basic_auth"] = basic_auth
        kwargs["cookie_secret"] = os.environ.get("WORKBENCH_COOKIE_SECRET") or os.urandom(16).hex()
    kwargs.update(server_kwargs)
    return pn.serve({"/": lambda: create_app(roots)}, port=port, address=address,
                    websocket_origin=origins, show=show, threaded=threaded,
                    title="workbench", **kwargs)
