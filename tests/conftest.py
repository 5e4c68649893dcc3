import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: The session's shared WORKBENCH_HOME: the caller's (``./dev test`` sets one per run) or a
#: temporary one. Notebooks executed by nbmake inherit it, so they reuse the catalog family
#: that the ``catalog_home`` fixture builds.
SHARED_HOME: Path


def pytest_configure(config):
    global SHARED_HOME
    if not os.environ.get("WORKBENCH_HOME"):
        os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="workbench-test-home-")
    SHARED_HOME = Path(os.environ["WORKBENCH_HOME"])
    SHARED_HOME.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def catalog_home():
    """The shared WORKBENCH_HOME with the CartPole catalog family built (once per session).

    Building the family trains a small DQN: about 35 s on 2 CPU cores.
    """
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_HOME", str(SHARED_HOME))
    from workbench.data.catalog import build_family

    build_family("cartpole", progress=False)
    mp.undo()
    return SHARED_HOME


@pytest.fixture(autouse=True)
def _home(request, tmp_path_factory, monkeypatch):
    """Tests using ``catalog_home`` share its home; every other test gets a private one."""
    if "catalog_home" in request.fixturenames:
        monkeypatch.setenv("WORKBENCH_HOME", str(request.getfixturevalue("catalog_home")))
    else:
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("wbhome")))
