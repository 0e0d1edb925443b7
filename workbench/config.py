"""Settings: every knob of the workbench once, with a default and a help line.

Settings are read from the environment with the prefix ``WORKBENCH_`` (for example
``WORKBENCH_HOME=/data/wb``). Every field here must be documented in the README's settings
table; ``tests/test_settings.py`` fails when one is not.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_WAREHOUSE_NAME = "demo.duckdb"


class Settings(BaseSettings):
    """The workbench's settings; construct with overrides in tests: ``Settings(home=tmp)``."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    home: Path = Field(
        default=Path(".workbench"),
        description="State folder: the SQLite state store, the demo warehouse, secrets, logs.",
    )
    warehouse: Path | None = Field(
        default=None,
        description="The DuckDB warehouse file. Default: the demo warehouse inside "
        "WORKBENCH_HOME, built on first use.",
    )
    demo_customers: int = Field(
        default=50_000,
        ge=100,
        description="How many customers the demo warehouse gets when it is built on first use.",
    )
    demo_seed: int = Field(default=42, description="Random seed of the demo data.")
    preview_limit: int = Field(
        default=100, ge=1, le=100_000, description="Rows shown by a member preview at most."
    )
    query_timeout_s: float = Field(
        default=30.0, gt=0, description="Time limit of one segment query, in seconds."
    )
    sendgrid_host: str = Field(
        default="https://api.sendgrid.com",
        description="SendGrid API host (without /v3); https://api.eu.sendgrid.com for EU "
        "subusers, or a sandbox URL.",
    )
    sendgrid_timeout_s: float = Field(
        default=30.0, gt=0, description="Time limit of one SendGrid HTTP call, in seconds."
    )

    sync_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait between two polls of a SendGrid job while a push follows it.",
    )

    sync_job_timeout_s: float = Field(
        default=900.0,
        gt=0,
        description="How long a push follows SendGrid's jobs before it leaves the run "
        "'applying', to be resumed by the next start.",
    )
    demo_sandbox_port: int = Field(
        default=8125,
        ge=1,
        le=65535,
        description="Loopback port of the demo SendGrid sandbox that the demo destination "
        "points at; it is started on first use.",
    )

    @cached_property
    def warehouse_path(self) -> Path:
        """The warehouse file in use: the configured one, or the demo warehouse in ``home``."""
        return self.warehouse if self.warehouse is not None else self.home / DEMO_WAREHOUSE_NAME

    @property
    def uses_demo_warehouse(self) -> bool:
        """True when no warehouse was configured, so the demo one is built on first use."""
        return self.warehouse is None

    @property
    def state_db_path(self) -> Path:
        """The SQLite state store."""
        return self.home / "state.sqlite"


def get_settings() -> Settings:
    """Read the settings from the environment (a fresh read every call, so tests can patch)."""
    return Settings()
