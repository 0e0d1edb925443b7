"""Retry timing, per-endpoint pacing from SendGrid's rate-limit headers, and call counting.

SendGrid publishes no rate-limit numbers; every answer carries ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` per endpoint. :class:`EndpointPacer` remembers, per endpoint, when the
remaining budget hit 0 and until when the next call must wait. All classes are thread-safe.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import DestinationError, RateLimited

from .failures import header, reset_time


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before repeating a call that failed transiently."""

    max_retries: int = 4
    backoff: float = 0.5
    backoff_cap: float = 30.0
    max_rate_limit_waits: int = 10
    max_wait: float = 120.0

    def backoff_delay(self, attempt: int, jitter: float) -> float:
        """Capped exponential backoff for retry ``attempt`` (0-based), scaled by 50-100 % jitter."""
        return min(self.backoff_cap, self.backoff * 2**attempt) * (0.5 + jitter / 2)

    def rate_limit_delay(self, error: RateLimited, now: float, fallback: float) -> float:
        """Seconds to wait after a 429: until the reset time, else the backoff ``fallback``."""
        if error.reset_at is None:
            return fallback
        return min(self.max_wait, max(error.reset_at - now, 0.0))


class EndpointPacer:
    """Per endpoint: the time before which no call may be made (budget exhausted).

    Calls in flight count against the budget the last answer reported, so several threads
    calling one endpoint (upserts sent two at a time) wait for the reset instead of drawing
    429s: ``reserve`` before sending, ``release`` after the answer.
    """

    def __init__(self, clock: Callable[[], float], max_wait: float) -> None:
        self._clock = clock
        self._max_wait = max_wait
        self._blocked_until: dict[str, float] = {}
        self._budget: dict[str, tuple[int, float]] = {}  # remaining after last answer, reset
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def wait_time(self, endpoint: str) -> float:
        """Seconds to wait before calling ``endpoint`` (0 when its budget is not exhausted)."""
        with self._lock:
            return self._wait_locked(endpoint, self._clock())

    def _wait_locked(self, endpoint: str, now: float) -> float:
        until = self._blocked_until.get(endpoint)
        if until is not None and until <= now:
            del self._blocked_until[endpoint]
            until = None
        remaining, reset_at = self._budget.get(endpoint, (1, 0.0))
        if reset_at > now and remaining - self._in_flight[endpoint] <= 0:
            until = max(until or 0.0, reset_at)
        return 0.0 if until is None else min(until - now, self._max_wait)

    def reserve(self, endpoint: str) -> float:
        """Count one more call to ``endpoint`` in flight; the seconds to wait before sending it
        (0 when the budget allows it now)."""
        with self._lock:
            wait = self._wait_locked(endpoint, self._clock())
            self._in_flight[endpoint] += 1
            return wait

    def release(self, endpoint: str) -> None:
        """A call reserved with ``reserve`` has its answer (or failed)."""
        with self._lock:
            self._in_flight[endpoint] -= 1

    def observe(self, endpoint: str, headers: Any) -> None:
        """Read an answer's rate-limit headers; block the endpoint until reset when none remain."""
        remaining = header(headers, "X-RateLimit-Remaining")
        if remaining is None or not remaining.strip().lstrip("-").isdigit():
            return
        reset_at = reset_time(headers, self._clock)
        if reset_at is not None:
            with self._lock:
                self._budget[endpoint] = (int(remaining), reset_at)
        if int(remaining) <= 0 and reset_at is not None:
            self.block_until(endpoint, reset_at)

    def block_until(self, endpoint: str, until: float) -> None:
        """Make calls to ``endpoint`` wait until the Unix time ``until``."""
        with self._lock:
            self._blocked_until[endpoint] = max(until, self._blocked_until.get(endpoint, 0.0))


class CallStats:
    """Counts of HTTP calls, retries and seconds waited, per endpoint, for run records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._waited_s = 0.0

    def record_call(self, endpoint: str) -> None:
        """One HTTP request was sent to ``endpoint``."""
        with self._lock:
            self._calls[endpoint] += 1

    def record_retry(self, endpoint: str, error: DestinationError) -> None:
        """A call to ``endpoint`` failed transiently and will be repeated."""
        with self._lock:
            self._retries[endpoint] += 1
            self._errors[type(error).__name__] += 1

    def record_wait(self, seconds: float) -> None:
        """The client slept ``seconds`` for pacing or backoff."""
        with self._lock:
            self._waited_s += seconds

    @property
    def calls(self) -> dict[str, int]:
        """HTTP requests sent, per endpoint (e.g. ``"GET /v3/marketing/lists"``)."""
        with self._lock:
            return dict(self._calls)

    @property
    def total_calls(self) -> int:
        """HTTP requests sent in all."""
        with self._lock:
            return sum(self._calls.values())

    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far, as plain JSON-ready data."""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "retries": dict(self._retries),
                "transient_errors": dict(self._errors),
                "waited_s": round(self._waited_s, 3),
            }
