"""Benchmark: how fast the Segments page's live count follows a change, in a real browser.

Run: ``.venv/bin/python -m bench.bench_browser [--customers N] [--changes N]``.

The app is served by Streamlit over the cached demo warehouse of 1,000,000 customers
(``bench.common``, reference date 2026-06-30, WORKBENCH_WAREHOUSE set to it) and driven by
headless Chromium. On the Segments page a base condition is built (country is one of SE, DE);
then a second condition's value is changed ``changes`` times: the page has no in-place edit,
so a change is the analyst's two clicks, ✕ on the old ``lifetime_value ≥ v`` condition and
"Add condition" with the new ``v`` typed in the form. Each click is timed from the click to
the moment the browser shows the new member count (polled on every animation frame), so a
sample includes the page's rerun up to the count: the editor's name and entity, the count
(cached by document in ``workbench.ui_results``) and, for "Add condition", the add-forms
fragment's own short run before it reruns the page.

The baseline is the engine's own ``count`` of the same documents, timed in the same run on
the same warehouse. Printed and returned: the browser's median and p90, the engine's median,
their ratio, and the sample count. Target: browser median and p90 < 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from bench.common import bench_warehouse
from tests.e2e.harness import chromium, streamlit_server
from tests.e2e.ui import choose, click, expect_metric, keyed, open_page, pick_many, wait_idle
from workbench.config import Settings
from workbench.segments import count
from workbench.workspace import Workspace

COUNTRIES = ["SE", "DE"]
BASE = {"column": "country", "op": "in", "value": COUNTRIES}
THRESHOLDS = (50, 400, 100, 800, 150, 1200, 200, 1600, 250, 2000, 300, 2500, 350, 3000, 450)
TARGET_S = 1.0
COUNT_SHOWN_JS = """([label, want]) => {
  for (const card of document.querySelectorAll('[data-testid="stMetric"]')) {
    const l = card.querySelector('[data-testid="stMetricLabel"]');
    const v = card.querySelector('[data-testid="stMetricValue"]');
    if (l && v && l.innerText.trim() === label && v.innerText.trim() === want) {
      window.__wb.shown = performance.now();
      return true;
    }
  }
  return false;
}"""
# records, in the browser's clock, each change of the app's script state (running/notRunning)
WATCH_JS = """() => {
  window.__wb = {states: [], shown: null, clicked: null};
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__wb.states.push(
    [app.getAttribute('data-test-script-state'), performance.now()])
  ).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RESET_JS = "() => { window.__wb.states = []; window.__wb.shown = null; return performance.now(); }"


def segment(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A customers segment of ``nodes`` (all of them)."""
    return {"name": "bench", "entity": "customers", "filter": {"and": list(nodes)}}


def value_condition(threshold: int) -> dict[str, Any]:
    """The condition whose value changes: lifetime_value ≥ ``threshold``."""
    return {"column": "lifetime_value", "op": "gte", "value": threshold}


def timed_click(page: Page, key: str, members: int) -> tuple[float, float]:
    """Seconds from clicking ``key`` until the page shows ``members`` members; and the seconds
    the browser saw the app's script(s) running in between (the server's share)."""
    clicked_ms = page.evaluate(RESET_JS)
    started = time.perf_counter()
    click(page, key)
    page.wait_for_function(COUNT_SHOWN_JS, arg=["Members", f"{members:,}"], polling="raf")
    elapsed = time.perf_counter() - started
    wait_idle(page)
    watched = page.evaluate("() => window.__wb")
    return elapsed, running_seconds(watched["states"], clicked_ms, watched["shown"])


def running_seconds(states: list[list[Any]], start_ms: float, end_ms: float) -> float:
    """Seconds between ``start_ms`` and ``end_ms`` during which the script state was running."""
    total, since = 0.0, None
    for state, at in states:
        if state == "running" and since is None:
            since = at
        elif state != "running" and since is not None:
            total += min(at, end_ms) - since
            since = None
    if since is not None:
        total += end_ms - since
    return max(total, 0.0) / 1000


def engine_seconds(ws: Workspace, doc: dict[str, Any]) -> tuple[int, float]:
    """The engine's count of ``doc`` and the seconds it took."""
    started = time.perf_counter()
    members = count(ws, doc)
    return members, time.perf_counter() - started


