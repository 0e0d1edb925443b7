"""The workbench's exception tree; foreign errors are mapped into it at one boundary each.

::

    WorkbenchError                    every error the workbench raises on purpose
    ├── ConfigError                   settings or secrets missing or wrong (exit code 2)
    ├── CatalogError                  unknown table, column, entity, bad file source
    ├── SegmentInvalid                a segment document failed validation (.problems)
    ├── NotFoundError                 a saved object (segment, activation, run) does not exist
    ├── ConflictError                 the object exists already, or is locked by another run
    │   └── RunSkipped                another process runs (or just ran) the activation
    ├── QueryError                    the warehouse refused or timed out on a query
    ├── InputError                    a frame handed to a pure function has the wrong shape
    └── DestinationError              anything SendGrid (or the sandbox) answered badly
        ├── AuthError                 401: the API key is wrong or revoked        [terminal]
        ├── PermissionError_          403: a scope is missing / legacy account    [terminal]
        ├── RemoteNotFound            404 on something that must exist            [terminal]
        ├── InvalidRequest            400/413: we sent something SendGrid refuses [terminal]
        ├── RateLimited               429                                         [transient]
        └── Unavailable               5xx, 408, timeouts, connection errors       [transient]

Retry logic looks only at ``error.transient``. Messages say what to do next and never contain
secrets: build messages from our own words and identifiers, never from request headers.
"""

from __future__ import annotations

from dataclasses import dataclass


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""

    transient: bool = False


class ConfigError(WorkbenchError):
    """Settings or secrets are missing or wrong."""


class CatalogError(WorkbenchError):
    """The data catalog cannot answer: unknown entity, table, column or bad source."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where in the document, and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SegmentInvalid(WorkbenchError):
    """A segment document has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the segment has {len(self.problems)} problem(s):\n{lines}")


class NotFoundError(WorkbenchError):
    """A saved object does not exist."""


class ConflictError(WorkbenchError):
    """The object exists already, or another run holds it."""


class RunSkipped(ConflictError):
    """The run did not start: another process holds the activation, or has just run it."""


class QueryError(WorkbenchError):
    """The warehouse refused a query or it ran past the time limit."""


class InputError(WorkbenchError, ValueError):
    """A frame handed to a pure function lacks a column, has the wrong type, nulls or repeats."""


class DestinationError(WorkbenchError):
    """SendGrid (or the sandbox) answered with an error or not at all."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(DestinationError):
    """401: the API key is wrong or was revoked."""


class PermissionError_(DestinationError):  # trailing _: the builtin name is taken
    """403: the key lacks a scope, or the account is on legacy Marketing Campaigns."""


class RemoteNotFound(DestinationError):
    """404 on something that must exist (a list deleted in SendGrid, an unknown job)."""


class InvalidRequest(DestinationError):
    """400 or 413: SendGrid refuses what we sent; retrying the same request will not help."""


class RateLimited(DestinationError):
    """429: too many requests; ``reset_at`` is the Unix time the limit resets, if known."""

    transient = True

    def __init__(self, message: str, *, status: int | None = 429, reset_at: float | None = None):
        super().__init__(message, status=status)
        self.reset_at = reset_at


class Unavailable(DestinationError):
    """5xx, 408, a timeout or a connection error: worth retrying with backoff."""

    transient = True
