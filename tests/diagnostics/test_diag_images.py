"""Diagnostics on image observations: the image-mode discretisation and its invariants."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import workbench as wb
import workbench.diagnostics as D
from workbench.data.dataset import EpisodeDataset
from workbench.diagnostics import coverage as C
from workbench.errors import DiagnosticsError


def image_dataset(frames: np.ndarray, actions: np.ndarray, T: int = 20, name: str = "img",
                  n_actions: int = 3) -> EpisodeDataset:
    """Episodes of ``T`` steps over per-step ``frames`` (N, C, H, W) uint8; each episode's
    final observation repeats its last frame."""
    N = len(frames)
    eps = []
    for s in range(0, N, T):
        f = frames[s:s + T]
        eps.append({"observations": np.concatenate([f, f[-1:]]), "actions": actions[s:s + T],
                    "rewards": np.ones(len(f), np.float32), "terminated": True,
                    "truncated": False})
    from workbench.data.space import Space

    return EpisodeDataset.from_episodes(eps, action_space=Space.discrete_space(n_actions),
                                        metadata={"name": name})


def random_frames(n=400, shape=(4, 16, 16), seed=0, p=0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((rng.random((n, *shape)) < p) * 255).astype(np.uint8)


@pytest.fixture
def reference():
    rng = np.random.default_rng(1)
    return image_dataset(random_frames(), rng.integers(0, 3, 400), name="ref")


def test_auto_mode_is_image_and_reference_saco_is_one(reference):
    assert C.resolve_mode(reference, "auto") == "image"
    assert D.saco(reference, reference) == 1.0
    assert D.lsaco(reference, reference) == 1.0
    rep = D.diagnose(reference, reference=reference)
    assert rep.saco == 1.0 and rep.metrics["coverage_mode"] == "image"
    assert rep.metrics["image_grid"] == 8 and rep.metrics["image_levels"] == 4
    assert "block means" in str(rep) and rep.to_frame()["saco"].iloc[0] == 1.0
    # a copy (another object, same content) is also exactly 1
    copy = image_dataset(random_frames(), np.random.default_rng(1).integers(0, 3, 400))
    assert D.saco(copy, reference) == 1.0


def test_one_repeated_frame_covers_only_its_actions(reference):
    frame = random_frames(1, seed=7)
    frames = np.repeat(frame, 200, axis=0)
    actions = np.tile([0, 2], 100)  # two distinct actions
    ds = image_dataset(frames, actions, name="one-frame")
    own, ref = C.counts_with_reference(ds, reference)
    assert (own.unique_states, own.unique_actions, own.unique_pairs) == (1, 2, 2)
    assert D.saco(ds, reference) == pytest.approx(2 / ref.unique_pairs)
    assert D.saco(ds, reference) < 0.01


def test_noise_below_the_quantisation_step_keeps_every_code(reference):
    """Blocks at the centre of their cells (4 levels: cells of 64 values, centres 32 + 64k);
    pixel noise of at most ±20 moves no block mean across a cell edge."""
    rng = np.random.default_rng(3)
    n, c = 300, 4
    cells = rng.integers(0, 4, (n, c, 8, 8))  # one cell per 2x2 block of a 16x16 frame
    clean = np.repeat(np.repeat(32 + 64 * cells, 2, axis=2), 2, axis=3).astype(np.uint8)
    noise = rng.integers(-20, 21, clean.shape)
    noisy = np.clip(clean.astype(np.int64) + noise, 0, 255).astype(np.uint8)
    assert (noisy != clean).mean() > 0.9
    actions = rng.integers(0, 3, n)
    a, b = image_dataset(clean, actions), image_dataset(noisy, actions)
    np.testing.assert_array_equal(C.image_state_codes(a), C.image_state_codes(b))
    np.testing.assert_array_equal(C.image_state_codes(a)[:, :64].reshape(n, 8, 8), cells[:, 0])
    assert C.coverage_counts(a) == C.coverage_counts(b)
    assert D.saco(a, reference) == D.saco(b, reference)
    # noise of a whole step does change codes
    shifted = image_dataset(np.clip(clean.astype(np.int64) + 64, 0, 255).astype(np.uint8),
                            actions)
    assert not np.array_equal(C.image_state_codes(a), C.image_state_codes(shifted))


def test_frames_smaller_than_the_grid_keep_their_resolution():
    # MinAtar-sized frames with grid 16: every cell is its own block
    f = random_frames(50, shape=(4, 10, 10), seed=2, p=0.3)
    ds = image_dataset(f, np.zeros(50, np.int64), n_actions=1)
    codes = C.image_state_codes(ds, coding=C.ImageCoding(grid=16, levels=2))
    np.testing.assert_array_equal(codes.reshape(50, 4, 10, 10), f // 255)


def test_modes_that_do_not_fit_are_refused(reference):
    for mode in ("binned", "exact"):
        with pytest.raises(DiagnosticsError, match="mode='image'"):
            D.saco(reference, reference, mode=mode)
    from _factory import random_continuous

    with pytest.raises(DiagnosticsError, match="needs image observations"):
        D.coverage_counts(random_continuous(200), mode="image")
    with pytest.raises(DiagnosticsError):
        C.ImageCoding(levels=1)
    vec = random_continuous(200)
    with pytest.raises(DiagnosticsError, match="shape"):
        D.saco(vec, reference)


def test_coverage_makes_no_float_copy_of_the_frames():
    frames = random_frames(1500, shape=(4, 84, 84), seed=4)
    ds = image_dataset(frames, np.random.default_rng(0).integers(0, 3, 1500))
    tracemalloc.start()
    try:
        C.coverage_counts(ds)
        D.state_sample(ds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a float32 copy would be 4x the uint8 frames; we stay well under one uint8 copy
    assert peak < 0.5 * ds.observations.nbytes, peak


def test_projection_and_behaviour_entropy_on_images(reference):
    x = D.state_sample(reference, max_samples=100_000)
    assert x.shape == (len(reference.observations), 4 * 8 * 8) and x.dtype == np.float64
    proj, explained = D.principal_components(x)
    assert proj.shape == (len(x), 2) and 0 < explained.sum() <= 1
    big = image_dataset(random_frames(6000, shape=(1, 8, 8)), np.zeros(6000, np.int64))
    assert len(D.state_sample(big)) == D.projection.MAX_IMAGE_SAMPLES
    h, unit = D.behavior_entropy(reference, epochs=1, max_samples=400)
    assert unit == "normalised" and 0.0 <= h <= 1.0


def test_catalog_style_tq_and_saco_on_collected_minatar():
    """Real MinAtar data: a random dataset against itself and against a repeated frame."""
    ds = wb.collect("MinAtar/Breakout-v1", "random", n_steps=1000, seed=0, n_envs=2,
                    progress=False)
    assert D.saco(ds, ds) == 1.0
    rep = D.diagnose(ds, reference=ds, random_return=0.0, expert_return=10.0)
    assert rep.tq == pytest.approx(ds.episode_returns().mean() / 10.0)
    assert rep.metrics["unique_actions"] == 3
