"""The canonical EpisodeDataset: alignment, episodes, transitions, exports."""

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from _factory import flat_arrays, make_dataset


def test_from_flat_splits_on_terminal_and_timeout_and_keeps_alignment():
    a = flat_arrays(60)
    ds = make_dataset(60)
    assert ds.n_episodes == 3 and ds.n_transitions == 60 and len(ds.episodes) == 3
    assert list(ds.episode_lengths) == [10, 20, 30]
    assert list(ds.terminated) == [True, False, True]
    assert list(ds.truncated) == [False, True, False]
    for k, (s, e) in enumerate([(0, 10), (10, 30), (30, 60)]):
        ep = ds.episodes[k]
        assert ep.observations.shape == (e - s + 1, 3)
        np.testing.assert_array_equal(ep.observations[:-1], a["observations"][s:e])
        np.testing.assert_array_equal(ep.observations[-1], a["next_observations"][e - 1])
        np.testing.assert_array_equal(ep.actions, a["actions"][s:e])
        assert ep.episode_return == pytest.approx(a["rewards"][s:e].sum(dtype=np.float64))
    t = ds.transitions()
    np.testing.assert_array_equal(t["observations"], a["observations"])
    np.testing.assert_array_equal(t["next_observations"], a["next_observations"])
    np.testing.assert_array_equal(t["terminals"], a["terminals"])
    np.testing.assert_array_equal(t["timeouts"], a["timeouts"])
    np.testing.assert_allclose(ds.episode_returns(), [e.episode_return for e in ds.episodes])


def test_unfinished_trailing_episode_is_kept_and_flagged():
    a = flat_arrays(40, ends={9: "terminal", 19: "timeout"})
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"], a["next_observations"])
    assert ds.n_episodes == 3 and not ds.finished[-1] and ds.finished[:-1].all()
    assert ds.summary()["unfinished_last_episode"]


def test_without_next_observations_every_step_is_kept_and_final_observations_are_unknown():
    a = flat_arrays(60)
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"])
    # every step is kept, the truncated one's too (its reward counts in its return) ...
    assert list(ds.episode_lengths) == [10, 20, 30]
    ep = ds.episodes[1]
    np.testing.assert_array_equal(ep.observations[:-1], a["observations"][10:30])
    np.testing.assert_array_equal(ep.actions, a["actions"][10:30])
    assert ep.episode_return == pytest.approx(a["rewards"][10:30].sum(dtype=np.float64))
    # ... but its final observation is unknown, so only its last step is no TD transition
    assert not ds.final_observation_known.any() and not ep.final_observation_known
    assert np.flatnonzero(~ds.td_mask).tolist() == [29]


def test_hidden_episode_boundary_in_next_observations_becomes_a_timeout():
    a = flat_arrays(60)
    a["next_observations"][44] += 1.0  # an unflagged reset between steps 44 and 45
    with pytest.warns(UserWarning, match="treating them as episode ends"):
        ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                         a["terminals"], a["timeouts"], a["next_observations"])
    assert list(ds.episode_lengths) == [10, 20, 15, 15]
    assert ds.truncated[2] and ds.metadata["implicit_episode_ends"] == 1


def test_select_concat_and_fingerprint():
    ds = make_dataset(60)
    sub = ds.select([2, 0])
    assert list(sub.episode_lengths) == [30, 10]
    np.testing.assert_array_equal(sub.episodes[0].observations, ds.episodes[2].observations)
    both = wb.EpisodeDataset.concat([ds, ds])
    assert both.n_episodes == 6 and both.n_transitions == 120
    np.testing.assert_array_equal(both.episodes[4].actions, ds.episodes[1].actions)
    assert ds.fingerprint == make_dataset(60).fingerprint
    assert ds.fingerprint != make_dataset(60, seed=1).fingerprint


def test_to_frame_is_tidy_and_documented_layout():
    ds = make_dataset(60, discrete=False)
    df = ds.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 60
    assert list(df.columns[:5]) == ["episode", "step", "obs_0", "obs_1", "obs_2"]
    assert {"action_0", "action_1", "reward", "terminated", "truncated", "next_obs_0",
            "behavior_log_prob"} <= set(df.columns)
    assert df.groupby("episode")["step"].max().tolist() == [9, 19, 29]
    assert df["terminated"].sum() == 2 and df["truncated"].sum() == 1


@pytest.mark.parametrize("discrete", [True, False])
def test_to_d3rlpy_keeps_every_transition_and_trains(discrete):
    from workbench._d3rlpy import d3rlpy

    ds = make_dataset(60, discrete=discrete)
    buf = ds.to_d3rlpy()
    assert buf.transition_count == ds.n_transitions
    # truncated episode: the last transition's next observation is the true final observation
    ep = buf.episodes[1]
    np.testing.assert_array_equal(ep.observations[-1], ds.episodes[1].observations[-1])
    algo = (d3rlpy.algos.DiscreteCQLConfig(batch_size=8) if discrete
            else d3rlpy.algos.CQLConfig(batch_size=8)).create(device="cpu:0")
    algo.fit(buf, n_steps=4, n_steps_per_epoch=4, show_progress=False, save_interval=10**9,
             experiment_name="t", with_timestamp=False,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    pred = algo.predict(ds.transitions()["observations"][:5].astype(np.float32))
    assert pred.shape[0] == 5


def test_repr_and_html():
    ds = make_dataset(60)
    assert "episodes=3" in repr(ds)
    assert "<table>" in ds._repr_html_()
