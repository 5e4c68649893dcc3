"""OPE on image datasets: the IS family (logged or pixel-estimated behaviour), FQE with a
pixel encoder, ground truth in the same preprocessed environment, no float copies."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from workbench.data.collect import collect
from workbench.ope import evaluate_ope, fit_fqe, make_policy
from workbench.ope.behavior import BehaviorEstimatedWarning

MINATAR = "MinAtar/Breakout-v1"


def left_right(obs):
    """A deterministic pixel policy: move towards the ball's column (layer 1), else stay."""
    obs = np.asarray(obs)
    ball = obs[:, 1].max(axis=1)  # (B, 10): columns holding the ball
    paddle = obs[:, 0].max(axis=1)
    col_b = np.where(ball.any(1), ball.argmax(1), 5)
    col_p = np.where(paddle.any(1), paddle.argmax(1), 5)
    return np.where(col_b < col_p, 1, np.where(col_b > col_p, 2, 0)).astype(np.int64)


@pytest.fixture(scope="module")
def minatar():
    return collect(MINATAR, "random", n_steps=1500, seed=0, n_envs=4, progress=False)


def test_is_family_with_logged_behaviour_on_frames(minatar):
    frame = evaluate_ope(minatar, {"track": left_right}, estimators=("is", "wis", "pdis"),
                         n_bootstrap=50)
    assert set(frame["behavior_source"]) == {"logged (behavior_log_prob)"}
    assert np.isfinite(frame["estimate"]).all()
    assert (frame["ess"] > 0).all()


def test_behaviour_estimated_on_pixels_when_none_is_logged(minatar):
    from workbench.data.dataset import EpisodeDataset

    bare = EpisodeDataset(minatar.observations, minatar.actions, minatar.rewards,
                          minatar.offsets, minatar.terminated, minatar.truncated,
                          minatar.observation_space, minatar.action_space, {},
                          {"name": "bare"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = evaluate_ope(bare, {"track": left_right}, estimators=("wis", "pdis"),
                             n_bootstrap=50, n_folds=2)
    assert any(issubclass(w.category, BehaviorEstimatedWarning) for w in caught)
    assert frame["behavior_source"].iloc[0].startswith("bc(cross-fitted")
    assert np.isfinite(frame["estimate"]).all()


def test_fqe_uses_a_pixel_encoder_and_ground_truth_the_same_frames(minatar):
    from workbench._d3rlpy import d3rlpy  # noqa: F401

    # isort: split
    from d3rlpy.models.encoders import PixelEncoderFactory
    from d3rlpy.preprocessing import PixelObservationScaler

    pol = make_policy(left_right, minatar, name="track", epsilon=0.1)
    model = fit_fqe(minatar, pol, 0.9, config={"n_steps": 30, "batch_size": 16})
    assert isinstance(model.fqe.config.encoder_factory, PixelEncoderFactory)
    assert isinstance(model.fqe.config.observation_scaler, PixelObservationScaler)
    assert np.isfinite(model.losses).all()
    v = model.value(minatar.observations[:8])  # uint8 frames, as stored
    assert v.shape == (8,) and np.isfinite(v).all()
    frame = evaluate_ope(minatar, {"track": left_right}, estimators=("fqe", "dr"),
                         fqe_config={"n_steps": 30, "batch_size": 16}, env=MINATAR,
                         n_rollouts=3, n_bootstrap=20)
    assert np.isfinite(frame["estimate"]).all() and np.isfinite(frame["true_value"]).all()


def test_fqe_and_weights_make_no_float_copy_of_the_frames():
    """Atari-sized frames: NumPy never holds a float copy of the observations."""
    from workbench.data.dataset import EpisodeDataset
    from workbench.data.space import Space

    rng = np.random.default_rng(0)
    n, T = 900, 30
    frames = ((rng.random((n + n // T, 4, 84, 84)) < 0.05) * 255).astype(np.uint8)
    E = n // T
    ds = EpisodeDataset(frames, rng.integers(0, 3, n), np.ones(n, np.float32),
                        np.arange(0, n + 1, T), np.ones(E, bool), np.zeros(E, bool),
                        Space.infer(frames, False), Space.discrete_space(3),
                        {"behavior_log_prob": np.full(n, -np.log(3))}, {"name": "atari-like"})
    tracemalloc.start()
    try:
        frame = evaluate_ope(ds, {"stay": lambda o: np.zeros(len(o), np.int64)},
                             estimators=("fqe", "wdr", "wis"), n_bootstrap=20,
                             fqe_config={"n_steps": 3, "batch_size": 8})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(frame["estimate"]).all()
    assert peak < 0.5 * ds.observations.nbytes, peak  # a float32 copy would be 4x
