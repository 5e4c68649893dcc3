r"""Importance-sampling family, DR and DM estimators on variable-length episodes, vectorised.

Notation (episode :math:`i = 1..n` of length :math:`T_i`, steps :math:`t = 0..T_i-1`)::

    rho_{i,t} = pi_e(a_{i,t} | s_{i,t}) / pi_b(a_{i,t} | s_{i,t})      per-decision ratio
    w_{i,t}   = prod_{t'<=t} rho_{i,t'}        (w_{i,-1} = 1)            cumulative weight
    W_i       = w_{i,T_i-1}                                              trajectory weight
    G_i       = sum_t gamma^t r_{i,t}                                    discounted return
    Qhat, Vhat(s) = sum_a pi_e(a|s) Qhat(s, a)                           a fitted Q-function

Estimators (all estimate the expected discounted return of ``pi_e`` over episodes that start
from the dataset's initial-state distribution and end the way the dataset's episodes end —
terminal states or the same time limit)::

    DM / FQE  (1/n) sum_i Vhat(s_{i,0})
    IS        (1/n) sum_i W_i G_i
    WIS       sum_i W_i G_i / sum_i W_i
    PDIS      (1/n) sum_i sum_t gamma^t w_{i,t} r_{i,t}
    WPDIS     sum_t gamma^t [sum_i w_{i,t} r_{i,t}] / [sum_i w_{i,t}]
    DR        (1/n) sum_i sum_t gamma^t [ w_{i,t} (r_{i,t} - Qhat(s_{i,t}, a_{i,t}))
                                         + w_{i,t-1} Vhat(s_{i,t}) ]
    WDR       sum_t gamma^t [ sum_i w_{i,t} (r_{i,t} - Qhat_{i,t}) / sum_i w_{i,t}
                              + sum_i w_{i,t-1} Vhat_{i,t} / sum_i w_{i,t-1} ]

(DR is the per-decision doubly robust estimator of Jiang & Li 2016 / Thomas & Brunskill 2016;
WDR its self-normalised form, Thomas & Brunskill's "weighted doubly robust".)

Variable lengths.  For the self-normalised per-decision forms (WPDIS, WDR) an episode that has
ended is continued by a zero-reward absorbing state whose actions have ratio 1: its weight
stays frozen at ``W_i`` and keeps counting in the normaliser ``sum_i w_{i,t}`` of every later
step.  Each normaliser is then an average over all ``n`` episodes of a quantity whose
expectation is 1, which keeps the estimators consistent when lengths differ (normalising only
over the episodes still running at ``t`` would not be).  With equal lengths this is the usual
definition.  ``sum_i w_{i,-1} = n``.

Numerics.  Weights are accumulated in log space per episode (one global ``cumsum`` minus each
episode's starting offset, no Python loop over episodes); ``pi_e(a|s) = 0`` makes a weight
exactly zero from that step on.  The self-normalised estimators rescale the weights of each
time step by their maximum before exponentiating, so they never overflow or underflow; the
unnormalised ones (IS, PDIS, DR) overflow only when a weight exceeds ~1e308, which yields a
warning and a NaN estimate.  Optional clipping caps every cumulative weight ``w_{i,t}`` at
``weight_clip``.

Bootstrap.  Episodes are resampled with replacement (percentile intervals).  A resample is a
row of multinomial counts ``c_{b,i}``; per-episode estimators become one matrix-vector product
``C @ x``, and the per-time sums of WPDIS/WDR one dense matrix product ``C @ M`` with the
(episodes x time) matrix ``M`` (built in blocks of episodes to bound memory).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, OPEError

__all__ = ["ESTIMATORS", "IS_ESTIMATORS", "MODEL_ESTIMATORS", "EpisodeEstimators",
           "bootstrap_counts", "percentile_interval", "weight_diagnostics", "check_gamma",
           "canonical_estimator"]

#: Every estimator name understood (``"dm"`` is an alias of ``"fqe"``).
ESTIMATORS = ("fqe", "dm", "is", "wis", "pdis", "wpdis", "dr", "wdr")
#: Estimators that need importance weights (and so behaviour probabilities).
IS_ESTIMATORS = ("is", "wis", "pdis", "wpdis", "dr", "wdr")
#: Estimators that need a fitted Q-function.
MODEL_ESTIMATORS = ("fqe", "dm", "dr", "wdr")

_PER_TIME = ("wpdis", "wdr")
_BLOCK_ENTRIES = 4_000_000  # entries per dense block (32 MB of float64)


def canonical_estimator(name: str) -> str:
    """Lower-cased estimator name; raises ConfigError for names that do not exist."""
    if not isinstance(name, str) or name.lower() not in ESTIMATORS:
        raise ConfigError(f"unknown OPE estimator {name!r}; choose from "
                          f"{', '.join(ESTIMATORS)}")
    return name.lower()


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float, or ConfigError when it lies outside (0, 1]."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ConfigError(f"gamma must be a number in (0, 1], got {gamma!r}") from None
    if not (0.0 < g <= 1.0):
        raise ConfigError(f"gamma must lie in (0, 1], got {gamma!r}")
    return g


def _warn_nan(name: str, why: str) -> float:
    warnings.warn(f"OPE estimator {name!r} is undefined here ({why}); reporting NaN",
                  RuntimeWarning, stacklevel=3)
    return float("nan")


@dataclass(frozen=True)
class WeightDiagnostics:
    """Diagnostics of the trajectory importance weights ``W_i``.

    Attributes:
        ess: Kish effective sample size ``(sum W)^2 / sum W^2`` (episodes; ``n`` when all
            weights are equal, 1 when one episode carries all the weight).
        ess_fraction: ``ess / n``.
        max_weight_share: ``max_i W_i / sum_i W_i`` (1: a single episode decides IS/WIS).
        zero_weight_fraction: fraction of episodes whose weight is exactly zero (the
            evaluation policy gives probability 0 to one of its logged actions).
        clipped_fraction: fraction of the per-decision weights ``w_{i,t}`` that were clipped
            (0 without clipping).
    """

    ess: float
    ess_fraction: float
    max_weight_share: float
    zero_weight_fraction: float
    clipped_fraction: float


def weight_diagnostics(log_weights: np.ndarray, clipped_fraction: float = 0.0) -> WeightDiagnostics:
    """Diagnostics of trajectory weights given as natural logs (``-inf`` for zero weights).

    Args:
        log_weights: (n,) ``log W_i``.
        clipped_fraction: reported as is.
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    n = len(lw)
    zero = float(np.mean(np.isneginf(lw))) if n else float("nan")
    if n == 0 or np.all(np.isneginf(lw)):
        return WeightDiagnostics(float("nan"), float("nan"), float("nan"), zero,
                                 float(clipped_fraction))
    w = np.exp(lw - lw.max())
    s = w.sum()
    ess = float(s * s / np.dot(w, w))
    return WeightDiagnostics(ess, ess / n, float(w.max() / s), zero, float(clipped_fraction))


