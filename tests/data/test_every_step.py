"""Every logged step counts: files without next observations keep each episode's last step.

The files here are written by hand (h5py, numpy, pandas) or by other tools (d3rlpy's own
``MDPDataset.dump``, Minari's writer), never by the workbench; the expected numbers come
from independent implementations in this file (splitting the file's own reward array on its
own flags, counting pairs with ``np.digitize``/``np.unique``).
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.diagnostics import coverage as C

N = 52
ENDS = {9: "terminal", 26: "timeout", 44: "timeout"}  # steps 45..51: an unfinished tail


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    term = np.zeros(N, bool)
    tout = np.zeros(N, bool)
    for i, kind in ENDS.items():
        (term if kind == "terminal" else tout)[i] = True
    return {"observations": rng.normal(size=(N, 3)).astype(np.float32),
            "actions": rng.integers(0, 3, N), "rewards": rng.normal(size=N).astype(np.float32),
            "terminals": term, "timeouts": tout}


def _file_episodes(a: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """(start, stop) of each episode, split on the file's own terminal/timeout flags."""
    cuts = [0] + [i + 1 for i in range(N) if a["terminals"][i] or a["timeouts"][i]]
    if cuts[-1] != N:
        cuts.append(N)
    return list(zip(cuts[:-1], cuts[1:]))


def _file_returns(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.array([a["rewards"][s:e].astype(np.float64).sum() for s, e in _file_episodes(a)])


def _write_d4rl(path, a):
    with h5py.File(path, "w") as f:
        for k, v in a.items():
            f.create_dataset(k, data=v)
    return path


def _write_npz(path, a):
    np.savez(path, **a)
    return path


def _table(a):
    df = pd.DataFrame({f"obs_{i}": a["observations"][:, i] for i in range(3)})
    df["action"] = a["actions"]
    df["reward"] = a["rewards"]
    df["terminated"] = a["terminals"]
    df["truncated"] = a["timeouts"]
    return df


def _write_parquet(path, a):
    _table(a).to_parquet(path)
    return path


def _write_csv(path, a):
    _table(a).to_csv(path, index=False)
    return path


def _write_d3rlpy(path, a):
    from workbench._d3rlpy import d3rlpy

    mdp = d3rlpy.dataset.MDPDataset(a["observations"], a["actions"][:, None].astype(np.int64),
                                    a["rewards"], a["terminals"], a["timeouts"])
    mdp.dump(str(path))
    return path


WRITERS = {"x.hdf5": _write_d4rl, "x.npz": _write_npz, "x.parquet": _write_parquet,
           "x.csv": _write_csv}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_files_without_next_observations_keep_every_step_and_reward(tmp_path, name):
    a = _arrays()
    ds = wb.load_dataset(WRITERS[name](tmp_path / name, a))
    expected = _file_returns(a)
    assert ds.n_transitions == N and ds.n_episodes == len(expected) == 4
    np.testing.assert_allclose(ds.episode_returns(), expected, rtol=0, atol=1e-6)  # csv: text
    for k, (s, e) in enumerate(_file_episodes(a)):
        ep = ds.episodes[k]
        np.testing.assert_array_equal(ep.actions, a["actions"][s:e])
        np.testing.assert_allclose(ep.observations[:-1], a["observations"][s:e], rtol=1e-6)
        assert not ep.final_observation_known
    # only the last step of the timeout and unfinished episodes lacks a next observation
    assert np.flatnonzero(~ds.td_mask).tolist() == [26, 44, 51]
    assert ds.summary()["unknown_final_observations"] == 3


def test_d3rlpy_dump_keeps_every_step_and_its_transitions_are_d3rlpys(tmp_path):
    from workbench._d3rlpy import d3rlpy

    a = _arrays()
    mdp = d3rlpy.dataset.MDPDataset(a["observations"], a["actions"][:, None].astype(np.int64),
                                    a["rewards"], a["terminals"], a["timeouts"])
    path = _write_d3rlpy(tmp_path / "buffer.h5", a)
    with h5py.File(path, "r") as f:  # what the dump holds (d3rlpy drops the unfinished tail)
        rewards = [f[f"rewards_{i}"][()].reshape(-1) for i in range(int(f["num_episodes"][()]))]
    ds = wb.load_dataset(path)
    assert ds.n_transitions == sum(len(r) for r in rewards) == 45
    np.testing.assert_allclose(ds.episode_returns(), [r.sum(dtype=np.float64) for r in rewards],
                               atol=1e-9)
    np.testing.assert_allclose(ds.episode_returns(), _file_returns(a)[:3], atol=1e-6)
    # d3rlpy itself: every reward in the episode's return, T - 1 transitions when not terminal
    np.testing.assert_allclose([e.compute_return() for e in mdp.episodes], _file_returns(a)[:3],
                               rtol=1e-6)
    assert int(ds.td_mask.sum()) == mdp.transition_count == 45 - 2


def test_to_d3rlpy_equals_what_d3rlpy_builds_from_the_same_arrays():
    from workbench._d3rlpy import d3rlpy

    a = _arrays()
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"])
    ours = ds.to_d3rlpy()
    theirs = d3rlpy.dataset.MDPDataset(a["observations"], a["actions"][:, None].astype(np.int64),
                                       a["rewards"], a["terminals"], a["timeouts"])
    # d3rlpy leaves the unfinished tail out altogether; we keep it as a fourth episode
    assert ours.transition_count == int(ds.td_mask.sum()) == N - 3
    assert theirs.transition_count == 45 - 2 == ours.transition_count - (52 - 45 - 1)
    assert len(ours.episodes) == len(theirs.episodes) + 1
    for e1, e2 in zip(ours.episodes, theirs.episodes):
        np.testing.assert_array_equal(e1.observations, e2.observations)
        np.testing.assert_array_equal(e1.actions, e2.actions)
        np.testing.assert_array_equal(e1.rewards, e2.rewards)
        assert e1.terminated == e2.terminated and e1.transition_count == e2.transition_count


def test_an_all_nan_next_observation_on_an_episode_end_marks_only_that_episode():
    a = _arrays()
    nxt = np.concatenate([a["observations"][1:], np.zeros((1, 3), np.float32)])
    nxt[[9, 26, 44, 51]] = np.random.default_rng(5).normal(size=(4, 3))  # true final states
    nxt[26] = np.nan  # this file does not know where episode 1 went
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"], nxt)
    assert ds.final_observation_known.tolist() == [True, False, True, True]
    assert np.flatnonzero(~ds.td_mask).tolist() == [26]
    np.testing.assert_array_equal(ds.episodes[2].observations[-1], nxt[44])
    # a NaN row in the middle of an episode is still an error
    nxt[5] = np.nan
    with pytest.raises(wb.DatasetError, match="row 5"):
        wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                    a["terminals"], a["timeouts"], nxt)


