"""The vectorised rollout engine: a behaviour in a vector env for a budget of steps.

``n_envs`` copies of the environment run in a ``gymnasium`` ``SyncVectorEnv``; the policy
is evaluated once per vector step on the batch of observations.  gymnasium 1.0 vector envs
autoreset in NEXT_STEP mode: the step after an episode ends returns the reset observation
and ignores the action; that step is *not* a transition and is never recorded.  Episode
flags keep ``terminated`` (an MDP terminal state) and ``truncated`` (a time limit) apart.

``n_steps`` is the transition budget: collection stops after exactly ``n_steps``
transitions have been generated, and the episodes still running at that moment are
*dropped*, so the dataset holds only finished episodes (``n_transitions <= n_steps``).
To make sure every environment can finish an episode, ``n_envs`` is lowered to
``n_steps // max_episode_steps`` (at least 1) when the budget is small
(:func:`~workbench.data.collect.envs.effective_n_envs`); the number used is recorded in
``metadata["n_envs"]``.  When no episode finishes,
:class:`~workbench.errors.CollectionError` is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ...errors import CollectionError
from ..dataset import EpisodeDataset
from ..space import Space
from .envs import torch_threads

__all__ = ["Progress", "Record", "rollout", "to_dataset"]


#: ``progress`` argument of the collection functions: ``True``/``False`` for a ``tqdm.auto``
#: bar, or a callable ``progress(desc, n_done, total)`` called as environment steps are done
#: (a dashboard's progress bar, a log line); ``desc`` names the phase ("online DQN", ...).
Progress = Union[bool, Callable[[str, int, int], None]]


class _CallbackBar:
    """The slice of tqdm's interface the rollouts use, reporting to a callable."""

    def __init__(self, total: int, desc: str, report: Callable[[str, int, int], None]) -> None:
        self.total, self.desc, self.n, self._report = int(total), desc, 0, report
        report(desc, 0, self.total)

    def update(self, k: int = 1) -> None:
        self.n += int(k)
        self._report(self.desc, min(self.n, self.total), self.total)

    def __enter__(self) -> _CallbackBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _bar(total: int, desc: str, progress: Progress):
    if callable(progress):
        return _CallbackBar(total, desc, progress)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False,
                mininterval=0.5)


@dataclass
class Record:
    """Per-vector-step arrays of a rollout; turned into episodes by :meth:`episodes`."""

    obs: list = field(default_factory=list)        # T + 1 entries of (n_envs, d)
    act: list = field(default_factory=list)        # T entries
    rew: list = field(default_factory=list)
    term: list = field(default_factory=list)
    trunc: list = field(default_factory=list)
    valid: list = field(default_factory=list)      # step is a transition (not an autoreset)
    logp: list = field(default_factory=list)       # None entries when unknown
    index: list = field(default_factory=list)      # global transition number (-1: not one)
    index_name: str | None = None                  # record `index` as this extra

    def episodes(self) -> list[tuple[int, int, dict]]:
        """Finished episodes as ``(end_step, env, episode_dict)``, ordered by end time."""
        obs = np.stack(self.obs)
        act, rew = np.stack(self.act), np.stack(self.rew)
        term, trunc = np.stack(self.term), np.stack(self.trunc)
        valid = np.stack(self.valid)
        has_logp = all(lp is not None for lp in self.logp) and len(self.logp) > 0
        logp = np.stack(self.logp) if has_logp else None
        extra = {self.index_name: np.stack(self.index)} if self.index_name else {}
        out = []
        T, n_envs = valid.shape
        for i in range(n_envs):
            ends = np.flatnonzero(valid[:, i] & (term[:, i] | trunc[:, i]))
            start = 0
            for e in ends:
                # first valid step at or after `start` (skips the autoreset step)
                s = start
                while not valid[s, i]:
                    s += 1
                ex = {k: v[s:e + 1, i] for k, v in extra.items()}
                if logp is not None:
                    ex["behavior_log_prob"] = logp[s:e + 1, i].astype(np.float64)
                out.append((int(e), i, {
                    "observations": obs[s:e + 2, i], "actions": act[s:e + 1, i],
                    "rewards": rew[s:e + 1, i].astype(np.float64),
                    "terminated": bool(term[e, i]), "truncated": bool(trunc[e, i]),
                    "extras": ex}))
                start = e + 1
        out.sort(key=lambda t: (t[0], t[1]))
        return out


