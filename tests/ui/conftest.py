"""Fixtures for the Streamlit pages: the app's environment pointed at the test's settings, and
an AppTest of app.py that can switch to any page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.sendgrid.conftest import sandbox, sandbox_config, sg_key  # noqa: F401  (fixtures)
from workbench.config import Settings
from workbench.ui import _cached_workspace

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 30


@pytest.fixture
def app_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """WORKBENCH_HOME/WORKBENCH_WAREHOUSE of ``settings``, no key in the environment, and a
    working folder without a .streamlit/secrets.toml."""
    monkeypatch.setenv("WORKBENCH_HOME", str(settings.home))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(settings.warehouse))
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return settings


@pytest.fixture
def app(app_env: Settings) -> Iterator[AppTest]:
    """A fresh AppTest of app.py, not yet run; the cached workspace is closed afterwards."""
    yield AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)
    _cached_workspace.clear()


def texts(at: AppTest) -> str:
    """Every text the run rendered (markdown, captions, alerts, metrics, code), as one string."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "code", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(e.value) for e in at.text_input]
    return "\n".join(parts)
