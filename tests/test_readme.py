"""The README's quickstart runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str) -> str:
    text = README.read_text()
    section = text[text.index(after):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_quickstart_block_runs(catalog_home):
    namespace: dict = {}
    exec(compile(_block("## Quickstart"), "README.md:quickstart", "exec"), namespace)
    est = namespace["est"]
    assert set(est["estimator"]) == {"fqe", "wis", "pdis", "dr"}
    assert est["true_value"].notna().all()
    assert namespace["job"].status == "completed"


def test_readme_lists_every_logged_behaviour_probability_name():
    from workbench.ope import LOGGED_BEHAVIOR_KEYS

    text = README.read_text()
    missing = [k for k, _, _ in LOGGED_BEHAVIOR_KEYS if f"`{k}`" not in text]
    assert not missing, f"README does not list {missing}"
