"""The sidebar: every page lists Home, Segments, Destination, Activations and Runs, each
linking to its page, while the page files stay in Streamlit's classic ``pages/`` folder."""

from __future__ import annotations

import tomllib

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import APP

SIDEBAR = ["Home", "Segments", "Destination", "Activations", "Runs"]
PAGE_FILES = ["1_Segments.py", "2_Destination.py", "3_Activations.py", "4_Runs.py"]
URL_PATHS = ["", "Segments", "Destination", "Activations", "Runs"]  # "" is the home page
ICONS = [":material/campaign:", ":material/filter_alt:", ":material/outgoing_mail:",
         ":material/rocket_launch:", ":material/history:"]  # fmt: skip


def sidebar_links(at: AppTest) -> list[tuple[str, str, str]]:
    """The sidebar's page links as (label, URL path, icon)."""
    return [(link.value, link.proto.page, link.proto.icon) for link in at.sidebar.page_link]


@pytest.mark.parametrize("page", [None, *(f"pages/{name}" for name in PAGE_FILES)])
def test_every_page_shows_the_same_sidebar_with_home_first(app: AppTest, page: str | None) -> None:
    at = app.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    assert not at.exception
    assert sidebar_links(at) == list(zip(SIDEBAR, URL_PATHS, ICONS, strict=True))


def test_a_page_stays_drawn_once_the_sidebar_is_rerun(app: AppTest) -> None:
    at = app.run()
    at.switch_page("pages/1_Segments.py")
    at.run()
    at.run()  # st.navigation over pages/ used to lose its pages after the first rerun
    assert [t.value for t in at.title] == ["Segments"]
    assert [label for label, _, _ in sidebar_links(at)] == SIDEBAR


def test_the_pages_live_in_the_classic_pages_folder() -> None:
    repo = APP.parent
    assert sorted(p.name for p in (repo / "pages").glob("*.py")) == PAGE_FILES
    assert not (repo / "app_pages").exists()


def test_streamlits_own_page_list_is_hidden_by_the_config() -> None:
    settings = tomllib.loads((APP.parent / ".streamlit" / "config.toml").read_text())
    assert settings["client"]["showSidebarNavigation"] is False
    assert "client.showSidebarNavigation" in config._config_options_template
