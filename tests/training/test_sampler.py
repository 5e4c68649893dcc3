"""FastReplayBuffer builds exactly d3rlpy's batches, with its own generator."""

import numpy as np
import pytest
from d3rlpy.dataset import TransitionMiniBatch
from d3rlpy.torch_utility import _compute_return_to_go

from workbench.training.sampler import FastReplayBuffer

FIELDS = ["observations", "actions", "rewards", "next_observations", "next_actions", "terminals",
          "intervals"]


def _assert_same_batch(ref, got) -> None:
    """Every field of two mini-batches: same dtype, shape and values, bit for bit."""
    for f in FIELDS:
        a, b = getattr(ref, f), getattr(got, f)
        assert a.dtype == b.dtype and a.shape == b.shape, f
        assert np.array_equal(a, b), f


def _reference(ds, fb, idx):
    rb = ds.to_d3rlpy()
    picker = fb.transition_picker
    return rb, [picker(*rb.buffer[int(i)]) for i in idx]


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("kind", ["toy_discrete", "toy_continuous"])
def test_batches_equal_d3rlpy_pickers_bitwise(request, kind, n_step):
    ds = request.getfixturevalue(kind)
    fb = FastReplayBuffer(ds, seed=0, n_step=n_step, gamma=0.9)
    idx = np.arange(ds.n_transitions)
    rb, transitions = _reference(ds, fb, idx)
    assert rb.transition_count == fb.transition_count == ds.n_transitions
    ref = TransitionMiniBatch.from_transitions(transitions)
    got = fb.batch_from_indices(idx)
    _assert_same_batch(ref, got)


def test_terminal_and_timeout_semantics(toy_discrete):
    fb = FastReplayBuffer(toy_discrete, seed=0)
    b = fb.batch_from_indices(np.array([9, 29, 45, 59, 0]))
    # terminal: zero next observation and next action, terminal flag
    assert b.terminals[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert not b.next_observations[0].any() and not b.next_observations[2].any()
    # timeout keeps its true next observation, never terminal
    t = toy_discrete.transitions()
    assert np.array_equal(b.next_observations[1], t["next_observations"][29])
    assert np.array_equal(b.next_observations[3], t["next_observations"][59])  # unfinished end
    assert not b.next_actions[1].any() and not b.next_actions[3].any()
    assert b.next_actions[4, 0] == toy_discrete.actions[1]


def test_returns_to_go_for_calql(toy_continuous):
    fb = FastReplayBuffer(toy_continuous, seed=0, need_returns_to_go=True)
    idx = np.array([0, 5, 12, 29, 30, 59])
    _, transitions = _reference(toy_continuous, fb, idx)
    got = fb.batch_from_indices(idx).transitions
    for t_ref, t_got in zip(transitions, got):
        a = _compute_return_to_go(0.99, t_ref.rewards_to_go, None)
        b = _compute_return_to_go(0.99, t_got.rewards_to_go, None)
        assert np.array_equal(a, b)


def test_own_generator_leaves_global_rng_alone(toy_discrete):
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    a = FastReplayBuffer(toy_discrete, seed=7)
    b = FastReplayBuffer(toy_discrete, seed=7)
    for _ in range(3):
        assert np.array_equal(a.sample_transition_batch(32).observations,
                              b.sample_transition_batch(32).observations)
    assert np.random.rand() == expected
    state = a.get_state()
    x = a.sample_indices(16)
    a.set_state(state)
    assert np.array_equal(a.sample_indices(16), x)


def test_uniform_over_transitions(toy_discrete):
    fb = FastReplayBuffer(toy_discrete, seed=0)
    idx = fb.sample_indices(60_000)
    counts = np.bincount(idx, minlength=60)
    assert counts.min() > 800 and counts.max() < 1200


def test_read_only_and_bad_n_step(toy_discrete):
    from workbench.errors import TrainingError

    fb = FastReplayBuffer(toy_discrete)
    with pytest.raises(TrainingError):
        fb.append(None, 0, 0.0)
    with pytest.raises(TrainingError):
        FastReplayBuffer(toy_discrete, n_step=0)
    assert len(fb.episodes) == toy_discrete.n_episodes  # lazily built d3rlpy episodes


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("discrete", [True, False])
def test_without_next_observations_batches_equal_d3rlpys_own_buffer(n_step, discrete):
    """A file without next observations: our sampler draws exactly the transitions (and
    builds exactly the batches) of d3rlpy's own MDPDataset over the same flat arrays."""
    from _factory import flat_arrays
    from workbench._d3rlpy import d3rlpy
    from workbench.data.dataset import EpisodeDataset

    a = flat_arrays(60, discrete=discrete, ends={9: "terminal", 29: "timeout", 44: "timeout",
                                                 59: "timeout"})
    ds = EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"], a["terminals"],
                                  a["timeouts"])
    acts = a["actions"][:, None].astype(np.int64) if discrete else a["actions"]
    theirs = d3rlpy.dataset.MDPDataset(a["observations"], acts, a["rewards"], a["terminals"],
                                       a["timeouts"])
    fb = FastReplayBuffer(ds, seed=0, n_step=n_step, gamma=0.9)
    assert fb.transition_count == theirs.transition_count == 57
    valid = np.flatnonzero(ds.td_mask)
    assert set(range(60)) - set(valid.tolist()) == {29, 44, 59}
    picker = fb.transition_picker
    ref = TransitionMiniBatch.from_transitions(
        [picker(*theirs.buffer[i]) for i in range(theirs.transition_count)])
    got = fb.batch_from_indices(valid)
    for f in FIELDS:
        x, y = getattr(ref, f), getattr(got, f)
        if f == "actions" and discrete:  # d3rlpy keeps the dtype of the arrays it was given
            x = x.astype(np.float32)
        assert x.shape == y.shape and np.array_equal(x, y), f
    # sampling never draws a step without a next observation
    assert set(fb.sample_indices(5000).tolist()) <= set(valid.tolist())


