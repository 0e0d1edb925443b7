"""Fixtures of the browser tests: a fresh Streamlit server over a small demo, and a page.

The server gets its own WORKBENCH_HOME (so the demo warehouse of 2,000 customers and the demo
SendGrid account are built fresh on first use) and its own demo sandbox port; afterwards both
Streamlit and the demo sandbox are stopped. See ``harness.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.harness import AppServer, chromium, streamlit_server

DEMO_CUSTOMERS = 2_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EXPECT_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app served on a free loopback port over a fresh demo home."""
    env = {"WORKBENCH_DEMO_CUSTOMERS": str(DEMO_CUSTOMERS), "WORKBENCH_SYNC_POLL_S": "0.1"}
    with streamlit_server(tmp_path_factory.mktemp("e2e"), env) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the module."""
    with chromium() as launched:
        yield launched


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the test item, so fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser page (its own context), wide enough for the app's columns; when the
    test fails, the page as it was is saved to ``test-artifacts/failed-<test>.png``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)  # expect() alone would wait only 5 s
    opened = context.new_page()
    try:
        yield opened
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            opened.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png")
        context.close()


@pytest.fixture
def artifacts() -> Path:
    """The folder for screenshots (git-ignored), at the repo root."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
