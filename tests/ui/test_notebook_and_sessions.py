"""The dashboard inside JupyterLab, and per-session lifecycle of the served app."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _browser import CURVE_ROWS_JS, screenshot
from _browser import wait_until as _wait
from _servers import free_port, stop_group, wait_http

pytestmark = [pytest.mark.ui, pytest.mark.slow]

JUPYTER = str(Path(sys.executable).parent / "jupyter")


def _notebook(path: Path) -> None:
    def cell(*lines):
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": [line + "\n" for line in lines]}

    cells = [cell("import workbench.ui as ui", "bench = ui.Workbench()", "bench"),
             cell("bench.datasets.load('cartpole-mixed')",
                  "jobs = bench.training.start(dataset='cartpole-mixed', algo='dqn', "
                  "n_steps=200_000, seeds=[0], env=None)")]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}}}
    path.write_text(json.dumps(nb))


def test_dashboard_renders_in_a_jupyterlab_notebook_output(page, tmp_path, catalog_home):
    _notebook(tmp_path / "dash.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "WORKBENCH_HOME": str(catalog_home), "JUPYTER_CONFIG_DIR":
           str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        [JUPYTER, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.open_browser=False", "--LabApp.news_url=", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        status, _ = wait_http(f"{base}/api/status?token={token}", timeout=120)
        assert status == 200
        page.goto(f"{base}/lab/tree/dash.ipynb?token={token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-Notebook-ExecutionIndicator, .jp-Notebook").first.wait_for()
        time.sleep(2)  # let the kernel connect
        page.locator(".jp-Cell .cm-content").first.click()
        page.keyboard.press("Shift+Enter")
        out = page.locator(".jp-OutputArea-output")
        out.locator(".bk-tab", has_text="Runs").first.wait_for(timeout=180_000)
        tabs = [t.strip() for t in out.locator(".bk-tab").all_inner_texts()]
        assert tabs[:5] == ["Datasets", "Diagnostics", "Training", "OPE", "Runs"]
        out.locator(".wb-load-catalog").first.wait_for()
        screenshot(page, "09-jupyterlab-notebook")
        # a job started from the next cell: its curve grows inside the notebook output (the
        # kernel's periodic drain, Bokeh changes pushed over the comm)
        page.locator(".jp-Cell .cm-content").nth(1).click()
        page.keyboard.press("Shift+Enter")
        first = _wait(lambda: page.evaluate(CURVE_ROWS_JS), 120, "curve points in the notebook")
        more = _wait(lambda: (n := page.evaluate(CURVE_ROWS_JS)) > first and n, 60,
                     "more curve points in the notebook")
        assert more > first
    finally:
        stop_group(proc, grace=20)


def test_closing_the_tab_stops_the_sessions_callbacks_not_the_jobs(browser, catalog_home,
                                                                    monkeypatch):
    """In-process server: a closed tab's periodic callbacks and subscription stop; a job
    started from it keeps running."""
    import panel as pn

    import workbench as wb
    from workbench.training import metric_stream, train
    from workbench.ui.app import create_app

    monkeypatch.setenv("WORKBENCH_HOME", str(catalog_home))
    apps = []

    def factory():
        app = create_app()
        apps.append(app.workbench)
        return app

    port = free_port()
    server = pn.serve({"/": factory}, port=port, address="127.0.0.1", show=False,
                      threaded=True, websocket_origin=[f"127.0.0.1:{port}"],
                      check_unused_sessions_milliseconds=300,
                      unused_session_lifetime_milliseconds=300)
    job = None
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=60)  # one session, never connected
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.locator(".bk-tab", has_text="Runs").wait_for(timeout=60_000)
        bench = apps[-1]
        # pages are built when their tab is first opened: no training page, no polling yet
        assert "Training" not in bench.built and bench.state.n_callbacks_running == 0
        pg.locator(".bk-tab", has_text="Training").first.click()
        pg.locator(".wb-start").wait_for(timeout=60_000)
        _wait(lambda: bench.state.n_callbacks_running == 1, 10, "the training page's drain")
        subs_before = metric_stream().n_subscribers
        ds = wb.load_dataset("cartpole-mixed", progress=False)
        job = train(ds, algo="dqn", n_steps=200_000, seed=0, store=bench.state.store,
                    log_every=50)
        _wait(lambda: len(job.metrics()), 60, "the job's first committed metrics")
        # followed from this (foreign) thread: its committed rows reach the page on the
        # session's next tick, Bokeh's document lock respected
        bench.training.follow(job)
        _wait(lambda: pg.evaluate(CURVE_ROWS_JS), 30, "the followed job's points in the page")
        ctx.close()  # the tab goes away
        deadline = time.monotonic() + 30
        while not bench.state.closed and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bench.state.closed, "the session's on_session_destroyed hook did not run"
        assert bench.state.n_callbacks_running == 0
        assert bench.training._sub.closed
        assert metric_stream().n_subscribers < subs_before + 1  # the job's own sub remains
        assert job.status in ("queued", "running"), job.status
    finally:
        if job is not None:
            job.cancel()
            job.wait(timeout=60, progress=False)
        server.stop()
