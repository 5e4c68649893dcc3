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


#: a tiny transformer: a few updates take a fraction of a second on one CPU thread
TINY = {"batch_size": 8, "context_size": 4, "num_layers": 1, "num_heads": 1}


def test_dt_is_the_family_for_either_action_space(toy_discrete, toy_continuous):
    from workbench.training.settings import TrainSettings

    d, spec = TrainSettings(algo="dt", n_steps=10).resolve(toy_discrete)
    assert spec is ALGORITHMS["discrete_decision_transformer"] and d.algo == spec.name
    c, spec = TrainSettings(algo="dt", n_steps=10).resolve(toy_continuous)
    assert spec.name == "decision_transformer" and not spec.has_q and spec.transformer
    # default target return: the best return among finished episodes
    best = toy_continuous.episode_returns()[toy_continuous.finished].max()
    assert c.target_return == pytest.approx(best)
    assert TrainSettings(algo="dt", n_steps=10, target_return=3).resolve(
        toy_continuous)[0].target_return == 3.0
    assert resolve_algorithm("dt", True).family == "dt"


@pytest.mark.parametrize("kwargs,match", [
    ({"algo": "dt", "context_lenght": 3}, r"did you mean 'context_size'.*Valid: \[.*max_timestep"),
    ({"algo": "dt", "warmup_tokens": 3}, "belong to discrete_decision_transformer"),
    ({"algo": "dt", "context_size": 0}, "context_size must be >= 1"),
    ({"algo": "dt", "max_timestep": 10}, "max_timestep=10 must exceed the longest episode"),
    ({"algo": "dt", "position_encoding_type": "nope"}, "position_encoding_type"),
    ({"algo": "dt", "target_return": float("nan")}, "target_return must be a finite"),
    ({"algo": "cql", "target_return": 10.0}, "target_return conditions a decision transformer"),
])
def test_bad_dt_settings_are_config_errors(toy_continuous, kwargs, match):
    from workbench.training.settings import TrainSettings

    kw = dict(kwargs)
    settings = TrainSettings(algo=kw.pop("algo"), n_steps=10,
                             target_return=kw.pop("target_return", None), hyperparameters=kw)
    with pytest.raises(ConfigError, match=match):
        settings.resolve(toy_continuous)


def test_max_timestep_must_cover_the_env_time_limit(cartpole_small):
    from workbench.training.settings import TrainSettings

    with pytest.raises(ConfigError, match="time limit of CartPole-v1 .500 steps"):
        TrainSettings(algo="dt", n_steps=10, env="CartPole-v1",
                      hyperparameters={"max_timestep": 500}).resolve(cartpole_small)
    TrainSettings(algo="dt", n_steps=10, env="CartPole-v1",
                  hyperparameters={"max_timestep": 501}).resolve(cartpole_small)


@pytest.mark.parametrize("fixture", ["toy_discrete", "toy_continuous"])
def test_dt_job_trains_and_logs_metric_rows(fixture, request, store):
    from workbench.training import load_run, train

    ds = request.getfixturevalue(fixture)
    job = train(ds, "dt", n_steps=6, log_every=2, eval_every=2, checkpoint_every=0,
                store=store, **TINY).wait(progress=False, timeout=120)
    assert job.status == "completed", job.error
    assert job.algo == ("discrete_decision_transformer" if ds.is_discrete
                        else "decision_transformer")
    m = job.metrics()
    assert sorted(m[m.name == "loss/imitation"]["step"]) == [2, 4, 6]
    assert {"time/updates_per_s", "time/sample_s", "time/update_s"} <= set(m["name"])
    assert not any(n.startswith(("eval/td", "value/")) for n in m["name"])  # no Q-function
    assert job.policy.grad_step == 6
    run = load_run(job.run_id, store=store)
    assert run.params["split"]["train_episodes"] == ds.n_episodes  # no held-out episodes
    assert run.target_return == job.target_return == pytest.approx(
        ds.episode_returns()[ds.finished].max())
    assert run.params["config"]["context_size"] == 4


