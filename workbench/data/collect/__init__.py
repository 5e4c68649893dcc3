"""Generate datasets from gymnasium environments with the five behaviour schemes.

The schemes follow Schweighofer et al., "A Dataset Perspective on Offline RL":

``random``
    uniform actions (Discrete: each of the ``n`` actions; Box: uniform over the bounds).
``replay``
    every transition seen while training an online agent (DQN for discrete actions,
    SAC for continuous ones) from scratch.
``expert``
    the final online policy, greedy (DQN: ``argmax Q``; SAC: the deterministic mean action).
``noisy``
    the expert with noise: ε-greedy with ε = ``noise`` (default 0.2) for discrete actions;
    for continuous actions a Gaussian around the expert action, *truncated to the action
    bounds* so the logged density is exact, with per-dimension std ``noise`` × half the
    action range (default 0.2).
``mixed``
    80 % of the transitions from ``random`` and 20 % from ``expert``, concatenated as whole
    episodes (random episodes first), so every episode boundary is exact.

How a dataset is made, module by module
---------------------------------------
:func:`collect` (:mod:`.schemes`) turns a scheme name, a callable or a d3rlpy algorithm
into a behaviour policy (:mod:`.behaviors`: observations → actions and
``log π_b(a|s)``, logged as ``extras["behavior_log_prob"]`` where it exists), runs it in
``n_envs`` vectorised environments (:mod:`.envs`) for a budget of ``n_steps`` transitions
(:mod:`.rollout`: only finished episodes are kept) and returns the episodes as an
:class:`~workbench.data.dataset.EpisodeDataset`.  ``replay``, ``expert``, ``noisy`` and
``mixed`` need the online agent (:mod:`.agent`: DQN/SAC trained once per env, seed and
length, cached under ``workbench_home()/agents``).

Reproducibility: everything random comes from ``np.random.default_rng(seed)`` (environment
seeds, random actions, noise, replay minibatches) plus ``torch.manual_seed`` for network
initialisation and SAC's action sampling.  Torch's RNG is process-global, so two collections
running side by side in threads are not reproducible; one at a time (or in processes) is.
"""

from .agent import OnlineResult, default_online_steps, make_online_algo, online_agent, train_online
from .envs import SUPPORTED_ENVS, torch_threads
from .rollout import Progress, rollout
from .schemes import SCHEMES, collect

__all__ = ["collect", "SCHEMES", "SUPPORTED_ENVS", "train_online", "online_agent", "OnlineResult",
           "default_online_steps", "make_online_algo", "rollout", "torch_threads", "Progress"]
