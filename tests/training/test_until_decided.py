"""Sweep.run_until_decided: seeds added in stages until AdaStop has decided every pair."""

import numpy as np
import pytest
from adastop import MultipleAgentsComparator

import workbench as wb
from workbench.errors import ConfigError
from workbench.training import Sweep

KW = dict(n_steps=40, log_every=20, eval_every=40, checkpoint_every=0, env="CartPole-v1",
          eval_episodes=2, batch_size=32, hidden_units=[16])


@pytest.mark.slow
def test_run_until_decided_adds_seeds_in_stages_and_decides_as_adastop(cartpole_small, store):
    sw = wb.sweep(cartpole_small, algos=["dqn", "bc"], seeds=[0], store=store, **KW,
                  hyperparameters={"dqn": {"target_update_interval": 20}})
    report = sw.run_until_decided(max_seeds=4, batch=2, progress=False, timeout=600)
    assert report.metric == "eval/return" and 1 <= report.stages <= 2
    assert report.runs_started == len(sw.jobs) - 2  # the sweep's two runs were used first
    used = report.seeds
    assert set(used) == {"dqn", "discrete_bc"}
    for seeds in used.values():  # the sweep's seed 0, then the next unused seeds
        assert seeds[0] == 0 and seeds == sorted(set(seeds))
    assert report.runs_used == sum(map(len, used.values()))
    assert all(len(v) == 2 * report.stages for v in used.values())
    # the same decisions as adastop called directly on the runs' final scores
    sc = sw.scores("eval/return")
    scores = {a: np.array([sc[(sc.algo == a) & (sc.seed == s)].score.item() for s in used[a]])
              for a in ("dqn", "discrete_bc")}
    comp = MultipleAgentsComparator(n=2, K=2, B=10_000, alpha=0.05, seed=0)
    for k in range(report.stages):
        comp.partial_compare({a: v[:(k + 1) * 2] for a, v in scores.items()}, verbose=False)
    row = report.decisions.iloc[0]
    assert row.decision == comp.decisions[str(comp.comparisons[0])]
    assert row.n_used_a == row.n_used_b == 2 * row.stage
    assert "runs used" in repr(report)
    assert (sw.status()["status"] == "completed").all()


def test_run_until_decided_refuses_what_it_cannot_do(cartpole_small, store):
    one = Sweep([])
    with pytest.raises(ConfigError, match="not made by workbench.sweep"):
        one.run_until_decided()
    jobs = wb.sweep(cartpole_small, algos=["dqn"], seeds=[0], store=store, **KW,
                    hyperparameters={"dqn": {"target_update_interval": 20}})
    with pytest.raises(ConfigError, match="at least two"):
        jobs.run_until_decided(max_seeds=4, batch=2)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        jobs.run_until_decided(max_seeds=2, batch=3)
    with pytest.raises(ConfigError, match="batch must be"):
        jobs.run_until_decided(max_seeds=2, batch=0)
    jobs.cancel()
    jobs.wait(progress=False, timeout=120)
