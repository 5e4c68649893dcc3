"""Decision transformers: trajectory batches, training jobs, env evaluation at a target return."""

import numpy as np
import pytest

from _factory import flat_arrays, make_dataset
from workbench import EpisodeDataset
from workbench.errors import ConfigError
from workbench.training.algorithms import ALGORITHMS, resolve_algorithm


def _no_final_obs(discrete):
    """Truncated and unfinished episodes whose final observation was never logged."""
    a = flat_arrays(60, discrete, seed=3, ends={9: "terminal", 29: "timeout", 45: "terminal"})
    return EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                    a["terminals"], a["timeouts"], None,
                                    metadata={"name": "gaps"})


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("final_known", [True, False])
@pytest.mark.parametrize("length", [1, 4, 20])
def test_batches_equal_d3rlpy_basic_trajectory_slicer(discrete, final_known, length):
    from d3rlpy.dataset import BasicTrajectorySlicer, TrajectoryMiniBatch

    from workbench.training.trajectories import TrajectoryBuffer

    ds = (make_dataset(60, discrete=discrete, ends={9: "terminal", 29: "timeout",
                                                   45: "terminal"})
          if final_known else _no_final_obs(discrete))
    buf = TrajectoryBuffer(ds, seed=0)
    rb = ds.to_d3rlpy()
    assert rb.transition_count == int(ds.td_mask.sum())
    # every d3rlpy transition index i ↔ (episode, end index) ↔ flat step valid[i]
    valid = np.flatnonzero(ds.td_mask)
    slicer = BasicTrajectorySlicer()
    pairs = [rb.buffer[i] for i in range(rb.transition_count)]
    want = TrajectoryMiniBatch.from_partial_trajectories(
        [slicer(ep, j, length) for ep, j in pairs])
    got = buf.batch_from_ends(valid, length)
    for f in ("observations", "actions", "rewards", "returns_to_go", "terminals", "timesteps",
              "masks"):
        a, b = getattr(got, f), getattr(want, f)
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape, f
        assert np.array_equal(a, b), f
    assert got.length == want.length == length


def test_sampling_uses_the_buffers_own_generator(toy_discrete):
    from workbench.training.trajectories import TrajectoryBuffer

    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = TrajectoryBuffer(toy_discrete, seed=5).sample_trajectory_batch(16, 4)
    b = TrajectoryBuffer(toy_discrete, seed=5).sample_trajectory_batch(16, 4)
    assert np.array_equal(np.random.get_state()[1], before)
    assert np.array_equal(a.observations, b.observations)
    assert a.observations.shape == (16, 4, 3) and a.actions.shape == (16, 4, 1)
