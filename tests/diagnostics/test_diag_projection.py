"""State samples and their principal components (the coverage view's numbers)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench.diagnostics as D
from _factory import episodes_dataset, random_continuous
from workbench.errors import DiagnosticsError


def test_state_sample_is_seeded_sorted_and_flat():
    ds = random_continuous(n=3000, obs_dim=4)
    all_states = np.asarray(ds.observations, dtype=float)
    assert np.array_equal(D.state_sample(ds), all_states)  # fewer than max_samples: all
    s = D.state_sample(ds, max_samples=500, seed=3)
    assert s.shape == (500, 4) and s.dtype == np.float64
    assert np.array_equal(s, D.state_sample(ds, max_samples=500, seed=3))
    idx = D.sample_indices(len(all_states), 500, 3)
    assert np.all(np.diff(idx) > 0) and np.array_equal(s, all_states[idx])
    assert not np.array_equal(idx, D.sample_indices(len(all_states), 500, 4))


def test_principal_components_match_numpy_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) @ np.array([[3.0, 0, 0], [1.0, 1.0, 0], [0, 0, 0.2]])
    proj, explained = D.principal_components(x, 2)
    assert proj.shape == (400, 2) and explained.shape == (2,)
    w, v = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(w)[::-1]
    np.testing.assert_allclose(explained, w[order][:2] / w.sum(), rtol=1e-10)
    centred = x - x.mean(axis=0)
    for j in range(2):  # the same axis up to its sign
        ref = centred @ v[:, order[j]]
        assert np.allclose(proj[:, j], ref) or np.allclose(proj[:, j], -ref)
    assert proj[:, 0].var() >= proj[:, 1].var()


def test_principal_components_of_one_axis_and_bad_input():
    ds = episodes_dataset([([0, 1, 2, 3, 4, 4], [0, 1, 0, 1, 0], [1] * 5, "terminated")],
                          n_actions=2)
    proj, explained = D.principal_components(D.state_sample(ds), 2)
    assert proj.shape == (6, 2) and explained.tolist() == pytest.approx([1.0, 0.0])
    assert np.all(proj[:, 1] == 0)
    flat, none = D.principal_components(np.ones((5, 2)), 2)  # constant: nothing explained
    assert np.all(flat == 0) and np.all(none == 0)
    with pytest.raises(DiagnosticsError, match="rows"):
        D.principal_components(np.zeros((0, 3)))
    with pytest.raises(DiagnosticsError, match="rows"):
        D.principal_components(np.zeros(4))
    with pytest.raises(DiagnosticsError, match="k must be"):
        D.principal_components(np.ones((3, 3)), 0)
