"""SACo, lSACo and exact unique counts: hand-computed cases, invariants, np.digitize parity."""

from __future__ import annotations

import math

import numpy as np
import pytest

import workbench.diagnostics as D
from _factory import episodes_dataset, random_continuous
from workbench.data.dataset import EpisodeDataset, Space
from workbench.diagnostics import _kernels as K
from workbench.diagnostics import coverage as C
from workbench.errors import DiagnosticsError, WorkbenchError


# ------------------------------------------------------------------------ hand-computed
def test_saco_hand_computed(hand_dataset, hand_reference):
    # bins=5 over [0, 4]: edges 0,1,2,3,4 -> digitize: 0->1, 1->2, 2->3, 3->4, 4->5.
    # reference pairs (1,0) (2,1) (3,0) (4,1) (5,0): u_ref = 5.
    # dataset states 0.5 0.7 | 2.5 2.5 9 -> codes 1 1 | 3 3 5 (9 > 4 lands in the edge bin 5)
    # with actions 0 0 | 1 1 0 -> pairs (1,0) (3,1) (5,0): u = 3.
    assert D.saco(hand_dataset, hand_reference, bins=5) == pytest.approx(3 / 5)
    assert D.lsaco(hand_dataset, hand_reference, bins=5) == pytest.approx(math.log(3) / math.log(5))
    own = C.coverage_counts(hand_dataset, C.reference_counts(hand_reference, 5).limits, 5)
    assert (own.pairs, own.unique_pairs, own.unique_states, own.unique_actions, own.outside) == \
        (5, 3, 3, 2, 1)
    ref = C.reference_counts(hand_reference, 5)
    assert (ref.unique_pairs, ref.unique_states, ref.unique_actions, ref.outside) == (5, 5, 2, 0)


def test_values_below_the_limits_get_their_own_edge_bin(hand_reference):
    # -1 -> code 0 (below the minimum), 0 -> code 1: two different pairs, one outside
    ds = episodes_dataset([([-1, 0, 0], [0, 0], [0, 0], "terminated")], n_actions=2)
    c = C.coverage_counts(ds, C.reference_counts(hand_reference, 5).limits, 5)
    assert (c.unique_pairs, c.outside) == (2, 1)


def test_final_observations_are_not_counted(hand_reference):
    # the final observation 3 has no action; only state 0 with action 0 is a pair
    ds = episodes_dataset([([0, 3], [0], [0], "terminated")], n_actions=2)
    assert D.saco(ds, hand_reference, bins=5) == pytest.approx(1 / 5)


def test_continuous_actions_are_binned_with_the_reference_limits():
    # 1-D states and actions on [0, 2] with bins=3: edges 0, 1, 2.
    ref = episodes_dataset([([0, 1, 2, 2], [[0.0], [1.0], [2.0]], [0, 0, 0], "terminated")],
                           discrete=False)
    ds = episodes_dataset([([0.2, 0.4, 0.6, 0.6], [[0.1], [0.9], [1.5]], [0, 0, 0], "truncated")],
                          discrete=False)
    # states 0.2 0.4 0.6 -> code 1; actions 0.1 0.9 -> 1, 1.5 -> 2: pairs (1,1) (1,2)
    assert D.saco(ds, ref, bins=3) == pytest.approx(2 / 3)
    rep = D.diagnose(ds, ref, bins=3)
    assert (rep["unique_states"], rep["unique_actions"]) == (1, 2)
    assert rep["state_coverage"] == pytest.approx(1 / 3)
    assert rep["action_coverage"] == pytest.approx(2 / 3)


def test_exact_mode_for_discrete_observations_and_actions():
    obs_space = Space.discrete_space(10)
    ref = episodes_dataset([([0, 1, 2, 3, 3], [0, 1, 0, 1], [0] * 4, "terminated")],
                           n_actions=2, obs_space=obs_space)
    ds = episodes_dataset([([0, 0, 0, 1], [0, 0, 1], [0] * 3, "terminated")],
                          n_actions=2, obs_space=obs_space)
    assert C.resolve_mode(ds, "auto") == "exact"
    assert D.saco(ds, ref) == pytest.approx(2 / 4)  # pairs (0,0) (0,1) vs four
    c = C.coverage_counts(ds)
    assert (c.mode, c.bins, c.unique_states, c.unique_actions) == ("exact", None, 1, 2)