def p90(samples: list[float]) -> float:
    """The 90th percentile (inclusive method)."""
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


def build_base(page: Page, base_count: int) -> None:
    """The base condition through the widgets, and the form set up for the varying one."""
    choose(page, "add_column", "country")
    choose(page, "add_op", "is one of")
    pick_many(page, "add_value_country_multiselect", COUNTRIES)
    click(page, "add_condition")
    expect_metric(page, "Members", base_count, timeout_ms=120_000)
    choose(page, "add_column", "lifetime_value")
    choose(page, "add_op", "is at least")


def type_threshold(page: Page, threshold: int) -> None:
    """Type the next value into the add form (not timed: the count does not change)."""
    field = keyed(page, "add_value_lifetime_value_number").get_by_role("spinbutton")
    field.fill(str(threshold))
    field.press("Enter")
    wait_idle(page)


def measure(page: Page, ws: Workspace, changes: int) -> dict[str, list[float]]:
    """Browser seconds of each ✕ (``remove``) and "Add condition" (``add``) click, and the
    engine's seconds for the same documents, for ``changes`` value changes."""
    base_count, base_s = engine_seconds(ws, segment(BASE))
    build_base(page, base_count)
    page.evaluate(WATCH_JS)
    added: list[tuple[float, float]] = []
    removed: list[tuple[float, float]] = []
    engine = [base_s]
    current: int | None = None
    for threshold in (THRESHOLDS * (1 + changes // len(THRESHOLDS)))[:changes]:
        members, seconds = engine_seconds(ws, segment(BASE, value_condition(threshold)))
        engine.append(seconds)
        type_threshold(page, threshold)
        if current is not None:
            removed.append(timed_click(page, "remove_1", base_count))
        added.append(timed_click(page, "add_condition", members))
        current = threshold
    return {"add": [a for a, _ in added], "remove": [r for r, _ in removed],
            "browser": [t for t, _ in added + removed], "engine": engine,
            "script": [s for _, s in added + removed]}  # fmt: skip


def summarise(samples: dict[str, list[float]], customers: int) -> dict[str, Any]:
    """The figures: medians, p90s, ratio, sample counts."""
    browser, engine = samples["browser"], samples["engine"]
    median_browser, median_engine = statistics.median(browser), statistics.median(engine)
    return {
        "customers": customers,
        "samples": len(browser),
        "browser_median_s": round(median_browser, 3),
        "browser_p90_s": round(p90(browser), 3),
        "browser_max_s": round(max(browser), 3),
        "add_median_s": round(statistics.median(samples["add"]), 3),
        "remove_median_s": round(statistics.median(samples["remove"] or [0.0]), 3),
        "script_running_median_s": round(statistics.median(samples["script"]), 3),
        "engine_median_s": round(median_engine, 4),
        "engine_p90_s": round(p90(engine), 4),
        "ratio_median": round(median_browser / median_engine, 1),
        "target_s": TARGET_S,
        "median_under_target": median_browser < TARGET_S,
        "p90_under_target": p90(browser) < TARGET_S,
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def run(customers: int = 1_000_000, changes: int = 10) -> dict[str, Any]:
    """Serve the app over the big demo warehouse, measure, print and return the figures."""
    warehouse = bench_warehouse(customers)
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        env = {"WORKBENCH_WAREHOUSE": str(warehouse)}
        with streamlit_server(Path(tmp), env) as server, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            open_page(page, f"{server.url}/Segments", "Segments")
            with Workspace(Settings(home=Path(tmp) / "engine", warehouse=warehouse)) as ws:
                figures = summarise(measure(page, ws, changes), customers)
    for name, value in figures.items():
        print(f"{name:>18}: {value}")
    return figures


def main() -> None:
    """Command line: ``--customers`` (default 1,000,000) and ``--changes`` (default 10)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    run(args.customers, args.changes)


if __name__ == "__main__":
    main()
