"""``train`` returns at once: no torch/d3rlpy import in the caller's thread, config errors
still raised synchronously (from the cached description of the d3rlpy configs)."""

import importlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.training import _config_fields
from workbench.training.algorithms import (
    ALGORITHMS,
    build_config,
    config_kinds,
    describe_configs,
    validate_hyperparameters,
)

ROOT = Path(__file__).resolve().parents[2]
algos_mod = importlib.import_module("workbench.training.algorithms")  # (the package's
# ``algorithms`` attribute is the function)

SCRIPT = r"""
import json, sys, threading
seen = []

class Spy:  # records every first import of torch/d3rlpy (sub)modules and the importing thread
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "d3rlpy"):
            seen.append((name, threading.current_thread().name))
        return None

sys.meta_path.insert(0, Spy())
sys.path.insert(0, sys.argv[1])
from _factory import make_dataset
import workbench as wb

ds = make_dataset(60)
errors = []
for bad in ({"learning_rat": 0.1}, {"batch_size": 3.5}, {"algo": "td3"}, {"n_steps": 0},
            {"observation_scaler": "nope"}, {"hidden_units": [0]}, {"checkpoint_seconds": -1},
            {"device": "tpu"}):
    try:
        wb.train(ds, **{"algo": "dqn", "n_steps": 20, "log_every": 10, **bad})
        errors.append(None)
    except wb.ConfigError as exc:
        errors.append(type(exc).__name__)
job = wb.train(ds, "dqn", n_steps=20, log_every=10, batch_size=8, hidden_units=[16])
main_thread = [name for name, thread in seen if thread == "MainThread"]
device_at_return = job.device
job.wait(progress=False, timeout=300)
params = job.store.params(job.run_id)
print(json.dumps({"errors": errors, "main_thread": main_thread,
                  "worker": sorted({t for n, t in seen if n == "torch"}),
                  "device_at_return": device_at_return, "device": job.device,
                  "stored_device": job.store.get_run(job.run_id)["device"],
                  "status": job.status, "error": job.error,
                  "config_batch_size": params.get("config", {}).get("batch_size")}))
"""


@pytest.mark.slow
def test_train_imports_neither_torch_nor_d3rlpy_in_the_callers_thread(tmp_path):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "tests")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["errors"] == ["ConfigError"] * 8  # every config error before any work ...
    assert r["main_thread"] == []              # ... and none of them imported torch/d3rlpy
    assert r["status"] == "completed", r["error"]
    assert r["worker"] and all(t.startswith("wb-") for t in r["worker"])  # the job's thread
    # device="auto" is resolved by the worker and recorded
    assert r["device_at_return"] == "auto"
    assert r["device"] == r["stored_device"] and r["device"] in ("cpu:0", "cuda:0")
    assert r["config_batch_size"] == 8  # the d3rlpy config, recorded by the worker


def test_cached_config_description_matches_installed_d3rlpy():
    """The cache train() validates against is what d3rlpy 2.8.1 itself describes.  After a
    d3rlpy upgrade, regenerate it with algorithms.write_config_description()."""
    assert _config_fields.D3RLPY_VERSION == metadata.version("d3rlpy") == "2.8.1"
    assert describe_configs() == {"d3rlpy": "2.8.1", "configs": _config_fields.CONFIGS}
    for spec in ALGORITHMS.values():
        assert config_kinds(spec) == config_kinds(spec, live=True), spec.name


def test_other_d3rlpy_version_falls_back_to_the_live_configs(monkeypatch):
    monkeypatch.setattr(_config_fields, "D3RLPY_VERSION", "0.0.0")
    monkeypatch.setattr(algos_mod, "_KINDS", None)
    assert algos_mod._cached_kinds() is None
    spec = ALGORITHMS["discrete_cql"]
    assert config_kinds(spec) == config_kinds(spec, live=True)
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        validate_hyperparameters(spec, {"learning_rat": 1e-3})


@pytest.mark.parametrize("hp,match", [
    ({"conservative_weight": 1.0}, "conservative_weight.*belong to cql.*Valid"),
    ({"learning_rat": 1e-3}, "did you mean 'learning_rate'"),
    ({"batch_size": 3.5}, "batch_size must be an integer"),
    ({"gamma": 1.5}, "gamma"),
    ({"observation_scaler": "nope"}, "scaler"),
    ({"hidden_units": ["a"]}, "hidden_units must be a list of ints"),
    ({"compile_graph": 2}, "compile_graph must be a bool"),
])
def test_validation_from_the_cache_is_the_live_validation(hp, match):
    spec = ALGORITHMS["discrete_cql"]
    with pytest.raises(ConfigError, match=match) as cached:
        validate_hyperparameters(spec, hp)
    with pytest.raises(ConfigError) as live:
        build_config(spec, hp)
    assert str(cached.value) == str(live.value)
