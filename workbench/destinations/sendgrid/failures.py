"""Mapping every SendGrid failure into ``workbench.errors`` (used by the client's one boundary).

``python_http_client`` raises ``HTTPError`` subclasses carrying ``status_code``, ``body`` and
``headers`` for non-2xx answers; network failures arrive unwrapped (``TimeoutError``,
``urllib.error.URLError``, ``ConnectionError``, ``http.client`` errors). Messages are built
from our own words plus SendGrid's ``errors[].message`` and always pass through
:func:`~.redaction.redact`, so they never carry the API key.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
from collections.abc import Callable, Mapping
from typing import Any

from python_http_client.exceptions import HTTPError as SendGridHTTPError

from workbench.errors import (
    AuthError,
    DestinationError,
    InvalidRequest,
    PermissionError_,
    RateLimited,
    RemoteNotFound,
    Unavailable,
)

from .redaction import redact

AUTH_MESSAGE = "the SendGrid API key was rejected (401): check or replace the key"
NETWORK_ERRORS = (
    TimeoutError,
    ConnectionError,
    urllib.error.URLError,
    http.client.HTTPException,
    OSError,
)
_MAX_DETAIL = 300


def error_messages(body: Any) -> list[str]:
    """SendGrid's ``errors[].message`` texts from an error body of any shape (bytes or JSON)."""
    data = _json_or_text(body)
    if isinstance(data, dict) and "errors" in data:
        data = data["errors"]
    items = data if isinstance(data, list) else [data]
    return [m for m in (_message_of(item) for item in items) if m]


def _json_or_text(body: Any) -> Any:
    """The body decoded as JSON, or as stripped text when it is not JSON."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except ValueError:
        return body.strip()


def _message_of(item: Any) -> str:
    """One error item's message: ``message`` (or ``error``) of an object, or the text itself."""
    if isinstance(item, dict):
        text = item.get("message") or item.get("error") or ""
        field = item.get("field")
        text = f"{field}: {text}" if field and text else str(text)
    else:
        text = "" if item is None else str(item)
    return text[:_MAX_DETAIL]


def header(headers: Any, name: str) -> str | None:
    """A response header, case-insensitively, from an ``HTTPMessage`` or a plain mapping."""
    if headers is None:
        return None
    if isinstance(headers, Mapping) and not hasattr(headers, "get_all"):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    else:
        value = headers.get(name)
    return None if value is None else str(value)


def reset_time(headers: Any, clock: Callable[[], float]) -> float | None:
    """The Unix time ``X-RateLimit-Reset`` names (a small number is read as seconds from now)."""
    raw = header(headers, "X-RateLimit-Reset")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    if value is None:
        return None
    return value if value > 1e9 else clock() + value


def map_failure(
    exc: BaseException, *, what: str, secret: str, clock: Callable[[], float]
) -> DestinationError:
    """The ``workbench.errors`` equivalent of any failure of a SendGrid call about ``what``."""
    if isinstance(exc, DestinationError):
        return exc
    if isinstance(exc, SendGridHTTPError):
        return map_status(
            exc.status_code, exc.body, exc.headers, what=what, secret=secret, clock=clock
        )
    if isinstance(exc, urllib.error.HTTPError):
        return map_status(
            exc.code, _read_body(exc), exc.headers, what=what, secret=secret, clock=clock
        )
    if isinstance(exc, NETWORK_ERRORS):
        detail = redact(f"{type(exc).__name__}: {exc}", secret)[:_MAX_DETAIL]
        return Unavailable(f"SendGrid did not answer for {what} ({detail}); try again later")
    detail = redact(f"{type(exc).__name__}: {exc}", secret)[:_MAX_DETAIL]
    return DestinationError(f"SendGrid call failed for {what} ({detail})")


def _read_body(exc: urllib.error.HTTPError) -> bytes:
    """The body of a urllib HTTP error, or nothing when it cannot be read."""
    try:
        return exc.read()
    except Exception:  # the body only feeds the message
        return b""


def map_status(
    status: int, body: Any, headers: Any, *, what: str, secret: str, clock: Callable[[], float]
) -> DestinationError:
    """The error for a non-2xx answer of status ``status`` to a call about ``what``."""
    said = "; ".join(error_messages(body))
    detail = redact(f": SendGrid said: {said}" if said else "", secret)
    if status == 401:
        return AuthError(AUTH_MESSAGE, status=401)
    if status == 403:
        return PermissionError_(_forbidden_message(what) + detail, status=403)
    if status == 404:
        return RemoteNotFound(f"SendGrid found nothing for {what} (404){detail}", status=404)
    if status == 429:
        reset_at = reset_time(headers, clock)
        when = f"; the limit resets at Unix time {reset_at:.0f}" if reset_at else ""
        return RateLimited(f"SendGrid rate limit reached for {what} (429){when}", reset_at=reset_at)
    if status == 408 or status >= 500:
        return Unavailable(
            f"SendGrid is unavailable for {what} ({status}){detail}; try again later", status=status
        )
    if status == 451:
        return PermissionError_(_residency_message(what) + detail, status=451)
    return InvalidRequest(_invalid_message(status, what) + detail, status=status)


def _forbidden_message(what: str) -> str:
    """Plain words for a 403: a missing permission, or a legacy account."""
    return (
        f"SendGrid refused {what} (403): the API key lacks a permission this needs (give it "
        "Marketing full access), or the account is still on legacy Marketing Campaigns"
    )


def _residency_message(what: str) -> str:
    """Plain words for a 451: a data-residency restriction."""
    return (
        f"SendGrid refused {what} (451) for data-residency reasons: EU subusers must use "
        "https://api.eu.sendgrid.com as WORKBENCH_SENDGRID_HOST"
    )


def _invalid_message(status: int, what: str) -> str:
    """Plain words for a 400, 413 or another refusal that retrying will not fix."""
    if status == 413:
        return f"SendGrid refused {what} as too large (413): send smaller batches"
    return f"SendGrid refused {what} ({status}): the request is invalid"