def test_dt_thread_jobs_with_the_same_seed_sample_the_same_batches(toy_continuous, store):
    """The sampler owns its generator: same seed, same batches, whatever the global RNG."""
    from workbench.training import train

    losses = []
    for noise in (0, 1):
        np.random.seed(noise)
        job = train(toy_continuous, "dt", n_steps=4, log_every=1, eval_every=0, store=store,
                    checkpoint_every=0, attn_dropout=0.0, resid_dropout=0.0,
                    embed_dropout=0.0, **TINY).wait(progress=False, timeout=120)
        assert job.status == "completed", job.error
        losses.append(job.metrics().query("name == 'loss/imitation'")["value"].to_numpy())
    assert np.array_equal(*losses)


@pytest.mark.slow
def test_cancel_a_running_dt_job(toy_discrete, store):
    import time

    from workbench.training import train

    job = train(toy_discrete, "dt", n_steps=100_000, log_every=100, store=store, **TINY)
    while job.step < 5:
        time.sleep(0.01)
        assert not job.done, job.error
    assert job.cancel() is True
    at = job.step
    job.wait(progress=False, timeout=60)
    assert job.status == "cancelled" and job.step - at <= 2
    assert job.policy is not None and job.policy.grad_step >= 5


@pytest.mark.slow
def test_dt_checkpoint_and_resume(toy_continuous, store):
    """A cancelled DT run resumes from its checkpoint (networks, optimiser, sampler state)
    and completes with every logging step."""
    import time

    from workbench.training import resume, train

    job = train(toy_continuous, "dt", n_steps=400, log_every=10, checkpoint_every=20,
                checkpoint_seconds=0, eval_every=0, store=store, **TINY)
    while job.step < 50 and not job.done:
        time.sleep(0.01)
    job.cancel()
    job.wait(progress=False, timeout=60)
    assert job.status == "cancelled", job.error
    ckpts = store.artifacts(job.run_id).query("kind == 'checkpoint'")
    assert len(ckpts) >= 1
    job2 = resume(job.run_id, store=store).wait(progress=False, timeout=300)
    assert job2.status == "completed", job2.error
    assert job2.policy.grad_step == 400 and job2.target_return == job.target_return
    steps = job2.metrics().query("name == 'loss/imitation'")["step"].tolist()
    assert steps == list(range(10, 401, 10))


@pytest.mark.slow
def test_dt_env_evaluation_in_cartpole(cartpole_small, store):
    from workbench.training import train

    job = train(cartpole_small, "dt", n_steps=20, log_every=10, eval_every=10,
                env="CartPole-v1", eval_episodes=2, target_return=50.0, store=store,
                **TINY).wait(progress=False, timeout=300)
    assert job.status == "completed", job.error
    ev = job.metrics().query("name == 'eval/return'")
    assert sorted(ev["step"]) == [10, 20]
    assert (ev["value"] >= 8).all() and (ev["value"] <= 500).all()  # CartPole's range
    assert job.target_return == 50.0
    assert "eval/return_std" in set(job.metrics()["name"])
    # the last evaluation is the final policy's greedy stateful rollouts at the target return,
    # episode k reset with seed k, each step fed the previous reward
    from workbench.data.collect.envs import make_env
    from workbench.training.evaluators import transformer_actor

    env, returns = make_env("CartPole-v1"), []
    for k in range(2):
        actor = transformer_actor(job.policy, 50.0)
        obs, _ = env.reset(seed=k)
        r, total, done = 0.0, 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(actor.predict(np.array(obs, np.float32), r))
            total, done = total + float(r), term or trunc
        returns.append(total)
    assert ev[ev.step == 20]["value"].item() == np.mean(returns)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["toy_discrete", "toy_continuous"])
