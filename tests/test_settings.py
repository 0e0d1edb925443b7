"""Every setting is documented in the README, and settings come from WORKBENCH_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented_in_readme(name: str) -> None:
    assert f"WORKBENCH_{name.upper()}" in README.read_text(), (
        f"README lacks WORKBENCH_{name.upper()}"
    )


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("WORKBENCH_PREVIEW_LIMIT", "7")
    s = Settings()
    assert s.home == tmp_path / "state"
    assert s.preview_limit == 7
    assert s.warehouse_path == tmp_path / "state" / "demo.duckdb"
    assert s.uses_demo_warehouse


def test_configured_warehouse_replaces_the_demo(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, warehouse=tmp_path / "mine.duckdb")
    assert s.warehouse_path == tmp_path / "mine.duckdb"
    assert not s.uses_demo_warehouse


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_PREVIEW_LIMIT", "zero")
    with pytest.raises(ValueError, match="preview_limit"):
        Settings()
