"""Hyperparameters are validated from a cached description of the d3rlpy configs."""

import importlib
from importlib import metadata

import pytest

from workbench.errors import ConfigError
from workbench.training import _config_fields
from workbench.training.algorithms import (ALGORITHMS, build_config, config_kinds, describe_configs,
                                           validate_hyperparameters)

algos_mod = importlib.import_module("workbench.training.algorithms")  # (the package's
# ``algorithms`` attribute is the function)


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
