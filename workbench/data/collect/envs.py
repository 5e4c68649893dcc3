"""Environments and torch: creating and checking vector envs, seeds, torch threads.

Collection supports gymnasium environments with flat ``Box`` (vector) or image observations
and ``Discrete`` or 1-D ``Box`` actions, stepped as a ``SyncVectorEnv``.

Image environments are made by :func:`make_env`, the one place that turns an id into the
environment a dataset, an evaluation and a ground-truth rollout all see:

* **MinAtar** (``MinAtar/<Game>-v0|v1``, package ``minatar``; the ids are registered by
  :func:`register_image_envs` without importing it, when an environment is made and when a
  dataset of such an environment is loaded): the (10, 10, n_layers) boolean object layers
  become channel-first uint8 frames (n_layers, 10, 10) with values 0/255 (``frame_kind =
  "layers"``); episodes are cut at :data:`MINATAR_MAX_EPISODE_STEPS` (MinAtar has no time
  limit of its own).
* **Atari** (``ALE/<Game>-v5``, package ``ale-py`` with its ROMs): ALE's grey-scale screen,
  resized to 84×84 by area averaging (Pillow's box filter, what OpenCV's ``INTER_AREA``
  does), the last 4 frames stacked channel-first: (4, 84, 84) uint8 (``frame_kind =
  "stack"``, newest frame last).  ALE v5's frame-skip 4, sticky actions (0.25) and its
  27,000-step limit are kept.
* any other environment with uint8/bool image observations: channel-first uint8 by the
  layout rule of :mod:`workbench.data.images` (booleans 0/255).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import CollectionError, ConfigError

__all__ = ["SUPPORTED_ENVS", "make_vec", "make_env", "effective_n_envs", "seed_torch",
           "child_seed", "torch_threads", "register_image_envs", "image_env_metadata",
           "MINATAR_MAX_EPISODE_STEPS", "ATARI_FRAME_SIZE", "ATARI_FRAME_STACK"]


#: Environments that are tested; any other registered gymnasium env with Box observations
#: and Box/Discrete actions also works.
SUPPORTED_ENVS = ("CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1",
                  "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "MinAtar/Breakout-v1",
                  "MinAtar/Asterix-v1", "MinAtar/Freeway-v1", "MinAtar/Seaquest-v1",
                  "MinAtar/SpaceInvaders-v1", "ALE/Breakout-v5", "ALE/Pong-v5")

#: Time limit of MinAtar episodes (steps): MinAtar itself has none.
MINATAR_MAX_EPISODE_STEPS = 1_000
#: Atari preprocessing: frames resized to this square size, this many stacked.
ATARI_FRAME_SIZE = 84
ATARI_FRAME_STACK = 4
_MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def register_image_envs(env_id: str | None = None) -> None:
    """Register the MinAtar ids (``MinAtar/<Game>-v0`` full action set, ``-v1`` minimal, as
    ``minatar.gym.register_envs`` does, but without importing ``minatar``) when the package
    is installed, and, when ``env_id`` is an ``ALE/...`` id, Atari's (imports ``ale_py``).
    Cheap and idempotent."""
    import gymnasium as gym

    if "MinAtar/Breakout-v1" not in gym.registry and importlib.util.find_spec("minatar"):
        for game in _MINATAR_GAMES:
            name = game.title().replace("_", "")
            for version, minimal in (("v0", False), ("v1", True)):
                gym.register(id=f"MinAtar/{name}-{version}", entry_point="minatar.gym:BaseEnv",
                             kwargs={"game": game, "use_minimal_action_set": minimal})
    if env_id and env_id.startswith("ALE/") and env_id not in gym.registry \
            and importlib.util.find_spec("ale_py"):
        import ale_py

        gym.register_envs(ale_py)


def _kind(env_id: str) -> str:
    """``"minatar"``, ``"atari"`` or ``"other"``."""
    if env_id.startswith("MinAtar/"):
        return "minatar"
    if env_id.startswith("ALE/"):
        return "atari"
    return "other"


def image_env_metadata(env_id: str) -> dict[str, Any]:
    """Dataset metadata describing an image environment's frames (``frame_kind``,
    ``observation_preprocessing``); empty for other environments."""
    kind = _kind(env_id)
    if kind == "minatar":
        return {"frame_kind": "layers",
                "observation_preprocessing": "MinAtar object layers, channel-first uint8 0/255; "
                                             f"episodes cut at {MINATAR_MAX_EPISODE_STEPS} steps"}
    if kind == "atari":
        return {"frame_kind": "stack",
                "observation_preprocessing": f"ALE grey-scale, {ATARI_FRAME_SIZE}x"
                                             f"{ATARI_FRAME_SIZE} area resize, last "
                                             f"{ATARI_FRAME_STACK} frames stacked channel-first"}
    return {}


def _image_wrappers() -> tuple[type, type]:
    """The two observation wrappers (defined on first use: gymnasium is imported lazily)."""
    global _WRAPPERS
    if _WRAPPERS is not None:
        return _WRAPPERS
    import gymnasium as gym

    class ChannelFirstFrames(gym.ObservationWrapper):
        """uint8/bool image observations as channel-first uint8 (booleans 0/255)."""

        def __init__(self, env: Any) -> None:
            super().__init__(env)
            from ..images import CHANNELS_LAST, infer_layout
            from ..space import Space

            space = env.observation_space
            shape = tuple(space.shape)
            self._grey = len(shape) == 2
            self._transpose = len(shape) == 3 and infer_layout(shape) == CHANNELS_LAST
            self._bool = space.dtype == np.bool_
            sp = Space.box(np.asarray(space.low, np.float64), np.asarray(space.high, np.float64),
                           str(space.dtype))
            sp = (sp.channels_first() if self._transpose else
                  sp.image_bounds(sp.low[None], sp.high[None]) if self._grey  # type: ignore[index]
                  else sp.image_bounds())
            assert sp.low is not None and sp.high is not None
            self.observation_space = gym.spaces.Box(sp.low.astype(np.uint8),
                                                    sp.high.astype(np.uint8), dtype=np.uint8)

        def observation(self, observation: Any) -> np.ndarray:
            o = np.asarray(observation)
            if self._bool or o.dtype == np.bool_:
                o = o.astype(np.uint8) * np.uint8(255)
            o = o.astype(np.uint8, copy=False)
            if self._grey:
                return o[None]
            return np.ascontiguousarray(np.moveaxis(o, -1, 0)) if self._transpose else o

    class AtariFrames(gym.Wrapper):
        """ALE grey-scale screens -> 84×84 (area resize) -> last 4 frames, channel-first."""

        def __init__(self, env: Any, size: int = ATARI_FRAME_SIZE,
                     stack: int = ATARI_FRAME_STACK) -> None:
            super().__init__(env)
            self.size, self.stack = int(size), int(stack)
            self._frames: deque = deque(maxlen=self.stack)
            self.observation_space = gym.spaces.Box(0, 255, (self.stack, self.size, self.size),
                                                    dtype=np.uint8)

        def _resize(self, frame: Any) -> np.ndarray:
            from PIL import Image

            f = np.asarray(frame, dtype=np.uint8)
            if f.ndim == 3:  # an RGB screen: ITU-R 601 luma, as ALE's own grey-scale
                f = np.asarray(Image.fromarray(f).convert("L"))
            img = Image.fromarray(f).resize((self.size, self.size), Image.Resampling.BOX)
            return np.asarray(img, dtype=np.uint8)

        def _obs(self) -> np.ndarray:
            return np.stack(self._frames)

        def reset(self, **kwargs: Any) -> Any:
            obs, info = self.env.reset(**kwargs)
            f = self._resize(obs)
            for _ in range(self.stack):  # the first frame repeated
                self._frames.append(f)
            return self._obs(), info

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._frames.append(self._resize(obs))
            return self._obs(), reward, terminated, truncated, info

    _WRAPPERS = (ChannelFirstFrames, AtariFrames)
    return _WRAPPERS


_WRAPPERS: tuple[type, type] | None = None


def make_env(env_id: str, **kwargs: Any) -> Any:
    """One environment as collection sees it: ``gymnasium.make(env_id, **kwargs)`` with the
    image preprocessing of the module docstring (MinAtar, Atari, other uint8/bool images);
    vector environments are returned as ``gymnasium.make`` gives them.

    Raises:
        ConfigError: unknown id (with close matches).
        CollectionError: the environment could not be created (missing package or ROM).
    """
    import gymnasium as gym

    if not isinstance(env_id, str):
        raise ConfigError(f"env_id must be a gymnasium id string, got {env_id!r}")
    register_image_envs(env_id)
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        extra = ""
        if _kind(env_id) == "minatar":
            extra = " (MinAtar ids need the 'minatar' package)"
        elif _kind(env_id) == "atari":
            extra = " (Atari ids need the 'ale-py' package)"
        raise ConfigError(f"unknown environment id {env_id!r}{hint}{extra} Supported and "
                          f"tested: {', '.join(SUPPORTED_ENVS)}")
    kind = _kind(env_id)
    kw = dict(kwargs)
    if kind == "minatar" and gym.spec(env_id).max_episode_steps is None:
        kw.setdefault("max_episode_steps", MINATAR_MAX_EPISODE_STEPS)
    if kind == "atari":
        kw.setdefault("obs_type", "grayscale")
    try:
        env = gym.make(env_id, **kw)
    except Exception as exc:  # missing mujoco, bad kwargs, ...
        raise CollectionError(f"could not create {env_id!r}: {type(exc).__name__}: {exc}. Fix: "
                              "install the environment's package (e.g. gymnasium[mujoco], "
                              "minatar, ale-py) or pick another env") from exc
    channel_first, atari = _image_wrappers()
    if kind == "atari":
        return atari(env)
    space = env.observation_space
    if isinstance(space, gym.spaces.Box) and len(space.shape) in (2, 3) and (
            space.dtype in (np.uint8, np.bool_)):
        return channel_first(env)
    return env


def make_vec(env_id: str, n_envs: int) -> Any:
    """``n_envs`` copies of :func:`make_env` in a ``gymnasium.vector.SyncVectorEnv``.

    Raises:
        ConfigError: unknown id (with close matches), observations that are neither a flat
            Box nor uint8 images, actions that are neither Discrete nor a 1-D Box.
        CollectionError: the environment could not be created (e.g. mujoco missing).
    """
    import gymnasium as gym

    first = make_env(env_id)  # raises for unknown ids and missing packages

    def factory() -> Any:
        return make_env(env_id)

    try:
        envs = gym.vector.SyncVectorEnv([lambda: first] + [factory] * (int(n_envs) - 1))
    except Exception as exc:
        first.close()
        raise CollectionError(f"could not create {n_envs} x {env_id!r}: {type(exc).__name__}: "
                              f"{exc}") from exc
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    flat = isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1
    image = (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 3
             and obs_space.dtype == np.uint8)
    if not (flat or image):
        envs.close()
        raise ConfigError(f"{env_id} has observation space {obs_space}; only flat Box "
                          "(vector) observations and uint8/bool images are supported")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)) or (
            isinstance(act_space, gym.spaces.Box) and len(act_space.shape) != 1):
        envs.close()
        raise ConfigError(f"{env_id} has action space {act_space}; only Discrete and 1-D Box "
                          "action spaces are supported")
    return envs


def _max_episode_steps(env_id: str) -> int | None:
    import gymnasium as gym

    register_image_envs(env_id)
    spec = gym.spec(env_id)
    if spec.max_episode_steps is None and _kind(env_id) == "minatar":
        return MINATAR_MAX_EPISODE_STEPS
    if spec.max_episode_steps is None and _kind(env_id) == "atari":
        frames = int(spec.kwargs.get("max_num_frames_per_episode") or 0)
        skip = spec.kwargs.get("frameskip", 1)
        return frames // int(skip) if frames and isinstance(skip, int) else None
    return spec.max_episode_steps


def effective_n_envs(env_id: str, n_envs: int, n_steps: int) -> int:
    """``n_envs`` lowered to ``n_steps // max_episode_steps`` (at least 1), so that every
    environment can finish an episode within the budget of ``n_steps`` transitions.

    Raises:
        ConfigError: ``n_envs`` is not a positive integer.
    """
    if not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise ConfigError(f"n_envs must be a positive integer, got {n_envs!r}")
    max_len = _max_episode_steps(env_id)
    if max_len:
        return int(max(1, min(n_envs, n_steps // max_len)))
    return int(n_envs)


def seed_torch(seed: int) -> None:
    """``torch.manual_seed`` (process-global: network initialisation, SAC's sampling)."""
    import torch

    torch.manual_seed(int(seed) % (2**63 - 1))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads(n)`` (``None``: leave it alone)."""
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def child_seed(rng: np.random.Generator) -> int:
    """A seed in [0, 2**31 - 1) drawn from ``rng``, for a generator or library of its own."""
    return int(rng.integers(0, 2**31 - 1))

