"""Evaluation during training and the offline training-health signals.

Held-out evaluation (vectorised, on episodes not used for training):

``eval/td_error``
    mean squared TD error ``(Q(s, a) - r - γ (1 - terminal) Q(s', π(s')))²`` over held-out
    transitions (d3rlpy's ``TDErrorEvaluator``; rewards pass through the reward scaler).
``value/initial``
    mean ``Q(s₀, π(s₀))`` over held-out initial states (``InitialStateValueEstimationEvaluator``).
``value/dataset_q``
    mean ``Q(s, a)`` of the *dataset* actions on held-out transitions (Kumar et al.'s
    "average dataset Q-value").
``value/policy_q``
    mean ``Q(s, π(s))`` on held-out states (``AverageValueEstimationEvaluator``).
``eval/return``, ``eval/return_std``
    mean/std undiscounted return of the greedy policy over ``n_episodes`` episodes in the
    job's own environment instance (seeded ``seed + k``).

Health signals (Kumar et al., "A Workflow for Offline Model-Free Robotic RL", CoRL 2021):
see :func:`training_health`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..data.dataset import EpisodeDataset

__all__ = ["HeldOutEvaluator", "EnvEvaluator", "training_health", "split_holdout",
           "transformer_actor"]


def split_holdout(n_episodes: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_episodes, heldout_episodes)`` index arrays.

    ``holdout`` is the fraction of episodes held out (at least one when ``> 0`` and there are
    at least two episodes); ``0`` evaluates on the training episodes.  The split uses its
    own generator seeded with ``seed``; the last episode (possibly unfinished) stays last.
    """
    all_idx = np.arange(n_episodes)
    if holdout <= 0 or n_episodes < 2:
        return all_idx, all_idx
    k = min(n_episodes - 1, max(1, int(round(holdout * n_episodes))))
    rng = np.random.default_rng([seed, 0x5EED])
    held = np.sort(rng.choice(n_episodes, size=k, replace=False))
    train = np.setdiff1d(all_idx, held)
    return train, held


