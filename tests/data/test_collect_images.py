"""Collecting image datasets from real MinAtar and Atari (ale-py) environments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import workbench as wb
from workbench.data import catalog as C
from workbench.data.collect import envs as E
from workbench.errors import ConfigError

MINATAR = "MinAtar/Breakout-v1"


def test_minatar_frames_are_channel_first_uint8_layers():
    ds = wb.collect(MINATAR, "random", n_steps=600, seed=0, n_envs=2, progress=False)
    assert ds.is_image and ds.observation_shape == (4, 10, 10)
    assert ds.observations.dtype == np.uint8 and set(np.unique(ds.observations)) == {0, 255}
    assert ds.observation_space.dtype == "uint8" and ds.observation_space.shape == (4, 10, 10)
    np.testing.assert_allclose(ds.extras["behavior_log_prob"], -math.log(3))
    assert ds.metadata["frame_kind"] == "layers" and ds.finished.all()
    assert ds.episode(0).frames(scale=4).shape == (len(ds.episode(0)) + 1, 40, 40, 3)
    # the wrapper is MinAtar's state, transposed: compare with the raw env on one reset
    import gymnasium as gym

    raw = gym.make(MINATAR)
    frame, _ = raw.reset(seed=3)
    ours, _ = E.make_env(MINATAR).reset(seed=3)
    np.testing.assert_array_equal(ours == 255, np.moveaxis(frame, -1, 0))
    again = wb.collect(MINATAR, "random", n_steps=600, seed=0, n_envs=2, progress=False)
    assert again.fingerprint == ds.fingerprint


def test_minatar_episodes_have_a_time_limit():
    env = E.make_env(MINATAR)
    assert env.spec.max_episode_steps == E.MINATAR_MAX_EPISODE_STEPS
    assert E.effective_n_envs(MINATAR, 8, 3 * E.MINATAR_MAX_EPISODE_STEPS) == 3


@pytest.mark.slow
def test_atari_preprocessing_grey_84_stack_4():
    ds = wb.collect("ALE/Breakout-v5", "random", n_steps=600, seed=0, n_envs=1, progress=False)
    assert ds.observation_shape == (4, 84, 84) and ds.observations.dtype == np.uint8
    assert ds.metadata["frame_kind"] == "stack"
    ep = ds.episode(0)
    o = ep.observations
    # a stack of the last 4 frames: each step shifts the stack by one frame
    np.testing.assert_array_equal(o[1:, :3], o[:-1, 1:])
    np.testing.assert_array_equal(o[0, 0], o[0, 3])  # the reset frame repeated
    assert ep.frames().shape == (len(o), 84, 84, 3)
    # the newest frame is ALE's grey-scale screen resized by area averaging
    from PIL import Image

    env = E.make_env("ALE/Breakout-v5")
    stacked, _ = env.reset(seed=1)
    screen = env.unwrapped.ale.getScreenGrayscale()
    expected = np.asarray(Image.fromarray(screen).resize((84, 84), Image.Resampling.BOX))
    np.testing.assert_array_equal(stacked[-1], expected)


def test_unknown_image_ids_name_the_package():
    with pytest.raises(ConfigError, match="minatar"):
        E.make_env("MinAtar/Bogus-v1")


@pytest.mark.slow
def test_schemes_on_minatar_with_a_pixel_dqn():
    """replay/expert/noisy/mixed at small scale: the online DQN sees pixels."""
    from workbench._d3rlpy import d3rlpy  # noqa: F401

    # isort: split
    from d3rlpy.models.torch.encoders import PixelEncoder
    from d3rlpy.preprocessing import PixelObservationScaler

    res = wb.data.collect.train_online(MINATAR, 1_500, seed=0, n_envs=4, progress=False)
    algo = res.algo
    assert isinstance(algo.config.observation_scaler, PixelObservationScaler)
    assert isinstance(algo.impl.q_function[0]._encoder, PixelEncoder)
    assert res.replay.observations.dtype == np.uint8 and res.replay.is_image
    kw = dict(n_envs=4, agent=algo, progress=False)
    expert = wb.collect(MINATAR, "expert", 800, seed=1, **kw)
    noisy = wb.collect(MINATAR, "noisy", 800, seed=2, **kw)
    mixed = wb.collect(MINATAR, "mixed", 1000, seed=3, **kw)
    assert (expert.extras["behavior_log_prob"] == 0).all()
    assert np.isfinite(noisy.extras["behavior_log_prob"]).all()
    assert mixed.metadata["expert_transitions"] > 0 and mixed.is_image
    for ds in (expert, noisy, mixed):
        assert ds.observation_shape == (4, 10, 10) and ds.observations.dtype == np.uint8


# ------------------------------------------------------------------------------ catalog
TINY_IMAGES = C.FamilySpec("tinyimg", MINATAR, "tiny MinAtar family for tests",
                           online_steps=1_500, n_steps=800, seed=0, n_envs=4)


def test_image_family_is_listed():
    spec = C.FAMILIES["breakout-minatar"]
    assert spec.env_id == MINATAR
    for scheme in ("random", "replay", "expert", "noisy", "mixed"):
        assert f"breakout-minatar-{scheme}" in C.catalog_names()


@pytest.mark.slow
def test_image_family_is_reproducible_from_seeds(tmp_path, monkeypatch):
    monkeypatch.setitem(C.FAMILIES, "tinyimg", TINY_IMAGES)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "a"))
    first = C.build_family("tinyimg", progress=False)
    ds = C.load_catalog("tinyimg-noisy", progress=False)
    assert ds.is_image and ds.observations.dtype == np.uint8
    assert ds.metadata["frame_kind"] == "layers" and ds.metadata["family"] == "tinyimg"
    assert first["expert_return"] == ds.metadata["expert_return"]
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "b"))
    second = C.build_family("tinyimg", progress=False)
    for scheme, info in first["datasets"].items():
        assert second["datasets"][scheme]["fingerprint"] == info["fingerprint"], scheme


def test_loading_a_minatar_dataset_registers_its_environment(tmp_path):
    import subprocess
    import sys

    ds = wb.collect(MINATAR, "random", n_steps=300, seed=0, n_envs=1, progress=False)
    path = ds.save(tmp_path / "m.npz")
    code = ("import sys, gymnasium as gym, workbench as wb\n"
            "assert 'MinAtar/Breakout-v1' not in gym.registry\n"
            f"wb.load_dataset({str(path)!r})\n"
            "assert 'MinAtar/Breakout-v1' in gym.registry\n"
            "assert 'minatar' not in sys.modules  # registered without importing it\n")
    subprocess.run([sys.executable, "-c", code], check=True)
