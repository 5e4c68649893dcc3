"""A small chain MDP with exactly known values, sampled in lockstep (vectorised over episodes).

States 0..L-1, observed one-hot; action 1 moves right, action 0 moves left (floor 0), each
with probability 1 - slip (else the state stays); stepping right from L-1 ends the episode
(terminal).  Reward r(s, a) = 1 + 0.5 s - 0.3 a.  Episodes start in state 0 (or from ``d0``).
Behaviour and evaluation policies are state-dependent probabilities of action 1.
"""

from __future__ import annotations

import numpy as np

from workbench.data.dataset import EpisodeDataset, Space

L = 4
R = np.array([[1 + 0.5 * s - 0.3 * a for a in (0, 1)] for s in range(L)])
PB = np.array([0.5, 0.55, 0.6, 0.65])      # behaviour P(a=1 | s)
PE = np.array([0.8, 0.7, 0.75, 0.9])       # evaluation P(a=1 | s)


class TablePolicy:
    """Stochastic discrete policy over the one-hot chain states (action_probs protocol)."""

    def __init__(self, p1):
        self.p1 = np.asarray(p1, dtype=np.float64)

    def action_probs(self, obs):
        s = np.argmax(np.asarray(obs), axis=1)
        p = self.p1[s]
        return np.stack([1 - p, p], axis=1)


def transition(slip: float):
    """P[s, a, s'] over states 0..L (L = terminal)."""
    P = np.zeros((L, 2, L + 1))
    for s in range(L):
        P[s, 1, s + 1] += 1 - slip
        P[s, 1, s] += slip
        P[s, 0, max(s - 1, 0)] += 1 - slip
        P[s, 0, s] += slip
    return P


def exact_q(p1, gamma: float, slip: float = 0.0):
    """(Q (L, 2), V (L,)) of the policy with P(a=1|s) = p1[s]."""
    P = transition(slip)
    pi = np.stack([1 - np.asarray(p1), np.asarray(p1)], 1)
    # V = sum_a pi (R + gamma P V)  ->  (I - gamma P_pi) V = R_pi
    Ppi = np.einsum("sa,sat->st", pi, P)[:, :L]
    Rpi = (pi * R).sum(1)
    V = np.linalg.solve(np.eye(L) - gamma * Ppi, Rpi)
    Q = R + gamma * P[:, :, :L] @ V
    return Q, V


def sample_chain(n_episodes: int, seed: int, *, slip: float = 0.0, p1=PB, d0=None,
                 max_len: int = 10_000) -> EpisodeDataset:
    """``n_episodes`` episodes of the policy ``p1``; logs behavior_log_prob."""
    rng = np.random.default_rng(seed)
    p1 = np.asarray(p1)
    s = np.zeros(n_episodes, dtype=np.int64) if d0 is None else rng.choice(L, n_episodes, p=d0)
    alive = np.ones(n_episodes, bool)
    S, A, Rw, LP, EP = [], [], [], [], []
    t = 0
    while alive.any() and t < max_len:
        idx = np.flatnonzero(alive)
        st = s[idx]
        a = (rng.random(len(idx)) < p1[st]).astype(np.int64)
        lp = np.log(np.where(a == 1, p1[st], 1 - p1[st]))
        move = rng.random(len(idx)) >= slip
        nxt = np.where(move, np.where(a == 1, st + 1, np.maximum(st - 1, 0)), st)
        S.append(st); A.append(a); Rw.append(R[st, a]); LP.append(lp); EP.append(idx)
        s[idx] = nxt
        alive[idx[nxt == L]] = False
        t += 1
    ep = np.concatenate(EP)
    order = np.argsort(ep, kind="stable")  # episode-major, time order kept
    st, a, r, lp, ep = (np.concatenate(x)[order] for x in (S, A, Rw, LP, [ep]))
    lengths = np.bincount(ep, minlength=n_episodes)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    E, N = n_episodes, len(a)
    # observations: T+1 per episode; final obs is the terminal state (one-hot of index L-1 is
    # never used after a terminal, encode it as all-zeros)
    obs = np.zeros((N + E, L), np.float32)
    rows = np.arange(N) + np.repeat(np.arange(E), lengths)
    obs[rows, st] = 1.0
    return EpisodeDataset(obs, a, r.astype(np.float64), offsets, np.ones(E, bool),
                          np.zeros(E, bool), Space.box(np.zeros(L), np.ones(L)),
                          Space.discrete_space(2), extras={"behavior_log_prob": lp},
                          metadata={"name": "chain"})


def q_table_fn(Q):
    """q(obs) -> (B, 2) for one-hot chain observations."""
    return lambda obs: Q[np.argmax(np.asarray(obs), axis=1)]


def naive_estimates(rewards, offsets, log_ratio, gamma, q=None, v=None, clip=None):
    """Straightforward per-episode loops (reference implementation for the tests)."""
    E = len(offsets) - 1
    T = int(np.diff(offsets).max())
    W = np.zeros((E, T)); Rm = np.zeros((E, T)); Qm = np.zeros((E, T)); Vm = np.zeros((E, T))
    Wp = np.zeros((E, T)); alive = np.zeros((E, T), bool)
    isv, wn, wd, pd_, dr = [], [], [], [], []
    for i in range(E):
        s, e = offsets[i], offsets[i + 1]
        n = e - s
        w = np.exp(np.cumsum(log_ratio[s:e]))
        if clip is not None:
            w = np.minimum(w, clip)
        W[i, :n] = w; W[i, n:] = w[-1]; Rm[i, :n] = rewards[s:e]; alive[i, :n] = True
        wp = np.concatenate([[1.0], w[:-1]]); Wp[i, :n] = wp
        d = gamma ** np.arange(n)
        G = (d * rewards[s:e]).sum()
        isv.append(w[-1] * G); wn.append(w[-1] * G); wd.append(w[-1])
        pd_.append((d * w * rewards[s:e]).sum())
        if q is not None:
            Qm[i, :n] = q[s:e]; Vm[i, :n] = v[s:e]
            dr.append((d * (w * (rewards[s:e] - q[s:e]) + wp * v[s:e])).sum())
    out = {"is": np.mean(isv), "wis": np.sum(wn) / np.sum(wd), "pdis": np.mean(pd_)}
    dt = gamma ** np.arange(T)
    out["wpdis"] = (dt * (W * Rm * alive).sum(0) / W.sum(0)).sum()
    if q is not None:
        out["dr"] = np.mean(dr)
        out["fqe"] = np.mean(v[offsets[:-1]])
        D = W.sum(0)
        Dp = np.concatenate([[E], D[:-1]])
        out["wdr"] = (dt * ((W * (Rm - Qm) * alive).sum(0) / D
                            + (Wp * Vm * alive).sum(0) / Dp)).sum()
    return out


def chain_env_factory(slip: float = 0.0):
    """A gymnasium env of the chain (for ground-truth rollouts)."""
    import gymnasium as gym

    class ChainEnv(gym.Env):
        observation_space = gym.spaces.Box(0.0, 1.0, (L,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.s = 0
            return self._obs(), {}

        def _obs(self):
            o = np.zeros(L, np.float32)
            if self.s < L:
                o[self.s] = 1.0
            return o

        def step(self, a):
            r = float(R[self.s, int(a)])
            if self.np_random.random() >= slip:
                self.s = self.s + 1 if int(a) == 1 else max(self.s - 1, 0)
            return self._obs(), r, self.s == L, False, {}

    return ChainEnv
