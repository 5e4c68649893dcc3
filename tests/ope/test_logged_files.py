"""OPE on files written by hand: logged behaviour probabilities are found under the names other
tools use, every logged step counts, and the IS family equals an independent implementation.

The D4RL file is written with h5py from a real CartPole run (behaviour log-probabilities in
``infos/action_log_probs``, episodes cut by a 40-step time limit, no next observations), as
D4RL's own collection scripts lay them out.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import h5py
import numpy as np
import pytest

import workbench as wb
from workbench.ope import (
    LOGGED_BEHAVIOR_KEYS,
    BehaviorEstimatedWarning,
    behavior_log_prob,
    logged_behavior_log_prob,
)

GAMMA = 0.97


def _p_behavior(obs):
    return 0.5 + 0.3 * np.tanh(5 * obs[:, 2] + obs[:, 3])


def _p_eval(obs):
    return 1 / (1 + np.exp(-(8 * obs[:, 2] + 2 * obs[:, 3])))


class EvalPolicy:
    def action_probs(self, obs):
        p = _p_eval(np.asarray(obs, np.float64))
        return np.stack([1 - p, p], axis=1)


def _cartpole_arrays(n_episodes=30, seed=0, limit=40):
    env = gym.make("CartPole-v1", max_episode_steps=limit)
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts",
                            "logp")}
    for k in range(n_episodes):
        obs, _ = env.reset(seed=seed + k)
        done = False
        while not done:
            p1 = float(_p_behavior(obs[None].astype(np.float64))[0])
            a = int(rng.random() < p1)
            nxt, r, term, trunc, _ = env.step(a)
            cols["observations"].append(obs)
            cols["actions"].append(a)
            cols["rewards"].append(r)
            cols["terminals"].append(term)
            cols["timeouts"].append(trunc and not term)
            cols["logp"].append(np.log(p1 if a else 1 - p1))
            obs, done = nxt, term or trunc
    env.close()
    out = {k: np.asarray(v) for k, v in cols.items()}
    out["observations"] = out["observations"].astype(np.float32)
    out["rewards"] = out["rewards"].astype(np.float32)
    return out


def _write_d4rl(path, a, key="action_log_probs", values=None):
    with h5py.File(path, "w") as f:
        for k in ("observations", "actions", "rewards", "terminals", "timeouts"):
            f.create_dataset(k, data=a[k])
        f.create_dataset(f"infos/{key}", data=a["logp"] if values is None else values)
    return path


def _independent(a, log_pe):
    """IS, WIS, PDIS, WPDIS by their textbook definitions, one episode at a time.

    WPDIS with variable lengths: an ended episode keeps its final weight in every later
    step's normaliser and contributes no reward (as the workbench documents)."""
    ends = np.flatnonzero(a["terminals"] | a["timeouts"]) + 1
    starts = np.concatenate([[0], ends[:-1]])
    W, G, pd_, ws, rs = [], [], [], [], []
    for s, e in zip(starts, ends):
        r = a["rewards"][s:e].astype(np.float64)
        w = np.cumprod(np.exp(log_pe[s:e] - a["logp"][s:e]))
        disc = GAMMA ** np.arange(e - s)
        W.append(w[-1])
        G.append((disc * r).sum())
        pd_.append((disc * w * r).sum())
        ws.append(w)
        rs.append(r)
    W, G = np.array(W), np.array(G)
    T = max(len(w) for w in ws)
    wpdis = 0.0
    for t in range(T):
        num = sum(w[t] * r[t] for w, r in zip(ws, rs) if t < len(w))
        den = sum(w[min(t, len(w) - 1)] for w in ws)
        wpdis += GAMMA ** t * num / den
    return {"is": float(np.mean(W * G)), "wis": float((W * G).sum() / W.sum()),
            "pdis": float(np.mean(pd_)), "wpdis": wpdis}


@pytest.fixture(scope="module")
def cartpole():
    return _cartpole_arrays()


