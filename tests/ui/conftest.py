"""Browser fixtures: Debian's chromium driven by Playwright, a served dashboard, screenshots.

Without chromium the browser tests are skipped with a reason — except under ``CI=true``,
where a missing browser is a failure (``./dev test`` installs it).
"""

from __future__ import annotations

import os

import pytest

from _browser import CHROMIUM_ARGS, _need_browser
from _servers import served, wait_http


@pytest.fixture(scope="session")
def browser():
    path = _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    external: list[str] = []
    pg.on("request", lambda r: external.append(r.url)
          if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:",
                                   "about:")) else None)
    pg.external_requests = external  # type: ignore[attr-defined]
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory, catalog_home):
    """An allowed dataset root holding one small dataset file."""
    import workbench as wb

    root = tmp_path_factory.mktemp("dataset-root")
    os.environ["WORKBENCH_HOME"] = str(catalog_home)
    wb.load_dataset("cartpole-random", progress=False).save(root / "random.npz")
    return root


@pytest.fixture(scope="session")
def served_app(catalog_home, dataset_root):
    """`workbench serve --dataset-root ROOT` on a free loopback port, shared by the tests."""
    with served("--dataset-root", str(dataset_root),
                env={"WORKBENCH_HOME": str(catalog_home)}) as (url, proc):
        status, _ = wait_http(url + "/", timeout=120)
        assert status == 200
        yield url
