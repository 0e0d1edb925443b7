"""The whole product through a real browser: build, save, activate, preview, push, check.

A fresh Streamlit server over a fresh demo home (2,000 customers, the demo SendGrid sandbox),
whose sidebar names every page (the home page "Home", not Streamlit's "app"), is driven by
headless Chromium exactly as an analyst would: a two-condition segment built with widgets
(country is one of SE, DE and plan is pro), saved, activated with defaults in one click,
previewed, pushed. Every number the pages show is compared with figures computed in the test
from the same warehouse and the sandbox (plain DuckDB SQL, the engine's count and preview),
and the sandbox's list must hold exactly segment ∩ contacts at the end; the sidebar's "Home"
then leads back to the home page. A screenshot of each page goes to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.harness import AppServer
from tests.e2e.ui import (
    choose,
    click,
    expect_metric,
    open_page,
    pick_many,
    type_text,
    wait_idle,
)
from workbench import activations
from workbench.demo_sandbox import DEMO_DESTINATION, demo_sandbox_url
from workbench.destinations.sendgrid.sandbox import SandboxRemote
from workbench.destinations.sendgrid.sync import SyncPlan
from workbench.emails import is_valid_email, normalise_email
from workbench.segments import count
from workbench.workspace import Workspace

SIDEBAR = ["Home", "Segments", "Destination", "Activations", "Runs"]
SEGMENT = "Nordic pro"
COUNTRIES = ["SE", "DE"]
PLAN = "pro"
FILTER = {
    "and": [
        {"column": "country", "op": "in", "value": COUNTRIES},
        {"column": "plan", "op": "eq", "value": PLAN},
    ]
}
SCROLL_HEIGHT_JS = """Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
  'body'].map(s => document.querySelector(s)?.scrollHeight || 0)) + 80"""
PUSH_TIMEOUT_MS = 90_000
PREVIEW_TIMEOUT_MS = 60_000  # the first preview also starts the demo sandbox process


def shot(page: Page, folder: Path, name: str) -> None:
    """A screenshot ``<name>.png`` of the whole page (Streamlit scrolls an inner container, so
    the viewport is made as tall as the content for the shot)."""
    tall = page.evaluate(SCROLL_HEIGHT_JS)
    size = page.viewport_size or {"width": 1400, "height": 1000}
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(tall))})
    page.screenshot(path=folder / f"{name}.png", full_page=True)
    page.set_viewport_size(size)


def sidebar_links(page: Page) -> Locator:
    """The page links of our sidebar navigation (``workbench.ui.sidebar_navigation``)."""
    return page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")


def expect_sidebar(page: Page) -> None:
    """Our five links, in order, and no automatic page list of Streamlit (which says "app")."""
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    links = sidebar_links(page)
    expect(links).to_have_count(len(SIDEBAR))
    for link, title in zip(links.all(), SIDEBAR, strict=True):  # label after the icon's name
        expect(link).to_have_text(re.compile(rf"{title}$"))


def go_home(page: Page, base: str) -> None:
    """Click "Home" in the sidebar and wait for the home page at the app's root URL."""
    sidebar_links(page).filter(has_text=re.compile(r"Home$")).click()
    expect(page.get_by_role("heading", name="Audience Workbench", level=1)).to_be_visible()
    expect(page).to_have_url(f"{base}/")
    wait_idle(page)


def member_emails(ws: Workspace) -> set[str]:
    """The segment's members' valid normalised emails, by plain SQL (not the compiler)."""
    rows = (
        ws.cursor()
        .sql(
            "SELECT email FROM customers WHERE country IN ($a, $b) AND plan = $plan",
            params={"a": COUNTRIES[0], "b": COUNTRIES[1], "plan": PLAN},
        )
        .fetchall()
    )
    emails = (normalise_email(raw) for (raw,) in rows)
    return {e for e in emails if e is not None and is_valid_email(e)}


def member_count(ws: Workspace) -> int:
    """How many customers the segment holds, by plain SQL."""
    [(n,)] = (
        ws.cursor()
        .sql(
            "SELECT count(*) FROM customers WHERE country IN ($a, $b) AND plan = $plan",
            params={"a": COUNTRIES[0], "b": COUNTRIES[1], "plan": PLAN},
        )
        .fetchall()
    )
    return int(n)


def primary_emails(url: str) -> dict[str, str]:
    """Each address the sandbox knows (primary or alternate) -> its contact's primary email."""
    contacts: list[dict[str, Any]] = SandboxRemote(url).contacts()
    found = {c["email"]: c["email"] for c in contacts}
    found.update({a: c["email"] for c in contacts for a in c["alternate_emails"]})
    return found


