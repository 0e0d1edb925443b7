"""Fixtures for everything that talks to SendGrid: a fresh sandbox per test, its key, a client.

``sandbox`` is a started ``SandboxServer`` on a free loopback port with its own state file and
one API key with ``FULL_SCOPES``; jobs finish at once and nothing lags unless a test turns the
knobs (``sandbox.admin.set_faults(job_delay_s=0.05, visibility_lag_s=0.05, ...)``).
``sendgrid_client`` is the real ``sendgrid.SendGridAPIClient`` pointed at it, with a timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sendgrid

from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer

SANDBOX_KEY = "SG.sandbox-test-key"
CLIENT_TIMEOUT_S = 5.0


@pytest.fixture
def sg_key() -> str:
    """The API key the ``sandbox`` fixture accepts, with full marketing scopes."""
    return SANDBOX_KEY


@pytest.fixture
def sandbox_config(tmp_path: Path, sg_key: str) -> SandboxConfig:
    """The configuration of the ``sandbox`` fixture: fresh state file, one full-scope key."""
    return SandboxConfig(
        state_path=tmp_path / "sendgrid-sandbox.sqlite",
        api_keys={sg_key: list(FULL_SCOPES)},
        seed=7,
    )


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    """A started sandbox on a free loopback port, stopped after the test."""
    with SandboxServer(sandbox_config) as server:
        yield server


@pytest.fixture
def sendgrid_client(sandbox: SandboxServer, sg_key: str) -> sendgrid.SendGridAPIClient:
    """The real ``sendgrid`` client pointed at the sandbox, with a timeout set."""
    client = sendgrid.SendGridAPIClient(sg_key, host=sandbox.url)
    client.client.timeout = CLIENT_TIMEOUT_S
    return client
