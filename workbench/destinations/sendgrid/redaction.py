"""Keeping the SendGrid API key out of repr(), exception text and logs.

``python_http_client`` logs every request's headers (``Authorization: Bearer <key>``) at DEBUG
level. :func:`install_log_redaction` adds a filter to that logger which masks bearer tokens, so
turning on debug logging never prints a key.
"""

from __future__ import annotations

import logging
import re

_BEARER = re.compile(r"(Bearer\s+)([^\s'\",}]+)", re.IGNORECASE)
_HTTP_CLIENT_LOGGER = "python_http_client.client"


def mask_secret(secret: str) -> str:
    """The secret shortened for display: first 3 and last 4 characters (``SG.…xyz9``).

    Short secrets (under 12 characters) are masked completely, since showing 7 of them
    would reveal most of the key.
    """
    if len(secret) < 12:
        return "…" if secret else ""
    return f"{secret[:3]}…{secret[-4:]}"


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` and every bearer token masked."""
    if secret:
        text = text.replace(secret, mask_secret(secret))
    return _BEARER.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)


class BearerTokenFilter(logging.Filter):
    """A logging filter that masks bearer tokens in a record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with tokens masked; never drops a record."""
        message = record.getMessage()
        masked = redact(message, "")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_redaction() -> None:
    """Attach :class:`BearerTokenFilter` to the ``python_http_client`` logger, once."""
    logger = logging.getLogger(_HTTP_CLIENT_LOGGER)
    if not any(isinstance(f, BearerTokenFilter) for f in logger.filters):
        logger.addFilter(BearerTokenFilter())