# ------------------------------------------------------------------------------ images
def _image_dataset(n=60, shape=(2, 6, 5), seed=0, ends=None):
    """uint8 frames, episodes as in the vector fixtures (terminal, timeout, unfinished)."""
    from _factory import flat_arrays
    from workbench.data.dataset import EpisodeDataset

    a = flat_arrays(n, discrete=True, seed=seed,
                    ends=ends or {9: "terminal", 29: "timeout", 45: "terminal"})
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n + 1, *shape), dtype=np.uint8)
    return EpisodeDataset.from_flat(frames[:-1], a["actions"], a["rewards"], a["terminals"],
                                    a["timeouts"], frames[1:])


@pytest.mark.parametrize("n_step", [1, 3])
def test_image_batches_equal_d3rlpy_pickers_bitwise(n_step):
    ds = _image_dataset()
    assert ds.is_image and ds.observations.dtype == np.uint8
    fb = FastReplayBuffer(ds, seed=0, n_step=n_step, gamma=0.9)
    assert fb.lazy and fb._obs is None and fb._next_obs is None  # no float copies held
    idx = np.arange(ds.n_transitions)
    rb, transitions = _reference(ds, fb, idx)
    assert rb.episodes[0].observations.dtype == np.uint8  # d3rlpy's own buffer: uint8 too
    ref = TransitionMiniBatch.from_transitions(transitions)
    got = fb.batch_from_indices(idx)
    _assert_same_batch(ref, got)
    t = fb.sample_transition()
    assert t.observation.shape == (2, 6, 5) and t.observation.dtype == np.float32


@pytest.mark.parametrize("n_step", [1, 3])
def test_lazy_and_precomputed_vector_batches_are_identical(toy_discrete, n_step):
    a = FastReplayBuffer(toy_discrete, seed=3, n_step=n_step, gamma=0.9)
    b = FastReplayBuffer(toy_discrete, seed=3, n_step=n_step, gamma=0.9, lazy=True)
    assert not a.lazy and b.lazy
    for _ in range(3):
        x, y = a.sample_transition_batch(64), b.sample_transition_batch(64)
        for f in FIELDS:
            assert np.array_equal(getattr(x, f), getattr(y, f)), f


def test_image_sampler_holds_no_copy_of_the_frames():
    import tracemalloc

    ds = _image_dataset(2000, shape=(4, 84, 84), ends={k: "timeout" for k in range(99, 2000, 100)})
    tracemalloc.start()
    try:
        fb = FastReplayBuffer(ds, seed=0)
        built, _ = tracemalloc.get_traced_memory()
        batch = fb.sample_transition_batch(32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert built < 0.02 * ds.observations.nbytes  # row indices, not frames
    assert peak < 0.2 * ds.observations.nbytes  # one batch: 32 float32 frames and next frames
    assert batch.observations.shape == (32, 4, 84, 84)
    assert batch.observations.dtype == np.float32 and batch.observations.max() <= 255