def _mixed():
    """A dataset whose first two episodes know their final observation and the rest do not."""
    a = _arrays()
    unknown = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                          a["terminals"], a["timeouts"],
                                          extras={"behavior_log_prob": np.full(N, -1.1)})
    from _factory import make_dataset

    known = make_dataset(60, extras=True).select([0, 1])  # terminated + truncated, known
    return wb.EpisodeDataset.concat([known, unknown], name="mixed")


@pytest.mark.parametrize("fmt,suffix", [("minari", ""), ("d4rl", ".hdf5"), ("npz", ".npz"),
                                        ("parquet", ".parquet")])
def test_unknown_final_observations_survive_every_write_format(tmp_path, fmt, suffix):
    ds = _mixed()
    assert ds.final_observation_known.tolist() == [True, True, False, False, False, False]
    back = wb.load_dataset(ds.save(tmp_path / f"mixed{suffix}", format=fmt))
    assert back.final_observation_known.tolist() == ds.final_observation_known.tolist()
    assert back.fingerprint == ds.fingerprint and back.n_transitions == ds.n_transitions
    np.testing.assert_array_equal(back.td_mask, ds.td_mask)
    # a dataset in which no final observation is known is written without next observations
    only = ds.select([2, 3, 4, 5])
    back = wb.load_dataset(only.save(tmp_path / f"only{suffix}", format=fmt))
    assert back.fingerprint == only.fingerprint and not back.final_observation_known.any()


def test_written_d4rl_file_says_unknown_with_nan_and_omits_what_it_never_had(tmp_path):
    ds = _mixed()
    with h5py.File(ds.save(tmp_path / "m.hdf5"), "r") as f:
        nxt = f["next_observations"][()]
    last = ds.offsets[1:] - 1
    assert np.isnan(nxt[last[2:]]).all() and np.isfinite(nxt[last[:2]]).all()
    with h5py.File(ds.select([2, 3]).save(tmp_path / "u.hdf5"), "r") as f:
        assert "next_observations" not in f
    frame = ds.to_frame()
    assert frame.loc[last[3], ["next_obs_0", "next_obs_1", "next_obs_2"]].isna().all()


