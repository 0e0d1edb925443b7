"""Which SendGrid list an activation writes to: the stored one, one found by name, or a new one.

Rules: a stored ``list_id`` that no longer exists is reported, never silently recreated; a list
of the right name that this activation did not create is used only when the activation says
``adopt_existing_list``; a list this activation creates is recorded with ``created_by_us``.
The intent to create is saved before the request, so a run killed between creating the list
and saving its id recognises the list as its own on the next start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import ConflictError, RemoteNotFound

from .client import SendGridClient

if TYPE_CHECKING:
    from .sync_context import Context


def stored_list_exists(client: SendGridClient, list_id: str) -> bool:
    """True when the list still exists in SendGrid (auth and outages raise as usual)."""
    try:
        client.get_list(list_id)
    except RemoteNotFound:
        return False
    return True


def list_deleted_error(list_name: str, list_id: str) -> RemoteNotFound:
    """The error of a list deleted in SendGrid since the last run, saying what to do."""
    return RemoteNotFound(
        f"the list {list_name!r} ({list_id}) was deleted in SendGrid: recreate it with "
        "`--recreate-list` or stop the activation (its snapshot is kept)",
        status=404,
    )


def resolve_list(ctx: Context, list_name: str) -> str:
    """The id of the activation's list, finding or creating it (and saving the id)."""
    activation = ctx.activation
    if activation.list_id:
        return activation.list_id
    existing = ctx.client.find_list(list_name)
    creating = ctx.ws.store.get_activation(ctx.name).get("creating_list")
    if existing is not None:
        ours = creating == list_name
        if not (ours or activation.adopt_existing_list):
            raise ConflictError(
                f"a SendGrid list named {list_name!r} exists already and this activation did "
                "not create it: allow adopting it (adopt_existing_list / --adopt-list) or "
                "choose another list name"
            )
        return _remember(ctx, existing.id, created_by_us=ours)
    _save(ctx, {"creating_list": list_name})
    created = ctx.client.create_list(list_name)
    return _remember(ctx, created.id, created_by_us=True)


def _remember(ctx: Context, list_id: str, *, created_by_us: bool) -> str:
    _save(ctx, {"list_id": list_id, "created_by_us": created_by_us, "creating_list": None})
    return list_id


def _save(ctx: Context, changes: dict[str, object]) -> None:
    config = {**ctx.ws.store.get_activation(ctx.name), **changes}
    ctx.ws.store.save_activation(ctx.name, config)
    ctx.reload()
