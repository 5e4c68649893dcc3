"""Static checks are part of the test command: ruff (lint and import order) on the whole tree,
mypy on the core packages (everything but the dashboard)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["workbench/data", "workbench/diagnostics", "workbench/training", "workbench/ope",
        "workbench/tracking", "workbench/stats", "workbench/errors.py", "workbench/_lazy.py",
        "workbench/_paths.py", "workbench/_d3rlpy.py"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_ruff_is_clean():
    out = _run("ruff", "check", "workbench", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_is_clean_on_the_core_packages():
    out = _run("mypy", *CORE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_test_module_names_are_unique():
    """The test directories are not packages: pytest imports each test file by its base name,
    so two files with one name in different directories stop the whole run at collection."""
    from collections import Counter

    root = Path(__file__).resolve().parent
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
