"""Image observations: loaded as uint8, channel-first, from every format; frames to look at."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

import workbench as wb
from workbench import DatasetError, EpisodeDataset
from workbench.data import images as I


def frames_nhwc(n: int = 40, h: int = 12, w: int = 10, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def flat(obs: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """D4RL arrays around per-step frames: episodes end at 9 (terminal) and the last step."""
    n = len(obs)
    rng = np.random.default_rng(seed)
    term = np.zeros(n, bool)
    tout = np.zeros(n, bool)
    term[9], tout[n - 1] = True, True
    nxt = np.concatenate([obs[1:], rng.integers(0, 256, (1, *obs.shape[1:]), dtype=np.uint8)])
    return {"observations": obs, "next_observations": nxt, "actions": rng.integers(0, 3, n),
            "rewards": rng.normal(size=n).astype(np.float32), "terminals": term, "timeouts": tout}


def from_arrays(a: dict[str, np.ndarray], **kw) -> EpisodeDataset:
    return EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"], a["terminals"],
                                    a["timeouts"], a.get("next_observations"), **kw)


# ------------------------------------------------------------------------------- layout rule
@pytest.mark.parametrize("shape, layout", [
    ((84, 84, 4), "channels_last"), ((210, 160, 3), "channels_last"),
    ((10, 10, 4), "channels_last"), ((4, 84, 84), "channels_first"),
    ((10, 10, 10), "channels_first"), ((1, 8, 8), "channels_first"),
    ((8, 1, 8), "channels_first")])
def test_layout_rule(shape, layout):
    assert I.infer_layout(shape) == layout
    if layout == "channels_last":  # the rule reads its own output as channel-first
        a, b, c = shape
        assert I.infer_layout((c, a, b)) == "channels_first"


def test_channel_last_frames_are_stored_channel_first_uint8():
    obs = frames_nhwc()
    ds = from_arrays(flat(obs))
    assert ds.is_image and ds.observations.dtype == np.uint8
    assert ds.observation_shape == (3, 12, 10)
    np.testing.assert_array_equal(ds.episode(0).observations[:-1], obs[:10].transpose(0, 3, 1, 2))
    assert ds.metadata["observation_layout"] == "channels_first"
    assert ds.metadata["observation_layout_read"] == "channels_last"
    assert ds.observation_space.shape == (3, 12, 10) and ds.observation_space.dtype == "uint8"
    assert float(ds.observation_space.high.max()) == 255.0


def test_channel_first_and_grey_frames():
    chw = np.random.default_rng(1).integers(0, 256, (40, 4, 9, 9), dtype=np.uint8)
    ds = from_arrays(flat(chw))
    assert ds.observation_shape == (4, 9, 9) and "observation_layout_read" not in ds.metadata
    np.testing.assert_array_equal(ds.observations_at(np.arange(40)), chw)
    grey = chw[:, 0]
    ds = from_arrays(flat(grey))
    assert ds.observation_shape == (1, 9, 9) and ds.observations.dtype == np.uint8
    np.testing.assert_array_equal(ds.observations_at(np.arange(40))[:, 0], grey)


def test_boolean_layers_become_0_255_and_integers_uint8():
    layers = np.random.default_rng(2).random((40, 10, 10, 4)) < 0.2
    a = flat(layers.astype(np.uint8))
    a["observations"], a["next_observations"] = layers, a["next_observations"].astype(bool)
    ds = from_arrays(a)
    assert ds.observation_shape == (4, 10, 10) and set(np.unique(ds.observations)) <= {0, 255}
    np.testing.assert_array_equal(ds.observations_at(np.arange(40)) == 255,
                                  layers.transpose(0, 3, 1, 2))
    ints = frames_nhwc().astype(np.int64)
    ds = from_arrays(flat(ints.astype(np.uint8)) | {"observations": ints})
    assert ds.observations.dtype == np.uint8


def test_memory_is_reported_and_no_float_copy_is_held():
    ds = from_arrays(flat(frames_nhwc(200, 84, 84, 4)))
    frame = 4 * 84 * 84
    assert ds.observations.nbytes == (200 + 2) * frame  # uint8: one byte per pixel
    assert ds.nbytes == (ds.observations.nbytes + ds.actions.nbytes + ds.rewards.nbytes
                         + ds.offsets.nbytes + 3 * ds.n_episodes)
    s = ds.summary()
    assert s["observation_dtype"] == "uint8" and s["memory"] == I.format_bytes(ds.nbytes)
    assert s["memory"].endswith(" MB") and "EpisodeDataset" in repr(ds)
    assert I.format_bytes(7_056_000_000) == "7.1 GB"


def test_to_d3rlpy_keeps_uint8_views():
    ds = from_arrays(flat(frames_nhwc()))
    rb = ds.to_d3rlpy()
    ep = rb.episodes[0]
    assert ep.observations.dtype == np.uint8
    assert np.shares_memory(ep.observations, ds.observations)  # views, not copies
    assert rb.transition_count == ds.n_transitions


# ------------------------------------------------------------------------------- files
@pytest.mark.parametrize("fmt, name", [("npz", "x.npz"), ("d4rl", "x.hdf5"),
                                       ("minari", "x_minari")])
def test_round_trip_keeps_uint8_channel_first(tmp_path, fmt, name):
    ds = from_arrays(flat(frames_nhwc(c=4)), metadata={"frame_kind": "stack"})
    path = ds.save(tmp_path / name, format=fmt)
    again = wb.load_dataset(path)
    assert again.equals(ds) and again.observations.dtype == np.uint8
    assert again.metadata["frame_kind"] == "stack"
    if fmt == "d4rl":
        with h5py.File(path) as f:
            stored = f["observations"]
            assert stored.dtype == np.uint8 and stored.shape[1:] == (4, 12, 10)


def test_hand_written_d4rl_hdf5_with_channel_last_frames(tmp_path):
    obs = frames_nhwc(c=1)
    a = flat(obs)
    with h5py.File(tmp_path / "atari.hdf5", "w") as f:
        for k, v in a.items():
            f.create_dataset(k, data=v)
    ds = wb.load_dataset(tmp_path / "atari.hdf5")
    assert ds.observation_shape == (1, 12, 10) and ds.observations.dtype == np.uint8
    np.testing.assert_array_equal(ds.observations_at(np.arange(40))[:, 0], obs[..., 0])


def test_npz_with_channel_first_stack(tmp_path):
    obs = np.random.default_rng(3).integers(0, 256, (40, 4, 84, 84), dtype=np.uint8)
    a = flat(obs)
    del a["next_observations"]  # as many Atari dumps: final observations unknown
    np.savez(tmp_path / "x.npz", **a)
    ds = wb.load_dataset(tmp_path / "x.npz")
    assert ds.observation_shape == (4, 84, 84) and ds.observations.dtype == np.uint8
    assert (~ds.final_observation_known).any() and ds.td_mask.sum() == 39


def test_d3rlpy_dump_with_image_observations(tmp_path):
    from workbench._d3rlpy import d3rlpy

    obs = np.random.default_rng(4).integers(0, 256, (30, 1, 8, 8), dtype=np.uint8)
    term = np.zeros(30)
    term[14] = 1
    tout = np.zeros(30)
    tout[-1] = 1
    theirs = d3rlpy.dataset.MDPDataset(obs, np.random.default_rng(0).integers(0, 2, (30, 1)),
                                       np.ones(30), term, tout)
    with open(tmp_path / "dump.h5", "w+b") as f:
        theirs.dump(f)
    ds = wb.load_dataset(tmp_path / "dump.h5")
    assert ds.observation_shape == (1, 8, 8) and ds.observations.dtype == np.uint8
    np.testing.assert_array_equal(ds.observations_at(np.arange(30)), obs)
    assert ds.td_mask.sum() == theirs.transition_count


def test_minari_file_written_by_minari_with_minatar_frames(tmp_path, monkeypatch):
    """A real MinAtar env, recorded with Minari's own writer: (10, 10, 4) boolean frames."""
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    from workbench.data.collect.envs import register_image_envs

    register_image_envs()  # the MinAtar ids, as collection and loading register them

    env = gym.make("MinAtar/Breakout-v1", max_episode_steps=25)
    rng = np.random.default_rng(0)
    seen, buffers = [], []
    for k in range(3):
        obs, _ = env.reset(seed=k)
        O, A, R, TE, TR = [obs], [], [], [], []
        while not (TE and (TE[-1] or TR[-1])):
            a = int(rng.integers(3))
            obs, r, te, tr, _ = env.step(a)
            O.append(obs), A.append(a), R.append(r), TE.append(te), TR.append(tr)
        buffers.append(EpisodeBuffer(id=k, seed=k, observations=O, actions=A, rewards=R,
                                     terminations=TE, truncations=TR, infos={}))
        seen.append(np.array(O))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers("minatar/breakout-v0", buffers, env=env,
                                           algorithm_name="random", author="test",
                                           author_email="t@example.org", code_permalink="none")
    ds = wb.load_dataset("minatar/breakout-v0")
    assert ds.observation_shape == (4, 10, 10) and ds.observations.dtype == np.uint8
    assert ds.observation_space.shape == (4, 10, 10) and ds.observation_space.dtype == "uint8"
    assert float(ds.observation_space.high.max()) == 255.0
    for ep, frames in zip(ds.episodes, seen):
        np.testing.assert_array_equal(ep.observations == 255, frames.transpose(0, 3, 1, 2))
    assert ds.episode(0).frames().shape == (len(seen[0]), 10, 10, 3)


