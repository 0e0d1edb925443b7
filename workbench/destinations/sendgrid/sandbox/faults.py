"""Per-endpoint rate limits and seeded fault injection, both driven by the live ``Knobs``.

Rate limits are fixed windows of one second aligned on whole Unix seconds, counted per endpoint
(``"GET /v3/marketing/lists"``): ``X-RateLimit-Reset`` is the Unix second the window ends.
Faults (5xx answers, held requests, failing jobs) draw from one ``random.Random(seed)`` under a
lock, so the same request sequence meets the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from workbench.destinations.sendgrid.sandbox.config import Knobs


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against its endpoint's window."""

    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers every answer carries."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


@dataclass(frozen=True)
class RequestFault:
    """What to do to one request before serving it."""

    latency_s: float = 0.0
    error_status: int | None = None
    hold_s: float = 0.0


class FaultPlan:
    """The live knobs plus the state they need: rate windows, counters, the seeded generator."""

    def __init__(self, knobs: Knobs, seed: int) -> None:
        self.knobs = knobs
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change knobs while running (checked first); returns all knobs."""
        with self._lock:
            self.knobs.update(changes)
            return self.knobs.as_dict()

    def count_request(self, endpoint: str, now: float | None = None) -> RateDecision:
        """Count one request to ``endpoint`` in the current one-second window."""
        now = time.time() if now is None else now
        window = math.floor(now)
        with self._lock:
            limit = self.knobs.rate_limits.get(endpoint, self.knobs.rate_limit_per_s)
            start, used = self._windows.get(endpoint, (window, 0))
            used = used if start == window else 0
            allowed = used < limit
            used += 1 if allowed else 0
            self._windows[endpoint] = (window, used)
        return RateDecision(allowed, limit, max(limit - used, 0), window + 1)

    def request_fault(self) -> RequestFault:
        """Draw the faults for one API request (latency always; error or hold by chance)."""
        with self._lock:
            k = self.knobs
            if k.fail_next_requests > 0:
                k.fail_next_requests -= 1
                return RequestFault(k.latency_s, error_status=k.error_status)
            if k.timeout_next_requests > 0:
                k.timeout_next_requests -= 1
                return RequestFault(k.latency_s, hold_s=k.timeout_hold_s)
            if k.error_rate and self._rng.random() < k.error_rate:
                return RequestFault(k.latency_s, error_status=k.error_status)
            if k.timeout_rate and self._rng.random() < k.timeout_rate:
                return RequestFault(k.latency_s, hold_s=k.timeout_hold_s)
            return RequestFault(k.latency_s)

    def job_fails(self) -> bool:
        """Whether the job being created now will fail (``fail_next_jobs`` or the rate)."""
        with self._lock:
            if self.knobs.fail_next_jobs > 0:
                self.knobs.fail_next_jobs -= 1
                return True
            rate = self.knobs.job_error_rate
            return bool(rate) and self._rng.random() < rate

    def export_fails(self) -> bool:
        """Whether the export being created now will end in ``failure``."""
        with self._lock:
            if self.knobs.fail_next_exports > 0:
                self.knobs.fail_next_exports -= 1
                return True
            return False
