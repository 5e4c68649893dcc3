"""Datasets page: the built-in catalog, files under the allowed roots, collection from an
environment, a summary and an episode browser.

A catalog family is built on first use (an online agent, then four datasets: a minute or
two); the page shows what is being built and its steps done / total meanwhile, as the
notebook's progress bars do.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn
import param

from ..data.collect import SCHEMES
from ..errors import WorkbenchError
from . import _frames, plots
from ._busy import BusyButton
from ._format import fmt_seconds, fmt_value, set_table, table
from .progress import ProgressView
from .state import (
    WorkbenchState,
    files_under,
    resolve_under_roots,
    run_action,
    say,
    settle,
)

__all__ = ["DatasetsPanel", "SCHEMES"]


def _collect_with_progress(sink: Any, **kwargs: Any) -> Any:
    """``collect`` reporting its steps to ``sink(desc, n_done, total)`` (no tqdm bar)."""
    from ..data.collect import collect

    return collect(progress=sink, **kwargs)


class DatasetsPanel(pn.viewable.Viewer):
    """Load datasets (catalog, allowed files, collection) and browse them.

    Programmatic use (notebooks, tests): :meth:`load` and :meth:`collect` do the same as the
    buttons, synchronously.

    Args:
        state: the dashboard's shared :class:`WorkbenchState` (a new one by default).
        dataset_roots: with no ``state``: directories files may be loaded from.
    """

    episode = param.Integer(default=0, bounds=(0, None))

    def __init__(self, state: WorkbenchState | None = None, *, dataset_roots: Any = (),
                 **params: Any) -> None:
        super().__init__(**params)
        from ..data import catalog

        self.state = state or WorkbenchState(dataset_roots)
        roots = self.state.dataset_roots
        # -- sources
        self.catalog_select = pn.widgets.Select(label="Catalog dataset",
                                                options=catalog.catalog_names(),
                                                css_classes=["wb-catalog-select"], width=220)
        self.catalog_button = BusyButton(label="Load catalog dataset", color="primary",
                                                css_classes=["wb-load-catalog"])
        self.path_input = pn.widgets.TextInput(
            label="File path" + ("" if roots else " (no --dataset-root configured)"),
            placeholder=str(roots[0]) + "/…" if roots else "start with --dataset-root DIR",
            css_classes=["wb-path-input"], width=320)
        self.file_select = pn.widgets.Select(label="Files under the dataset roots", options=[],
                                             width=320)
        self.file_button = BusyButton(label="Load file", color="primary",
                                             css_classes=["wb-load-file"])
        self.env_input = pn.widgets.TextInput(label="Environment", value="CartPole-v1",
                                              width=160, css_classes=["wb-collect-env"])
        self.scheme_select = pn.widgets.Select(label="Behaviour", options=list(SCHEMES),
                                               width=110)
        self.steps_input = pn.widgets.IntInput(label="Steps", value=5000, start=100,
                                               step=1000, width=110,
                                               css_classes=["wb-collect-steps"])
        self.seed_input = pn.widgets.IntInput(label="Seed", value=0, start=0, width=80)
        self.collect_button = BusyButton(label="Collect", color="primary",
                                                css_classes=["wb-collect"])
        self.progress_view = ProgressView()
        self.progress, self.progress_text = self.progress_view.bar, self.progress_view.text
        self.status = pn.pane.Alert("Pick a catalog dataset and press *Load catalog dataset*: "
                                    "a catalog family is built on first use (an online agent "
                                    "and four datasets, a minute or two; progress is shown), "
                                    "then loads in a second.",
                                    alert_type="info", css_classes=["wb-datasets-status"])
        # -- the loaded datasets
        self.current_select = pn.widgets.Select(label="Loaded datasets", options=[],
                                                css_classes=["wb-current-dataset"], width=260,
                                                visible=False)
        self.summary = table(pd.DataFrame(columns=["field", "value"]), wrap=["value"],
                             widths={"value": 240}, round_numbers=False, width=480,
                             height=460, sizing_mode="fixed", css_classes=["wb-summary"],
                             visible=False)
        self.returns_pane = pn.pane.HoloViews(None, css_classes=["wb-episode-returns"],
                                              visible=False)
        self.episode_input = pn.widgets.IntInput.from_param(self.param.episode, label="Episode",
                                                            width=120)
        self.episode_pane = pn.pane.HoloViews(None)
        # image episodes: a strip of frames and one frame picked with a slider
        self.strip_pane = pn.pane.PNG(None, css_classes=["wb-episode-strip"])
        self.frame_slider = pn.widgets.IntSlider(name="Frame", start=0, end=1, value=0,
                                                 width=360, css_classes=["wb-frame-slider"])
        self.frame_pane = pn.pane.PNG(None, css_classes=["wb-episode-frame"])
        self.frames_box = pn.Column(self.strip_pane, pn.Row(self.frame_pane,
                                                            self.frame_slider),
                                    visible=False)
        self.frame_slider.param.watch(lambda e: self._render_frame(e.new), "value_throttled")
        self.episode_box = pn.Column(
            pn.Row(self.episode_input, pn.pane.Markdown("Episode browser: pick an episode to "
                                                        "see its observations (frames, for "
                                                        "image data), actions and rewards.")),
            self.frames_box, self.episode_pane, visible=False, sizing_mode="stretch_width")
        self.catalog_table = table(catalog.catalog_frame(), wrap=["description"],
                                   widths={"description": 300, "path": 260},
                                   hidden_columns=["family", "env_id", "path"],
                                   css_classes=["wb-catalog-table"])
        self.catalog_card = pn.Card(self.catalog_table, title="The built-in catalog",
                                    collapsed=False, sizing_mode="stretch_width",
                                    css_classes=["wb-catalog-card"])
        # -- wiring
        self.catalog_button.on_click(self._on_catalog)
        self.file_button.on_click(self._on_file)
        self.collect_button.on_click(self._on_collect)
        self.file_select.param.watch(lambda e: setattr(self.path_input, "value", e.new or ""),
                                     "value")
        self.current_select.param.watch(self._on_current, "value")
        self.state.param.watch(self._sync_loaded, ["datasets", "current"])
        self.refresh_files()
        self._sync_loaded()

    # ------------------------------------------------------------------ actions
    def refresh_files(self) -> None:
        """List dataset files under the roots in the file picker."""
        files = files_under(self.state.dataset_roots) if self.state.dataset_roots else []
        self.file_select.options = {"(choose a file)": "", **{f: f for f in files}}
        self.file_select.disabled = self.file_button.disabled = not self.state.dataset_roots
        self.path_input.disabled = not self.state.dataset_roots

    def load(self, source: str | None = None) -> Any:
        """Load a catalog name, or a path under the dataset roots; returns the dataset.

        A path outside the roots is refused (message on the page, ``None`` returned).
        """
        source = source if source is not None else self.catalog_select.value
        t0 = time.perf_counter()
        try:
            ds, name, frame = self._read(source)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return None
        self._show_loaded(name, ds, frame)
        say(self.status, self._loaded_text(name, ds, time.perf_counter() - t0), "success")
        return ds

    def _read(self, source: str, progress: Any = None) -> tuple[Any, str, pd.DataFrame]:
        """The dataset, its name and the catalog table to show afterwards (worker thread).

        A catalog family that is not built yet is built first, reporting its steps to
        ``progress(desc, n_done, total)`` when given."""
        from ..data import catalog
        from ..data.io import load_dataset

        if source in catalog.catalog_names():
            if progress is not None and not catalog.is_built(source):
                catalog.build_family(source, progress=progress)
            return load_dataset(source, progress=False), source, catalog.catalog_frame()
        path = resolve_under_roots(source, self.state.dataset_roots)
        ds = load_dataset(path, progress=False)
        name = ds.name if ds.name and ds.name not in self.state.datasets else path.name
        return ds, name, catalog.catalog_frame()

    def _show_loaded(self, name: str, ds: Any, catalog_frame: pd.DataFrame | None) -> None:
        self.state.add_dataset(name, ds)
        if catalog_frame is not None:
            set_table(self.catalog_table, catalog_frame)
        self.catalog_card.collapsed = True  # the loaded dataset comes first now

    @staticmethod
    def _loaded_text(name: str, ds: Any, seconds: float) -> str:
        return (f"Loaded **{name}**: {ds.n_episodes:,} episodes, {ds.n_transitions:,} "
                f"transitions ({fmt_seconds(seconds)}).")

    async def _run_load(self, source: str, button: Any) -> None:
        from ..data import catalog

        progress = None
        busy = f"Loading {source}"
        if source in catalog.catalog_names() and not catalog.is_built(source):
            spec = catalog.FAMILIES[source.rpartition("-")[0]]
            n_sets = len(SCHEMES) - 1  # replay is the online run's own transitions
            busy = (f"Building the {spec.family} catalog family (first use: an online agent "
                    f"on {spec.env_id}, then {n_sets} datasets) to load {source}")
            self.progress_view.start(f"Building the **{spec.family}** catalog family",
                                     total=spec.online_steps + n_sets * spec.n_steps,
                                     skip_unless_first=("train", spec.online_steps))
            progress = self.progress_view.sink
        try:
            await run_action(
                self.status, busy, self._read, source, progress, button=button,
                tick=self.progress_view.show if progress else None,
                show=lambda r: self._show_loaded(r[1], r[0], r[2]),
                done=lambda r, sec: self._loaded_text(r[1], r[0], sec))
        finally:
            self.progress_view.stop()

    async def _on_catalog(self, _event: Any = None) -> None:
        await self._run_load(self.catalog_select.value, self.catalog_button)

    async def _on_file(self, _event: Any = None) -> None:
        source = (self.path_input.value or "").strip()
        try:  # refuse outside paths before any work, with a message
            resolve_under_roots(source, self.state.dataset_roots)
        except WorkbenchError as exc:
            settle(self.file_button)
            say(self.status, f"Refused: {exc}", "danger")
            return
        await self._run_load(source, self.file_button)

    def _collect_kwargs(self) -> dict[str, Any]:
        return {"env_id": self.env_input.value.strip(), "policy": self.scheme_select.value,
                "n_steps": int(self.steps_input.value), "seed": int(self.seed_input.value)}

    def collect(self, env_id: str | None = None, policy: str | None = None,
                n_steps: int | None = None, seed: int | None = None) -> Any:
        """Collect a dataset (as the *Collect* button does), add it and return it."""
        kw = self._collect_kwargs()
        kw.update({k: v for k, v in {"env_id": env_id, "policy": policy, "n_steps": n_steps,
                                     "seed": seed}.items() if v is not None})
        t0 = time.perf_counter()
        try:
            ds = _collect_with_progress(self._sink, **kw)
        except WorkbenchError as exc:
            say(self.status, str(exc), "danger")
            return None
        name = self._collect_name(kw)
        self._show_loaded(name, ds, None)
        say(self.status, self._loaded_text(name, ds, time.perf_counter() - t0), "success")
        return ds

    @staticmethod
    def _collect_name(kw: dict[str, Any]) -> str:
        return f"{kw['env_id']}-{kw['policy']}-{kw['n_steps']}-s{kw['seed']}"

    def _sink(self, desc: str, n: int, total: int) -> None:
        """Collection progress from the worker thread (shown by the page's tick)."""
        self.progress_view.sink(desc, n, total)

    async def _on_collect(self, _event: Any = None) -> None:
        kw = self._collect_kwargs()
        name = self._collect_name(kw)
        self.progress_view.start(f"Collecting **{name}**")
        try:
            await run_action(
                self.status, f"Collecting {kw['n_steps']:,} steps of {kw['env_id']} "
                f"({kw['policy']})", _collect_with_progress, self._sink,
                button=self.collect_button, tick=self.progress_view.show,
                show=lambda ds: self._show_loaded(name, ds, None),
                done=lambda ds, sec: self._loaded_text(name, ds, sec), **kw)
        finally:
            self.progress_view.stop()

    # ------------------------------------------------------------------ views
    def _sync_loaded(self, *_: Any) -> None:
        names = list(self.state.datasets)
        self.current_select.options = names
        if self.state.current in names and self.current_select.value != self.state.current:
            self.current_select.value = self.state.current
        self._render()

    def _on_current(self, event: Any) -> None:
        if event.new and event.new != self.state.current:
            self.state.current = event.new

    @property
    def dataset(self) -> Any:
        """The current dataset (or ``None``)."""
        return self.state.datasets.get(self.state.current)

    def _render(self) -> None:
        ds = self.dataset
        shown = ds is not None
        for w in (self.current_select, self.summary, self.returns_pane, self.episode_box):
            w.visible = shown
        if ds is None:
            return
        s = ds.summary()
        self.summary.value = pd.DataFrame({"field": list(s),
                                           "value": [fmt_value(v) for v in s.values()]})
        from ..diagnostics import episode_frame

        self.returns_pane.object = plots.episode_returns(episode_frame(ds))
        self.param.episode.bounds = (0, max(0, ds.n_episodes - 1))
        if self.episode > ds.n_episodes - 1:
            self.episode = 0
        self._render_episode()

    @param.depends("episode", watch=True)
    def _render_episode(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        i = min(self.episode, ds.n_episodes - 1)
        self.frames_box.visible = ds.is_image
        if ds.is_image:
            strip, frame, n = _frames.episode_images(ds, i)
            self.strip_pane.object, self.frame_pane.object = strip, frame
            self.frame_slider.end = max(1, n - 1)
            self.frame_slider.value = 0
        self.episode_pane.object = plots.episode_plot(
            _frames.episode_steps(ds, i, observations=not ds.is_image),
            title=f"{ds.name} episode {i}")

    def _render_frame(self, step: int) -> None:
        ds = self.dataset
        if ds is None or not ds.is_image:
            return
        i = min(self.episode, ds.n_episodes - 1)
        self.frame_pane.object = _frames.episode_images(ds, i, step=step)[1]

    def __panel__(self) -> Any:
        roots = self.state.dataset_roots
        files_help = ("Files under: " + ", ".join(f"`{r}`" for r in roots)) if roots else \
            "File loading is off: start the dashboard with `--dataset-root DIR`."
        sources = pn.Row(
            pn.Card(self.catalog_select, self.catalog_button, title="Catalog", collapsible=False,
                    width=260),
            pn.Card(pn.pane.Markdown(files_help), self.file_select, self.path_input,
                    self.file_button, title="File", collapsible=False, width=360),
            pn.Card(pn.Row(self.env_input, self.scheme_select),
                    pn.Row(self.steps_input, self.seed_input), self.collect_button,
                    title="Collect from an environment", collapsible=False, width=400))
        return pn.Column(
            sources, self.status, self.progress_text, self.progress, self.catalog_card,
            self.current_select, pn.Row(self.summary, self.returns_pane), self.episode_box,
            sizing_mode="stretch_width")
