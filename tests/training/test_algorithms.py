import pytest

from workbench.errors import ConfigError
from workbench.training import algorithms
from workbench.training.algorithms import ALGORITHMS, build_config, resolve_algorithm

ISSUE_LIST = ["dqn", "double_dqn", "nfq", "discrete_bc", "discrete_bcq", "discrete_cql",
              "discrete_sac", "awac", "bc", "bcq", "bear", "cal_ql", "cql", "crr", "ddpg", "iql",
              "plas", "prdc", "rebrac", "sac", "td3", "td3_plus_bc"]


def test_every_q_learning_algorithm_listed():
    df = algorithms()
    assert set(ISSUE_LIST) <= set(df["name"])
    assert set(df["action_space"]) == {"discrete", "continuous"}
    cql = df.set_index("name").loc["cql"]
    assert cql["defaults"]["conservative_weight"] == 5.0


@pytest.mark.parametrize("name,discrete,expected", [
    ("cql", True, "discrete_cql"), ("cql", False, "cql"), ("CQL", True, "discrete_cql"),
    ("bc", True, "discrete_bc"), ("sac", True, "discrete_sac"), ("bcq", False, "bcq"),
    ("DiscreteCQL", True, "discrete_cql"), ("TD3+BC", False, "td3_plus_bc"),
    ("double-dqn", True, "double_dqn"), ("dqn", True, "dqn")])
def test_resolution(name, discrete, expected):
    assert resolve_algorithm(name, discrete).name == expected


def test_action_space_mismatch_lists_valid():
    with pytest.raises(ConfigError, match="needs continuous actions.*discrete_cql"):
        resolve_algorithm("td3", discrete=True)
    with pytest.raises(ConfigError, match="needs discrete actions.*td3_plus_bc"):
        resolve_algorithm("dqn", discrete=False)


def test_unknown_and_decision_transformer():
    with pytest.raises(ConfigError, match="Did you mean.*cql"):
        resolve_algorithm("cqll")
    assert resolve_algorithm("dt", True).name == "discrete_decision_transformer"
    assert resolve_algorithm("dt", False).name == "decision_transformer"
    assert resolve_algorithm("DecisionTransformer", True).name == "discrete_decision_transformer"
    assert resolve_algorithm("DiscreteDecisionTransformer", True).transformer
    with pytest.raises(ConfigError, match="needs discrete actions"):
        resolve_algorithm("discrete_decision_transformer", False)
    with pytest.raises(ConfigError, match="does not support.*algo='dt'"):
        resolve_algorithm("tacr")


def test_hyperparameters_validated():
    spec = ALGORITHMS["discrete_cql"]
    with pytest.raises(ConfigError, match="conservative_weight.*belong to cql.*Valid"):
        build_config(spec, {"conservative_weight": 1.0})
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        build_config(spec, {"learning_rat": 1e-3})
    with pytest.raises(ConfigError, match="batch_size must be an integer"):
        build_config(spec, {"batch_size": 3.5})
    with pytest.raises(ConfigError, match="gamma"):
        build_config(spec, {"gamma": 1.5})
    cfg = build_config(spec, {"batch_size": 64, "alpha": 2, "hidden_units": [16],
                              "observation_scaler": "standard"})
    assert cfg.batch_size == 64 and cfg.alpha == 2.0
    assert cfg.encoder_factory.hidden_units == [16]
    with pytest.raises(ConfigError, match="scaler"):
        build_config(spec, {"observation_scaler": "nope"})
