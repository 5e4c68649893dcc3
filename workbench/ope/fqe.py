"""Fitted Q Evaluation with d3rlpy's ``FQE`` / ``DiscreteFQE``, and the value it implies.

FQE (Le et al. 2019) regresses ``Q(s, a)`` on ``r + gamma * Q_target(s', a')`` with
``a' ~ pi_e(.|s')`` over the dataset's transitions (no bootstrap past a terminal state; time-limit
truncations *are* bootstrapped, so FQE estimates the value without the time limit; the last
step of an episode whose final observation was never logged has no ``s'`` and is left out of
the regression, as ``ds.td_mask`` says).  The
policy value is then extracted as the initial-state value averaged over the dataset's initial
states::

    DM/FQE = (1/n) sum_i Vhat(s_{i,0}),   Vhat(s) = sum_a pi_e(a|s) Qhat(s, a)  (discrete)
                                          Vhat(s) = Qhat(s, mu(s))            (continuous)

Each target-network sync is one Bellman backup, so ``n_steps / target_update_interval`` backups
are done (50 with the defaults); after ``k`` backups values cannot exceed
``(1 - gamma^k) / (1 - gamma) * max reward``, so long horizons (gamma near 1) need more steps or
more frequent syncs (which are less stable).  FQE also extrapolates to actions the data never
takes; for policies far from the behaviour policy it can be badly off.

Two deliberate differences from calling ``d3rlpy.ope.FQE(algo=...).fit(...)`` directly:

* The next action comes from the *evaluated* policy (ε-soft greedy, softmax, stochastic or a
  callable), sampled from it by a small adapter standing in for the algorithm's ``impl``;
  stock FQE always uses the algorithm's greedy action and only accepts d3rlpy algorithms.
  The adapter also calls the algorithm's public ``predict``, so the algorithm's own
  observation scaler is applied (FQE's impl would feed the algorithm FQE-scaled observations).
* Mini-batches are drawn from the flat transition arrays with our own ``np.random.Generator``
  (reproducible, no global RNG, exact terminal/truncation flags) and passed to ``FQE.update``.

**Image observations**: the Q-network gets a pixel encoder (d3rlpy's Nature-DQN network for
frames of at least 36×36, the small MinAtar network of
:data:`workbench.data.images.SMALL_PIXEL_ENCODER` otherwise; ``hidden_units`` does not apply)
and ``PixelObservationScaler``; each mini-batch gathers its frames by row from the uint8
observations and casts only the batch to float32, and values are computed chunk by chunk
(never a float copy of all observations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import ConfigError, OPEError
from ._chunks import as_policy_input, map_transitions
from .policy import EvaluationPolicy

__all__ = ["FQEModel", "fit_fqe", "QFunctionModel"]

_DEFAULTS = {"n_steps": 5000, "batch_size": 256, "learning_rate": 3e-4,
             "target_update_interval": 100, "hidden_units": (128, 128), "n_critics": 1}


class _ShimImpl:
    """Stands in for ``algo.impl``: ``predict_best_action`` samples the evaluated policy."""

    def __init__(self, policy: EvaluationPolicy, rng: np.random.Generator,
                 scaler: Any = None) -> None:
        self.policy, self.rng, self.scaler = policy, rng, scaler

    def predict_best_action(self, x: Any) -> Any:
        import torch

        if self.scaler is not None:  # FQE's PixelObservationScaler: back to uint8 frames
            # (rounded: d3rlpy's reverse_transform truncates 254.99998 to 254)
            x = (x * 255.0).round().clamp(0, 255).to(torch.uint8)
        obs = x.detach().cpu().numpy()
        a = self.policy.sample(obs, self.rng)
        dtype = torch.int64 if self.policy.discrete else torch.float32
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=x.device)


@dataclass
class _ShimAlgo:
    impl: _ShimImpl


@dataclass
class FQEModel:
    """A fitted FQE Q-function for one evaluation policy.

    Attributes:
        fqe: the d3rlpy ``FQE``/``DiscreteFQE`` object.
        policy: the evaluated policy.
        losses: (n_steps,) training loss per update.
    """

    fqe: Any
    policy: EvaluationPolicy
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def q(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B,) ``Qhat(s, a)`` (uint8 frames are passed as they are, in small chunks)."""
        obs = as_policy_input(obs)
        acts = np.asarray(actions)
        acts = acts.astype(np.int64) if self.policy.discrete else acts.astype(np.float32)
        c = self.policy._chunk
        out = [self.fqe.predict_value(obs[i:i + c], acts[i:i + c])
               for i in range(0, len(obs), c)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def q_all(self, obs: np.ndarray) -> np.ndarray:
        """(B, n) ``Qhat(s, a)`` for every discrete action."""
        B = len(obs)
        return np.stack([self.q(obs, np.full(B, a)) for a in range(self.policy.n_actions)], 1)

    def value(self, obs: np.ndarray) -> np.ndarray:
        """(B,) ``Vhat(s)`` under the evaluated policy."""
        return _value(self, obs)


class QFunctionModel:
    """A user-supplied Q-function in the shape the estimators need.

    ``fn(obs) -> (B, n)`` for discrete actions, ``fn(obs, actions) -> (B,)`` for continuous.
    """

    def __init__(self, fn: Any, policy: EvaluationPolicy) -> None:
        self.fn, self.policy = fn, policy

    def q_all(self, obs: np.ndarray) -> np.ndarray:
        q = np.asarray(self.fn(as_policy_input(obs)), np.float64)
        if q.shape != (len(obs), self.policy.n_actions):
            raise OPEError(f"q_function for {self.policy.name!r} returned shape {q.shape}, "
                           f"expected ({len(obs)}, {self.policy.n_actions})")
        return q

    def q(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        if self.policy.discrete:
            return self.q_all(obs)[np.arange(len(obs)), np.asarray(actions, np.int64)]
        q = np.asarray(self.fn(as_policy_input(obs), np.asarray(actions, np.float32)),
                       np.float64).reshape(-1)
        if q.shape != (len(obs),):
            raise OPEError(f"q_function for {self.policy.name!r} returned shape {q.shape}, "
                           f"expected ({len(obs)},)")
        return q

    def value(self, obs: np.ndarray) -> np.ndarray:
        return _value(self, obs)


def _value(model: Any, obs: np.ndarray) -> np.ndarray:
    pol = model.policy
    if pol.discrete:
        return (pol.action_probs(obs) * model.q_all(obs)).sum(1)
    if pol.kind == "stochastic-continuous":  # one-sample Monte Carlo average over 8 draws
        rng = np.random.default_rng(0)
        return np.mean([model.q(obs, pol.sample(obs, rng)) for _ in range(8)], axis=0)
    return model.q(obs, pol.greedy(obs))


def q_and_v(model: Any, ds: EpisodeDataset) -> tuple[np.ndarray, np.ndarray]:
    """``(Qhat(s_t, a_t), Vhat(s_t))`` for every transition, (N,) each (image frames chunk by
    chunk)."""
    pol = model.policy

    def both(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        if pol.discrete:
            qa = model.q_all(obs)
            q = qa[np.arange(len(obs)), np.asarray(acts, np.int64)]
            return np.stack([q, (pol.action_probs(obs) * qa).sum(1)], 1)
        return np.stack([model.q(obs, acts), model.value(obs)], 1)

    qv = map_transitions(ds, both)
    return qv[:, 0], qv[:, 1]


def fit_fqe(ds: EpisodeDataset, policy: EvaluationPolicy, gamma: float, *, seed: int = 0,
            device: str = "cpu:0", config: dict[str, Any] | None = None,
            progress: bool = False, episode_counts: np.ndarray | None = None) -> FQEModel:
    """Fit FQE for ``policy`` on ``ds``'s transitions (see the module docstring).

    Args:
        ds: the dataset.
        policy: the evaluated policy (its ``sample`` gives the next actions).
        gamma: discount.
        seed: seeds network initialisation (torch RNG saved and restored) and mini-batches.
        device: torch device for d3rlpy.
        config: overrides of ``n_steps`` (5000), ``batch_size`` (256), ``learning_rate``
            (3e-4), ``target_update_interval`` (100), ``hidden_units`` ((128, 128); vector
            observations only: images get a pixel encoder), ``n_critics`` (1).
        progress: show a ``tqdm`` bar.
        episode_counts: (E,) non-negative integers: fit on a resample of episodes, episode
            ``k`` counted ``episode_counts[k]`` times (a bootstrap refit); ``None`` fits on
            every episode once.

    Raises:
        ConfigError: unknown config keys or bad values.
        OPEError: training diverged (non-finite loss); a decision transformer (not a
            Markov policy: see :meth:`EvaluationPolicy.require_markov`).
    """
    policy.require_markov("FQE")
    import torch
    from tqdm.auto import tqdm

    from .._d3rlpy import d3rlpy  # quiet: before any other d3rlpy import
    from ..data.collect import torch_threads

    # isort: split
    from d3rlpy.dataset import TransitionMiniBatch
    from d3rlpy.models.encoders import (
        DefaultEncoderFactory,
        PixelEncoderFactory,
        VectorEncoderFactory,
    )
    from d3rlpy.ope import FQE, DiscreteFQE, FQEConfig
    from d3rlpy.preprocessing import PixelObservationScaler

    from ..data.images import SMALL_PIXEL_ENCODER, nature_cnn_fits

    cfg: dict[str, Any] = dict(_DEFAULTS)
    unknown = set(config or {}) - set(cfg)
    if unknown:
        raise ConfigError(f"unknown FQE setting(s) {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(config or {})
    n_steps, bs = int(cfg["n_steps"]), int(cfg["batch_size"])
    if n_steps < 1 or bs < 1:
        raise ConfigError("FQE n_steps and batch_size must be >= 1")
    rng = np.random.default_rng(seed)
    encoder: Any
    scaler = None
    if ds.is_image:
        encoder = (DefaultEncoderFactory() if nature_cnn_fits(ds.observation_shape)
                   else PixelEncoderFactory(**SMALL_PIXEL_ENCODER))
        scaler = PixelObservationScaler()
    else:
        encoder = VectorEncoderFactory(hidden_units=list(cfg["hidden_units"]))
    fconf = FQEConfig(gamma=float(gamma), learning_rate=float(cfg["learning_rate"]),
                      batch_size=bs, target_update_interval=int(cfg["target_update_interval"]),
                      n_critics=int(cfg["n_critics"]), encoder_factory=encoder,
                      observation_scaler=scaler)
    # the shim gets the frames FQE has scaled: it undoes the scaling for the policy
    shim = _ShimAlgo(_ShimImpl(policy, rng, scaler))
    cls = DiscreteFQE if policy.discrete else FQE
    acts = (ds.actions.reshape(-1, 1) if policy.discrete else ds.actions).astype(
        np.float32)  # d3rlpy mini-batches hold float32 actions, discrete ones as (B, 1)
    rews = ds.rewards.astype(np.float32).reshape(-1, 1)
    terms = np.zeros((ds.n_transitions, 1), np.float32)
    terms[ds.offsets[1:][ds.terminated] - 1] = 1.0
    keep = ds.td_mask  # targets need s': leave out steps whose next observation is unknown
    steps = np.arange(ds.n_transitions)
    if episode_counts is not None:
        counts = np.asarray(episode_counts, dtype=np.int64)
        if counts.shape != (ds.n_episodes,) or (counts < 0).any():
            raise ConfigError(f"episode_counts must be ({ds.n_episodes},) non-negative "
                              f"integers, got shape {counts.shape}")
        steps = np.repeat(steps, counts[ds.episode_index])
        steps = steps[keep[steps]]
    elif not keep.all():
        steps = steps[keep]
    N = len(steps)
    if N == 0:
        raise OPEError(f"FQE needs transitions with a next observation; '{ds.name}' has none "
                       "(every episode is one step long and its final observation unknown)")
    if ds.is_image:  # frames gathered per batch (uint8 -> float32 for the batch only)
        def frames(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            s = steps[idx]
            return (ds.observations_at(s).astype(np.float32),
                    ds.observations_at(s, next=True).astype(np.float32))
    else:  # vectors: float32 copies once, batches by take
        obs32 = ds.observations_at(steps).astype(np.float32)
        nxt32 = ds.observations_at(steps, next=True).astype(np.float32)

        def frames(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return obs32[idx], nxt32[idx]
    acts, rews, terms = acts[steps], rews[steps], terms[steps]
    state = torch.random.get_rng_state()
    losses = np.empty(n_steps)
    try:
        torch.manual_seed(seed)
        fqe = cls(algo=shim, config=fconf, device=device)  # type: ignore[arg-type]
        fqe.create_impl(tuple(ds.observations.shape[1:]),
                        int(ds.action_space.n or 0) if policy.discrete else int(acts.shape[1]))
        ones = np.ones((bs, 1), np.float32)
        with torch_threads(1), tqdm(total=n_steps, desc=f"FQE {policy.name}",
                                    disable=not progress, leave=False) as bar:
            for step in range(n_steps):
                idx = rng.integers(0, N, bs)
                o, nx = frames(idx)
                batch = TransitionMiniBatch(observations=o, actions=acts[idx],
                                            rewards=rews[idx], next_observations=nx,
                                            next_actions=np.zeros_like(acts[idx]),
                                            terminals=terms[idx], intervals=ones,
                                            transitions=[])
                losses[step] = fqe.update(batch)["loss"]
                bar.update(1)
    finally:
        torch.random.set_rng_state(state)
    if not np.isfinite(losses[-min(100, n_steps):]).all():
        raise OPEError(f"FQE for policy {policy.name!r} diverged (non-finite loss). Fix: lower "
                       "fqe_config['learning_rate'] or check the rewards' scale")
    del d3rlpy
    return FQEModel(fqe, policy, losses)
