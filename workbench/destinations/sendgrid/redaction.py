"""Keeping the SendGrid API key out of repr(), exception text and logs.

``mask_secret`` is the project's one masking rule (``workbench.secrets``), re-exported here.

``python_http_client`` logs every request's headers (``Authorization: Bearer <key>``) at DEBUG
level. :func:`install_log_redaction` adds a filter to that logger which masks bearer tokens, so
turning on debug logging never prints a key.
"""

from __future__ import annotations

import logging
import re

from workbench.secrets import mask_secret

__all__ = ["BearerTokenFilter", "install_log_redaction", "mask_secret", "redact"]

_BEARER = re.compile(r"(Bearer\s+)([^\s'\",}]+)", re.IGNORECASE)
_HTTP_CLIENT_LOGGER = "python_http_client.client"


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
