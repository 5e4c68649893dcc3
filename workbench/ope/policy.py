"""Evaluation policies: what OPE needs from a policy, whatever form the user hands it in.

A policy to evaluate may be

* a built d3rlpy algorithm (discrete: its greedy action ``predict``, or a softmax over its
  ``predict_value`` Q-values; continuous: its deterministic ``predict`` action);
* a training job (anything with a ``.policy`` attribute, e.g. ``workbench.train(...)``'s
  ``TrainingJob``), a loaded run (``.policy()`` method) or a run id string, resolved through
  ``workbench.training.load_run`` (imported only when a run id is given);
* a callable mapping observations (B, obs_dim) to actions (B,) int / (B, act_dim) float,
  treated as a deterministic policy (image datasets: uint8 frames (B, C, H, W), in chunks
  of about 16 MiB as float32);
* an object with ``action_probs(obs) -> (B, n)`` (a stochastic discrete policy, used exactly)
  or with ``log_prob(obs, actions) -> (B,)`` and ``sample(obs, rng) -> actions`` (a stochastic
  continuous policy, used exactly).

Discrete deterministic policies are made stochastic so importance ratios exist:

* ε-soft greedy (default, ``epsilon=0.1``): ``pi(a|s) = (1 - ε) [a = greedy(s)] + ε / n``;
* softmax over Q (``temperature=τ`` given): ``pi(a|s) = exp(Q(s,a)/τ) / sum_a' exp(Q(s,a')/τ)``
  (needs Q-values: a d3rlpy Q-learning algorithm).

The *evaluated* policy is this stochastic policy everywhere: in the importance weights, as the
target of FQE, and in the simulator rollouts that give the true value.  ``epsilon=0`` evaluates
the greedy policy itself (weights are then zero for every episode that deviates from it).

**Decision transformers** (a d3rlpy ``DecisionTransformer``/``DiscreteDecisionTransformer``,
its ``StatefulTransformerWrapper``, or a job/run that trained one) are *return-conditioned*:
the action depends on the return-to-go still to collect and on the context of past steps,
not on the state alone, so there is no ``pi(a|s)`` for importance ratios and no Markov
policy for FQE to evaluate; those estimators refuse them (:class:`~workbench.errors.OPEError`
saying so).  What applies is the simulator's ground truth: ``evaluate_ope(ds, policy,
estimators=[], env=...)`` rolls the policy out (:meth:`EvaluationPolicy.actor`, greedy) at its
target return: a wrapper's own, a job's or run's ``target_return``, else the dataset's best
episode return.

Continuous deterministic policies ``a = mu(s)`` use kernel-smoothed weights, as SCOPE-RL does:
``pi_e(a|s)`` in the ratio is replaced by a Gaussian kernel density
``prod_d N(a_d; mu_d(s), (h * s_d)^2)`` with bandwidth ``h`` (``bandwidth``, default 0.2) in
units of ``s_d``, half the action range of dimension ``d`` (1 for unbounded dimensions).  The
estimate then targets the deterministic policy with a bias that shrinks with ``h`` and a
variance that grows as ``h`` shrinks.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._lazy import is_d3rlpy_algo, is_transformer_policy
from ..data.dataset import EpisodeDataset
from ..errors import ConfigError, OPEError
from ._chunks import as_policy_input

__all__ = ["EvaluationPolicy", "make_policy", "resolve_policy", "check_policy_options"]

_CHUNK = 8192


def check_policy_options(epsilon: float, temperature: float | None, bandwidth: float) -> None:
    """How deterministic policies are made stochastic: ``epsilon`` in [0, 1], ``temperature``
    (``None`` or > 0) and ``bandwidth`` (> 0).

    Raises:
        ConfigError: a value out of range.
    """
    if not (0.0 <= float(epsilon) <= 1.0):
        raise ConfigError(f"epsilon must lie in [0, 1], got {epsilon}")
    if temperature is not None and not float(temperature) > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if not float(bandwidth) > 0:
        raise ConfigError(f"bandwidth must be > 0, got {bandwidth}")


def resolve_policy(obj: Any, name: str = "policy") -> Any:
    """Unwrap jobs (``.policy``) and run ids (``workbench.training.load_run``).

    Raises:
        OPEError: a run id that cannot be loaded, a job without a trained policy.
    """
    if isinstance(obj, str):
        try:  # lazy: the OPE module imports without the training engine and run store
            from ..training import load_run
        except ImportError as exc:
            raise OPEError(f"policy {name!r} is given as run id {obj!r}, but the run store "
                           f"is not available ({exc}). Fix: pass the trained policy object "
                           "instead") from None
        try:
            run = load_run(obj)
        except Exception as exc:
            raise OPEError(f"policy {name!r}: could not load run {obj!r}: {exc}") from exc
        return resolve_policy(run, name)
    if is_d3rlpy_algo(obj) or is_transformer_policy(obj) or hasattr(obj, "action_probs") or (
            hasattr(obj, "log_prob") and hasattr(obj, "sample")):
        return obj
    if hasattr(obj, "policy"):  # a TrainingJob (.policy property) or a Run (.policy() method)
        pol = obj.policy
        if inspect.ismethod(pol):
            pol = pol()
        if pol is None:
            raise OPEError(f"policy {name!r}: the job has no trained policy yet "
                           f"(status {getattr(obj, 'status', '?')!r}). Fix: wait for it "
                           "(job.wait()) before evaluating")
        target = getattr(obj, "target_return", None)
        if is_transformer_policy(pol) and is_d3rlpy_algo(pol) and target is not None:
            # a decision transformer's run: evaluated at the target return it trained for
            from ..training.evaluators import transformer_actor

            return transformer_actor(pol, float(target))
        return resolve_policy(pol, name)
    if callable(obj):
        return obj
    raise OPEError(f"policy {name!r} of type {type(obj).__name__} is not a d3rlpy algorithm, "
                   "training job, run id, callable or policy object")


class EvaluationPolicy:
    """One policy to evaluate, in the form the estimators need (see the module docstring).

    Use :func:`make_policy` to build one.  Attributes: ``name``, ``discrete``, ``n_actions``
    (discrete), ``act_dim`` (continuous), ``kind`` (``"epsilon-greedy"``, ``"softmax"``,
    ``"stochastic"``, ``"deterministic"`` (continuous, kernel-smoothed),
    ``"stochastic-continuous"`` or ``"return-conditioned"`` (a decision transformer: only
    :meth:`actor` applies; ``target_return`` is what it is conditioned on)).
    """

    def __init__(self, name: str, base: Any, ds: EpisodeDataset, *, epsilon: float = 0.1,
                 temperature: float | None = None, bandwidth: float = 0.2) -> None:
        self.name = name
        self.base = base
        self.discrete = bool(ds.is_discrete)
        self.obs_shape = tuple(ds.observations.shape[1:])
        from ..data.images import chunk_rows

        self._chunk = chunk_rows(self.obs_shape, max_rows=_CHUNK)  # rows per policy call
        self.transformer: Any = None  # a decision transformer's d3rlpy algorithm
        self.target_return: float | None = None
        if is_transformer_policy(base):
            self._init_transformer(base, ds)
            return
        self.algo = base if is_d3rlpy_algo(base) else None
        check_policy_options(epsilon, temperature, bandwidth)
        self.epsilon = float(epsilon)
        self.temperature = None if temperature is None else float(temperature)
        self.bandwidth = float(bandwidth)
        # (n_actions is 0 for continuous policies, act_dim 0 for discrete ones)
        self.n_actions: int = int(ds.action_space.n or 0) if self.discrete else 0
        self.act_dim: int = 0 if self.discrete else int(ds.actions.shape[1])
        if not self.discrete:
            low = np.asarray(ds.action_space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(ds.action_space.high, dtype=np.float64).reshape(-1)
            half = (high - low) / 2.0
            self.scale = np.where(np.isfinite(half) & (half > 0), half, 1.0)
        self._check_algo()
        if self.discrete:
            if hasattr(base, "action_probs") and self.algo is None:
                self.kind = "stochastic"
            elif self.temperature is not None:
                if self.algo is None or not hasattr(self.algo, "predict_value"):
                    raise ConfigError(f"policy {name!r}: softmax (temperature) needs Q-values, "
                                      "i.e. a d3rlpy Q-learning algorithm; use epsilon instead")
                self.kind = "softmax"
            else:
                self.kind = "epsilon-greedy"
        else:
            if self.algo is None and hasattr(base, "log_prob") and hasattr(base, "sample"):
                self.kind = "stochastic-continuous"
            else:
                self.kind = "deterministic"
        self._probe(ds)

    def _init_transformer(self, base: Any, ds: EpisodeDataset) -> None:
        """A decision transformer (algorithm or stateful wrapper): return-conditioned."""
        self.kind = "return-conditioned"
        self.algo = None
        self.epsilon, self.temperature, self.bandwidth = 0.0, None, 0.0
        self.n_actions = int(ds.action_space.n or 0) if self.discrete else 0
        self.act_dim = 0 if self.discrete else int(ds.actions.shape[1])
        if is_d3rlpy_algo(base):  # a bare algorithm: the dataset's best episode return
            returns = ds.episode_returns()
            best = returns[ds.finished] if ds.finished.any() else returns
            self.transformer, self.target_return = base, float(best.max())
            self._sampler: Any = None  # greedy (transformer_actor)
        else:  # d3rlpy's StatefulTransformerWrapper: its own target return and sampler
            self.transformer = base.algo
            self.target_return = float(base._target_return)
            self._sampler = base._action_sampler
        self._check_algo(self.transformer)
        try:
            a = self.actor().predict(as_policy_input(ds.observations[:1])[0], 0.0)
            a = np.asarray(a).reshape(1, -1) if not self.discrete else np.asarray([a])
            (self._check_disc_actions if self.discrete else self._check_cont_actions)(a, 1)
        except OPEError:
            raise
        except Exception as exc:
            raise OPEError(f"policy {self.name!r} (a decision transformer) failed on the "
                           f"dataset's observations of shape {self.obs_shape}: "
                           f"{type(exc).__name__}: {exc}") from exc

    def actor(self) -> Any:
        """A fresh d3rlpy ``StatefulTransformerWrapper`` of a decision transformer at
        :attr:`target_return` (greedy unless the wrapper given had its own action sampler):
        ``reset()`` at every episode start, ``predict(observation, last_reward)`` per step.

        Raises:
            OPEError: the policy is not a decision transformer.
        """
        if self.transformer is None:
            raise OPEError(f"policy {self.name!r} is not return-conditioned: it has no actor")
        from .._d3rlpy import d3rlpy

        if self._sampler is None:
            from ..training.evaluators import transformer_actor

            return transformer_actor(self.transformer, float(self.target_return or 0.0))
        return d3rlpy.algos.StatefulTransformerWrapper(self.transformer,
                                                       float(self.target_return or 0.0),
                                                       self._sampler)

    def require_markov(self, what: str) -> None:
        """Refuse ``what`` (estimators, FQE) for a return-conditioned policy, saying why and
        what applies instead.

        Raises:
            OPEError: the policy is a decision transformer.
        """
        if self.transformer is None:
            return
        raise OPEError(
            f"{what} does not apply to policy {self.name!r}: it is a decision transformer, a "
            "return-conditioned policy whose action depends on the return-to-go still to "
            "collect and on the context of past steps, not on the state alone, so it has no "
            "pi(a|s) for importance weights (is, wis, pdis, wpdis, dr, wdr) and is not a "
            "Markov policy FQE (fqe, dm, dr, wdr) can evaluate. What applies: the simulator's "
            "ground truth, evaluate_ope(ds, policy, estimators=[], env=<gymnasium id>), which "
            f"rolls it out at its target return ({self.target_return:g}) and returns its true "
            "value")

    # ------------------------------------------------------------------ checks
    def _check_algo(self, algo: Any = None) -> None:
        algo = self.algo if algo is None else algo
        if algo is None:
            return
        if algo.impl is None:
            raise OPEError(f"policy {self.name!r}: the d3rlpy algorithm is not built (never "
                           "trained or loaded). Fix: train it or build_with_dataset first")
        from .._d3rlpy import d3rlpy

        is_disc = algo.get_action_type() == d3rlpy.ActionSpace.DISCRETE
        if is_disc != self.discrete:
            raise OPEError(f"policy {self.name!r} acts in a "
                           f"{'discrete' if is_disc else 'continuous'} action space but the "
                           f"dataset's actions are {'discrete' if self.discrete else 'continuous'}")
        size = int(algo.impl.action_size)
        want = self.n_actions if self.discrete else self.act_dim
        if size != want:
            raise OPEError(f"policy {self.name!r} has {size} "
                           f"{'actions' if self.discrete else 'action dimensions'} but the "
                           f"dataset has {want}")
        obs_shape = tuple(algo.impl.observation_shape)
        if obs_shape != self.obs_shape:
            raise OPEError(f"policy {self.name!r} expects observations of shape {obs_shape} "
                           f"but the dataset's are {self.obs_shape}")

    def _probe(self, ds: EpisodeDataset) -> None:
        """Call the policy on a few dataset observations and check what comes back."""
        obs = as_policy_input(ds.observations[: min(4, len(ds.observations))])
        try:
            if self.kind == "stochastic":
                p = np.asarray(self.base.action_probs(obs), dtype=np.float64)
                if p.shape != (len(obs), self.n_actions):
                    raise OPEError(f"policy {self.name!r}: action_probs returned shape "
                                   f"{p.shape}, expected ({len(obs)}, {self.n_actions}) for the "
                                   f"dataset's {self.n_actions} actions")
                if np.any(p < 0) or not np.allclose(p.sum(1), 1.0, atol=1e-5):
                    raise OPEError(f"policy {self.name!r}: action_probs rows must be "
                                   "probabilities summing to 1")
            elif self.kind == "stochastic-continuous":
                a = np.asarray(self.base.sample(obs, np.random.default_rng(0)))
                self._check_cont_actions(a, len(obs))
            else:
                a = self._raw_actions(obs)
                if self.discrete:
                    self._check_disc_actions(a, len(obs))
                else:
                    self._check_cont_actions(a, len(obs))
        except OPEError:
            raise
        except Exception as exc:
            raise OPEError(f"policy {self.name!r} failed on the dataset's observations of "
                           f"shape {self.obs_shape}: {type(exc).__name__}: {exc}") from exc

    def _check_disc_actions(self, a: np.ndarray, B: int) -> np.ndarray:
        a = np.asarray(a)
        if a.shape not in ((B,), (B, 1)) or a.dtype.kind not in "iub" and not (
                a.dtype.kind == "f" and np.all(a == np.round(a))):
            raise OPEError(f"policy {self.name!r} returned actions of shape {a.shape} and "
                           f"dtype {a.dtype}; the dataset has {self.n_actions} discrete actions, "
                           "so (B,) integers are expected")
        a = a.reshape(B).astype(np.int64)
        if B and (a.min() < 0 or a.max() >= self.n_actions):
            raise OPEError(f"policy {self.name!r} returned action {int(a.max())} outside the "
                           f"dataset's {self.n_actions} discrete actions")
        return a

    def _check_cont_actions(self, a: np.ndarray, B: int) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (B, self.act_dim):
            raise OPEError(f"policy {self.name!r} returned actions of shape {a.shape}; the "
                           f"dataset's actions are ({B}, {self.act_dim})")
        if not np.isfinite(a).all():
            raise OPEError(f"policy {self.name!r} returned NaN or infinite actions")
        return a

    # ------------------------------------------------------------------ evaluation
    def _raw_actions(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic/greedy actions of the base policy, batched."""
        fn: Callable = self.algo.predict if self.algo is not None else self.base
        c = self._chunk
        out = [np.asarray(fn(obs[i:i + c])) for i in range(0, len(obs), c)]
        return np.concatenate(out) if out else np.zeros((0,))

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """(B,) greedy actions (discrete) or (B, act_dim) deterministic actions."""
        self.require_markov("greedy(s)")
        obs = as_policy_input(obs)
        a = self._raw_actions(obs)
        if self.discrete:
            return self._check_disc_actions(a, len(obs))
        return self._check_cont_actions(a, len(obs))

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """(B, n) Q-values of a discrete d3rlpy algorithm."""
        self.require_markov("q_values(s)")
        obs = as_policy_input(obs)
        if self.algo is None:
            raise OPEError(f"policy {self.name!r} has no Q-values (not a d3rlpy algorithm)")
        B = len(obs)
        q = np.empty((B, self.n_actions))
        for a in range(self.n_actions):
            acts = np.full(B, a, dtype=np.int64)
            c = self._chunk
            for i in range(0, B, c):
                q[i:i + c, a] = self.algo.predict_value(obs[i:i + c], acts[i:i + c])
        return q

    def action_probs(self, obs: np.ndarray) -> np.ndarray:
        """(B, n) probabilities of every action (discrete policies only)."""
        self.require_markov("action_probs(s)")
        if not self.discrete:
            raise OPEError(f"policy {self.name!r} is continuous: no action probabilities")
        obs = as_policy_input(obs)
        B, n = len(obs), self.n_actions
        if self.kind == "stochastic":
            c = self._chunk
            p = np.concatenate([np.asarray(self.base.action_probs(obs[i:i + c]),
                                           dtype=np.float64)
                                for i in range(0, B, c)]) if B else np.zeros((0, n))
            if p.shape != (B, n) or np.any(p < 0) or not np.isfinite(p).all():
                raise OPEError(f"policy {self.name!r}: action_probs must return ({B}, {n}) "
                               "finite non-negative probabilities")
            return p / p.sum(1, keepdims=True)
        if self.kind == "softmax":
            z = self.q_values(obs) / self.temperature
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            return p / p.sum(1, keepdims=True)
        g = self.greedy(obs)
        p = np.full((B, n), self.epsilon / n)
        p[np.arange(B), g] += 1.0 - self.epsilon
        return p

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B,) ``log pi_e(a|s)``; kernel-smoothed log density for deterministic continuous
        policies; ``-inf`` where the probability is zero."""
        self.require_markov("log_prob(s, a), an importance weight,")
        obs = as_policy_input(obs)
        if self.discrete:
            p = self.action_probs(obs)[np.arange(len(obs)), np.asarray(actions, np.int64)]
            with np.errstate(divide="ignore"):
                return np.log(p)
        actions = np.asarray(actions, dtype=np.float64).reshape(len(obs), -1)
        if self.kind == "stochastic-continuous":
            lp = np.asarray(self.base.log_prob(obs, actions), dtype=np.float64).reshape(-1)
            if lp.shape != (len(obs),) or np.isnan(lp).any():
                raise OPEError(f"policy {self.name!r}: log_prob must return ({len(obs)},) "
                               "non-NaN values")
            return lp
        mu = self.greedy(obs)
        h = self.bandwidth * self.scale
        u = (actions - mu) / h
        return (-0.5 * (u * u).sum(1) - 0.5 * self.act_dim * math.log(2 * math.pi)
                - float(np.log(h).sum()))

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Actions drawn from the evaluated policy (continuous deterministic: ``mu(s)``)."""
        self.require_markov("sample(s), a Markov policy's action,")
        obs = as_policy_input(obs)
        if self.discrete:
            if self.kind == "epsilon-greedy":
                g = self.greedy(obs)
                explore = rng.random(len(obs)) < self.epsilon
                return np.where(explore, rng.integers(0, self.n_actions, len(obs)), g)
            p = self.action_probs(obs)
            c = np.cumsum(p, axis=1)
            u = rng.random((len(obs), 1)) * c[:, -1:]
            return np.minimum((u > c).sum(1), self.n_actions - 1).astype(np.int64)
        if self.kind == "stochastic-continuous":
            return self._check_cont_actions(self.base.sample(obs, rng), len(obs))
        return self.greedy(obs)

    def describe(self) -> str:
        """Short description of how the policy is evaluated, for the output table."""
        if self.kind == "epsilon-greedy":
            return f"epsilon-greedy(eps={self.epsilon:g})"
        if self.kind == "softmax":
            return f"softmax(T={self.temperature:g})"
        if self.kind == "deterministic":
            return f"deterministic(kernel h={self.bandwidth:g})"
        if self.kind == "return-conditioned":
            return f"return-conditioned(target={self.target_return:g})"
        return self.kind