def test_tables_refuse_images(tmp_path):
    ds = from_arrays(flat(frames_nhwc()))
    for call in (ds.to_frame, lambda: ds.save(tmp_path / "x.parquet")):
        with pytest.raises(DatasetError) as info:
            call()
        assert info.value.field == "observations" and "frames()" in str(info.value)


# ------------------------------------------------------------------------------- frames
def test_episode_frames_and_strip():
    ds = from_arrays(flat(frames_nhwc(c=3)))
    ep = ds.episode(0)
    f = ep.frames()
    assert f.shape == (11, 12, 10, 3) and f.dtype == np.uint8
    np.testing.assert_array_equal(f[0], frames_nhwc(c=3)[0])  # RGB as stored
    assert ep.frames(scale=3).shape == (11, 36, 30, 3)
    strip = ep.frame_strip(4, scale=2)
    assert strip.shape == (24, 4 * 21 - 1, 3)
    from _factory import make_dataset

    with pytest.raises(DatasetError, match="not image frames"):  # vectors have no frames
        make_dataset().episode(0).frames()


def test_frame_kinds():
    rng = np.random.default_rng(5)
    stack = rng.integers(0, 256, (3, 4, 6, 6), dtype=np.uint8)
    out = I.render_frames(stack, "stack")
    np.testing.assert_array_equal(out[..., 0], stack[:, -1])  # newest frame, grey
    layers = np.zeros((2, 4, 5, 5), np.uint8)
    layers[0, 1, 2, 2] = 255
    out = I.render_frames(layers)  # guessed: binary channels are object layers
    assert out[0, 2, 2].tolist() == I._PALETTE[1].tolist() and not out[1].any()
    assert I.guess_frame_kind(stack[:, :1]) == "grey"
    with pytest.raises(ValueError):
        I.render_frames(stack, "bogus")
