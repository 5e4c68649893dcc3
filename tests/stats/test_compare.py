"""wb.compare: AdaStop's decisions through the adastop package, cross-checked by calling
adastop directly on the same scores; inputs it refuses; scores from recorded runs."""

import numpy as np
import pytest
from adastop import MultipleAgentsComparator

import workbench as wb
from workbench.errors import ConfigError
from workbench.stats import COMPARE_COLUMNS, SequentialComparison, final_scores


@pytest.fixture()
def store(tmp_path):
    from workbench.tracking import RunStore

    return RunStore(tmp_path / "runs.sqlite")


def _adastop_directly(scores, n, K, alpha, B, seed, beta=0.0):
    """The loop of adastop's README: concatenated evaluations up to stage k, agents in
    order; returns {(agent_a, agent_b): (decision, stage decided)}."""
    names = list(scores)
    comp = MultipleAgentsComparator(n=n, K=K, B=B, alpha=alpha, beta=beta, seed=seed)
    decided = {}
    for k in range(K):
        comp.partial_compare({a: np.asarray(scores[a])[:(k + 1) * n] for a in names},
                             verbose=False)
        for c in comp.comparisons:
            key = (names[c[0]], names[c[1]])
            if key not in decided and comp.decisions[str(c)] != "continue":
                decided[key] = (comp.decisions[str(c)], k + 1)
        if comp.is_finished:
            break
    return decided


@pytest.mark.parametrize("case", range(6))
def test_decisions_match_adastop_called_directly(case):
    rng = np.random.default_rng(case)
    n_agents = [2, 3, 4, 3, 2, 4][case]
    n, K = [(5, 3), (4, 4), (3, 2), (6, 1), (2, 5), (5, 2)][case]
    means = rng.choice([0.0, 0.5, 2.0, 4.0], size=n_agents)
    scores = {f"agent{i}": rng.normal(means[i], 1.0, size=n * K + i) for i in range(n_agents)}
    got = wb.compare(scores, alpha=0.05, n=n, K=K, B=2000, seed=case)
    want = _adastop_directly(scores, n, K, 0.05, 2000, case)
    assert list(got.columns) == list(COMPARE_COLUMNS)
    assert len(got) == n_agents * (n_agents - 1) // 2
    for r in got.itertuples():
        decision, stage = want[(r.agent_a, r.agent_b)]
        assert (r.decision, r.stage) == (decision, stage)
        assert r.n_used_a == r.n_used_b == stage * n
        xa, xb = scores[r.agent_a][:stage * n], scores[r.agent_b][:stage * n]
        assert r.mean_diff == pytest.approx(xa.mean() - xb.mean())
        assert r.prob_improvement == pytest.approx(
            np.mean([(x > y) + 0.5 * (x == y) for x in xa for y in xb]))
        assert r.decision in ("larger", "smaller", "equal")
    assert got.attrs["finished"] and got.attrs["n"] == n and got.attrs["K"] == K


def test_clear_differences_are_decided_early_and_in_the_right_direction():
    rng = np.random.default_rng(7)
    scores = {"good": rng.normal(10, 1, 20), "bad": rng.normal(0, 1, 20)}
    df = wb.compare(scores, n=5, K=4)
    row = df.iloc[0]
    assert (row.agent_a, row.agent_b, row.decision) == ("good", "bad", "larger")
    assert row.stage == 1 and row.n_used_a == 5  # five seeds each were enough
    df = wb.compare({"bad": scores["bad"], "good": scores["good"]}, n=5, K=4)
    assert df.iloc[0].decision == "smaller"
    # default: one stage over every seed of the smallest agent
    df = wb.compare({"a": [1.0, 2, 3], "b": [1.5, 2.5, 3.5, 9]})
    assert df.attrs["n"] == 3 and df.attrs["K"] == 1 and df.iloc[0].n_used_b == 3


def test_equal_agents_are_declared_equal_at_the_last_stage():
    rng = np.random.default_rng(3)
    scores = {"a": rng.normal(0, 1, 12), "b": rng.normal(0, 1, 12)}
    df = wb.compare(scores, n=4, K=3)
    assert df.iloc[0].decision == "equal" and df.iloc[0].stage == 3