def make_policy(obj: Any, ds: EpisodeDataset, *, name: str = "policy", epsilon: float = 0.1,
                temperature: float | None = None, bandwidth: float = 0.2) -> EvaluationPolicy:
    """An :class:`EvaluationPolicy` from any accepted policy form (see the module docstring).

    Args:
        obj: d3rlpy algorithm, job with ``.policy``, run id, callable or policy object; a
            decision transformer (algorithm, ``StatefulTransformerWrapper``, job or run) is
            return-conditioned (see the module docstring).
        ds: the dataset it will be evaluated on (spaces are checked against it).
        name: used in error messages and the output.
        epsilon: ε of the ε-soft greedy policy (discrete deterministic policies).
        temperature: softmax temperature over Q; when given, replaces ε-greedy.
        bandwidth: kernel bandwidth for continuous deterministic policies, as a fraction of
            half the action range.

    Raises:
        OPEError: action/observation space mismatch, unbuilt algorithm, bad policy output.
        ConfigError: epsilon/temperature/bandwidth out of range.
    """
    if isinstance(obj, EvaluationPolicy):
        return obj
    base = resolve_policy(obj, name)
    return EvaluationPolicy(name, base, ds, epsilon=epsilon, temperature=temperature,
                            bandwidth=bandwidth)
