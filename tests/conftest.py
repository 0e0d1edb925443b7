"""Shared fixtures: a small demo warehouse built once per session with a fixed seed, and a
fresh workspace (state folder) per test that reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.workspace import Workspace

DEMO_CUSTOMERS = 2_000
DEMO_SEED = 7
DEMO_AS_OF = "2026-06-30"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo warehouse of 2,000 customers, reference date 2026-06-30, seed 7."""
    from workbench.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo(path, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, reference_date=DEMO_AS_OF)
    return path


@pytest.fixture
def settings(tmp_path: Path, demo_warehouse: Path) -> Settings:
    """Settings with a fresh state folder, reading the session's demo warehouse."""
    return Settings(home=tmp_path / "home", warehouse=demo_warehouse)


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A workspace over the demo warehouse with an empty state store."""
    ws = Workspace(settings)
    yield ws
    ws.close()
