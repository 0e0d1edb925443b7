"""Checking an API key: does it work, and may it do what a list sync needs?

The answer is a :class:`~.models.ConnectionCheck` whose ``message`` says plainly what to do:
replace a rejected key, add a missing permission, or move off legacy Marketing Campaigns.
"""

from __future__ import annotations

from collections.abc import Iterable

from workbench.errors import AuthError, DestinationError, PermissionError_

from .failures import AUTH_MESSAGE
from .models import ConnectionCheck

# Marketing full access; reading and writing contacts and lists needs both.
REQUIRED_SCOPES: tuple[str, ...] = ("marketing.read", "marketing.write")


def check_scopes(scopes: frozenset[str], required: Iterable[str]) -> ConnectionCheck:
    """The check for a key that works and holds ``scopes``."""
    missing = tuple(sorted(set(required) - scopes))
    if missing:
        return ConnectionCheck(
            ok=False,
            message=(
                f"the SendGrid API key lacks the permission(s) {', '.join(missing)}: edit the key "
                "in SendGrid (Settings > API Keys) and give it Marketing full access"
            ),
            scopes=scopes,
            missing=missing,
        )
    return ConnectionCheck(
        ok=True,
        message="connected: the API key may read and write Marketing contacts and lists",
        scopes=scopes,
    )


def failed_check(error: DestinationError) -> ConnectionCheck:
    """The check for a key whose scopes could not be read, with the reason in plain words."""
    if isinstance(error, AuthError):
        return ConnectionCheck(ok=False, message=AUTH_MESSAGE)
    if isinstance(error, PermissionError_):
        return ConnectionCheck(
            ok=False,
            message=(
                "SendGrid refused to show the API key's permissions (403): the account may still "
                "be on legacy Marketing Campaigns (upgrade to the new Marketing Campaigns), or "
                "the key lacks permissions: give it Marketing full access"
            ),
        )
    return ConnectionCheck(ok=False, message=f"could not check the SendGrid connection: {error}")
