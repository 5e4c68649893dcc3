"""The built-in catalog: names, lazy building, caching, reproducibility, concurrency."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from workbench.data import catalog as C
from workbench.data.io import load_dataset
from workbench.errors import DatasetError, WorkbenchError

TINY = C.FamilySpec("tiny", "CartPole-v1", "tiny CartPole family for tests",
                    online_steps=2_000, n_steps=2_000, seed=0, n_envs=4)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A private WORKBENCH_HOME and a tiny CartPole family registered as ``tiny``."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(C.FAMILIES, "tiny", TINY)
    return tmp_path / "home"


def test_names_and_frame_before_building(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    names = C.catalog_names()
    for fam in ("cartpole", "pendulum"):
        for scheme in ("random", "replay", "expert", "noisy", "mixed"):
            assert f"{fam}-{scheme}" in names
    df = C.catalog_frame()
    assert list(df["name"]) == names
    assert not df["built"].any() and df["episodes"].isna().all()
    assert {"name", "env_id", "scheme", "description", "built", "episodes", "transitions",
            "mean_return"} <= set(df.columns)
    assert not (tmp_path / "catalog").exists()  # listing builds nothing


@pytest.mark.parametrize("name", ["cartpole-bogus", "hopper-random", "", "cartpole"])
def test_unknown_names(name, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    with pytest.raises(DatasetError) as info:
        C.load_catalog(name)
    assert isinstance(info.value, WorkbenchError)
    assert "cartpole-mixed" in str(info.value)


def test_build_load_and_metadata(tiny):
    manifest = C.build_family("tiny", progress=False)
    d = tiny / "catalog" / "tiny"
    assert (d / "family.json").exists() and (d / "expert.d3").exists()
    assert json.loads((d / "family.json").read_text())["datasets"].keys() == set(
        ("random", "replay", "expert", "noisy", "mixed"))
    assert manifest["versions"]["d3rlpy"] == "2.8.1"
    r, e = C.reference_returns("tiny-noisy")
    assert (r, e) == (manifest["random_return"], manifest["expert_return"])
    for scheme in ("random", "replay", "expert", "noisy", "mixed"):
        ds = C.load_catalog(f"tiny-{scheme}", progress=False)
        m = ds.metadata
        assert (m["name"], m["family"], m["scheme"], m["env_id"]) == (
            f"tiny-{scheme}", "tiny", scheme, "CartPole-v1")
        assert (m["random_return"], m["expert_return"]) == (r, e)
        assert ds.fingerprint == manifest["datasets"][scheme]["fingerprint"]
        assert ds.finished.all() and "behavior_log_prob" in ds.extras
    df = C.catalog_frame()
    row = df.set_index("name").loc["tiny-mixed"]
    assert row["built"] and row["transitions"] > 0 and np.isfinite(row["mean_return"])
    agent = C.catalog_agent("tiny")
    assert agent.predict(np.zeros((2, 4), np.float32)).shape == (2,)
    assert C.is_built("tiny-random")


def test_reproducible_from_seeds(tiny, tmp_path, monkeypatch):
    first = C.build_family("tiny", progress=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "other"))
    second = C.build_family("tiny", progress=False)
    for scheme, info in first["datasets"].items():
        assert second["datasets"][scheme]["fingerprint"] == info["fingerprint"], scheme


def test_concurrent_builders_build_once(tiny):
    results, errors = [], []

    def worker():
        try:
            results.append(C.build_family("tiny", progress=False))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    # built once: every caller got the same manifest (same build time stamp)
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    leftovers = [p.name for p in (tiny / "catalog" / "tiny").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_incomplete_family_is_rebuilt(tiny):
    m = C.build_family("tiny", progress=False)
    (tiny / "catalog" / "tiny" / "noisy.npz").unlink()
    assert not C.is_built("tiny")
    ds = C.load_catalog("tiny-noisy", progress=False)
    assert ds.fingerprint == m["datasets"]["noisy"]["fingerprint"]


@pytest.mark.slow
def test_real_cartpole_family(catalog_home):
    df = C.catalog_frame().set_index("name")
    assert df.loc["cartpole-random", "built"] and not df.loc["pendulum-random", "built"]
    r, e = C.reference_returns("cartpole")
    assert e > 5 * r  # the expert is clearly better than random
    returns = {s: load_dataset(f"cartpole-{s}").episode_returns().mean()
               for s in ("random", "replay", "expert", "noisy", "mixed")}
    assert returns["random"] < returns["mixed"] < returns["expert"]
    assert returns["random"] < returns["replay"] < returns["expert"]
    assert returns["noisy"] > returns["random"]
    ds = load_dataset("cartpole-mixed")
    assert ds.metadata["family"] == "cartpole" and ds.finished.all()
    frac = ds.metadata["expert_transitions"] / ds.n_transitions
    assert 0.1 < frac <= 0.25