class HeldOutEvaluator:
    """Vectorised TD error and value estimates of an algorithm on held-out episodes.

    Args:
        ds: held-out episodes.
        gamma: discount used by the algorithm.
        max_transitions: evaluate on at most this many transitions (a fixed subset drawn
            with ``seed``), to bound the cost per evaluation; image observations at most
            ``max_image_transitions``.
        batch_size: rows per ``predict``/``predict_value`` call (image observations: at
            most 256).
        max_image_transitions: the cap for image observations (kept uint8: 2,000 4×84×84
            frames and their next frames hold 113 MB; each ``predict`` call converts only
            its batch to float).
    """

    def __init__(self, ds: EpisodeDataset, gamma: float, *, max_transitions: int = 20_000,
                 batch_size: int = 4096, seed: int = 0,
                 max_image_transitions: int = 2_000) -> None:
        idx = np.flatnonzero(ds.td_mask)  # a TD target needs the next observation
        n = len(idx)
        cap = min(max_transitions, max_image_transitions) if ds.is_image else max_transitions
        if n > cap:
            idx = idx[np.sort(np.random.default_rng([seed, 0xE7A1]).choice(n, cap,
                                                                           replace=False))]
        last = ds.offsets[1:] - 1
        terminals = np.zeros(ds.n_transitions, dtype=bool)
        terminals[last[ds.terminated]] = True
        # gathered by row (uint8 frames stay uint8; vectors as float32)
        dtype = None if ds.is_image else np.float32
        self.obs = _as(ds.observations_at(idx), dtype)
        self.next_obs = _as(ds.observations_at(idx, next=True), dtype)
        self.actions = (ds.actions[idx].astype(np.int64) if ds.is_discrete
                        else ds.actions[idx].astype(np.float32))
        self.rewards = ds.rewards[idx].astype(np.float32)
        self.terminals = terminals[idx].astype(np.float32)
        starts = ds.offsets[:-1] + np.arange(ds.n_episodes)
        if ds.is_image and len(starts) > cap:
            starts = starts[np.sort(np.random.default_rng([seed, 0x1417]).choice(
                len(starts), cap, replace=False))]
        self.initial = _as(ds.observations[starts], dtype)
        self.gamma = float(gamma)
        self.batch_size = int(min(batch_size, 256) if ds.is_image else batch_size)
        self.supported = True

    def _batched(self, fn: Any, *arrays: np.ndarray) -> np.ndarray:
        out = [np.asarray(fn(*(a[s:s + self.batch_size] for a in arrays)))
               for s in range(0, len(arrays[0]), self.batch_size)]
        return np.concatenate(out).reshape(-1) if out else np.zeros(0)

    def __call__(self, algo: Any) -> dict[str, float]:
        """Metrics ``eval/td_error``, ``value/initial``, ``value/dataset_q``, ``value/policy_q``.

        Returns ``{}`` for algorithms without a Q-function (behaviour cloning).
        """
        if not self.supported:
            return {}
        try:
            q_data = self._batched(algo.predict_value, self.obs, self.actions)
        except (NotImplementedError, AssertionError):
            self.supported = False
            return {}
        pi_next = self._batched_actions(algo, self.next_obs)
        q_next = self._batched(algo.predict_value, self.next_obs, pi_next)
        rewards = self.rewards
        scaler = getattr(algo, "reward_scaler", None)
        if scaler is not None:
            rewards = np.asarray(scaler.transform_numpy(rewards.reshape(-1, 1))).reshape(-1)
        target = rewards + self.gamma * q_next * (1.0 - self.terminals)
        td = float(np.mean((q_data - target) ** 2, dtype=np.float64))
        pi = self._batched_actions(algo, self.obs)
        q_pi = self._batched(algo.predict_value, self.obs, pi)
        pi0 = self._batched_actions(algo, self.initial)
        q0 = self._batched(algo.predict_value, self.initial, pi0)
        return {"eval/td_error": td, "value/initial": float(np.mean(q0, dtype=np.float64)),
                "value/dataset_q": float(np.mean(q_data, dtype=np.float64)),
                "value/policy_q": float(np.mean(q_pi, dtype=np.float64))}

    def _batched_actions(self, algo: Any, obs: np.ndarray) -> np.ndarray:
        out = [np.asarray(algo.predict(obs[s:s + self.batch_size]))
               for s in range(0, len(obs), self.batch_size)]
        return np.concatenate(out)


class EnvEvaluator:
    """Greedy-policy return in the job's own environment instance.

    A decision transformer (``target_return`` given) is rolled out as d3rlpy's
    ``StatefulTransformerWrapper`` conditioned on ``target_return``: reset at the start of
    every episode, fed each observation with the previous reward (0 first), acting greedily
    (``argmax`` over the action logits for discrete actions, the predicted action for
    continuous ones).  Its episodes stop after ``max_timestep - 1`` steps (the timesteps its
    position embedding can index) if the environment has not ended them before.

    Args:
        env: a gymnasium environment id (a fresh instance is made per job, with the
            observation preprocessing collection applies: MinAtar and Atari frames as in
            :func:`workbench.data.collect.envs.make_env`) or an environment object (used as
            is: do not share one object between jobs).
        n_episodes: episodes per evaluation.
        seed: episode ``k`` is reset with ``seed + k`` (the same start states every time).
        max_steps: hard cap per episode (besides the env's own time limit).
        target_return: evaluate a decision transformer at this target return (``None``: a
            Markov policy, ``algo.predict``).
    """

    def __init__(self, env: Any, n_episodes: int = 5, seed: int = 0,
                 max_steps: int = 100_000, target_return: float | None = None) -> None:
        if isinstance(env, str):
            from ..data.collect.envs import make_env

            env = make_env(env)
        self.env = env
        self.n_episodes = int(n_episodes)
        self.seed = int(seed)
        self.max_steps = int(max_steps)
        self.target_return = None if target_return is None else float(target_return)

    def __call__(self, algo: Any) -> dict[str, float]:
        """``{"eval/return": mean, "eval/return_std": std}`` over ``n_episodes`` episodes."""
        dt = None if self.target_return is None else transformer_actor(algo, self.target_return)
        cap = self.max_steps if dt is None else min(self.max_steps,
                                                    int(algo.config.max_timestep) - 1)
        returns = []
        for k in range(self.n_episodes):
            obs, _ = self.env.reset(seed=self.seed + k)
            total, steps, done, r = 0.0, 0, False, 0.0
            if dt is not None:
                dt.reset()
            while not done and steps < cap:
                x = np.array(obs, dtype=np.float32)  # a copy: a DT's actor keeps it
                a = algo.predict(x[None])[0] if dt is None else dt.predict(x, r)
                obs, r, term, trunc, _ = self.env.step(a)
                r = float(r)
                total += r
                steps += 1
                done = bool(term or trunc)
            returns.append(total)
        arr = np.asarray(returns)
        return {"eval/return": float(arr.mean()), "eval/return_std": float(arr.std())}

    def close(self) -> None:
        try:
            self.env.close()
        except Exception:  # pragma: no cover
            pass


