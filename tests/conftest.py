import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets a private WORKBENCH_HOME unless a fixture sets a shared one."""
    if "WORKBENCH_HOME" not in os.environ or os.environ.get("WORKBENCH_TEST_HOME") != "shared":
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("wbhome")))
    yield


@pytest.fixture(scope="session")
def catalog_home(tmp_path_factory):
    """A WORKBENCH_HOME holding the built CartPole catalog family (built once per session).

    Sets ``WORKBENCH_HOME`` to it and ``WORKBENCH_TEST_HOME=shared`` for the rest of the
    session (so ``_isolated_home`` leaves it in place) and yields its path.  Building the
    family trains a small DQN: about a minute on 2 CPU cores.
    """
    home = tmp_path_factory.mktemp("catalog_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_HOME", str(home))
    mp.setenv("WORKBENCH_TEST_HOME", "shared")
    from workbench.data.catalog import build_family

    build_family("cartpole", progress=False)
    yield home
    mp.undo()
