"""Configuration of the SendGrid sandbox: the start-up settings and the knobs tests flip live.

``SandboxConfig`` is what a sandbox starts with; ``Knobs`` is the part that may change while it
runs (latency, failure rates, job delay, visibility lag, rate limits), through
``SandboxServer.admin.set_faults(...)`` or ``POST /_sandbox/faults``.

Scopes: SendGrid's published permission list names ``marketing.read`` for the (new) Marketing
Campaigns API; full-access keys carry the matching ``marketing.write``. The sandbox asks for
``marketing.read`` on every read endpoint and ``marketing.write`` on every write endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

READ_SCOPE = "marketing.read"
WRITE_SCOPE = "marketing.write"
FULL_SCOPES: tuple[str, ...] = (READ_SCOPE, WRITE_SCOPE)

MAX_LISTS = 1000
MAX_LISTS_PER_CONTACT = 250
MAX_UPSERT_CONTACTS = 30_000
MAX_UPSERT_BYTES = 6 * 1024 * 1024
MAX_LOOKUP = 100
MAX_ALTERNATE_EMAILS = 5
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass
class Knobs:
    """Behaviour that may change while the sandbox runs; every field has a harmless default.

    Randomised faults draw from one generator seeded with ``seed``, so a sequence of requests
    meets the same faults on every run. A held request (``timeout_*``) waits ``timeout_hold_s``
    (set it above the client's timeout), then is served anyway when ``timeout_applies`` (the
    client never learns that its write landed) or answered 504 without any effect otherwise.
    """

    latency_s: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    fail_next_requests: int = 0
    timeout_rate: float = 0.0
    timeout_next_requests: int = 0
    timeout_hold_s: float = 2.0
    timeout_applies: bool = True
    job_delay_s: float = 0.0
    job_error_rate: float = 0.0
    fail_next_jobs: int = 0
    fail_next_exports: int = 0
    visibility_lag_s: float = 0.0
    export_ttl_s: float = 3600.0
    rate_limit_per_s: int = 1000
    rate_limits: dict[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ConfigError`` naming every knob with an impossible value."""
        problems = [
            f"{name} must be between 0 and 1"
            for name in _RATES
            if not 0 <= getattr(self, name) <= 1
        ]
        problems += [f"{name} must be >= 0" for name in _NON_NEGATIVE if getattr(self, name) < 0]
        if not 500 <= self.error_status <= 599:
            problems.append("error_status must be a 5xx status")
        if self.rate_limit_per_s < 1 or any(v < 1 for v in self.rate_limits.values()):
            problems.append("rate limits must be at least 1 request per window")
        if problems:
            raise ConfigError("sandbox settings are wrong: " + "; ".join(problems))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (knob name -> value) after checking the names and the values."""
        unknown = sorted(set(changes) - knob_names())
        if unknown:
            raise ConfigError(f"unknown sandbox knob(s) {unknown}; known: {sorted(knob_names())}")
        candidate = Knobs(**{**self.as_dict(), **changes})
        candidate.validate()
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def as_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-friendly dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_RATES = ("error_rate", "timeout_rate", "job_error_rate")
_NON_NEGATIVE = (
    "latency_s",
    "timeout_hold_s",
    "job_delay_s",
    "visibility_lag_s",
    "export_ttl_s",
    "fail_next_requests",
    "timeout_next_requests",
    "fail_next_jobs",
    "fail_next_exports",
)


def knob_names() -> set[str]:
    """Names accepted by ``Knobs.update`` and ``POST /_sandbox/faults``."""
    return {f.name for f in fields(Knobs)}


@dataclass
class SandboxConfig:
    """Start-up settings of a sandbox.

    ``api_keys`` maps each accepted key to its scopes (``FULL_SCOPES`` for a sync key).
    ``rate_limits`` maps an endpoint (e.g. ``"PUT /v3/marketing/contacts"``) to its own limit
    per window, overriding ``rate_limit_per_s``.
    """

    state_path: Path
    api_keys: dict[str, list[str]] = field(default_factory=dict)
    latency_s: float = 0.0
    rate_limit_per_s: int = 1000
    rate_limits: dict[str, int] = field(default_factory=dict)
    job_delay_s: float = 0.0
    visibility_lag_s: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hold_s: float = 2.0
    job_error_rate: float = 0.0
    export_ttl_s: float = 3600.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.state_path = Path(self.state_path)

    def initial_knobs(self) -> Knobs:
        """The live knobs this configuration starts with (validated)."""
        knobs = Knobs(
            latency_s=self.latency_s,
            error_rate=self.error_rate,
            timeout_rate=self.timeout_rate,
            timeout_hold_s=self.timeout_hold_s,
            job_delay_s=self.job_delay_s,
            job_error_rate=self.job_error_rate,
            visibility_lag_s=self.visibility_lag_s,
            export_ttl_s=self.export_ttl_s,
            rate_limit_per_s=self.rate_limit_per_s,
            rate_limits=dict(self.rate_limits),
        )
        knobs.validate()
        return knobs