def transformer_actor(algo: Any, target_return: float) -> Any:
    """d3rlpy's ``StatefulTransformerWrapper`` of a decision transformer conditioned on
    ``target_return``, acting greedily: ``GreedyTransformerActionSampler`` (argmax) for
    discrete actions, ``IdentityTransformerActionSampler`` for continuous ones.  Call
    ``reset()`` at every episode start and ``predict(observation, last_reward)`` per step."""
    from .._d3rlpy import d3rlpy

    sampler = (d3rlpy.algos.GreedyTransformerActionSampler()
               if algo.get_action_type() == d3rlpy.ActionSpace.DISCRETE
               else d3rlpy.algos.IdentityTransformerActionSampler())
    return algo.as_stateful_wrapper(float(target_return), action_sampler=sampler)


def _as(x: np.ndarray, dtype: Any) -> np.ndarray:
    return x if dtype is None else x.astype(dtype)


def _series(metrics: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    m = metrics[metrics["name"] == name].sort_values("step")
    m = m[np.isfinite(m["value"].to_numpy(dtype=np.float64))]
    return m["step"].to_numpy(), m["value"].to_numpy(dtype=np.float64)


def _smooth(x: np.ndarray) -> np.ndarray:
    """Centred running median of 3 (ends kept): robust to single noisy evaluations."""
    if len(x) < 3:
        return x
    y = x.copy()
    y[1:-1] = np.median(np.stack([x[:-2], x[1:-1], x[2:]]), axis=0)
    return y


def training_health(metrics: pd.DataFrame, *, min_points: int = 5, drop: float = 0.2,
                    rise: float = 0.1, min_fall: float = 0.05, td_relative: float = 0.1,
                    td_falling: float = 0.95) -> pd.DataFrame:
    """Kumar et al.'s offline training-health flags from a run's metrics, never both at once.

    **Underfitting** (``eval/td_error``, else ``loss/td`` / ``loss/critic`` / ``loss``):
    the TD error is *high* — its root over the mean ``|dataset Q|`` exceeds
    ``td_relative`` at the end — and *not falling* — the mean over the last third is at
    least ``td_falling`` × the mean over the middle third.  Suggests more capacity
    (a bigger network) or more steps.

    **Overfitting** (``value/dataset_q``): the smoothed average dataset Q-value rose to a
    peak (by more than ``rise`` × its range) and then fell by more than ``drop`` × that
    rise and by more than ``min_fall`` × ``|peak|`` by the last evaluation, while the
    TD error is *not* underfitting.  Suggests stopping near the peak or regularising more
    (e.g. a larger CQL weight, a smaller network, dropout).  A Q-function that does not fit
    its targets yet (underfitting) says nothing about overfitting: its fall after a peak is
    then reported as ``inconclusive``, so the two flags never contradict each other.

    Args:
        metrics: tidy metrics (``step, name, value``) of one run.
        min_points: evaluations needed before a flag can be raised.

    Returns:
        One row per signal: ``signal`` (``overfitting``/``underfitting``), ``flag`` (bool),
        ``status`` (``ok``, ``warning``, ``inconclusive`` or ``insufficient data``),
        ``metric`` (the curve the verdict reads), ``reason`` (a sentence with the numbers
        and steps behind the verdict).
    """
    import pandas as pd

    td_name = next((n for n in ("eval/td_error", "loss/td", "loss/critic", "loss")
                    if (metrics["name"] == n).any()), "eval/td_error")
    steps_td, td = _series(metrics, td_name)
    if len(td) < min_points:
        under = ("underfitting", False, "insufficient data", td_name,
                 f"needs {min_points} values of a TD-error metric, has {len(td)}")
    else:
        third = max(1, len(td) // 3)
        late = float(np.mean(td[-third:]))
        mid = float(np.mean(td[-2 * third:-third])) if len(td) >= 2 * third + 1 else float(
            np.mean(td[:third]))
        _, qv = _series(metrics, "value/dataset_q")
        scale = float(np.mean(np.abs(qv[-third:]))) if len(qv) else float("nan")
        rel = float(np.sqrt(max(late, 0.0)) / scale) if scale and np.isfinite(scale) else float(
            "inf")
        high = rel > td_relative
        flat = late >= td_falling * mid
        window = f"steps {int(steps_td[-third])}-{int(steps_td[-1])}"
        if high and flat:
            under = ("underfitting", True, "warning", td_name,
                     f"{td_name} stays high and is not falling (mean {late:.4g} over {window} vs "
                     f"{mid:.4g} before; its root is {rel:.2f}× the mean |dataset Q|): likely "
                     "underfitting; try a bigger network or more steps")
        else:
            why = "is falling" if not flat else "is low"
            under = ("underfitting", False, "ok", td_name,
                     f"{td_name} {why} (mean {late:.4g} over {window} vs {mid:.4g} before; root "
                     f"{rel:.2f}× mean |dataset Q|)")
    steps, q = _series(metrics, "value/dataset_q")
    if len(q) < min_points:
        over = ("overfitting", False, "insufficient data", "value/dataset_q",
                f"needs {min_points} evaluations of value/dataset_q, has {len(q)}")
    else:
        qs = _smooth(q)
        i = int(np.argmax(qs))
        span = float(qs.max() - qs.min())
        up = float(qs[i] - qs[0])
        down = float(qs[i] - qs[-1])
        fell = (i < len(qs) - 1 and span > 0 and up > rise * span and down > drop * up
                and down > min_fall * abs(float(qs[i])))
        story = (f"dataset Q (running median of 3) peaked at {qs[i]:.4g} (step {int(steps[i])}) "
                 f"and fell {down:.4g} ({100 * down / up:.0f}% of its rise) to {qs[-1]:.4g} by "
                 f"step {int(steps[-1])}") if fell else ""
        if fell and under[1]:
            over = ("overfitting", False, "inconclusive", "value/dataset_q",
                    f"{story}, but the TD error is high and not falling (underfitting): a "
                    "Q-function that does not fit its targets yet gives no evidence of "
                    "overfitting")
        elif fell:
            over = ("overfitting", True, "warning", "value/dataset_q",
                    f"{story}: likely overfitting; use the checkpoint near step "
                    f"{int(steps[i])} or regularise more")
        else:
            over = ("overfitting", False, "ok", "value/dataset_q",
                    f"dataset Q has not fallen after a peak (last {qs[-1]:.4g}, max {qs[i]:.4g} "
                    f"at step {int(steps[i])})")
    return pd.DataFrame([over, under], columns=["signal", "flag", "status", "metric", "reason"])
