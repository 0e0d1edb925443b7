"""The one place that speaks HTTP to SendGrid: the ``sendgrid`` package behind one boundary.

:meth:`Transport.call` sends one API request through ``sendgrid.SendGridAPIClient`` and is the
single boundary where every failure becomes a ``workbench.errors`` class, transient ones are
retried with capped exponential backoff and jitter, and calls are paced from SendGrid's
rate-limit headers. Each thread gets its own ``SendGridAPIClient`` (the package's client keeps
mutable headers that would otherwise leak between calls and threads), with a timeout set.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sendgrid import SendGridAPIClient

from workbench.errors import DestinationError, InvalidRequest, RateLimited

from .failures import map_failure
from .pacing import CallStats, EndpointPacer, RetryPolicy
from .redaction import install_log_redaction, mask_secret

T = TypeVar("T")
log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"\{\w+\}")


class JsonText(str):
    """A request body already serialised as JSON text: sent as is, not encoded again (a
    6 MB upsert body is assembled from stored entries instead of 30,000 dicts)."""


JSON_TEXT_HEADERS = {"Content-Type": "application/json; charset=utf-8"}  # the package's raw path


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: status, decoded JSON body (None when empty) and headers."""

    status: int
    data: Any
    headers: Any


class Transport:
    """Sends SendGrid API requests with timeouts, retries, pacing and error mapping."""

    def __init__(
        self,
        api_key: str,
        host: str,
        timeout_s: float,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._api_key = api_key
        self.host = host.rstrip("/")
        self.timeout_s = timeout_s
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._local = threading.local()
        self.pacer = EndpointPacer(clock, policy.max_wait)
        self.stats = CallStats()
        install_log_redaction()

    def __repr__(self) -> str:
        return f"Transport(host={self.host!r}, api_key={mask_secret(self._api_key)!r})"

    def _client(self) -> SendGridAPIClient:
        """This thread's ``SendGridAPIClient`` with fresh default headers and the timeout set."""
        sg = getattr(self._local, "sg", None)
        if sg is None:
            sg = SendGridAPIClient(api_key=self._api_key, host=self.host)
            self._local.sg = sg
        sg.reset_request_headers()
        sg.client.timeout = self.timeout_s
        return sg

    def call(
        self,
        method: str,
        endpoint: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str | int] | None = None,
        what: str,
        idempotent: bool = True,
    ) -> Answer:
        """Send ``method path`` (``path`` starts with ``/v3/``); ``endpoint`` keys pacing and stats.

        Retries transient failures; raises the mapped ``DestinationError`` otherwise. A call
        that is not ``idempotent`` (it may have taken effect before failing) is repeated only
        after a 429, which SendGrid answers without doing anything.
        """
        return self._retrying(
            endpoint,
            what,
            lambda: self._send_once(method, endpoint, path, body, query),
            idempotent=idempotent,
        )

    def download(self, url: str, *, what: str) -> bytes:
        """The bytes at a pre-signed URL (an export file), fetched WITHOUT the API key.

        Plain ``urllib``: the URL carries its own signature; failures are mapped and retried
        like API calls.
        """
        return self._retrying("GET export file", what, lambda: self._fetch(url), idempotent=True)

    def _fetch(self, url: str) -> bytes:
        """One plain GET of a pre-signed URL, with the timeout and no credentials."""
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise DestinationError(f"SendGrid gave an export URL that is not http(s): {url[:80]}")
        self.stats.record_call("GET export file")
        request = urllib.request.Request(url, headers={"Accept": "*/*"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return bytes(response.read())

    def _retrying(self, endpoint: str, what: str, send: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``send`` until it succeeds, a terminal error comes, or the retries run out."""
        attempt = rate_waits = 0
        while True:
            self._wait(self.pacer.reserve(endpoint))  # counted in flight, waited or not
            try:
                return send()
            except Exception as exc:  # the one boundary: map every failure
                error = map_failure(exc, what=what, secret=self._api_key, clock=self._clock)
                self.pacer.observe(endpoint, getattr(exc, "headers", None))
            finally:
                self.pacer.release(endpoint)
            delay = self._retry_delay(error, attempt, rate_waits)
            if delay is None or not (idempotent or isinstance(error, RateLimited)):
                raise error
            self.stats.record_retry(endpoint, error)
            log.info("%s failed transiently (%s); retrying in %.2f s", endpoint, error, delay)
            self._wait(delay)
            if isinstance(error, RateLimited):
                rate_waits += 1
            else:
                attempt += 1

    def _retry_delay(self, error: DestinationError, attempt: int, rate_waits: int) -> float | None:
        """Seconds to wait before repeating, or None when the error must be raised."""
        if not error.transient:
            return None
        fallback = self.policy.backoff_delay(attempt, self._jitter())
        if isinstance(error, RateLimited):
            if rate_waits >= self.policy.max_rate_limit_waits:
                return None
            return self.policy.rate_limit_delay(error, self._clock(), fallback)
        return fallback if attempt < self.policy.max_retries else None

    def _wait(self, seconds: float) -> None:
        """Sleep (through the injected ``sleep``) and count the time waited."""
        if seconds > 0:
            self.stats.record_wait(seconds)
            self._sleep(seconds)

    def _send_once(
        self,
        method: str,
        endpoint: str,
        path: str,
        body: Any,
        query: Mapping[str, str | int] | None,
    ) -> Answer:
        """One HTTP request through the ``sendgrid`` package; raises its exceptions unchanged."""
        node = self._client().client
        for part in _path_parts(path):
            node = node._(part)
        self.stats.record_call(endpoint)
        response = getattr(node, method.lower())(
            request_body=body,
            query_params=dict(query) if query else None,
            request_headers=JSON_TEXT_HEADERS if isinstance(body, JsonText) else None,
            timeout=self.timeout_s,
        )
        self.pacer.observe(endpoint, response.headers)
        return Answer(response.status_code, _decode(response.body), response.headers)


def fill_path(template: str, ids: tuple[str, ...]) -> str:
    """The path template with each ``{name}`` replaced by the next id, URL-quoted.

    Raises InvalidRequest for an empty id (it would address another endpoint).
    """
    parts = iter(ids)

    def next_segment(_: re.Match[str]) -> str:
        value = str(next(parts, "")).strip()
        if not value:
            raise InvalidRequest("an empty SendGrid id was given")
        return urllib.parse.quote(value, safe="")

    return _PLACEHOLDER.sub(next_segment, template)


def _path_parts(path: str) -> list[str]:
    """The URL segments after ``/v3`` (the package adds the version itself)."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != "v3":
        raise ValueError(f"SendGrid paths start with /v3/, not {path!r}")
    return parts[1:]


def _decode(body: bytes | str | None) -> Any:
    """The JSON body of a 2xx answer, or None when it is empty."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise DestinationError("SendGrid answered with something that is not JSON") from None
