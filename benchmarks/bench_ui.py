"""Benchmark: how live the served dashboard is while four training jobs run.

The dashboard is served in this process (``workbench.ui.app.create_app`` under
``pn.serve``, loopback) and opened in headless chromium (Playwright, Debian's chromium).
Four DQN jobs on ``cartpole-mixed`` train (``--executor thread|process``, at ``--nice``,
logging every ``--log-every`` updates); the Training tab follows them, optionally in its
across-seeds view.  The jobs' training throughput in the window is printed too.

* **metric → browser**: for every ``loss/td`` row a job logs, the time from its
  ``wall_time`` (stamped by the worker when the logging interval closes) to the moment a
  JavaScript poller (every 10 ms) first sees that value in a Bokeh ``ColumnDataSource`` of
  the page.  Target: p95 <= 1 s.  The baseline printed with it is the page's drain period
  (the periodic callback), the floor of the design.
* **click → visible response**: light actions (switching tabs, a refused file path's message)
  timed in the page from the DOM ``click`` event to the first animation frame that shows the
  response, with the four jobs running and — as the baseline — with no job running.
  Target: p95 <= 200 ms.  Playwright's end-to-end time (its actionability checks before the
  click, ~50 ms idle, and its polling after) is printed beside it.

    .venv/bin/python benchmarks/bench_ui.py [--executor thread|process] [--nice 10]
        [--across-seeds] [--strict]

"phase: ..." lines on stderr mark the busy-click phase (to attach a profiler such as py-spy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from _browser_bench import CHROMIUM_ARGS, _free_port, _pct

POLLER_JS = """() => {
  window.__wb_seen = new Map();
  const scan = () => {
    const now = Date.now() / 1000;
    for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
      for (const m of doc.all_models) {
        const d = m.data;
        if (d == null || typeof d !== 'object') continue;
        const col = d instanceof Map ? d.get('wall_time') : d['wall_time'];
        if (!col || col.length === undefined) continue;
        for (let i = 0; i < col.length; i++) {
          const w = col[i];
          if (!window.__wb_seen.has(w)) window.__wb_seen.set(w, now);
        }
      }
    }
  };
  window.__wb_timer = setInterval(scan, 10);
}"""


#: In-page timer of a light action: from the DOM ``click`` event (the moment the user's click
#: lands; Playwright's own actionability checks before it are not the app's latency) to the
#: first animation frame in which the response element is rendered (and holds ``text``).
#: Panel components live in shadow roots, hence the deep query.
TIMER_JS = """([sel, text]) => {
  const deep = (root) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.matches(sel)) return e;
      if (e.shadowRoot) { const f = deep(e.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const shown = () => {
    const el = deep(document);
    if (!el || !el.checkVisibility() || el.getBoundingClientRect().height === 0) return false;
    return !text || (el.shadowRoot || el).textContent.includes(text)
                 || el.textContent.includes(text);
  };
  window.__wb_click = new Promise((resolve) => {
    document.addEventListener('click', (ev) => {
      const t0 = performance.now();
      const frame = (ts) => shown() ? resolve((performance.now() - t0) / 1000)
                                    : requestAnimationFrame(frame);
      requestAnimationFrame(frame);
    }, {capture: true, once: true});
  });
}"""


def _timed_click(page, click, sel: str, text: str = "") -> tuple[float, float]:
    """Click ``click`` (a locator); returns (in-page, Playwright end-to-end) seconds until
    ``sel`` is visible (holding ``text``)."""
    page.evaluate(TIMER_JS, [sel, text])
    t0 = time.perf_counter()
    click.click()
    target = page.locator(sel, has_text=text) if text else page.locator(sel)
    target.first.wait_for(state="visible")
    wall = time.perf_counter() - t0
    return page.evaluate("() => window.__wb_click"), wall


def _clicks(page, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Light actions: switching tabs, and a refused file path (the message appears)."""
    out: dict[str, list[tuple[float, float]]] = {"tab switch": [], "refused path message": []}
    targets = [("Runs", ".wb-runs-table"), ("Training", ".wb-curves"),
               ("Datasets", ".wb-catalog-select")]
    box = page.locator(".wb-path-input input")
    for r in range(rounds):
        for title, sel in targets:
            out["tab switch"].append(
                _timed_click(page, page.locator(".bk-tab", has_text=title).first, sel))
        path = f"/etc/no-such-file-{r}-{time.monotonic_ns()}"
        box.fill(path)
        box.press("Enter")
        out["refused path message"].append(
            _timed_click(page, page.locator(".wb-load-file button"), ".wb-datasets-status",
                         path))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=25.0, help="measurement window")
    ap.add_argument("--log-every", type=int, default=100, help="updates per logged row")
    ap.add_argument("--rounds", type=int, default=20, help="click rounds per condition")
    ap.add_argument("--executor", default="thread", choices=["thread", "process"],
                    help="where the four jobs train")
    ap.add_argument("--nice", type=int, default=10,
                    help="CPU niceness of the training workers (train(nice=...); 0 = equal "
                         "priority with the server and the browser)")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval for this process (GIL hand-over, seconds)")
    ap.add_argument("--across-seeds", action="store_true",
                    help="switch the Training page to its across-seeds (IQM band) view")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="wb-bench-ui-"))
    import panel as pn
    from playwright.sync_api import sync_playwright

    import workbench as wb
    from workbench.tracking import RunStore
    from workbench.training import set_max_workers, train
    from workbench.ui.app import create_app
    from workbench.ui.state import register_jobs
    from workbench.ui.training import TrainingPanel

    ds = wb.load_dataset("cartpole-mixed", progress=False)
    store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    port = _free_port()

    def factory():
        return create_app(dataset_roots=[tempfile.gettempdir()], store=store)

    server = pn.serve({"/": factory}, port=port, address="127.0.0.1", show=False,
                      threaded=True, websocket_origin=[f"127.0.0.1:{port}"])
    period_ms = TrainingPanel.__init__.__kwdefaults__["period"]
    jobs = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator(".bk-tab", has_text="Runs").first.wait_for()
            for _ in range(2):  # warm-up
                _clicks(page, 1)
            idle = _clicks(page, args.rounds)

            set_max_workers(args.executor, 4)
            jobs = [train(ds, algo="dqn", n_steps=10_000_000, seed=s, store=store,
                          executor=args.executor,
                          log_every=args.log_every, eval_every=0, checkpoint_every=0,
                          nice=args.nice)
                    for s in range(4)]
            register_jobs(jobs)
            page.locator(".bk-tab", has_text="Training").first.click()
            page.locator(".wb-curves").first.wait_for()
            if args.across_seeds:
                page.get_by_role("button", name="across seeds").click()
            page.evaluate(POLLER_JS)
            t_start = time.time()
            steps0 = sum(j.step for j in jobs)
            time.sleep(args.seconds)
            print("phase: busy clicks", file=sys.stderr, flush=True)
            busy = _clicks(page, args.rounds)
            print("phase: busy clicks done", file=sys.stderr, flush=True)
            rate = (sum(j.step for j in jobs) - steps0) / (time.time() - t_start)
            page.locator(".bk-tab", has_text="Training").first.click()
            time.sleep(2.0)
            seen = page.evaluate("() => Array.from(window.__wb_seen.entries())")
            for j in jobs:
                j.cancel()
            rows = store.metrics([j.run_id for j in jobs], names=["loss/td"])
            logged = rows[rows["wall_time"] >= t_start + 1.0]["wall_time"].tolist()
            seen_at = dict(seen)
            lat = [seen_at[w] - w for w in logged if w in seen_at]
            missing = [w for w in logged if w not in seen_at and w < time.time() - 3]
            browser.close()
    finally:
        for j in jobs:
            j.cancel()
        for j in jobs:
            j.wait(timeout=60, progress=False)
        server.stop()

    ok = True
    print(f"bench_ui: 4 DQN jobs ({args.executor} executor, nice {args.nice}"
          f"{', across-seeds view' if args.across_seeds else ''}) logging every "
          f"{args.log_every} updates, {len(os.sched_getaffinity(0))} CPU cores, "
          f"{args.seconds:.0f} s window, "
          f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms")
    if lat:
        p50, p95, mx = _pct(lat, 0.5), _pct(lat, 0.95), max(lat)
        print(f"  metric logged -> in the browser's data source: n={len(lat)} rows, "
              f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {mx * 1000:.0f} ms "
              f"(target p95 <= 1000 ms; drain period {period_ms} ms: p95 = "
              f"{p95 * 1000 / period_ms:.1f}x the period)")
        if missing:
            print(f"  WARNING: {len(missing)} logged rows never reached the browser")
        ok &= p95 <= 1.0 and not missing
    else:
        print("  metric logged -> browser: no rows measured")
        ok = False
    print(f"  training meanwhile: {rate:,.0f} updates/s over the 4 jobs")
    for action in busy:
        b, i = [x[0] for x in busy[action]], [x[0] for x in idle[action]]
        bw, iw = [x[1] for x in busy[action]], [x[1] for x in idle[action]]
        print(f"  click -> visible ({action}): busy p50 {_pct(b, .5) * 1000:.0f} ms, p95 "
              f"{_pct(b, .95) * 1000:.0f} ms; idle p50 {_pct(i, .5) * 1000:.0f} ms, p95 "
              f"{_pct(i, .95) * 1000:.0f} ms; busy/idle p50 = {_pct(b, .5) / _pct(i, .5):.1f}x "
              f"(target <= 200 ms)")
        print(f"      as Playwright sees it (its click checks + polling included): busy p50 "
              f"{_pct(bw, .5) * 1000:.0f} ms, p95 {_pct(bw, .95) * 1000:.0f} ms; idle p50 "
              f"{_pct(iw, .5) * 1000:.0f} ms")
        ok &= _pct(b, 0.95) <= 0.2
    print("  all targets met" if ok else "  some targets missed")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
