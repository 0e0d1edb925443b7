"""Removing contacts from a list when some ids may be stale.

``DELETE /v3/marketing/lists/{id}/contacts`` answers 404 when the list OR any one id does not
exist. On a 404 we first check the list (gone: RemoteNotFound saying so), then read the ids
back to find the stale ones, and repeat the call without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import RemoteNotFound

if TYPE_CHECKING:
    from .client import SendGridClient


class RemovalResult(list[str]):
    """The job ids of a removal; ``stale_ids`` are the ids skipped because they no longer exist."""

    def __init__(self) -> None:
        super().__init__()
        self.stale_ids: set[str] = set()

    @property
    def job_ids(self) -> list[str]:
        """The job ids (the list itself), for readability at call sites."""
        return list(self)


def remove_batch(
    client: SendGridClient, list_id: str, batch: list[str], result: RemovalResult
) -> None:
    """Remove one batch of ids, retrying once without the stale ones after a 404."""
    try:
        result.append(client.remove_batch_call(list_id, batch))
        return
    except RemoteNotFound as not_found:
        first_error = not_found  # the list or one id is unknown: find out which
    _ensure_list_exists(client, list_id)
    existing = {c.id for c in client.contacts_by_ids(batch)}
    stale = set(batch) - existing
    if not stale:
        raise RemoteNotFound(
            f"SendGrid refused to remove {len(batch)} contact(s) from list {list_id} (404) "
            "although the list and every contact exist; SendGrid may still be catching up: "
            "try again later",
            status=404,
        ) from first_error
    result.stale_ids.update(stale)
    remaining = [contact_id for contact_id in batch if contact_id in existing]
    if remaining:
        result.append(client.remove_batch_call(list_id, remaining))


def _ensure_list_exists(client: SendGridClient, list_id: str) -> None:
    """Raise RemoteNotFound, in plain words, when the list was deleted in SendGrid."""
    try:
        client.get_list(list_id)
    except RemoteNotFound:
        raise RemoteNotFound(
            f"the SendGrid list {list_id} was deleted (or never existed): nothing can be removed "
            "from it; recreate the list or point the activation at another one",
            status=404,
        ) from None
