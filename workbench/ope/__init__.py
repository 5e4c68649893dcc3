"""Off-policy evaluation: FQE/DM, the importance-sampling family, DR/WDR, bootstrap intervals,
simulator ground truth and selection metrics.

    import workbench as wb
    frame = wb.evaluate_ope(ds, {"cql": job, "bc": algo}, estimators=("fqe", "wis", "pdis", "dr"),
                            env="CartPole-v1")
    wb.ope_selection_metrics(frame)
    wb.evaluate_ope(ds, {"dt": dt_job}, estimators=[], env="CartPole-v1")  # truth only (DT)

Modules: :mod:`.estimators` (formulas, vectorised kernels), :mod:`.policy` (evaluation
policies), :mod:`.behavior` (behaviour probabilities, cross-fitted BC), :mod:`.fqe`,
:mod:`.ground_truth`, :mod:`.selection`, :mod:`.evaluate`, :mod:`.cli`.
"""

from .behavior import (
    LOGGED_BEHAVIOR_KEYS,
    BehaviorEstimatedWarning,
    behavior_log_prob,
    fit_behavior_model,
    logged_behavior_log_prob,
)
from .estimators import (
    ESTIMATORS,
    EpisodeEstimators,
    bootstrap_counts,
    percentile_interval,
    weight_diagnostics,
)
from .evaluate import evaluate_ope
from .fqe import FQEModel, fit_fqe
from .ground_truth import rollout_returns, true_value
from .policy import EvaluationPolicy, make_policy
from .selection import ope_selection_metrics
from .settings import OPESettings

__all__ = ["evaluate_ope", "OPESettings", "ope_selection_metrics", "EpisodeEstimators",
           "ESTIMATORS",
           "EvaluationPolicy", "make_policy", "behavior_log_prob", "fit_behavior_model",
           "fit_fqe", "FQEModel", "rollout_returns", "true_value", "bootstrap_counts",
           "percentile_interval", "weight_diagnostics", "LOGGED_BEHAVIOR_KEYS",
           "logged_behavior_log_prob", "BehaviorEstimatedWarning"]