def test_dt_resumed_from_a_checkpoint_continues_as_if_never_stopped(fixture, request, store):
    """Thread job alone, dropout off: the attempt resumed from the step-20 checkpoint logs
    the same losses and learning rates as the first attempt did after step 20 (networks,
    optimiser, sampler generator and DiscreteDecisionTransformer's token count restored)."""
    from workbench.training import resume, train

    ds = request.getfixturevalue(fixture)
    hp = dict(TINY, attn_dropout=0.0, resid_dropout=0.0, embed_dropout=0.0)
    if ds.is_discrete:
        hp["warmup_tokens"] = 2000  # still warming up at step 40: lr = tokens / 2000 * lr0
    job = train(ds, "dt", n_steps=40, log_every=10, checkpoint_every=20, checkpoint_seconds=0,
                eval_every=0, keep_checkpoints=5, store=store, **hp).wait(progress=False)
    assert job.status == "completed", job.error
    # pretend it stopped after step 20 (its step-40 model is the final one, not a checkpoint)
    store.update_run(job.run_id, status="cancelled")
    job2 = resume(job.run_id, store=store).wait(progress=False, timeout=120)
    assert job2.status == "completed", job2.error
    att = store.attempts(job.run_id)
    assert att["start_step"].tolist() == [0, 20]
    m = store.metrics(job.run_id, attempts="all")
    for name in ("loss/imitation",) + (("train/learning_rate",) if ds.is_discrete else ()):
        rows = m[(m.name == name) & (m.step > 20)].sort_values(["step", "attempt"])
        first = rows[rows.attempt == 1]["value"].to_numpy()
        second = rows[rows.attempt == 2]["value"].to_numpy()
        assert len(first) == len(second) == 2
        assert np.array_equal(first, second), name


def test_sweep_with_a_dt_and_its_target_return(toy_discrete, store):
    from workbench.training import sweep

    sw = sweep(toy_discrete, algos=["dt", "bc"], seeds=[0], n_steps=2, log_every=1,
               eval_every=0, checkpoint_every=0, store=store,
               hyperparameters={"dt": {**TINY, "target_return": 1.5}, "bc": {"batch_size": 8}})
    jobs = {j.algo: j for j in sw.jobs}
    for j in jobs.values():
        j.wait(progress=False, timeout=120)
        assert j.status == "completed", j.error
    assert jobs["discrete_decision_transformer"].target_return == 1.5
    assert jobs["discrete_bc"].target_return is None


@pytest.mark.slow
def test_dt_in_process_jobs_is_reproducible(toy_continuous, store):
    """Two process jobs with one seed (dropout on): the same losses, bit for bit."""
    from workbench.training import train

    jobs = [train(toy_continuous, "dt", n_steps=4, log_every=2, eval_every=0,
                  executor="process", store=store, **TINY) for _ in range(2)]
    losses = []
    for job in jobs:
        job.wait(progress=False, timeout=300)
        assert job.status == "completed", job.error
        m = job.metrics().query("name == 'loss/imitation'")
        assert sorted(m["step"]) == [2, 4]
        losses.append(m.sort_values("step")["value"].to_numpy())
    assert np.array_equal(*losses)
    wrapper = job.policy.as_stateful_wrapper(target_return=1.0)  # loaded from final.d3
    action = wrapper.predict(toy_continuous.observations[0].astype(np.float32), 0.0)
    assert np.asarray(action).shape == (2,)


@pytest.mark.slow
def test_dt_on_minatar_frames_with_pixel_defaults(store):
    from workbench._d3rlpy import d3rlpy  # noqa: F401

    # isort: split
    from d3rlpy.models.encoders import PixelEncoderFactory
    from d3rlpy.preprocessing import PixelObservationScaler

    from workbench.data.collect import collect
    from workbench.training import train

    ds = collect("MinAtar/Breakout-v1", policy="random", n_steps=400, seed=0, n_envs=2,
                 progress=False)
    job = train(ds, "dt", n_steps=4, log_every=2, eval_every=4, env="MinAtar/Breakout-v1",
                eval_episodes=1, store=store, **TINY).wait(progress=False, timeout=300)
    assert job.status == "completed", job.error
    cfg = job.policy.config
    assert isinstance(cfg.observation_scaler, PixelObservationScaler)
    assert isinstance(cfg.encoder_factory, PixelEncoderFactory)
    assert np.isfinite(job.metrics().query("name == 'eval/return'")["value"]).all()
