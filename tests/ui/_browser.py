"""Browser helpers shared by the ui tests (chromium lookup, screenshots)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
              shutil.which("chromium-browser") or ""):
        if p and os.path.exists(p):
            return p
    return None


def _need_browser() -> str:
    path = chromium_path()
    if path is None:
        msg = ("chromium not found: install Debian's chromium (apt-get install chromium) to run "
               "the browser tests")
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")
    return path


def screenshot(pg, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path




#: Rows of every Bokeh ColumnDataSource in the page that carries a ``wall_time`` column
#: (the live learning curves).
CURVE_ROWS_JS = """() => {
  let n = 0;
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    for (const m of doc.all_models) {
      const d = m.data;
      if (d == null || typeof d !== 'object') continue;
      const col = d instanceof Map ? d.get('wall_time') : d['wall_time'];
      if (col && col.length !== undefined) n += col.length;
    }
  }
  return n;
}"""


def wait_until(pred, timeout: float, what: str):
    """Poll ``pred`` every 0.25 s until it returns something truthy (returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
