"""The served dashboard in a real browser (Debian's chromium driven by Playwright).

One `workbench serve --dataset-root ROOT` process is shared by the tests of this module;
screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import time

import pytest

from _browser import CURVE_ROWS_JS, screenshot
from _browser import wait_until as _wait
from workbench.ui.app import PAGES

pytestmark = [pytest.mark.ui, pytest.mark.slow]

def _open(page, url):
    page.goto(url + "/")
    page.locator(".bk-tab", has_text="Runs").wait_for()


def _tab(page, title):
    page.locator(".bk-tab", has_text=title).first.click()


def _load_catalog(page, name):
    page.locator(".wb-catalog-select select").select_option(name)
    page.locator(".wb-load-catalog button").click()
    page.locator(".wb-datasets-status", has_text=f"Loaded {name}").wait_for(timeout=120_000)


def test_page_loads_with_every_tab_and_nothing_external(page, served_app):
    _open(page, served_app)
    tabs = [t.strip() for t in page.locator(".bk-tab").all_inner_texts()]
    assert tabs == list(PAGES)
    page.locator(".wb-sidebar", has_text="Dataset roots").wait_for()
    screenshot(page, "01-datasets-page")
    assert page.external_requests == [], "the dashboard must work offline"


def test_catalog_dataset_shows_its_diagnostics(page, served_app):
    _open(page, served_app)
    _load_catalog(page, "cartpole-mixed")
    page.locator(".wb-summary", has_text="transitions").wait_for()
    screenshot(page, "02-datasets-loaded")
    _tab(page, "Diagnostics")
    page.locator(".wb-diag-status", has_text="SACo").wait_for(timeout=120_000)
    page.locator(".wb-report", has_text="TQ").wait_for()
    page.locator(".wb-tq-saco canvas").first.wait_for()
    time.sleep(0.5)
    screenshot(page, "03-diagnostics")


def _start_training(page, steps: int, algo: str = "dqn"):
    _tab(page, "Training")
    page.locator(".wb-algo select").select_option(algo)
    steps_input = page.locator(".wb-steps input")
    steps_input.fill(str(steps))
    steps_input.press("Enter")
    time.sleep(0.3)
    page.locator(".wb-start button").click()
    page.locator(".wb-train-status", has_text="Started").wait_for()


def test_training_curve_grows_live_then_cancel(page, served_app):
    _open(page, served_app)
    _load_catalog(page, "cartpole-mixed")
    _start_training(page, 40_000)
    jobs = page.locator(".wb-jobs")
    jobs.locator(".tabulator-row", has_text="running").first.wait_for(timeout=60_000)
    first = _wait(lambda: page.evaluate(CURVE_ROWS_JS), 60, "the first curve points")
    more = _wait(lambda: (n := page.evaluate(CURVE_ROWS_JS)) > first and n, 60,
                 "more curve points")
    assert jobs.locator(".tabulator-row", has_text="running").count() == 1, \
        "the curve must grow while the job runs"
    screenshot(page, "04-training-live")
    assert more > first
    jobs.locator(".tabulator-row", has_text="running").first.locator(
        ".tabulator-cell", has_text="Cancel").click()
    jobs.locator(".tabulator-row", has_text="cancelled").first.wait_for(timeout=30_000)
    screenshot(page, "05-training-cancelled")
    # the across-seeds view appears (one run: the note says what it needs)
    page.get_by_role("button", name="across seeds").click()
    page.locator(".wb-aggregate").first.wait_for(state="visible")
    page.get_by_text("needs at least two runs").first.wait_for()
    # and "are these agents different?" under it (no completed run: it says what it needs)
    page.locator(".wb-compare-note", has_text="Are these agents different?").wait_for()


def test_ope_page_shows_estimates_for_finished_runs(page, served_app):
    _open(page, served_app)
    _load_catalog(page, "cartpole-mixed")
    _start_training(page, 1000)
    page.locator(".wb-jobs .tabulator-row", has_text="completed").first.wait_for(
        timeout=120_000)
    _tab(page, "OPE")
    page.get_by_role("button", name="Refresh runs").click()
    page.locator(".wb-ope-run button").click()
    page.locator(".wb-ope-status", has_text="Estimated").wait_for(timeout=180_000)
    table = page.locator(".wb-ope-table .tabulator-row")
    assert table.filter(has_text="fqe").count() >= 1 and table.filter(has_text="wis").count() >= 1
    page.locator(".wb-ope-plot canvas").first.wait_for()
    time.sleep(0.5)
    screenshot(page, "06-ope")
    _tab(page, "Runs")
    page.locator(".wb-runs-table", has_text="completed").wait_for()
    screenshot(page, "07-runs")


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd"])
def test_path_outside_the_roots_is_refused_in_the_ui(page, served_app, path):
    _open(page, served_app)
    box = page.locator(".wb-path-input input")
    box.fill(path)
    box.press("Enter")
    page.locator(".wb-load-file button").click()
    page.locator(".wb-datasets-status", has_text="Refused").filter(
        has_text="outside the allowed dataset roots").wait_for()
    # the click's spinner goes with the refusal
    _wait(lambda: "pn-loading" not in (page.locator(".wb-load-file").get_attribute("class")
                                       or ""), 10, "the spinner to go")
    if path.startswith("/"):
        screenshot(page, "08-outside-root-refused")


def test_file_under_a_root_loads(page, served_app, dataset_root):
    _open(page, served_app)
    box = page.locator(".wb-path-input input")
    box.fill(str(dataset_root / "random.npz"))
    box.press("Enter")
    page.locator(".wb-load-file button").click()
    page.locator(".wb-datasets-status", has_text="Loaded").wait_for(timeout=60_000)