def bootstrap_counts(n_episodes: int, n_bootstrap: int, rng: np.random.Generator,
                     start: int = 0, stop: int | None = None) -> np.ndarray:
    """Multinomial resampling counts, (stop - start, n_episodes) float64.

    Row ``b`` counts how often each episode appears in resample ``b`` (rows sum to
    ``n_episodes``).  ``start``/``stop`` select a block of rows; the rows drawn depend only on
    ``rng``'s state, so call it block after block with the same generator.
    """
    stop = n_bootstrap if stop is None else stop
    B = stop - start
    idx = rng.integers(0, n_episodes, size=(B, n_episodes))
    idx += (np.arange(B) * n_episodes)[:, None]
    return np.bincount(idx.ravel(), minlength=B * n_episodes).reshape(B, n_episodes).astype(
        np.float64)


def percentile_interval(replicates: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    """Percentile interval ``(q_{(1-ci)/2}, q_{(1+ci)/2})`` of bootstrap replicates.

    NaN replicates (a resample where a self-normalised estimator is undefined) are ignored;
    all-NaN gives ``(nan, nan)``.
    """
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def _seg_cumsum(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every episode start (one global cumsum)."""
    c = np.cumsum(x)
    base = c[starts] - x[starts]
    c -= np.repeat(base, lengths)
    return c


class EpisodeEstimators:
    """All trajectory estimators of one evaluation policy on one dataset.

    Args:
        rewards: (N,) rewards of the flat transitions.
        offsets: (E+1,) episode ``k`` is transitions ``offsets[k]:offsets[k+1]`` (each >= 1
            step).
        gamma: discount in (0, 1].
        log_ratio: (N,) ``log pi_e(a_t|s_t) - log pi_b(a_t|s_t)``; ``-inf`` where the
            evaluation policy cannot take the logged action.  Needed by IS/WIS/PDIS/WPDIS/
            DR/WDR.
        q_taken: (N,) ``Qhat(s_t, a_t)``; needed by DR/WDR.
        v: (N,) ``Vhat(s_t)``; needed by DM/FQE (at episode starts), DR and WDR.
        weight_clip: cap on every cumulative weight ``w_{i,t}`` (``None``: no clipping).

    Raises:
        OPEError: mismatched lengths, NaN/+inf log-ratios or non-finite Q values.
        ConfigError: gamma outside (0, 1], weight_clip <= 0.
    """

    def __init__(self, rewards: np.ndarray, offsets: np.ndarray, gamma: float, *,
                 log_ratio: np.ndarray | None = None, q_taken: np.ndarray | None = None,
                 v: np.ndarray | None = None, weight_clip: float | None = None) -> None:
        self.gamma = check_gamma(gamma)
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        N = len(self.rewards)
        if self.offsets.ndim != 1 or len(self.offsets) < 2 or self.offsets[0] != 0 \
                or self.offsets[-1] != N or np.any(np.diff(self.offsets) < 1):
            raise OPEError("offsets must run from 0 to len(rewards) with every episode at "
                           "least one step long")
        self.n = len(self.offsets) - 1
        self.starts = self.offsets[:-1]
        self.ends = self.offsets[1:] - 1
        self.lengths = np.diff(self.offsets)
        self.t = np.arange(N) - np.repeat(self.starts, self.lengths)
        self.T = int(self.lengths.max())
        self.disc_t = self.gamma ** np.arange(self.T, dtype=np.float64)
        self.disc = self.disc_t[self.t]
        if weight_clip is not None:
            weight_clip = float(weight_clip)
            if not weight_clip > 0:
                raise ConfigError(f"weight_clip must be > 0, got {weight_clip}")
        self.weight_clip = weight_clip
        self.v = self._check(v, "v", N)
        self.q_taken = self._check(q_taken, "q_taken", N)
        self.log_w: np.ndarray | None = None
        self.clipped_fraction = 0.0
        if log_ratio is not None:
            lr = np.asarray(log_ratio, dtype=np.float64)
            if lr.shape != (N,):
                raise OPEError(f"log_ratio has shape {lr.shape}, expected ({N},)")
            if np.isnan(lr).any() or np.isposinf(lr).any():
                k = int(np.flatnonzero(np.isnan(lr) | np.isposinf(lr))[0])
                raise OPEError(f"importance ratio is NaN or infinite at transition {k}: the "
                               "behaviour probability of a logged action is zero or NaN")
            zero = np.isneginf(lr)
            lw = _seg_cumsum(np.where(zero, 0.0, lr), self.starts, self.lengths)
            if zero.any():
                dead = _seg_cumsum(zero.astype(np.int64), self.starts, self.lengths) > 0
                lw[dead] = -np.inf
            if weight_clip is not None:
                lc = np.log(weight_clip)
                over = lw > lc
                self.clipped_fraction = float(over.mean())
                np.minimum(lw, lc, out=lw)
            self.log_w = lw
        self._cache: dict[str, object] = {}

    @staticmethod
    def _check(a: np.ndarray | None, name: str, N: int) -> np.ndarray | None:
        if a is None:
            return None
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (N,):
            raise OPEError(f"{name} has shape {a.shape}, expected ({N},)")
        if not np.isfinite(a).all():
            raise OPEError(f"{name} holds NaN or infinite values (a diverged Q-function?)")
        return a

    # ------------------------------------------------------------------ ingredients
    def _need(self, name: str) -> None:
        if name in IS_ESTIMATORS and self.log_w is None:
            raise OPEError(f"estimator {name!r} needs importance ratios (log_ratio)")
        if name in MODEL_ESTIMATORS and self.v is None:
            raise OPEError(f"estimator {name!r} needs state values v = Vhat(s_t)")
        if name in ("dr", "wdr") and self.q_taken is None:
            raise OPEError(f"estimator {name!r} needs q_taken = Qhat(s_t, a_t)")

    # the arrays an estimator needs, once _need() has checked they were given
    @property
    def _lw(self) -> np.ndarray:
        assert self.log_w is not None
        return self.log_w

    @property
    def _q(self) -> np.ndarray:
        assert self.q_taken is not None
        return self.q_taken

    @property
    def _v(self) -> np.ndarray:
        assert self.v is not None
        return self.v

    @property
    def w(self) -> np.ndarray:
        """(N,) cumulative weights ``w_{i,t}`` (may hold inf on overflow)."""
        if "w" not in self._cache:
            with np.errstate(over="ignore"):
                self._cache["w"] = np.exp(self._lw)
        return self._cache["w"]  # type: ignore[return-value]

    @property
    def w_prev(self) -> np.ndarray:
        """(N,) ``w_{i,t-1}`` (1 at each episode's first step)."""
        if "w_prev" not in self._cache:
            wp = np.empty_like(self.w)
            wp[1:] = self.w[:-1]
            wp[self.starts] = 1.0
            self._cache["w_prev"] = wp
        return self._cache["w_prev"]  # type: ignore[return-value]

    @property
    def log_W(self) -> np.ndarray:
        """(E,) log trajectory weights."""
        return self._lw[self.ends]

    def diagnostics(self) -> WeightDiagnostics:
        """ESS, max weight share, zero-weight fraction of the trajectory weights."""
        if self.log_w is None:
            nan = float("nan")
            return WeightDiagnostics(nan, nan, nan, nan, nan)
        return weight_diagnostics(self.log_W, self.clipped_fraction)

    def per_episode(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-episode terms ``(x, d)``: the estimate is ``mean(x)`` (``d`` None) or
        ``sum(x) / sum(d)`` (WIS; ``x``, ``d`` rescaled by a common factor).

        Only for the per-episode estimators (fqe/dm, is, wis, pdis, dr).
        """
        name = canonical_estimator(name)
        self._need(name)
        if name in ("fqe", "dm"):
            return self._v[self.starts], None
        if name == "is":
            return np.exp(self.log_W) * self._G(), None
        if name == "wis":
            lW = self.log_W
            m = lW.max()
            if np.isneginf(m):
                return np.zeros(self.n), np.zeros(self.n)
            Wt = np.exp(lW - m)
            return Wt * self._G(), Wt
        if name == "pdis":
            return np.add.reduceat(self.disc * self.w * self.rewards, self.starts), None
        if name == "dr":
            terms = self.disc * (self.w * (self.rewards - self._q) + self.w_prev * self._v)
            return np.add.reduceat(terms, self.starts), None
        raise OPEError(f"{name!r} is not a per-episode estimator")

    def _G(self) -> np.ndarray:
        if "G" not in self._cache:
            self._cache["G"] = np.add.reduceat(self.disc * self.rewards, self.starts)
        return self._cache["G"]  # type: ignore[return-value]

    # ------------------------------------------------------------------ per-time pieces
    def _time_scale(self) -> np.ndarray:
        """(T,) m_t = max over episodes of log w_{i,min(t, T_i-1)} (frozen weights count)."""
        if "m" not in self._cache:
            T = self.T
            m = np.full(T, -np.inf)
            np.maximum.at(m, self.t, self._lw)
            fro = np.full(T + 1, -np.inf)
            np.maximum.at(fro, self.lengths, self.log_W)
            fro = np.maximum.accumulate(fro)[:T]
            self._cache["m"] = np.maximum(m, fro)
        return self._cache["m"]  # type: ignore[return-value]

    def _scaled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scaled weights: (N,) w~_{i,t} = w_{i,t} e^{-m_t}, (N,) w~prev_{i,t} = w_{i,t-1}
        e^{-m_{t-1}} (e^0 at t = 0), (E,) frozen W_i e^{-m_t} is built where needed,
        plus m (T,) and m_prev (T,) with m_prev[0] = 0."""
        if "scaled" not in self._cache:
            lw = self._lw
            hi = lw.max()
            lo = np.min(lw, initial=np.inf, where=lw > -np.inf)
            if hi < 600 and lo > -600:
                # no overflow/underflow possible: scale 1 at every step (saves two passes)
                zeros = np.zeros(self.T)
                self._cache["scaled"] = (self.w, self.w_prev, zeros, zeros)
                return self._cache["scaled"]  # type: ignore[return-value]
            m = self._time_scale()
            msafe = np.where(np.isfinite(m), m, 0.0)
            ws = np.exp(self._lw - msafe[self.t])
            mprev = np.concatenate([[0.0], msafe[:-1]])
            lwp = np.empty_like(self._lw)
            lwp[1:] = self._lw[:-1]
            lwp[self.starts] = 0.0
            wps = np.exp(lwp - mprev[self.t])
            self._cache["scaled"] = (ws, wps, msafe, mprev)
        return self._cache["scaled"]  # type: ignore[return-value]

    def _denominators(self) -> np.ndarray:
        """(T,) scaled normalisers sum_i w_{i,min(t,T_i-1)} e^{-m_t}."""
        ws, _, msafe, _ = self._scaled()
        T = self.T
        alive = np.bincount(self.t, weights=ws, minlength=T)
        # frozen weights of episodes ended at or before t: sum_{i: T_i <= t} W_i e^{-m_t},
        # as exp(F_t - m_t) with F_t = logsumexp_{i: T_i <= t} log W_i (running logaddexp
        # over end times: never overflows, nothing underflows relative to m_t)
        lW = self.log_W
        gm = np.full(T + 1, -np.inf)
        np.maximum.at(gm, self.lengths, lW)
        gsafe = np.where(np.isfinite(gm), gm, 0.0)
        with np.errstate(divide="ignore"):
            g = gsafe + np.log(np.bincount(self.lengths, weights=np.exp(lW - gsafe[self.lengths]),
                                           minlength=T + 1))
        g[np.isneginf(gm)] = -np.inf
        F = np.logaddexp.accumulate(g)[:T]
        with np.errstate(under="ignore"):
            fro = np.exp(F - msafe)
        return alive + fro

    def _per_time(self, name: str) -> float:
        ws, wps, _, _ = self._scaled()
        D = self._denominators()
        T = self.T
        disc_t = self.gamma ** np.arange(T, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if name == "wpdis":
                num = np.bincount(self.t, weights=ws * self.rewards, minlength=T)
                terms = num / D
            else:  # wdr
                A = np.bincount(self.t, weights=ws * (self.rewards - self._q), minlength=T)
                Bv = np.bincount(self.t, weights=wps * self._v, minlength=T)
                Dprev = np.concatenate([[float(self.n)], D[:-1]])
                terms = A / D + Bv / Dprev
        if not np.all(D > 0):
            return _warn_nan(name, "all importance weights are zero from some time step on "
                             "(the evaluation policy never takes the logged actions)")
        return float(np.dot(disc_t, terms))

    # ------------------------------------------------------------------ public
    def estimate(self, name: str) -> float:
        """Point estimate of estimator ``name`` (see the module docstring).

        Returns NaN with a RuntimeWarning where the estimator is undefined (all weights zero
        for a self-normalised estimator) or overflowed.
        """
        name = canonical_estimator(name)
        self._need(name)
        if name in _PER_TIME:
            return self._per_time(name)
        x, d = self.per_episode(name)
        if d is not None:
            sd = d.sum()
            if not sd > 0:
                return _warn_nan(name, "every trajectory weight is zero")
            val = float(x.sum() / sd)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                val = float(x.mean())
        if not np.isfinite(val):
            return _warn_nan(name, "importance weights overflow; consider weight_clip")
        return val

    def bootstrap(self, names: Sequence[str], n_bootstrap: int = 1000, seed: int = 0,
                  block: int | None = None) -> dict[str, np.ndarray]:
        """Bootstrap replicates (episodes resampled with replacement) of each estimator.

        Args:
            names: estimator names.
            n_bootstrap: number of resamples ``B``.
            seed: seeds the resampling; the same seed gives the same resamples for every
                policy evaluated on the same dataset (paired intervals).
            block: resamples per block (default: about 4M count entries per block).

        Returns:
            ``{name: (B,) replicates}`` (NaN where a replicate is undefined).
        """
        names = [canonical_estimator(n) for n in names]
        for n_ in names:
            self._need(n_)
        B, E = int(n_bootstrap), self.n
        out = {n_: np.empty(B) for n_ in names}
        if B <= 0:
            return out
        per_ep = {}
        for n_ in names:
            if n_ not in _PER_TIME:
                per_ep[n_] = self.per_episode(n_)
        need_time = [n_ for n_ in names if n_ in _PER_TIME]
        rng = np.random.default_rng(seed)
        block = block or max(1, min(B, _BLOCK_ENTRIES // max(E, 1)))
        for s in range(0, B, block):
            e = min(B, s + block)
            C = bootstrap_counts(E, B, rng, s, e)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                for n_, (x, d) in per_ep.items():
                    if d is None:
                        out[n_][s:e] = C @ x / E
                    else:
                        out[n_][s:e] = (C @ x) / (C @ d)
            if need_time:
                for n_, vals in self._bootstrap_per_time(need_time, C).items():
                    out[n_][s:e] = vals
        return out

    def _bootstrap_per_time(self, names: Sequence[str], C: np.ndarray) -> dict[str, np.ndarray]:
        """Per-time estimators for a block of count rows C (b, E): sums over episodes as
        dense products C @ M with M (E, T) built for blocks of episodes."""
        ws, wps, msafe, _ = self._scaled()
        T, E = self.T, self.n
        b = C.shape[0]
        lW = self.log_W
        frozen_scaled = None
        acc = {k: np.zeros((b, T)) for k in ("D", "N", "A", "Bv")}
        want_n = "wpdis" in names
        want_dr = "wdr" in names
        ep_block = max(1, _BLOCK_ENTRIES // max(T, 1))
        for i0 in range(0, E, ep_block):
            i1 = min(E, i0 + ep_block)
            s, e = self.offsets[i0], self.offsets[i1]
            rows = np.repeat(np.arange(i1 - i0), self.lengths[i0:i1])
            cols = self.t[s:e]
            Cb = C[:, i0:i1]
            # D: frozen part filled first, then the running steps overwrite their cells
            with np.errstate(over="ignore", under="ignore"):
                frozen_scaled = np.exp(lW[i0:i1, None] - msafe[None, :])
            Md = frozen_scaled
            Md[rows, cols] = ws[s:e]
            acc["D"] += Cb @ Md
            M = np.zeros((i1 - i0, T))
            if want_n:
                M[rows, cols] = ws[s:e] * self.rewards[s:e]
                acc["N"] += Cb @ M
            if want_dr:
                M[rows, cols] = ws[s:e] * (self.rewards[s:e] - self._q[s:e])
                acc["A"] += Cb @ M
                M[rows, cols] = wps[s:e] * self._v[s:e]
                acc["Bv"] += Cb @ M
        disc_t = self.gamma ** np.arange(T, dtype=np.float64)
        res = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            D = acc["D"]
            bad = ~np.all(D > 0, axis=1)
            if want_n:
                r = (acc["N"] / D) @ disc_t
                r[bad] = np.nan
                res["wpdis"] = r
            if want_dr:
                Dprev = np.concatenate([np.full((b, 1), float(E)), D[:, :-1]], axis=1)
                r = (acc["A"] / D + acc["Bv"] / Dprev) @ disc_t
                r[bad] = np.nan
                res["wdr"] = r
        return res