def test_exact_mode_on_raw_floats_saturates():
    ds = random_continuous(500)
    c = C.coverage_counts(ds, mode="exact")
    assert c.unique_pairs == c.unique_states == 500


# ------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("bins", [2, 7, 100])
def test_saco_of_the_reference_is_one(bins):
    ref = random_continuous(2000, seed=3)
    assert D.saco(ref, ref, bins=bins) == 1.0
    assert D.lsaco(ref, ref, bins=bins) == 1.0
    copy = EpisodeDataset(ref.observations.copy(), ref.actions.copy(), ref.rewards,
                          ref.offsets, ref.terminated, ref.truncated, ref.observation_space,
                          ref.action_space)
    assert D.saco(copy, ref, bins=bins) == 1.0


def test_subset_has_lower_coverage_and_superset_can_exceed_one():
    ref = random_continuous(2000, seed=1)
    half = ref.select(np.arange(ref.n_episodes // 2))
    assert 0 < D.saco(half, ref, bins=10) < 1
    assert D.saco(ref, half, bins=10) > 1


# ------------------------------------------------------------------------ np.digitize parity
def _brute_force(ds, ref, bins):
    """The paper's straightforward way: np.digitize per axis, one tuple per row in a set."""
    def limits(d):
        s = d.transitions()["observations"].astype(np.float64)
        a = d.actions.reshape(d.n_transitions, -1).astype(np.float64)
        return s.min(0), s.max(0), a.min(0), a.max(0)

    lo, hi, alo, ahi = limits(ref)

    def codes(x, lo, hi):
        return np.stack([np.digitize(x[:, i], np.linspace(lo[i], hi[i], bins))
                         for i in range(x.shape[1])], axis=1)

    s = codes(ds.transitions()["observations"], lo, hi)
    a = (ds.actions.reshape(-1, 1) if ds.is_discrete else
         codes(ds.actions.reshape(ds.n_transitions, -1), alo, ahi))
    return (len({tuple(r) for r in np.hstack([s, a])}), len({tuple(r) for r in s}),
            len({tuple(r) for r in a}))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins", [2, 5, 100, 300])
def test_counts_match_the_straightforward_approach(dtype, bins):
    ref = random_continuous(3000, obs_dim=3, act_dim=2, seed=1, dtype=dtype)
    ds = random_continuous(2500, obs_dim=3, act_dim=2, seed=2, dtype=dtype)
    # coarse values so that rows repeat and many values sit exactly on bin edges
    lims = C.Limits.of(ref)
    edges = np.stack([np.linspace(lo, hi, bins) for lo, hi in zip(lims.obs_low, lims.obs_high)], 1)
    obs = ds.observations.copy()
    obs[::3] = edges[np.arange(len(obs[::3])) % bins].astype(dtype)
    obs[1::7] *= 1.5  # some outside the limits
    ds = EpisodeDataset(obs, np.round(ds.actions, 1), ds.rewards, ds.offsets, ds.terminated,
                        ds.truncated, ds.observation_space, ds.action_space)
    c = C.coverage_counts(ds, C.reference_counts(ref, bins).limits, bins)
    assert (c.unique_pairs, c.unique_states, c.unique_actions) == _brute_force(ds, ref, bins)
    assert c.outside > 0


def test_bin_codes_equal_np_digitize_on_edges_and_far_from_zero():
    rng = np.random.default_rng(0)
    lo = np.array([-1.0, 1000.0, 0.0, -3.3e6])
    hi = np.array([1.0, 1000.001, 1e-6, 2.2e6])
    spec = K.BinSpec(lo, hi, 100)
    for dtype in (np.float32, np.float64):
        x = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=(5000, 4)).astype(dtype)
        e = spec.edges()
        x[:100] = e[:, :100].T.astype(dtype)
        x[100:200] = np.nextafter(e[:, :100].T.astype(dtype), dtype(-np.inf))
        x[200:300] = np.nextafter(e[:, :100].T.astype(dtype), dtype(np.inf))
        want = np.stack([np.digitize(x[:, i], e[i]) for i in range(4)], axis=1)
        np.testing.assert_array_equal(K.bin_codes(x, spec), want)


def test_zero_width_axis_binning_matches_digitize():
    spec = K.BinSpec(np.array([2.0]), np.array([2.0]), 5)
    x = np.array([[2.0], [2.0]], dtype=np.float32)
    np.testing.assert_array_equal(K.bin_codes(x, spec)[:, 0], np.digitize(x[:, 0], [2.0] * 5))


# ------------------------------------------------------------------------ exact counting
@pytest.mark.parametrize("W", [1, 2, 3])
def test_unique_rank_is_exact_even_when_every_hash_collides(W):
    words = np.random.default_rng(W).integers(0, 5, size=(3000, W)).astype(np.uint64)
    _, inv = np.unique(words, axis=0, return_inverse=True)
    expected = int(inv.max()) + 1
    for bad_hash in (lambda w: np.zeros(len(w), np.uint64), lambda w: w[:, 0] % np.uint64(2)):
        u, rank = K.unique_rank(words, _hash=bad_hash)
        assert u == expected
        # same rows <-> same rank
        assert len(np.unique(np.stack([rank, inv.ravel()], 1), axis=0)) == expected
    assert K.unique_count(words) == expected


def test_unique_count_with_presence_table_and_sort_agree():
    w = np.random.default_rng(0).integers(0, 1000, size=(5000, 1)).astype(np.uint64)
    assert K.unique_count(w, radix=1000) == K.unique_count(w) == len(np.unique(w))


# ------------------------------------------------------------------------ bad input
def test_bad_input_is_a_clear_diagnostics_error(hand_dataset, hand_reference):
    two_d = episodes_dataset([([[0, 0], [1, 1]], [0], [0], "terminated")], n_actions=2)
    with pytest.raises(DiagnosticsError,
                       match=r"observations of shape \(1,\) but 'hand' has \(2,\)"):
        D.saco(two_d, hand_reference)
    three = episodes_dataset([([0, 1], [2], [0], "terminated")], n_actions=3)
    with pytest.raises(DiagnosticsError, match="3 discrete actions"):
        D.saco(hand_dataset, three)
    cont = episodes_dataset([([0, 1], [[0.5]], [0], "terminated")], discrete=False)
    with pytest.raises(DiagnosticsError, match="continuous actions"):
        D.saco(cont, hand_reference)
    cont2 = episodes_dataset([([0, 1], [[0.5, 1]], [0], "terminated")], discrete=False)
    with pytest.raises(DiagnosticsError, match=r"actions of shape \(2,\)"):
        D.saco(cont, cont2)
    for bins in (1, 0, -3, 2.5, "100", True):
        with pytest.raises(DiagnosticsError, match="bins"):
            D.saco(hand_dataset, hand_reference, bins=bins)
    with pytest.raises(DiagnosticsError, match="mode"):
        D.saco(hand_dataset, hand_reference, mode="fuzzy")
    with pytest.raises(DiagnosticsError, match="EpisodeDataset"):
        D.saco(np.zeros((3, 2)), hand_reference)
    with pytest.raises(WorkbenchError):
        D.saco(hand_dataset, "not a dataset object")


def test_zero_width_reference_axis_is_rejected(hand_dataset):
    flat = episodes_dataset([([[1, 0], [1, 2], [1, 3]], [0, 1], [0, 0], "terminated")],
                            n_actions=2)
    two_d = episodes_dataset([([[1, 0], [2, 1]], [0], [0], "terminated")], n_actions=2)
    with pytest.raises(DiagnosticsError, match="zero-width axes obs_0"):
        D.saco(two_d, flat)
    # without a reference a constant axis is fine (all values share one bin)
    assert C.coverage_counts(flat).unique_states == 2


def test_reference_counts_are_cached_per_object(hand_reference):
    a = C.reference_counts(hand_reference, 5)
    assert C.reference_counts(hand_reference, 5) is a
    assert C.reference_counts(hand_reference, 6) is not a
