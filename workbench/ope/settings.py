"""How an off-policy evaluation runs: :class:`OPESettings`, validated in one place.

``workbench.evaluate_ope(ds, policies, ...)`` builds one from its keywords and calls
:meth:`OPESettings.resolve` before any estimate: every problem a user can cause is a
:class:`~workbench.errors.ConfigError` there.  Interval parameters are named as in the
rest of OPE (``n_bootstrap``, ``ci``); :mod:`workbench.stats` calls the same two
``reps`` and ``confidence``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .estimators import canonical_estimator, check_gamma
from .policy import check_policy_options

__all__ = ["OPESettings", "DEFAULT_ESTIMATORS"]

#: The estimators ``evaluate_ope`` runs by default.
DEFAULT_ESTIMATORS = ("fqe", "wis", "pdis", "dr")


@dataclass(frozen=True)
class OPESettings:
    """Everything that decides how policies are evaluated (see :func:`evaluate_ope`).

    Attributes:
        estimators: estimator names (``fqe``/``dm``, ``is``, ``wis``, ``pdis``, ``wpdis``,
            ``dr``, ``wdr``); :meth:`resolve` lower-cases them into a tuple.  Empty only
            with ``ground_truth``: the simulator's true value alone (decision transformers).
        ground_truth: an environment is given, whose rollouts give each policy's true value.
        behavior: where behaviour probabilities come from (``None``, ``"logged"``,
            ``"bc"``, an array or a policy object).
        gamma: discount in (0, 1].
        n_bootstrap: bootstrap resamples of episodes (0: no intervals).
        ci: confidence level of every interval, in (0, 1).
        epsilon, temperature, bandwidth: how deterministic policies are made stochastic.
        weight_clip: cap on cumulative importance weights (``None``: none).
        fqe_config: overrides of FQE's training settings.
        fqe_refits: FQE refits for its interval (0: FQE is a point estimate).
        n_folds: cross-fitting folds of an estimated behaviour model (>= 2).
        n_rollouts: simulator episodes per policy for the true value (>= 1).
        seed: seeds FQE, the behaviour model, the bootstrap and the rollouts.
        device: torch device of FQE.
        progress: show progress bars.
    """

    estimators: Sequence[str] | str = DEFAULT_ESTIMATORS
    behavior: Any = None
    ground_truth: bool = False
    gamma: float = 0.99
    n_bootstrap: int = 1000
    ci: float = 0.95
    epsilon: float = 0.1
    temperature: float | None = None
    bandwidth: float = 0.2
    weight_clip: float | None = None
    fqe_config: Mapping[str, Any] = field(default_factory=dict)
    fqe_refits: int = 0
    n_folds: int = 5
    n_rollouts: int = 100
    seed: int = 0
    device: str = "cpu:0"
    progress: bool = False

    def resolve(self) -> OPESettings:
        """The settings with names canonical and numbers checked.

        Raises:
            ConfigError: unknown or duplicate estimators, none without ``ground_truth``,
                gamma outside (0, 1], ``ci``
                outside (0, 1), negative ``n_bootstrap`` or ``fqe_refits``, ``epsilon``
                outside [0, 1], non-positive ``temperature``/``bandwidth``/``weight_clip``,
                ``n_folds < 2``, ``n_rollouts < 1``.
        """
        est = [self.estimators] if isinstance(self.estimators, str) else list(self.estimators)
        names = tuple(canonical_estimator(e) for e in est)
        if not names and not self.ground_truth:
            raise ConfigError("estimators is empty: name estimators, or pass env= with "
                              "estimators=[] for the simulator's true value alone")
        if len(set(names)) != len(names):
            raise ConfigError(f"estimators has duplicates: {est}")
        gamma = check_gamma(self.gamma)
        if not (0.0 < float(self.ci) < 1.0):
            raise ConfigError(f"ci must lie in (0, 1), got {self.ci}")
        n_bootstrap = _count(self.n_bootstrap, "n_bootstrap", 0)
        fqe_refits = _count(self.fqe_refits, "fqe_refits", 0)
        n_folds = _count(self.n_folds, "n_folds", 2)
        n_rollouts = _count(self.n_rollouts, "n_rollouts", 1)
        check_policy_options(self.epsilon, self.temperature, self.bandwidth)
        if self.weight_clip is not None and not float(self.weight_clip) > 0:
            raise ConfigError(f"weight_clip must be > 0 (or None), got {self.weight_clip}")
        return dataclasses.replace(
            self, estimators=names, gamma=gamma, ci=float(self.ci), n_bootstrap=n_bootstrap,
            fqe_refits=fqe_refits, n_folds=n_folds, n_rollouts=n_rollouts,
            fqe_config=dict(self.fqe_config or {}))


def _count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ConfigError(f"{what} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ConfigError(f"{what} must be >= {minimum}, got {value!r}")
    return int(value)
