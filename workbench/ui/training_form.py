"""The Training page's form: dataset, algorithm, steps, seeds, device, executor, environment
and hyperparameters, read back as the keywords of :func:`workbench.train` / ``sweep``.

Settings that are legal but make training degenerate for the chosen number of steps (a
target network that never updates, ...) are shown under the form as they are typed, from
:func:`workbench.training.degenerate_settings`: the same check ``train`` warns with.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import panel as pn

from ..errors import ConfigError, WorkbenchError
from ._busy import BusyButton
from .state import WorkbenchState

__all__ = ["TrainingForm", "KEY_HYPERPARAMETERS"]

#: Hyperparameters offered in the form when the algorithm has them (others: JSON field).
KEY_HYPERPARAMETERS = ("batch_size", "gamma", "learning_rate", "actor_learning_rate",
                       "critic_learning_rate", "alpha", "conservative_weight", "tau",
                       "target_update_interval", "n_critics", "expectile", "weight_temp")


@functools.lru_cache(maxsize=1)
def _devices() -> tuple[str, ...]:
    """The device choices (torch is imported once per process for the CUDA count)."""
    import torch

    return ("auto", "cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count())))


class TrainingForm(pn.viewable.Viewer):
    """What to train: the loaded datasets of ``state``, the algorithms for its action space
    (with their key hyperparameters' defaults), seeds, device and executor.

    :meth:`values` reads it; the page wires :attr:`start_button`.  :attr:`warnings` shows
    :meth:`degenerate` as the fields change.

    Args:
        state: the dashboard's shared state (the datasets offered).
    """

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.dataset_select = pn.widgets.Select(label="Dataset", options=[], width=220,
                                                css_classes=["wb-train-dataset"])
        self.algo_select = pn.widgets.Select(label="Algorithm", options=[], width=200,
                                             css_classes=["wb-algo"])
        self.steps_input = pn.widgets.IntInput(label="Gradient steps", value=2000, start=10,
                                               step=500, width=130, css_classes=["wb-steps"])
        self.seeds_input = pn.widgets.TextInput(label="Seeds", value="0", width=110,
                                                css_classes=["wb-seeds"])
        self.device_select = pn.widgets.Select(label="Device", options=list(_devices()),
                                               width=100)
        from ..training.ray_executor import ray_available

        self.executor_select = pn.widgets.Select(
            label="Executor", width=100,
            options=["thread", "process"] + (["ray"] if ray_available() else []))
        self.env_input = pn.widgets.TextInput(label="Evaluate in environment (optional)",
                                              value="", width=220)
        self.hp_box = pn.Row()
        self.extra_input = pn.widgets.TextInput(label="Other hyperparameters (JSON)",
                                                placeholder='{"n_critics": 2}', width=300)
        self.start_button = BusyButton(label="Start training", color="primary",
                                              css_classes=["wb-start"], width=220)
        self.warnings = pn.pane.Alert("", alert_type="warning", visible=False,
                                      css_classes=["wb-train-warnings"])
        self.hp_widgets: dict[str, Any] = {}  # key hyperparameter -> its input
        self.hp_defaults: dict[str, Any] = {}
        self.dataset_select.param.watch(self._on_dataset, "value")
        self.algo_select.param.watch(self._on_algo, "value")
        for w in (self.steps_input, self.extra_input):
            w.param.watch(lambda e: self.check(), "value")
        self.state.param.watch(self._sync_datasets, ["datasets", "current"])
        self._sync_datasets()

    def _sync_datasets(self, *_: Any) -> None:
        names = list(self.state.datasets)
        self.dataset_select.options = names
        if self.state.current in names:
            self.dataset_select.value = self.state.current
        self.start_button.disabled = not names

    def _on_dataset(self, event: Any) -> None:
        ds = self.state.datasets.get(event.new)
        if ds is None:
            return
        from ..training.algorithms import ALGORITHMS

        space = "discrete" if ds.is_discrete else "continuous"
        names = [n for n, spec in ALGORITHMS.items() if spec.action_space == space]
        keep = self.algo_select.value if self.algo_select.value in names else None
        self.algo_select.options = names
        self.algo_select.value = keep or ("discrete_cql" if ds.is_discrete else "cql")
        self.env_input.value = str(ds.metadata.get("env_id") or "")
        self.check()  # the same algorithm may read differently for this dataset

    def _on_algo(self, event: Any) -> None:
        if not event.new:
            return
        from ..training.algorithms import ALGORITHMS, config_defaults

        # the cached description of the d3rlpy configs: no d3rlpy import on the event loop
        defaults = config_defaults(ALGORITHMS[event.new])
        self.hp_defaults = {k: defaults[k] for k in KEY_HYPERPARAMETERS
                            if k in defaults and isinstance(defaults[k], (int, float))
                            and not isinstance(defaults[k], bool)}
        self.hp_widgets = {}
        for k, v in self.hp_defaults.items():
            cls = pn.widgets.IntInput if isinstance(v, int) else pn.widgets.FloatInput
            self.hp_widgets[k] = cls(label=k, value=v, width=130,
                                     css_classes=[f"wb-hp-{k.replace('_', '-')}"])
            self.hp_widgets[k].param.watch(lambda e: self.check(), "value")
        self.hp_box.objects = list(self.hp_widgets.values())
        self.check()

    def _hyperparameters(self, strict: bool) -> dict[str, Any]:
        """Hyperparameters changed from their defaults plus the JSON field's (with
        ``strict``, a bad JSON field raises :class:`ConfigError`; else it is ignored)."""
        hp = {k: w.value for k, w in self.hp_widgets.items()
              if w.value is not None and w.value != self.hp_defaults.get(k)}
        extra = (self.extra_input.value or "").strip()
        if extra:
            try:
                more = json.loads(extra)
            except json.JSONDecodeError as exc:
                if not strict:
                    return hp
                raise ConfigError(f"other hyperparameters: not valid JSON ({exc})") from None
            if not isinstance(more, dict):
                if not strict:
                    return hp
                raise ConfigError("other hyperparameters: give a JSON object {\"name\": value}")
            hp.update(more)
        return hp

    def degenerate(self) -> list[str]:
        """Why the form's settings would train degenerately, in words (``[]`` when they
        would not, or when the form is incomplete):
        :func:`workbench.training.degenerate_settings` of the algorithm resolved for the
        chosen dataset, the steps and the hyperparameters."""
        from ..training import degenerate_settings, resolve_algorithm

        ds = self.state.datasets.get(self.dataset_select.value)
        if ds is None or not self.algo_select.value or not self.steps_input.value:
            return []
        try:
            spec = resolve_algorithm(self.algo_select.value, ds.is_discrete)
            return degenerate_settings(spec, int(self.steps_input.value),
                                       self._hyperparameters(strict=False))
        except WorkbenchError:
            return []

    def check(self) -> list[str]:
        """Show :meth:`degenerate` under the form (hidden when empty); returns it."""
        found = self.degenerate()
        self.warnings.object = ("**These settings make training degenerate** (training "
                                "would start, but would not learn as intended):\n\n"
                                + "\n".join(f"- {w}" for w in found)) if found else ""
        self.warnings.visible = bool(found)
        return found

    def values(self) -> dict[str, Any]:
        """The form as ``dataset, algo, n_steps, seeds, device, executor, env,
        hyperparameters`` (only hyperparameters changed from their defaults, plus the JSON
        field's).

        Raises:
            ConfigError: seeds that are not integers (or none), the JSON field not an
                object, or no dataset loaded.
        """
        try:
            seeds = [int(s) for s in str(self.seeds_input.value).replace(",", " ").split()]
        except ValueError:
            raise ConfigError(f"seeds must be integers separated by commas, got "
                              f"{self.seeds_input.value!r}") from None
        if not seeds:
            raise ConfigError("give at least one seed")
        hp = self._hyperparameters(strict=True)
        name = self.dataset_select.value
        if name not in self.state.datasets:
            raise ConfigError("load a dataset first (Datasets page)")
        return {"dataset": name, "algo": self.algo_select.value,
                "n_steps": int(self.steps_input.value), "seeds": seeds,
                "device": self.device_select.value, "executor": self.executor_select.value,
                "env": (self.env_input.value or "").strip() or None, "hyperparameters": hp}

    def __panel__(self) -> Any:
        return pn.Column(pn.Card(
            pn.Row(self.dataset_select, self.algo_select, self.steps_input, self.seeds_input,
                   self.device_select, self.executor_select),
            pn.Row(self.env_input, self.extra_input), self.hp_box, self.start_button,
            title="New training", collapsible=False, sizing_mode="stretch_width"),
            self.warnings, sizing_mode="stretch_width")
