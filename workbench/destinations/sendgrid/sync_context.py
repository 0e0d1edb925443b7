"""What one run of an activation works with: its options, and a context holding the saved
activation, its destination, the effective settings and a SendGrid client.

Also the two facts every step needs from the workspace: the list name (the template filled in)
and the segment's members with normalised emails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from workbench.emails import NormalisedEmails, normalise_emails
from workbench.errors import ConfigError
from workbench.segments import members

from .client import SendGridClient
from .destination import DefaultSettings, Destination, client_for

if TYPE_CHECKING:
    from workbench.activations import Activation
    from workbench.config import Settings
    from workbench.workspace import Workspace

AsOf = datetime | date | str | None


@dataclass(frozen=True)
class SyncOptions:
    """How a run polls and waits; ``client`` holds SendGridClient options (e.g. backoff).

    Jobs are polled quickly at first and then every ``poll_s`` at most; exports every
    ``poll_s``.
    """

    poll_s: float = 5.0
    job_timeout_s: float = 900.0
    heartbeat_s: float = 5.0
    client: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncOptions:
        """Options from ``WORKBENCH_SYNC_POLL_S`` and ``WORKBENCH_SYNC_JOB_TIMEOUT_S``."""
        return cls(poll_s=settings.sync_poll_s, job_timeout_s=settings.sync_job_timeout_s)


@dataclass
class Context:
    """Everything one run of one activation needs."""

    ws: Workspace
    activation: Activation
    destination: Destination
    settings: DefaultSettings
    client: SendGridClient
    options: SyncOptions
    calls_recorded: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The activation's name."""
        return self.activation.name

    def reload(self) -> None:
        """Read the activation again (after its list id changed)."""
        from workbench.activations import get_activation

        self.activation = get_activation(self.ws, self.name)


def open_context(ws: Workspace, name: str, options: SyncOptions) -> Context:
    """Load the activation, its destination and a client for it."""
    from workbench.activations import get_activation, get_destination

    activation = get_activation(ws, name)
    destination = get_destination(ws, activation.destination)
    client = client_for(destination, ws.settings, **options.client)
    return Context(ws, activation, destination, activation.settings(destination), client, options)


def list_name_of(ctx: Context) -> str:
    """The list name: the template filled with the segment's and entity's names."""
    doc = ctx.ws.store.get_segment(ctx.activation.segment)
    return ctx.settings.list_name.format(segment=ctx.activation.segment, entity=doc.get("entity"))


def desired_members(ctx: Context, as_of: AsOf) -> NormalisedEmails:
    """The segment's members with their emails normalised (dropped rows keep their reason)."""
    doc = ctx.ws.store.get_segment(ctx.activation.segment)
    entity = ctx.ws.catalog().entity(str(doc.get("entity")))
    email_column = ctx.settings.email_column or entity.spec.email_column
    if not email_column:
        raise ConfigError(
            f"entity {entity.name!r} has no email column: set the activation's email column"
        )
    key = entity.spec.primary_key
    frame = members(ctx.ws, doc, as_of, columns=[key, email_column])
    return normalise_emails(frame, email_column, key)