def test_select_concat_and_fingerprint_carry_the_flags():
    ds = _mixed()
    sub = ds.select([3, 0])
    assert sub.final_observation_known.tolist() == [False, True]
    assert sub.td_mask.tolist().count(False) == 1
    a = _arrays()
    plain = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                        a["terminals"], a["timeouts"])
    flagged = plain.with_final_observation_known(np.ones(4, bool))
    assert plain.fingerprint != flagged.fingerprint  # the flags are part of the content


def test_tq_counts_the_last_step_of_timeout_episodes(tmp_path):
    a = _arrays()
    ds = wb.load_dataset(_write_d4rl(tmp_path / "x.hdf5", a))
    r_random, r_expert = -3.0, 5.0
    finished = _file_returns(a)[:3]  # the unfinished tail is not an episode return
    expected = (finished.mean() - r_random) / (r_expert - r_random)
    assert wb.tq(ds, r_random, r_expert) == pytest.approx(expected, abs=1e-9)


def _independent_unique_pairs(obs, actions, lo, hi, bins):
    """u(D) by the paper's recipe: per-axis np.digitize on np.linspace(lo, hi, bins)."""
    codes = np.stack([np.digitize(obs[:, d], np.linspace(lo[d], hi[d], bins))
                      for d in range(obs.shape[1])], axis=1)
    return len(np.unique(np.column_stack([codes, actions]), axis=0))


def test_saco_counts_every_logged_pair(tmp_path):
    a = _arrays()
    # the last step of the timeout episode is a pair seen nowhere else
    a["observations"][26] = [2.5, 2.5, 2.5]
    a["actions"][26] = 2
    ds = wb.load_dataset(_write_d4rl(tmp_path / "x.hdf5", a))
    ref = ds  # limits from the dataset itself: SACo = 1, u(D) = every pair of the file
    lo, hi = a["observations"].min(0), a["observations"].max(0)
    expected = _independent_unique_pairs(a["observations"], a["actions"], lo, hi, 10)
    counts = C.coverage_counts(ds, C.reference_counts(ref, 10).limits, 10)
    assert counts.pairs == N and counts.unique_pairs == expected
    dropped = _independent_unique_pairs(np.delete(a["observations"], [26, 44, 51], 0),
                                        np.delete(a["actions"], [26, 44, 51]), lo, hi, 10)
    assert dropped < expected  # what the old loader (dropping those steps) counted


def test_minari_files_written_by_minari_keep_every_step(tmp_path, monkeypatch):
    """Minari's own writer; the second episode's collector did not know its final state and
    wrote it as NaN: that episode keeps all its steps and only its last is no transition."""
    import warnings

    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = gym.make("CartPole-v1", max_episode_steps=15)
    rng = np.random.default_rng(1)
    buffers, rewards = [], []
    for k in range(3):
        obs, _ = env.reset(seed=k)
        O, A, R, TE, TR = [obs], [], [], [], []
        while not (TE and (TE[-1] or TR[-1])):
            a = int(rng.integers(2))
            obs, r, te, tr, _ = env.step(a)
            O.append(obs), A.append(a), R.append(r * (1 + 0.1 * len(R))), TE.append(te)
            TR.append(tr)
        if k == 1:
            O[-1] = np.full_like(O[-1], np.nan)
        buffers.append(EpisodeBuffer(id=k, seed=k, observations=O, actions=A, rewards=R,
                                     terminations=TE, truncations=TR, infos={}))
        rewards.append(np.asarray(R, np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers("toy/nan-final-v0", buffers, env=env,
                                           algorithm_name="random", author="test",
                                           author_email="t@example.org", code_permalink="none")
    ds = wb.load_dataset("toy/nan-final-v0")
    assert ds.n_transitions == sum(len(r) for r in rewards)
    np.testing.assert_allclose(ds.episode_returns(), [r.sum() for r in rewards], rtol=1e-6)
    assert ds.final_observation_known.tolist() == [True, False, True]
    lengths = [len(r) for r in rewards]
    assert ds.truncated[1]  # (seeded: cut by the 15-step limit)
    assert np.flatnonzero(~ds.td_mask).tolist() == [lengths[0] + lengths[1] - 1]
