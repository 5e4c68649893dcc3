import json

import pytest

from workbench.errors import ConfigError
from workbench.training import sweep


def test_sweep_summary_iqm_with_cis(cartpole_small, store):
    sw = sweep(cartpole_small, algos=["dqn", "bc"], seeds=[0, 1, 2], n_steps=20, log_every=10,
               eval_every=10, env="CartPole-v1", eval_episodes=1, store=store, batch_size=32,
               hidden_units=[8])
    assert len(sw) == 6
    sw.wait(progress=False, timeout=180)
    st = sw.status()
    assert (st["status"] == "completed").all(), [j.error for j in sw.jobs]
    assert set(st["algo"]) == {"dqn", "discrete_bc"}
    s = sw.summary(reps=200)
    assert set(s["algorithm"]) == {"dqn", "discrete_bc"}
    assert (s["metric"] == "eval/return").all() and (s["n_runs"] == 3).all()
    assert ((s["ci_low"] <= s["estimate"]) & (s["estimate"] <= s["ci_high"])).all()
    assert set(sw.metrics()["seed"]) == {0, 1, 2}


def test_sweep_validates_everything_first(cartpole_small, store):
    from workbench.tracking import runs

    with pytest.raises(ConfigError):
        sweep(cartpole_small, algos=["dqn", "td3"], seeds=[0], n_steps=10, store=store)
    with pytest.raises(ConfigError):
        sweep(cartpole_small, algos=[], seeds=[0])
    assert runs(store).empty  # the valid dqn run was never started nor left behind


def test_cli_train_and_runs(tmp_path, capsys, cartpole_small, monkeypatch):
    import argparse

    from workbench.training import cli

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    path = cartpole_small.save(tmp_path / "cp.npz")
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    cli.add_parser(sub)
    args = p.parse_args(["train", str(path), "--algo", "dqn", "--steps", "20", "--log-every",
                         "10", "--set", "batch_size=16", "--no-progress", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and "loss/td" in out["metrics"]
    args = p.parse_args(["runs", "--json"])
    assert args.func(args) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["run_id"] == out["run_id"]
    args = p.parse_args(["runs", "--run", out["run_id"], "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["info"]["status"] == "completed"
