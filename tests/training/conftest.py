import pytest

from _factory import make_dataset


@pytest.fixture(scope="session")
def toy_discrete():
    """60 steps: terminated, truncated, terminated episodes and an unfinished last one."""
    return make_dataset(60, discrete=True, ends={9: "terminal", 29: "timeout", 45: "terminal"})


@pytest.fixture(scope="session")
def toy_continuous():
    return make_dataset(60, discrete=False, ends={9: "terminal", 29: "timeout", 45: "terminal"})


@pytest.fixture(scope="session")
def cartpole_small():
    from workbench.data.collect import collect

    return collect("CartPole-v1", policy="random", n_steps=1500, seed=0)


@pytest.fixture(scope="session")
def pendulum_small():
    from workbench.data.collect import collect

    return collect("Pendulum-v1", policy="random", n_steps=1000, seed=0)


@pytest.fixture()
def store(tmp_path):
    from workbench.tracking import RunStore

    return RunStore(tmp_path / "runs.sqlite")
