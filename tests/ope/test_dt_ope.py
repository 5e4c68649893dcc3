"""Decision transformers in OPE: the estimators refuse them; the simulator's truth applies."""

import numpy as np
import pytest

from workbench.errors import ConfigError, OPEError
from workbench.ope import evaluate_ope, make_policy
from workbench.ope.fqe import fit_fqe
from workbench.ope.ground_truth import rollout_returns

TINY = {"batch_size": 8, "context_size": 4, "num_layers": 1, "num_heads": 1}
WHY = (r"decision transformer, a return-conditioned policy whose action depends on the "
       r"return-to-go still to collect and on the context of past steps, not on the state "
       r"alone.*What applies: the simulator's ground truth, evaluate_ope\(ds, policy, "
       r"estimators=\[\], env=<gymnasium id>\)")


@pytest.fixture(scope="module")
def cartpole():
    from workbench.data.collect import collect

    return collect("CartPole-v1", policy="random", n_steps=600, seed=0)


@pytest.fixture(scope="module")
def dt_job(cartpole, tmp_path_factory):
    from workbench.tracking import RunStore
    from workbench.training import train

    store = RunStore(tmp_path_factory.mktemp("dt") / "runs.sqlite")
    job = train(cartpole, "dt", n_steps=4, log_every=2, eval_every=0, target_return=40.0,
                store=store, **TINY).wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    return job


@pytest.mark.parametrize("estimators", [("wis",), ("is", "pdis"), ("fqe",), ("dr", "wdr")])
def test_estimators_refuse_a_decision_transformer(cartpole, dt_job, estimators):
    with pytest.raises(OPEError, match="off-policy estimation .*" + WHY):
        evaluate_ope(cartpole, {"dt": dt_job}, estimators=estimators, n_bootstrap=0)
    # also when it comes as the bare algorithm or a stateful wrapper
    for pol in (dt_job.policy, dt_job.policy.as_stateful_wrapper(10.0)):
        with pytest.raises(OPEError, match=WHY):
            evaluate_ope(cartpole, [pol], estimators=estimators, n_bootstrap=0)


def test_the_policy_methods_and_fqe_refuse_it_too(cartpole, dt_job):
    pol = make_policy(dt_job, cartpole, name="dt")
    assert pol.kind == "return-conditioned" and pol.target_return == 40.0
    assert pol.describe() == "return-conditioned(target=40)"
    obs = cartpole.observations[:3]
    with pytest.raises(OPEError, match=r"log_prob\(s, a\).*" + WHY):
        pol.log_prob(obs, np.zeros(3, dtype=np.int64))
    for call in (pol.greedy, pol.action_probs, lambda o: pol.sample(o, np.random.default_rng())):
        with pytest.raises(OPEError, match=WHY):
            call(obs)
    with pytest.raises(OPEError, match="FQE does not apply.*" + WHY):
        fit_fqe(cartpole, pol, 0.99)


def test_target_return_of_each_policy_form(cartpole, dt_job):
    from workbench.training import load_run

    run = load_run(dt_job.run_id, store=dt_job.store)
    assert make_policy(run, cartpole).target_return == 40.0  # the run's
    best = cartpole.episode_returns()[cartpole.finished].max()
    assert make_policy(dt_job.policy, cartpole).target_return == best  # the dataset's best
    assert make_policy(dt_job.policy.as_stateful_wrapper(7.0), cartpole).target_return == 7.0


def test_estimators_empty_needs_an_env(cartpole, dt_job):
    with pytest.raises(ConfigError, match="estimators is empty.*env="):
        evaluate_ope(cartpole, {"dt": dt_job}, estimators=[])


@pytest.mark.slow
def test_simulator_truth_rolls_the_transformer_out_at_its_target_return(cartpole, dt_job):
    f = evaluate_ope(cartpole, {"dt": dt_job, "lazy": lambda o: np.zeros(len(o), np.int64)},
                     estimators=[], env="CartPole-v1", n_rollouts=3, seed=5)
    assert f["estimator"].tolist() == ["truth", "truth"]
    row = f.set_index("policy").loc["dt"]
    assert row.policy_kind == "return-conditioned(target=40)"
    assert row.estimate == row.true_value and row.ci_low <= row.true_value <= row.ci_high
    assert 8 <= row.true_return <= 500  # CartPole's range of episode returns
    assert "simulator rollouts" in row.ci_method
    # the rollouts are the stateful wrapper's greedy episodes, fed the previous reward
    pol = make_policy(dt_job, cartpole)
    disc, undisc, lens = rollout_returns("CartPole-v1", pol, 2, gamma=0.9, seed=3, n_envs=1)
    from workbench.data.collect.envs import make_env

    env, rng, actor = make_env("CartPole-v1"), np.random.default_rng(3), pol.actor()
    for k in range(2):
        obs, _ = env.reset(seed=int(rng.integers(0, 2**31 - 1)))
        actor.reset()
        r, total, t, done = 0.0, 0.0, 0, False
        while not done:
            obs, r, term, trunc, _ = env.step(actor.predict(np.asarray(obs, np.float32), r))
            total, t, done = total + r, t + 1, term or trunc
        assert (undisc[k], lens[k]) == (total, t)
