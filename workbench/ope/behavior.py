"""Behaviour-policy probabilities of the logged actions: logged, given, or estimated.

``behavior_log_prob(ds, behavior)`` returns ``log pi_b(a_t | s_t)`` for every transition:

* ``behavior=None``: the logged values when the dataset has them under any of the names in
  :data:`LOGGED_BEHAVIOR_KEYS` (ours, D4RL's ``infos/action_log_probs``, SCOPE-RL's
  ``pscore``, ...), else estimated as below, with a :class:`BehaviorEstimatedWarning` naming
  the keys searched (once per dataset);
* ``"logged"``: the logged values, OPEError listing the keys searched when there are none;
* ``"bc"``: always estimate with a behaviour-cloning model;
* an array (N,) of log-probabilities (densities for continuous actions, in env action units);
* an object with ``action_probs(obs) -> (B, n)`` (discrete) or ``log_prob(obs, actions)``.

Estimation (``"bc"``) fits a small MLP by maximum likelihood: a softmax classifier for
discrete actions, a diagonal Gaussian with state-dependent mean and standard deviation for
continuous ones (a density in env action units; mass outside the action bounds is not
renormalised).  It is *cross-fitted*: episodes are split into ``n_folds`` folds and each
fold's probabilities come from a model fitted on the other folds, so no episode both fits and
scores the model (in-sample probabilities are over-confident, which biases weights).
Estimated discrete probabilities are floored at ``min_prob`` (default 1e-3), which bounds every
per-step ratio by ``1 / min_prob``.

**Image observations**: the same MLP, on each frame's channel means over 16×16 blocks
(:data:`IMAGE_FEATURE_GRID`; :func:`workbench.data.images.block_means`, pixel units, then
standardised): 1,024 inputs for 4×84×84 Atari stacks, MinAtar's 10×10 layers at full
resolution.  Chosen over a small CNN because it is one model for vectors and pixels, cheap to
fit on CPU inside OPE (a CNN per fold would cost minutes), and features are computed from the
uint8 frames in chunks: only the training sample (``max_samples`` rows) is ever held as
floats, and scoring gathers frames chunk by chunk (no float copy of all observations).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import ConfigError, OPEError
from ._chunks import map_transitions

__all__ = ["behavior_log_prob", "fit_behavior_model", "BehaviorModel", "LOGGED_BEHAVIOR_KEYS",
           "logged_behavior_log_prob", "BehaviorEstimatedWarning", "behavior_features",
           "IMAGE_FEATURE_GRID"]

#: Image observations enter the behaviour model as their channels' means over this many
#: blocks per side.
IMAGE_FEATURE_GRID = 16


def behavior_features(obs: np.ndarray) -> np.ndarray:
    """What the behaviour model sees of observations: vectors flattened to (B, d) float64;
    image frames (B, C, H, W) as their channels' block means (B, C * g * g) float64 over
    ``IMAGE_FEATURE_GRID`` blocks per side, computed chunk by chunk."""
    obs = np.asarray(obs)
    if obs.ndim != 4:
        return np.asarray(obs, np.float64).reshape(len(obs), -1)
    from ..data.images import block_means, chunk_rows, row_chunks

    parts = [block_means(obs[sl], IMAGE_FEATURE_GRID)
             for sl in row_chunks(len(obs), chunk_rows(obs.shape[1:], itemsize=8))]
    return (np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)).astype(np.float64)

#: Where datasets keep the behaviour policy's probability of each logged action, searched in
#: this order among a dataset's per-step extras (readers keep ``infos/<name>`` of D4RL/npz
#: files, Minari ``infos/<name>`` and table columns under ``<name>``):
#: ``(name, "log" for log-probabilities or "prob" for probabilities, who writes it)``.
#: A probability array may also be ``(N, n_actions)`` for discrete actions (the whole
#: distribution; the logged action's entry is used).
LOGGED_BEHAVIOR_KEYS: tuple[tuple[str, str, str], ...] = (
    ("behavior_log_prob", "log", "workbench (wb.collect, catalog datasets)"),
    ("action_log_probs", "log", "D4RL (infos/action_log_probs)"),
    ("action_log_prob", "log", "common in Minari/gymnasium collectors' infos"),
    ("behavior_log_probs", "log", "variant spelling"),
    ("behaviour_log_prob", "log", "British spelling"),
    ("log_prob", "log", "generic collectors"),
    ("log_probs", "log", "generic collectors"),
    ("logprob", "log", "generic collectors"),
    ("logprobs", "log", "D4RL's raw generation scripts"),
    ("pscore", "prob", "SCOPE-RL / Open Bandit Pipeline (propensity score)"),
    ("behavior_prob", "prob", "generic collectors"),
    ("action_prob", "prob", "generic collectors"),
    ("action_probs", "prob", "generic collectors"),
)


class BehaviorEstimatedWarning(UserWarning):
    """No logged behaviour probabilities were found, so a behaviour-cloning model was fitted."""


_WARNED: set[str] = set()


def logged_behavior_log_prob(ds: EpisodeDataset) -> tuple[np.ndarray, str] | None:
    """The logged ``log pi_b(a_t|s_t)`` (N,) float64 and the extra it came from, or ``None``.

    Searches ``ds.extras`` for the names in :data:`LOGGED_BEHAVIOR_KEYS`, in order.

    Raises:
        OPEError: a logged array has a shape that fits neither (N,) nor (N, n_actions).
    """
    N = ds.n_transitions
    for key, kind, _who in LOGGED_BEHAVIOR_KEYS:
        if key not in ds.extras:
            continue
        arr = np.asarray(ds.extras[key], dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim == 2 and ds.is_discrete and arr.shape == (N, int(ds.action_space.n or 0)):
            arr = arr[np.arange(N), np.asarray(ds.actions, np.int64)]
        if arr.shape != (N,):
            raise OPEError(f"extras[{key!r}] has shape {arr.shape}; logged behaviour "
                           f"probabilities must be ({N},) (one per step) or ({N}, n_actions) "
                           "for discrete actions. Fix: reshape it, or pass behavior=<array>")
        if kind == "prob":
            with np.errstate(divide="ignore", invalid="ignore"):
                arr = np.log(arr)
        return arr, key
    return None


def _searched() -> str:
    return ", ".join(k for k, _, _ in LOGGED_BEHAVIOR_KEYS)


class BehaviorModel:
    """A fitted behaviour-cloning model: ``log_prob(obs, actions) -> (B,)`` and
    ``entropy(obs) -> (B,)`` (the one behaviour-cloning model of the workbench: OPE's
    estimated behaviour probabilities and the diagnostics' behaviour entropy both use it).
    """

    def __init__(self, net: Any, discrete: bool, obs_mean: np.ndarray, obs_std: np.ndarray,
                 act_mean: np.ndarray | None = None, act_std: np.ndarray | None = None,
                 min_prob: float = 1e-3) -> None:
        self.net, self.discrete = net, discrete
        self.obs_mean, self.obs_std = obs_mean, obs_std
        self.act_mean, self.act_std = act_mean, act_std
        self.min_prob = min_prob

    def _outputs(self, obs: np.ndarray) -> np.ndarray:
        """(B, out) network outputs (float64) for raw observations (vectors, or image frames:
        featurised chunk by chunk, :func:`behavior_features`)."""
        import torch

        obs = np.asarray(obs)
        step = 65536 if obs.ndim != 4 else 4096
        out = []
        with torch.no_grad():
            for i in range(0, len(obs), step):
                f = behavior_features(obs[i:i + step])
                x = torch.as_tensor(((f - self.obs_mean) / self.obs_std).astype(np.float32))
                out.append(self.net(x).numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, 1))

    def entropy(self, obs: np.ndarray) -> np.ndarray:
        """(B,) entropy of the predicted action distribution at each state: discrete, in
        nats, of the softmax probabilities clipped at 1e-5 (as Schweighofer et al.'s code);
        continuous, the differential entropy per action dimension in nats, in env action
        units (``0.5 log(2 pi e) + log std``)."""
        h = self._outputs(obs)
        if self.discrete:
            h = h - h.max(1, keepdims=True)
            p = np.exp(h)
            p = np.clip(p / p.sum(1, keepdims=True), 1e-5, 1.0)
            return -(p * np.log(p)).sum(1)
        assert self.act_std is not None  # continuous model
        d = h.shape[1] // 2
        log_std = np.clip(h[:, d:], -5.0, 2.0) + np.log(self.act_std)
        return (0.5 * math.log(2 * math.pi * math.e) + log_std).mean(1)

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B,) ``log pi_b(a|s)``: discrete probabilities floored at ``min_prob``; continuous
        densities in env action units."""
        h = self._outputs(obs)
        if self.discrete:
            h -= h.max(1, keepdims=True)
            logp = h - np.log(np.exp(h).sum(1, keepdims=True))
            lp = logp[np.arange(len(h)), np.asarray(actions, np.int64)]
            return np.maximum(lp, math.log(self.min_prob))
        d = h.shape[1] // 2
        assert self.act_mean is not None and self.act_std is not None  # continuous model
        mu, log_std = h[:, :d], np.clip(h[:, d:], -5.0, 2.0)
        a = (np.asarray(actions, np.float64).reshape(len(h), -1) - self.act_mean) / self.act_std
        z = (a - mu) / np.exp(log_std)
        lp = -0.5 * (z * z).sum(1) - log_std.sum(1) - 0.5 * d * math.log(2 * math.pi)
        return lp - float(np.log(self.act_std).sum())  # density in env action units


def fit_behavior_model(obs: np.ndarray, actions: np.ndarray, *, discrete: bool,
                       n_actions: int | None = None, epochs: int = 10, batch_size: int = 256,
                       max_samples: int = 50_000, hidden: int = 64, lr: float = 1e-3,
                       min_prob: float = 1e-3, seed: int = 0) -> BehaviorModel:
    """Fit a behaviour-cloning model on (obs, actions) by maximum likelihood.

    Args:
        obs: (M, obs_dim) vectors, or (M, C, H, W) uint8 image frames (the model then sees
            :func:`behavior_features`, see the module docstring).
        actions: (M,) int (discrete) or (M, act_dim) float.
        discrete, n_actions: the action space.
        epochs, batch_size, hidden, lr: the MLP and its Adam training.
        max_samples: train on at most this many rows, drawn with ``seed``.
        min_prob: floor on the model's discrete probabilities.
        seed: seeds the sample, initialisation and batches.

    Trains on CPU with torch (one thread); the global torch RNG state is saved and restored.
    """
    import torch
    from torch import nn

    from ..data.collect import torch_threads

    rng = np.random.default_rng(seed)
    obs = np.asarray(obs)
    if len(obs) > max_samples:
        idx = rng.choice(len(obs), max_samples, replace=False)
        obs, actions = obs[idx], np.asarray(actions)[idx]
    obs = behavior_features(obs)
    om, os_ = obs.mean(0), obs.std(0)
    os_ = np.where(os_ > 1e-8, os_, 1.0)
    X = torch.as_tensor(((obs - om) / os_).astype(np.float32))
    am = asd = None
    if discrete:
        Y = torch.as_tensor(np.asarray(actions, np.int64))
        out_dim = int(n_actions or 0)
    else:
        acts = np.asarray(actions, np.float64).reshape(len(obs), -1)
        am, asd = acts.mean(0), acts.std(0)
        asd = np.where(asd > 1e-8, asd, 1.0)
        Y = torch.as_tensor(((acts - am) / asd).astype(np.float32))
        out_dim = 2 * acts.shape[1]
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                            nn.ReLU(), nn.Linear(hidden, out_dim))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        M = len(X)
        with torch_threads(1):
            for _ in range(epochs):
                perm = torch.as_tensor(rng.permutation(M))
                for s in range(0, M, batch_size):
                    b = perm[s:s + batch_size]
                    h = net(X[b])
                    if discrete:
                        loss = nn.functional.cross_entropy(h, Y[b])
                    else:
                        d = out_dim // 2
                        mu, log_std = h[:, :d], h[:, d:].clamp(-5.0, 2.0)
                        loss = (0.5 * ((Y[b] - mu) / log_std.exp()) ** 2 + log_std).sum(1).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    finally:
        torch.random.set_rng_state(state)
    net.eval()
    return BehaviorModel(net, discrete, om, os_, am, asd, min_prob)


def _cross_fit(ds: EpisodeDataset, n_folds: int, seed: int, **kw: Any) -> np.ndarray:
    E = ds.n_episodes
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2 for cross-fitting, got {n_folds}")
    if E < n_folds:
        raise OPEError(f"cannot cross-fit a behaviour model with {n_folds} folds on "
                       f"{E} episodes. Fix: lower n_folds or log behaviour probabilities")
    fold_of_ep = np.random.default_rng(seed).permutation(E) % n_folds
    fold = fold_of_ep[ds.episode_index]
    out = np.empty(ds.n_transitions)
    if ds.is_image:  # gather frames by row: the training sample, then the scored chunks
        from ..data.images import chunk_rows, row_chunks

        acts = ds.actions
        cap = int(kw.pop("max_samples", 50_000))
        for k in range(n_folds):
            train = np.flatnonzero(fold != k)
            if len(train) > cap:  # sample the rows before gathering their frames
                train = np.sort(np.random.default_rng([seed, k]).choice(train, cap,
                                                                         replace=False))
            model = fit_behavior_model(ds.observations_at(train), acts[train],
                                       discrete=ds.is_discrete, n_actions=ds.action_space.n,
                                       seed=seed + k, max_samples=cap, **kw)
            test = np.flatnonzero(fold == k)
            for sl in row_chunks(len(test), chunk_rows(ds.observation_shape, itemsize=8)):
                rows = test[sl]
                out[rows] = model.log_prob(ds.observations_at(rows), acts[rows])
        return out
    tr = ds.transitions()
    obs, acts = tr["observations"], tr["actions"]
    for k in range(n_folds):
        test = fold == k
        model = fit_behavior_model(obs[~test], acts[~test], discrete=ds.is_discrete,
                                   n_actions=ds.action_space.n, seed=seed + k, **kw)
        out[test] = model.log_prob(obs[test], acts[test])
    return out


def behavior_log_prob(ds: EpisodeDataset, behavior: Any = None, *, n_folds: int = 5,
                      seed: int = 0, min_prob: float = 1e-3,
                      epochs: int = 10) -> tuple[np.ndarray, str]:
    """``log pi_b(a_t|s_t)`` (N,) for the logged actions and where it came from.

    Args:
        ds: the dataset.
        behavior: see the module docstring.
        n_folds: folds of the cross-fitted behaviour-cloning model.
        seed: seeds fold assignment and model fitting.
        min_prob: floor on estimated discrete probabilities.
        epochs: training epochs of each behaviour-cloning fit.

    Returns:
        ``(log_probs, source)`` with source ``"logged (<extras name>)"``, ``"given"`` or
        ``"bc(cross-fitted, k folds)"``.

    Warns:
        BehaviorEstimatedWarning: ``behavior=None`` and nothing logged was found (once per
            dataset), naming the keys searched.

    Raises:
        OPEError: a logged action has behaviour probability zero (``-inf``), values are NaN,
            the array has the wrong length, ``"logged"`` without logged values (the message
            lists the names searched).
        ConfigError: an unknown ``behavior`` string.
    """
    N = ds.n_transitions
    if isinstance(behavior, str):
        if behavior not in ("logged", "bc", "estimate"):
            raise ConfigError(f"behavior must be None, 'logged', 'bc', an array of "
                              f"log-probabilities or a policy object, got {behavior!r}")
    if behavior is None or (isinstance(behavior, str) and behavior == "logged"):
        found = logged_behavior_log_prob(ds)
        if found is not None:
            lp, key = found
            return _validate(lp, N, f"extras[{key!r}]"), f"logged ({key})"
        if behavior == "logged":
            raise OPEError(f"behavior='logged' but '{ds.name}' has no extras holding logged "
                           f"behaviour probabilities (searched: {_searched()}; it has "
                           f"{sorted(ds.extras) or 'no extras'}). Fix: pass behavior='bc' to "
                           "estimate them, or an (N,) array of log-probabilities")
        if ds.fingerprint not in _WARNED:
            _WARNED.add(ds.fingerprint)
            warnings.warn(f"'{ds.name}' logs no behaviour probabilities (searched extras: "
                          f"{_searched()}); fitting a cross-fitted behaviour-cloning model "
                          "instead. Pass behavior='bc' to choose this explicitly, or "
                          "behavior=<(N,) log-probabilities>", BehaviorEstimatedWarning,
                          stacklevel=3)
        behavior = "bc"
    if isinstance(behavior, str):  # "bc" / "estimate"
        lp = _cross_fit(ds, n_folds, seed, min_prob=min_prob, epochs=epochs)
        return _validate(lp, N, "the behaviour-cloning model"), f"bc(cross-fitted, {n_folds} folds)"
    if isinstance(behavior, np.ndarray) or isinstance(behavior, (list, tuple)):
        return _validate(np.asarray(behavior, np.float64), N, "behavior"), "given"
    acts = ds.actions
    if hasattr(behavior, "action_probs") and ds.is_discrete:
        p = map_transitions(ds, lambda o, _a: behavior.action_probs(o))
        if p.shape != (N, int(ds.action_space.n or 0)):
            raise OPEError(f"behavior.action_probs returned shape {p.shape}, expected "
                           f"({N}, {ds.action_space.n})")
        with np.errstate(divide="ignore"):
            lp = np.log(p[np.arange(N), acts])
        return _validate(lp, N, "behavior.action_probs"), "given"
    if hasattr(behavior, "log_prob"):
        return _validate(map_transitions(ds, behavior.log_prob).reshape(-1), N,
                         "behavior.log_prob"), "given"
    raise ConfigError(f"behavior of type {type(behavior).__name__} is not understood; pass None, "
                      "'logged', 'bc', an (N,) array of log-probabilities or a policy object")


def _validate(lp: np.ndarray, N: int, what: str) -> np.ndarray:
    if lp.shape != (N,):
        raise OPEError(f"{what} has shape {lp.shape}, expected ({N},) — one log-probability "
                       "per transition")
    if np.isnan(lp).any():
        raise OPEError(f"{what} holds NaN log-probabilities (first at transition "
                       f"{int(np.flatnonzero(np.isnan(lp))[0])})")
    if np.isneginf(lp).any():
        k = np.flatnonzero(np.isneginf(lp))
        raise OPEError(f"{what} gives probability zero to {len(k)} logged action(s) (first at "
                       f"transition {int(k[0])}): importance ratios are undefined. The behaviour "
                       "policy could not have produced this data — check the behavior argument")
    if np.isposinf(lp).any():
        raise OPEError(f"{what} holds +inf log-probabilities")
    return lp