def test_d4rl_action_log_probs_are_used_and_the_is_family_matches(tmp_path, cartpole):
    a = cartpole
    assert a["timeouts"].sum() >= 3  # episodes cut by the time limit, no next observations
    ds = wb.load_dataset(_write_d4rl(tmp_path / "cartpole.hdf5", a))
    assert ds.n_transitions == len(a["rewards"])  # the timeout episodes keep their last step
    log_pe = np.log(EvalPolicy().action_probs(a["observations"])[np.arange(len(a["actions"])),
                                                                  a["actions"]])
    expected = _independent(a, log_pe)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BehaviorEstimatedWarning)  # nothing may be fitted
        frame = wb.evaluate_ope(ds, {"pe": EvalPolicy()}, estimators=tuple(expected),
                                gamma=GAMMA, n_bootstrap=0)
    assert set(frame.behavior_source) == {"logged (action_log_probs)"}
    got = dict(zip(frame.estimator, frame.estimate))
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


@pytest.mark.parametrize("key,kind", [(k, kind) for k, kind, _ in LOGGED_BEHAVIOR_KEYS])
def test_every_known_name_is_found(tmp_path, cartpole, key, kind):
    a = cartpole
    values = a["logp"] if kind == "log" else np.exp(a["logp"])
    ds = wb.load_dataset(_write_d4rl(tmp_path / "x.hdf5", a, key=key, values=values))
    lp, source = behavior_log_prob(ds)
    assert source == f"logged ({key})"
    np.testing.assert_allclose(lp, a["logp"], rtol=1e-12, atol=1e-12)


def test_a_logged_distribution_over_actions_gives_the_taken_actions_probability(tmp_path,
                                                                                 cartpole):
    a = cartpole
    p1 = _p_behavior(a["observations"].astype(np.float64))
    dist = np.stack([1 - p1, p1], axis=1)  # (N, n_actions), as some collectors log it
    ds = wb.load_dataset(_write_d4rl(tmp_path / "x.hdf5", a, key="action_probs", values=dist))
    found = logged_behavior_log_prob(ds)
    assert found is not None and found[1] == "action_probs"
    np.testing.assert_allclose(found[0], a["logp"], rtol=1e-9)


def test_nothing_logged_warns_once_naming_the_keys_and_logged_is_an_error(tmp_path, cartpole):
    a = cartpole
    path = tmp_path / "bare.hdf5"
    with h5py.File(path, "w") as f:
        for k in ("observations", "actions", "rewards", "terminals", "timeouts"):
            f.create_dataset(k, data=a[k])
    ds = wb.load_dataset(path)
    with pytest.raises(wb.OPEError, match="no extras") as err:
        behavior_log_prob(ds, "logged")
    assert "action_log_probs" in str(err.value) and "pscore" in str(err.value)
    with pytest.warns(BehaviorEstimatedWarning, match="action_log_probs"):
        _, source = behavior_log_prob(ds, None, n_folds=2, epochs=1)
    assert source.startswith("bc(")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BehaviorEstimatedWarning)
        behavior_log_prob(ds, None, n_folds=2, epochs=1)  # once per dataset
        behavior_log_prob(ds, "bc", n_folds=2, epochs=1)  # chosen explicitly: no warning


@pytest.mark.slow
def test_fqe_and_td_evaluation_leave_out_only_steps_without_a_next_observation(cartpole):
    """On a file without next observations FQE regresses on exactly d3rlpy's transitions: the
    same fit as on a dataset holding just those transitions with their true next states."""
    from workbench.ope.fqe import fit_fqe
    from workbench.ope.policy import make_policy
    from workbench.training.evaluators import HeldOutEvaluator

    a = cartpole
    ds = wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                     a["terminals"], a["timeouts"])
    keep = ds.td_mask
    assert (~keep).sum() == a["timeouts"].sum() > 0
    # the same transitions, spelled out: each row's next observation is the following row
    ends = a["terminals"] | a["timeouts"]
    nxt = np.concatenate([a["observations"][1:], a["observations"][-1:]])
    cut = wb.EpisodeDataset.from_flat(a["observations"][keep], a["actions"][keep],
                                      a["rewards"][keep], a["terminals"][keep],
                                      np.roll(a["timeouts"], -1)[keep] & ~ends[keep], nxt[keep])
    assert cut.n_transitions == int(keep.sum()) and cut.td_mask.all()
    cfg = {"n_steps": 60, "batch_size": 32, "hidden_units": (16,)}
    m1 = fit_fqe(ds, make_policy(EvalPolicy(), ds), GAMMA, seed=3, config=cfg)
    m2 = fit_fqe(cut, make_policy(EvalPolicy(), cut), GAMMA, seed=3, config=cfg)
    np.testing.assert_array_equal(m1.losses, m2.losses)
    ev = HeldOutEvaluator(ds, GAMMA)
    assert len(ev.obs) == int(keep.sum())


