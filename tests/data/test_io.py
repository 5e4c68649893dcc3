"""Readers and writers: lossless round trips, format detection, real Minari/d3rlpy files."""


import h5py
import numpy as np
import pytest

import workbench as wb
from _factory import flat_arrays, make_dataset
from workbench.data.io import detect_format

FORMATS = [("npz", "ds.npz"), ("d4rl", "ds.hdf5"), ("minari", "ds_minari"),
           ("parquet", "ds.parquet")]


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("fmt,name", FORMATS)
def test_round_trip_is_lossless(tmp_path, fmt, name, discrete):
    ds = make_dataset(60, discrete=discrete)
    path = ds.save(tmp_path / name, format=fmt)
    assert detect_format(path) == fmt
    back = wb.load_dataset(path)
    assert back.equals(ds)
    assert back.action_space == ds.action_space and back.metadata["env_id"] == "Toy-v0"
    np.testing.assert_array_equal(back.extras["behavior_log_prob"], ds.extras["behavior_log_prob"])
    # only the target exists: no temporary files left behind
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("fmt,name", FORMATS)
def test_round_trip_keeps_unfinished_trailing_episode(tmp_path, fmt, name):
    a = flat_arrays(40, ends={9: "terminal", 19: "timeout"})
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"], a["next_observations"])
    back = wb.load_dataset(ds.save(tmp_path / name, format=fmt))
    assert back.equals(ds) and not back.finished[-1]


def test_save_infers_format_from_suffix(tmp_path):
    ds = make_dataset()
    assert detect_format(ds.save(tmp_path / "a.npz")) == "npz"
    assert detect_format(ds.save(tmp_path / "a.h5")) == "d4rl"
    assert detect_format(ds.save(tmp_path / "a.parquet")) == "parquet"
    assert detect_format(ds.save(tmp_path / "plain_dir")) == "minari"


def test_overwrite_replaces_atomically(tmp_path):
    path = tmp_path / "x.npz"
    make_dataset(seed=0).save(path)
    make_dataset(seed=1).save(path)
    assert wb.load_dataset(path).equals(make_dataset(seed=1))
    make_dataset(seed=0).save(tmp_path / "m", format="minari")
    make_dataset(seed=1).save(tmp_path / "m", format="minari")
    assert wb.load_dataset(tmp_path / "m").equals(make_dataset(seed=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "x.npz"]


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    import workbench.data.io.npz as npz_io

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(npz_io.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        make_dataset().save(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_reads_plain_d4rl_file_written_by_h5py(tmp_path):
    a = flat_arrays(60)
    path = tmp_path / "d4rl.hdf5"
    with h5py.File(path, "w") as f:
        for k, v in a.items():
            f.create_dataset(k, data=v)
        f.create_dataset("infos/qpos", data=np.arange(60.0))
        f.create_dataset("infos/label", data=np.array([b"x"] * 60))  # non-numeric: skipped
    ds = wb.load_dataset(path)
    assert ds.n_episodes == 3 and ds.n_transitions == 60
    np.testing.assert_array_equal(ds.transitions()["next_observations"], a["next_observations"])
    assert set(ds.extras) == {"qpos"}


def test_reads_csv_with_documented_columns(tmp_path):
    ds = make_dataset(60)
    ds.to_frame().to_csv(tmp_path / "x.csv", index=False)
    back = wb.load_dataset(tmp_path / "x.csv")
    np.testing.assert_array_equal(back.actions, ds.actions)
    np.testing.assert_allclose(back.observations, ds.observations, rtol=1e-6)
    assert back.n_episodes == 3 and list(back.terminated) == [True, False, True]


def test_reads_real_d3rlpy_dump(tmp_path):
    from workbench._d3rlpy import d3rlpy

    a = flat_arrays(60)
    mdp = d3rlpy.dataset.MDPDataset(a["observations"], a["actions"][:, None].astype(np.int64),
                                    a["rewards"], a["terminals"], a["timeouts"])
    path = tmp_path / "buffer.h5"
    mdp.dump(str(path))
    assert detect_format(path) == "d3rlpy"
    ds = wb.load_dataset(path)
    assert ds.is_discrete and ds.n_episodes == 3
    # d3rlpy semantics: every step (and reward) is kept; the timeout episode's last step has
    # no next observation, so it is no transition
    assert ds.n_transitions == 60 and int(ds.td_mask.sum()) == mdp.transition_count == 59
    # and our own buffers survive a d3rlpy dump with every transition; the truncated
    # episode's known final observation comes back as one zero-action, zero-reward row
    # (d3rlpy cannot mark its padding)
    orig = make_dataset(60)
    ours = orig.to_d3rlpy()
    ours.dump(str(tmp_path / "ours.h5"))
    again = wb.load_dataset(tmp_path / "ours.h5")
    assert again.n_transitions == 61 and int(again.td_mask.sum()) == 60
    np.testing.assert_array_equal(np.delete(again.actions, 30), orig.actions)
    np.testing.assert_array_equal(again.episode_returns(), orig.episode_returns())


def _minari_collect(dataset_id, n_episodes=4):
    """Write a dataset with Minari's own writer (create_dataset_from_buffers) on a real CartPole."""
    import warnings

    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    env = gym.make("CartPole-v1", max_episode_steps=30)
    rng = np.random.default_rng(0)
    seen, buffers = [], []
    for k in range(n_episodes):
        obs, _ = env.reset(seed=k)
        O, A, R, TE, TR = [obs], [], [], [], []
        while not (TE and (TE[-1] or TR[-1])):
            a = int(rng.integers(2))
            obs, r, te, tr, _ = env.step(a)
            O.append(obs), A.append(a), R.append(r), TE.append(te), TR.append(tr)
        buffers.append(EpisodeBuffer(id=k, seed=k, observations=O, actions=A, rewards=R,
                                     terminations=TE, truncations=TR, infos={}))
        seen.append((np.array(O), TE[-1], TR[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, env=env, algorithm_name="random",
                                           author="test", author_email="t@example.org",
                                           code_permalink="none")
    return seen


def test_reads_real_minari_dataset_aligned(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    seen = _minari_collect("cartpole/random-v0")
    for source in (tmp_path / "cartpole" / "random-v0", "cartpole/random-v0"):
        ds = wb.load_dataset(source)
        assert ds.n_episodes == len(seen) and ds.is_discrete and ds.action_space.n == 2
        for ep, (traj, term, trunc) in zip(ds.episodes, seen):
            np.testing.assert_array_equal(ep.observations, traj)  # T+1, aligned
            assert (ep.terminated, ep.truncated) == (term, trunc)
        assert ds.metadata["env_id"] == "CartPole-v1"


def test_minari_can_read_what_we_write(tmp_path):
    import minari

    ds = make_dataset(60, discrete=False)
    ds.save(tmp_path / "toy", format="minari")
    md = minari.MinariDataset(tmp_path / "toy" / "data")
    eps = list(md.iterate_episodes())
    assert md.total_steps == 60 and len(eps) == 3
    for ours, theirs in zip(ds.episodes, eps):
        np.testing.assert_array_equal(theirs.observations, ours.observations)
        np.testing.assert_array_equal(theirs.actions, ours.actions)
