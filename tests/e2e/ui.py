"""Small Playwright helpers for driving Streamlit widgets by their keys.

Streamlit gives every keyed widget's container the class ``st-key-<key>``; selectboxes and
multiselects are comboboxes whose options appear in a listbox. Each helper acts and then waits,
with Playwright's auto-waiting expectations, for the visible effect (no fixed sleeps).
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

IDLE = "notRunning"
# expect() waits 5 s by default whatever the page's timeout: too short on a busy 2-core machine
TIMEOUT_MS = 30_000


def keyed(page: Page, key: str) -> Locator:
    """The container of the widget with ``key``."""
    return page.locator(f".st-key-{key}")


def wait_idle(page: Page, timeout_ms: float = TIMEOUT_MS) -> None:
    """Wait until no script run is in progress (the app root says ``notRunning``)."""
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-script-state", IDLE, timeout=timeout_ms)


def open_page(page: Page, url: str, title: str) -> None:
    """Load ``url`` and wait until its title shows and its script has finished."""
    page.goto(url)
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=TIMEOUT_MS)
    wait_idle(page)


def choose(page: Page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox ``key`` and wait until it shows as chosen."""
    box = keyed(page, key).get_by_role("combobox")
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option, timeout=TIMEOUT_MS)
    wait_idle(page)


def pick_many(page: Page, key: str, options: list[str]) -> None:
    """Add each of ``options`` to the multiselect ``key`` and wait for its chips."""
    widget = keyed(page, key)
    for option in options:
        widget.get_by_role("combobox").click()
        page.get_by_role("option", name=option, exact=True).click()
        expect(widget.get_by_text(option, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    page.keyboard.press("Escape")
    wait_idle(page)


def click(page: Page, key: str) -> None:
    """Click the button ``key``."""
    keyed(page, key).get_by_role("button").click()


def type_text(page: Page, key: str, text: str) -> None:
    """Type ``text`` into the text input ``key`` and commit it (Enter)."""
    field = keyed(page, key).get_by_role("textbox")
    field.fill(text)
    field.press("Enter")
    wait_idle(page)


def metric(scope: Page | Locator, label: str) -> Locator:
    """The value of the metric labelled exactly ``label`` inside ``scope``."""
    page = scope.page if isinstance(scope, Locator) else scope
    label_text = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    card = scope.get_by_test_id("stMetric").filter(has=label_text)
    return card.get_by_test_id("stMetricValue")


def number_text(value: int) -> re.Pattern[str]:
    """A pattern matching ``value`` as the app prints it (``1,234`` or ``1234``)."""
    return re.compile(rf"^\s*({value:,}|{value})\s*$")


def expect_metric(
    scope: Page | Locator, label: str, value: int, timeout_ms: float = TIMEOUT_MS
) -> None:
    """Wait until the metric ``label`` (inside ``scope``) shows ``value``."""
    expect(metric(scope, label)).to_have_text(number_text(value), timeout=timeout_ms)