def build_segment(page: Page, ws: Workspace) -> None:
    """Two conditions through the widgets; the live count must follow the engine."""
    expect_metric(page, "Members", count(ws, {"name": "all", "entity": "customers"}))
    choose(page, "add_column", "country")
    choose(page, "add_op", "is one of")
    pick_many(page, "add_value_country_multiselect", COUNTRIES)
    click(page, "add_condition")
    first = {"name": "first", "entity": "customers", "filter": FILTER["and"][0]}
    expect_metric(page, "Members", count(ws, first))
    choose(page, "add_column", "plan")
    choose(page, "add_op", "is")
    choose(page, "add_value_plan_select", PLAN)
    click(page, "add_condition")
    expect_metric(page, "Members", member_count(ws))
    assert count(ws, {"name": SEGMENT, "entity": "customers", "filter": FILTER}) == member_count(ws)


def save_segment(page: Page, ws: Workspace) -> None:
    """Name and save it; the stored document is exactly the two conditions."""
    type_text(page, "seg_name", SEGMENT)
    click(page, "seg_save")
    expect(page.get_by_text(f"Saved segment '{SEGMENT}' (version 1).")).to_be_visible()
    wait_idle(page)  # the rerun after saving is still drawing the editor below the message
    assert ws.store.get_segment(SEGMENT)["filter"] == FILTER


def activate_and_preview(page: Page, ws: Workspace) -> SyncPlan:
    """One click activates with defaults; the preview's figures equal the engine's plan."""
    click(page, "act_defaults")
    expect(page.get_by_text(f"Activated '{SEGMENT}' as '{SEGMENT}'")).to_be_visible()
    click(page, "act_preview")
    preview = page.get_by_role("tabpanel", name="Preview")
    expect(preview.get_by_test_id("stMetric").first).to_be_visible(timeout=PREVIEW_TIMEOUT_MS)
    plan = activations.preview(ws, SEGMENT)
    assert plan.funnel[0][1] == member_count(ws)
    for step, n in plan.funnel:
        expect_metric(preview, step, n)
    for label, n in plan.counts.items():
        expect_metric(preview, label.replace("_", " "), n)
    return plan


def push_and_wait(page: Page, plan: SyncPlan) -> None:
    """Push in the background; the summary appears (bounded) with the planned adds."""
    page.get_by_role("tab", name="Push").click()
    click(page, "act_push")
    push = page.get_by_role("tabpanel", name="Push")
    expect(push.get_by_text("Run 1 succeeded")).to_be_visible(timeout=PUSH_TIMEOUT_MS)
    expect_metric(push, "added", plan.counts["to_add"])
    expect_metric(push, "removed", 0)
    expect_metric(push, "failed", 0)


@pytest.mark.e2e
def test_a_segment_built_in_the_browser_lands_exactly_on_the_sandbox_list(
    app_server: AppServer, page: Page, artifacts: Path
) -> None:
    base = app_server.url
    open_page(page, base, "Audience Workbench")
    expect_metric(page, "Saved segments", 0)
    expect_sidebar(page)
    shot(page, artifacts, "1_home")
    with Workspace(app_server.settings()) as ws:  # the warehouse read-only, as the app does
        open_page(page, f"{base}/Segments", "Segments")
        build_segment(page, ws)
        save_segment(page, ws)
        shot(page, artifacts, "2_segments")

        open_page(page, f"{base}/Destination", "SendGrid destination")
        choose(page, "dest_choice", DEMO_DESTINATION)
        expect(page.get_by_text("Sandbox: this destination is the local")).to_be_visible()
        shot(page, artifacts, "3_destination")

        open_page(page, f"{base}/Activations", "Activations")
        plan = activate_and_preview(page, ws)
        push_and_wait(page, plan)
        shot(page, artifacts, "4_activations")

        open_page(page, f"{base}/Runs", "Runs")
        expect_sidebar(page)
        expect(page.get_by_text("Run 1 succeeded")).to_be_visible()
        expect_metric(page, "added", plan.counts["to_add"])
        expect_metric(page, "removed", 0)
        expect_metric(page, "skipped", plan.counts["skipped"])
        expect_metric(page, "failed", 0)
        shot(page, artifacts, "5_runs")

        url = demo_sandbox_url(ws)
        list_id = activations.get_activation(ws, SEGMENT).list_id
        assert url is not None and list_id is not None
        primary = primary_emails(url)
        expected = {primary[e] for e in member_emails(ws) & primary.keys()}
        assert expected and len(expected) == plan.counts["to_add"]
        assert SandboxRemote(url).list_members(list_id) == expected
    go_home(page, base)
    expect_metric(page, "Saved segments", 1)
    expect_metric(page, "Activations", 1)
    expect(page.get_by_text("Nothing needs attention")).to_be_visible()
    shot(page, artifacts, "6_home_again")
