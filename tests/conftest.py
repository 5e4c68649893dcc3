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
