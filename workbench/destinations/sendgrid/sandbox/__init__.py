"""A local SendGrid-compatible server for tests, demos and the app.

Run it alone with ``python -m workbench.sandbox``.

The REAL ``sendgrid`` client talks to it over loopback (``SendGridAPIClient(key, host=url)``).
It serves the Marketing Campaigns endpoints a list sync uses, in the shapes of SendGrid's
OpenAPI documents, with SendGrid's behaviour: scoped keys, asynchronous jobs that create
unknown contacts, lookups that lag behind writes, per-endpoint rate limits, and fault knobs.
State lives in its own SQLite file (and accepted jobs the worker has not taken in yet in the job
inbox beside it, ``<state file>-inbox.sqlite``), so it survives a restart and another process
can share it.
"""

from workbench.destinations.sendgrid.sandbox.admin import SandboxAdmin
from workbench.destinations.sendgrid.sandbox.config import (
    FULL_SCOPES,
    READ_SCOPE,
    WRITE_SCOPE,
    Knobs,
    SandboxConfig,
)
from workbench.destinations.sendgrid.sandbox.remote import SandboxRemote
from workbench.destinations.sendgrid.sandbox.server import SandboxServer

__all__ = [
    "FULL_SCOPES",
    "READ_SCOPE",
    "WRITE_SCOPE",
    "Knobs",
    "SandboxAdmin",
    "SandboxConfig",
    "SandboxRemote",
    "SandboxServer",
]