def rollout(envs: Any, behavior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
            n_steps: int, rng: np.random.Generator, *, progress: Progress = True,
            desc: str = "collect",
            on_step: Callable[[dict[str, np.ndarray]], None] | None = None,
            index_name: str | None = None) -> Record:
    """Run ``behavior`` in the vector env ``envs`` for exactly ``n_steps`` transitions.

    Args:
        envs: a gymnasium vector env (NEXT_STEP autoreset), not yet reset.
        behavior: ``obs (B, d) -> (actions (B, ...), log_probs (B,) or None)``.
        n_steps: number of transitions to generate (autoreset steps do not count).
        rng: seeds the environments (one child seed per sub-env).
        progress, desc: the ``tqdm.auto`` progress bar (or a :data:`Progress` callable).
        on_step: called after each vector step with the valid transitions of that step
            (``obs``, ``actions``, ``rewards``, ``next_obs``, ``terminated``, ``truncated``),
            e.g. to fill a replay buffer and run updates.
        index_name: when given, each transition's 0-based position in the run (the order
            in which the budget was spent) is recorded as this int64 extra.

    Torch runs with one thread inside (restored afterwards).

    Returns:
        the recorded per-step arrays; ``Record.episodes()`` gives the finished episodes.
    """
    n_envs = envs.num_envs
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n_envs)]
    obs, _ = envs.reset(seed=seeds)
    rec = Record(index_name=index_name)
    rec.obs.append(obs)
    autoreset = np.zeros(n_envs, dtype=bool)
    count = 0
    # One torch thread for the policy/updates: small networks gain little from a second
    # thread (1.5 vs 1.25 ms per DQN update on an idle 2-core machine) and lose 10-100x when
    # the cores are busy (spinning intra-op threads: 15 ms instead of 0.15 ms per batched
    # predict, measured); it also keeps results independent of the core count.
    with _bar(n_steps, desc, progress) as bar, torch_threads(1):
        while count < n_steps:
            actions, logp = behavior(obs)
            next_obs, rew, term, trunc, _ = envs.step(actions)
            valid = ~autoreset
            nvalid = int(valid.sum())
            if count + nvalid > n_steps:  # budget reached mid-step: drop the surplus envs
                keep = np.flatnonzero(valid)[: n_steps - count]
                valid = np.zeros(n_envs, dtype=bool)
                valid[keep] = True
                nvalid = len(keep)
            # gymnasium's TimeLimit also sets truncated when the last allowed step reaches a
            # terminal state: the episode terminated (its final state has no future value), so
            # it is recorded as terminated only.
            term = np.asarray(term, dtype=bool)
            trunc = np.asarray(trunc, dtype=bool) & ~term
            rec.act.append(np.asarray(actions))
            rec.rew.append(np.asarray(rew))
            rec.term.append(term)
            rec.trunc.append(trunc)
            rec.valid.append(valid)
            rec.logp.append(None if logp is None else np.asarray(logp, dtype=np.float64))
            idx = np.full(n_envs, -1, dtype=np.int64)
            idx[valid] = count + np.arange(nvalid)
            rec.index.append(idx)
            rec.obs.append(next_obs)
            if on_step is not None and nvalid:
                on_step({"obs": obs[valid], "actions": np.asarray(actions)[valid],
                         "rewards": np.asarray(rew)[valid], "next_obs": next_obs[valid],
                         "terminated": term[valid], "truncated": trunc[valid]})
            count += nvalid
            bar.update(nvalid)
            autoreset = term | trunc
            obs = next_obs
    return rec


def to_dataset(rec: Record, envs: Any, metadata: dict[str, Any]) -> EpisodeDataset:
    """The finished episodes of a rollout as a dataset with the envs' spaces.

    Raises:
        CollectionError: no episode finished.
    """
    eps = rec.episodes()
    if not eps:
        raise CollectionError(
            f"no episode finished within the {sum(int(v.sum()) for v in rec.valid)} collected "
            f"steps of {metadata.get('env_id')} ({metadata.get('scheme')}); in-progress episodes "
            "are dropped. Fix: increase n_steps (at least one full episode per environment) or "
            "lower n_envs")
    if len(envs.single_observation_space.shape) == 3:  # image frames: how to show them
        from .envs import image_env_metadata

        metadata = {**image_env_metadata(str(metadata.get("env_id", ""))), **metadata}
    return EpisodeDataset.from_episodes(
        [e for _, _, e in eps], action_space=Space.from_gym(envs.single_action_space),
        observation_space=Space.from_gym(envs.single_observation_space), metadata=metadata)
