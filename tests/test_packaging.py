"""The install files agree with each other and the package exposes its documented API."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    pip_names |= {_name(r) for r in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda_names |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        elif _name(dep) not in ("python", "pip"):
            conda_names.add(CONDA_TO_PIP.get(_name(dep), _name(dep)))
    assert conda_names == pip_names, (
        f"only in environment.yml: {sorted(conda_names - pip_names)}; "
        f"only in pyproject.toml: {sorted(pip_names - conda_names)}")


def test_the_test_extra_installs_every_other_extra():
    """./dev test installs ".[test]" only: the optional backends (ray) must be in it too, so
    that their tests run in CI."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    test = set(extras["test"])
    for name, reqs in extras.items():
        assert set(reqs) <= test, f"extra {name!r}: {sorted(set(reqs) - test)} not in 'test'"
    assert any(_name(r) == "ray" for r in extras["ray"])


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./dev test" in readme and "./dev serve" in readme
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


def test_public_api():
    import workbench as wb

    for name in ("load_dataset", "collect", "catalog_names", "EpisodeDataset", "WorkbenchError",
                 "DatasetError"):
        assert hasattr(wb, name), name


def test_import_is_quiet():
    """Importing workbench (and d3rlpy through it) prints nothing: no gym banner."""
    out = subprocess.run([sys.executable, "-c", "import workbench, workbench._d3rlpy"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == "" and out.stderr == ""