def test_evaluating_a_policy_object_prints_no_gym_banner(tmp_path, cartpole):
    """d3rlpy is only asked about (never imported raw) when a policy is not one of its
    algorithms, so d3rlpy's old-gym banner cannot reach the user's stderr."""
    import subprocess
    import sys
    import textwrap

    path = _write_d4rl(tmp_path / "cartpole.hdf5", cartpole)
    script = textwrap.dedent(f"""
        import numpy as np, workbench as wb
        class P:
            def action_probs(self, obs):
                return np.full((len(obs), 2), 0.5)
        ds = wb.load_dataset({str(path)!r})
        print(wb.evaluate_ope(ds, {{"p": P()}}, estimators=("wis",), n_bootstrap=0).estimate[0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Gym has been unmaintained" not in out.stderr and float(out.stdout) > 0


def _q_table(obs):
    """A fixed, hand-written Q-function for the DR family: (B, 2)."""
    obs = np.asarray(obs, np.float64)
    return np.stack([10 + 3 * obs[:, 2], 10 - 3 * obs[:, 2] + obs[:, 3]], axis=1)


def test_doubly_robust_family_matches_an_independent_implementation(tmp_path, cartpole):
    a = cartpole
    ds = wb.load_dataset(_write_d4rl(tmp_path / "cartpole.hdf5", a))
    frame = wb.evaluate_ope(ds, {"pe": EvalPolicy()}, estimators=("dr", "wdr"), gamma=GAMMA,
                            n_bootstrap=0, q_functions={"pe": _q_table})
    got = dict(zip(frame.estimator, frame.estimate))
    obs = a["observations"].astype(np.float64)
    pe = EvalPolicy().action_probs(obs)
    q = _q_table(obs)
    q_taken = q[np.arange(len(obs)), a["actions"]]
    v = (pe * q).sum(1)
    rho = pe[np.arange(len(obs)), a["actions"]] / np.exp(a["logp"])
    ends = np.flatnonzero(a["terminals"] | a["timeouts"]) + 1
    starts = np.concatenate([[0], ends[:-1]])
    eps = []
    for s, e in zip(starts, ends):
        w = np.cumprod(rho[s:e])
        eps.append((w, np.concatenate([[1.0], w[:-1]]), a["rewards"][s:e].astype(np.float64),
                    q_taken[s:e], v[s:e]))
    dr = np.mean([sum(GAMMA ** t * (w[t] * (r[t] - qt[t]) + wp[t] * vt[t])
                      for t in range(len(w))) for w, wp, r, qt, vt in eps])
    T = max(len(e[0]) for e in eps)
    wdr = 0.0
    for t in range(T):
        # an ended episode: frozen weight in the normalisers, nothing in the numerators
        num1 = sum(w[t] * (r[t] - qt[t]) for w, wp, r, qt, vt in eps if t < len(w))
        den1 = sum(w[min(t, len(w) - 1)] for w, *_ in eps)
        num2 = sum(wp[t] * vt[t] for w, wp, r, qt, vt in eps if t < len(w))
        den2 = sum(wp[t] if t < len(w) else w[-1] for w, wp, *_ in eps)
        wdr += GAMMA ** t * (num1 / den1 + num2 / den2)
    assert got["dr"] == pytest.approx(dr, rel=1e-6)
    assert got["wdr"] == pytest.approx(wdr, rel=1e-6)