def test_sequential_comparison_asks_seeds_only_for_open_pairs():
    """Stage by stage (AdaStop's intended use): after stage 1 only the agents of pairs still
    open need seeds; decisions equal adastop's on the same concatenated evaluations."""
    rng = np.random.default_rng(11)
    full = {"a": rng.normal(0, 1, 30), "b": rng.normal(0.1, 1, 30), "c": rng.normal(50, 1, 30)}
    test = SequentialComparison(list(full), n=5, K=6, alpha=0.05, B=3000, seed=0)
    assert test.active_agents() == ["a", "b", "c"]
    test.update({a: v[:5] for a, v in full.items()})
    assert test.active_agents() == ["a", "b"]  # c is decided against both
    given = {a: v[:5] for a, v in full.items()}
    while not test.finished:
        k = test.stages + 1
        for a in test.active_agents():
            given[a] = full[a][:5 * k]
        test.update({a: given[a] for a in test.active_agents()})
    got = test.result()
    padded = {a: np.concatenate([given[a], full[a][len(given[a]):]]) for a in full}
    want = _adastop_directly(padded, 5, 6, 0.05, 3000, 0)
    for r in got.itertuples():
        assert (r.decision, r.stage) == want[(r.agent_a, r.agent_b)]
    with pytest.raises(ConfigError, match="finished"):
        test.update(full)


def test_bad_inputs_are_config_errors():
    ok = [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ConfigError, match="at least two agents"):
        wb.compare({"a": ok})
    with pytest.raises(ConfigError, match="needs 6 scores"):
        wb.compare({"a": ok, "b": ok}, n=3, K=2)
    with pytest.raises(ConfigError, match="NaN"):
        wb.compare({"a": ok, "b": [1.0, np.nan, 2.0, 3.0]})
    with pytest.raises(ConfigError, match="no scores"):
        wb.compare({"a": ok, "b": []})
    with pytest.raises(ConfigError, match="alpha"):
        wb.compare({"a": ok, "b": ok}, alpha=1.5)
    with pytest.raises(ConfigError, match="n must be"):
        wb.compare({"a": ok, "b": ok}, n=0)
    with pytest.raises(ConfigError, match="K=5 stages"):
        wb.compare({"a": ok, "b": ok}, K=5)
    with pytest.raises(ConfigError, match="cannot compare"):
        wb.compare(3.0)
    with pytest.raises(ConfigError, match="numbers"):
        wb.compare({"a": ok, "b": ["x", "y"]})


def test_compare_recorded_runs_by_id(store):
    """Run ids: final scores (last value of the metric) read from a real RunStore, grouped
    by algorithm; the same decisions as on the scores themselves."""
    rng = np.random.default_rng(5)
    expected = {"cql": [], "bc": []}
    ids = []
    for algo, mu in (("cql", 5.0), ("bc", 0.0)):
        for seed in range(6):
            rid = f"{algo}-{seed}"
            store.create_run(rid, algo=algo, seed=seed, status="completed")
            vals = rng.normal(mu, 1.0, size=3)
            store.log_metrics(rid, [(100 * (i + 1), "eval/return", float(v), 0.0)
                                    for i, v in enumerate(vals)])
            store.log_metrics(rid, [(100, "loss/td", 1.0, 0.0)])
            expected[algo].append(vals[-1])
            ids.append(rid)
    got = wb.compare(ids, store=store, n=3, K=2)
    want = wb.compare({a: np.array(v) for a, v in expected.items()}, n=3, K=2)
    assert got.equals(want)
    assert got.iloc[0].decision == "larger"
    with pytest.raises(ConfigError, match="unknown run ids"):
        wb.compare([*ids, "nope"], store=store)
    with pytest.raises(ConfigError, match="have no 'eval/nothing'"):
        wb.compare(ids, store=store, metric="eval/nothing")


def test_final_scores_take_the_mean_of_the_last_values():
    import pandas as pd

    frame = pd.DataFrame({"run_id": ["r1"] * 4 + ["r2"] * 2 + ["r3"],
                          "step": [1, 2, 3, 3, 1, 2, 1],
                          "name": ["m"] * 6 + ["other"],
                          "value": [1.0, 2.0, 3.0, 5.0, 7.0, 9.0, 4.0]})
    got = final_scores(frame, "m", {"r1": "a", "r2": "a", "r3": "b"}, last=2)
    # r1: step 3 logged twice -> the last row (5.0) counts; mean of steps 2, 3 = 3.5
    assert got.keys() == {"a"} and got["a"].tolist() == [3.5, 8.0]
    df = final_scores(frame, "m", {"r1": "a", "r3": "b"}, as_frame=True)
    assert df["score"].tolist()[0] == 5.0 and np.isnan(df["score"].tolist()[1])
