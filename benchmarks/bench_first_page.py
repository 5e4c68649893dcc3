"""Benchmark: what a new browser session of the served dashboard costs before it is usable.

The dashboard is served in this process (``workbench.ui.app.create_app`` under ``pn.serve``,
loopback), with an empty run store and no dataset loaded, as a newcomer first sees it.

* **server-side page build**: ``GET /`` with a plain HTTP client (no browser): the server
  creates a session, builds the app and renders the page before it answers, so this is what
  every new session (and every abandoned request) costs the server.  ``create_app`` alone is
  timed inside the factory.
* **first page interactive**: a fresh headless chromium context per session (Debian's
  chromium through Playwright), from ``page.goto`` until the Datasets page's *Load catalog
  dataset* button is visible and enabled; the in-page number is ``performance.now()`` (time
  since navigation start) at the first animation frame that shows it.
* **liveness**: ``GET /liveness`` (Panel's endpoint, served by ``workbench serve``), which
  answers without building a page; absent before the dashboard served it.

    .venv/bin/python benchmarks/bench_first_page.py [--sessions 8]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

from _browser_bench import CHROMIUM_ARGS, _free_port, _pct

#: performance.now() at the first frame where the catalog button is rendered and enabled.
READY_JS = """() => new Promise((resolve) => {
  const deep = (root, sel) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.matches(sel)) return e;
      if (e.shadowRoot) { const f = deep(e.shadowRoot, sel); if (f) return f; }
    }
    return null;
  };
  const frame = () => {
    const host = deep(document, '.wb-load-catalog');
    const b = host && deep(host.shadowRoot || host, 'button');
    if (b && !b.disabled && b.checkVisibility() && b.getBoundingClientRect().height > 0)
      resolve(performance.now() / 1000);
    else requestAnimationFrame(frame);
  };
  frame();
})"""


def _get(url: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=8, help="new sessions measured per kind")
    args = ap.parse_args()

    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="wb-bench-first-"))
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    import panel as pn
    from playwright.sync_api import sync_playwright

    from workbench.tracking import RunStore
    from workbench.ui import app as ui_app

    store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    builds: list[float] = []

    def factory():
        t0 = time.perf_counter()
        out = ui_app.create_app(store=store)
        builds.append(time.perf_counter() - t0)
        return out

    port = _free_port()
    extra = getattr(ui_app, "SERVE_OPTIONS", {})  # the options `workbench serve` uses
    server = pn.serve({"/": factory}, port=port, address="127.0.0.1", show=False,
                      threaded=True, websocket_origin=[f"127.0.0.1:{port}"], **extra)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                _get(base + "/liveness")
                break
            except OSError:
                time.sleep(0.2)
        _get(base + "/")  # warm-up: imports, first extension load
        http = [_get(base + "/")[1] for _ in range(args.sessions)]
        live = [_get(base + "/liveness") for _ in range(args.sessions)]
        n_builds_before = len(builds)
        _get(base + "/liveness")
        liveness_builds = len(builds) - n_builds_before
        page_wall: list[float] = []
        page_in: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for i in range(args.sessions + 1):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                page.set_default_timeout(120_000)
                t0 = time.perf_counter()
                page.goto(base + "/", wait_until="commit")
                in_page = page.evaluate(READY_JS)
                wall = time.perf_counter() - t0
                if i:  # the first one warms the browser's caches
                    page_wall.append(wall)
                    page_in.append(in_page)
                ctx.close()
            browser.close()
    finally:
        server.stop()

    print(f"bench_first_page: {args.sessions} new sessions, "
          f"{len(os.sched_getaffinity(0))} CPU cores, nothing loaded")
    print(f"  server-side page build (GET / without a browser): p50 {_pct(http, .5):.2f} s, "
          f"max {max(http):.2f} s; create_app alone p50 {_pct(builds, .5):.2f} s")
    ok = [s for s, _ in live if s == 200]
    if ok:
        lt = [t for _, t in live]
        print(f"  GET /liveness: HTTP 200, p50 {_pct(lt, .5) * 1000:.0f} ms, pages built by it: "
              f"{liveness_builds}")
    else:
        print(f"  GET /liveness: HTTP {live[0][0]} (no liveness endpoint)")
    print(f"  first page interactive in chromium (goto -> catalog button enabled): p50 "
          f"{_pct(page_wall, .5):.2f} s, max {max(page_wall):.2f} s; in-page (since navigation "
          f"start) p50 {_pct(page_in, .5):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
