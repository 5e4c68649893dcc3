"""Training on image observations: real d3rlpy updates on MinAtar frames, pixel defaults."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.training import load_run, train
from workbench.training.algorithms import ALGORITHMS, image_defaults
from workbench.training.settings import TrainSettings

SMALL = {"batch_size": 16}


@pytest.fixture(scope="module")
def minatar_small():
    from workbench.data.collect import collect

    return collect("MinAtar/Breakout-v1", policy="random", n_steps=800, seed=0, n_envs=2,
                   progress=False)


def test_pixel_defaults_are_chosen_without_d3rlpy():
    spec = ALGORITHMS["discrete_cql"]
    hp = image_defaults(spec, (4, 10, 10), {"batch_size": 8})
    assert hp == {"batch_size": 8, "observation_scaler": "pixel",
                  "encoder_factory": "pixel_small"}
    big = image_defaults(spec, (4, 84, 84), {})
    assert big == {"observation_scaler": "pixel"}  # d3rlpy's default: the Nature network
    mine = image_defaults(spec, (4, 84, 84), {"observation_scaler": "min_max"})
    assert mine["observation_scaler"] == "min_max"  # the user's choice stands
    assert image_defaults(spec, (4,), {"batch_size": 8}) == {"batch_size": 8}  # vectors
    sac = image_defaults(ALGORITHMS["discrete_sac"], (4, 10, 10), {})
    assert sac["actor_encoder_factory"] == sac["critic_encoder_factory"] == "pixel_small"


def test_settings_resolve_applies_the_pixel_defaults(minatar_small):
    settings, spec = TrainSettings(algo="cql", n_steps=100).resolve(minatar_small)
    assert spec.name == "discrete_cql"
    assert settings.hyperparameters["observation_scaler"] == "pixel"


@pytest.mark.parametrize("algo", ["cql", "dqn", "bcq", "bc"])
def test_discrete_algorithms_train_a_few_steps_on_frames(minatar_small, store, algo):
    from workbench._d3rlpy import d3rlpy  # noqa: F401

    # isort: split
    from d3rlpy.models.encoders import PixelEncoderFactory
    from d3rlpy.preprocessing import PixelObservationScaler

    extra = {"target_update_interval": 5} if algo in ("dqn", "cql", "bcq") else {}
    job = train(minatar_small, algo, n_steps=20, log_every=10, eval_every=20, store=store,
                **SMALL, **extra)
    job.wait(progress=False, timeout=300)
    assert job.status == "completed", job.error
    cfg = job.policy.config
    assert isinstance(cfg.observation_scaler, PixelObservationScaler)
    assert isinstance(cfg.encoder_factory, PixelEncoderFactory)
    assert cfg.encoder_factory.filters == [[16, 3, 1]]
    frames = minatar_small.observations[:4]
    assert job.policy.predict(frames).shape == (4,)  # uint8 frames in, as stored
    r = load_run(job.run_id, store=store)
    assert r.params["hyperparameters"]["observation_scaler"] == "pixel"
    names = set(job.metrics()["name"])
    if algo != "bc":
        assert {"eval/td_error", "value/dataset_q"} <= names


@pytest.mark.slow
def test_env_evaluation_uses_the_same_frames(minatar_small, store):
    job = train(minatar_small, "cql", n_steps=20, log_every=10, eval_every=20,
                env="MinAtar/Breakout-v1", eval_episodes=1, store=store,
                target_update_interval=5, **SMALL)
    job.wait(progress=False, timeout=300)
    assert job.status == "completed", job.error
    m = job.metrics()
    assert np.isfinite(m[m.name == "eval/return"]["value"]).all()


def test_image_refusals(minatar_small, store):
    with pytest.raises(ConfigError, match="hidden_units builds a vector"):
        train(minatar_small, "cql", n_steps=20, hidden_units=[64], store=store)
    with pytest.raises(ConfigError, match="not a known encoder"):
        train(minatar_small, "cql", n_steps=20, encoder_factory="resnet", store=store)
    from workbench.data.dataset import EpisodeDataset

    rng = np.random.default_rng(0)
    n = 40
    term = np.zeros(n, bool)
    term[-1] = True
    cont = EpisodeDataset.from_flat(rng.integers(0, 256, (n, 2, 8, 8), dtype=np.uint8),
                                    rng.uniform(-1, 1, (n, 2)).astype(np.float32),
                                    np.zeros(n, np.float32), term)
    with pytest.raises(ConfigError, match="nearest-neighbour"):
        train(cont, "prdc", n_steps=20, store=store)


@pytest.mark.slow
def test_minatar_env_id_is_known_to_train_in_a_fresh_process(minatar_small, tmp_path):
    """A foreign file loaded in a new interpreter (nothing collected, no metadata naming
    MinAtar): ``env="MinAtar/Breakout-v1"`` is accepted, not 'unknown'."""
    import subprocess
    import sys

    # a foreign file (hand-written D4RL keys, no metadata naming the environment)
    t = minatar_small.transitions()
    path = tmp_path / "breakout.npz"
    np.savez(path, observations=t["observations"], actions=t["actions"],
             rewards=t["rewards"], terminals=t["terminals"], timeouts=t["timeouts"],
             next_observations=t["next_observations"])
    code = (
        "import workbench as wb\n"
        f"ds = wb.load_dataset({str(path)!r}, progress=False)\n"
        f"store = wb.RunStore({str(tmp_path / 'runs.sqlite')!r})\n"
        "job = wb.train(ds, 'dqn', n_steps=4, log_every=2, eval_every=4, checkpoint_every=0, "
        "env='MinAtar/Breakout-v1', eval_episodes=1, batch_size=8, target_update_interval=2, "
        "store=store, device='cpu')\n"
        "job.wait(progress=False)\n"
        "assert job.status == 'completed', (job.status, job.error)\n"
        "m = job.metrics()\n"
        "print(sorted(set(m['name'])))\n"
        "assert (m['name'] == 'eval/return').any()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
