"""``SandboxRemote``: the admin object of a sandbox running in another process, over HTTP.

Same method names as ``SandboxAdmin`` (``add_contacts``, ``list_members``, ``set_faults``, ...),
calling the ``/_sandbox/...`` surface, so app and browser tests can seed and inspect a sandbox
started with ``python -m workbench.sandbox``. Admin errors come back as workbench errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from workbench.errors import InvalidRequest, NotFoundError, Unavailable

TIMEOUT_S = 10.0


class SandboxRemote:
    """Admin access to the sandbox at ``url`` (e.g. ``http://127.0.0.1:8125``)."""

    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_sandbox/{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            raise (NotFoundError if exc.code == 404 else InvalidRequest)(message) from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise Unavailable(f"the sandbox at {self.url} does not answer: {exc}") from None

    def healthy(self) -> bool:
        """Whether the sandbox answers."""
        try:
            return bool(self._call("GET", "health")["ok"])
        except Unavailable:
            return False

    def add_contacts(
        self, contacts: list[dict[str, Any]], list_ids: list[str] | None = None
    ) -> list[str]:
        """Seed contacts (visible at once), optionally on lists; returns their ids."""
        body: dict[str, Any] = {"contacts": contacts, "list_ids": list_ids or []}
        return list(self._call("POST", "contacts", body)["ids"])

    def create_list(self, name: str) -> str:
        """Create a list directly; returns its id."""
        return str(self._call("POST", "lists", {"name": name})["id"])

    def list_members(self, list_id: str) -> set[str]:
        """The primary emails really on a list."""
        return set(self._call("GET", f"lists/{urllib.parse.quote(list_id)}/members")["emails"])

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact the account really holds, with ``list_ids``."""
        return list(self._call("GET", "contacts")["contacts"])

    def find_list(self, name: str) -> dict[str, Any] | None:
        """The list called ``name`` (``{id, name, contact_count}``), or None."""
        found: dict[str, Any] | None = self._call(
            "GET", "lists?" + urllib.parse.urlencode({"name": name})
        )["list"]
        return found

    def delete_list(self, list_id: str) -> None:
        """Delete a list as a user would in SendGrid's UI."""
        self._call("DELETE", f"lists/{urllib.parse.quote(list_id)}")

    def add_key(self, key: str, scopes: list[str]) -> None:
        """Accept another API key."""
        self._call("POST", "keys", {"key": key, "scopes": scopes})

    def revoke_key(self, key: str) -> None:
        """Revoke a key (401 from then on)."""
        self._call("POST", f"keys/{urllib.parse.quote(key, safe='')}/revoke")

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change fault knobs; returns all current knobs."""
        return dict(self._call("POST", "faults", knobs))

    def flush(self) -> None:
        """Finish pending jobs and exports and make everything visible now."""
        self._call("POST", "flush", {})

    def request_log(self, bodies: bool = True) -> list[dict[str, Any]]:
        """The API requests the sandbox served so far (``bodies=False``: without their bodies,
        a much smaller answer when only counts and times matter)."""
        path = "requests" if bodies else "requests?bodies=0"
        return list(self._call("GET", path)["requests"])

    def request_log_usage(self) -> dict[str, int]:
        """What the sandbox's request log holds: ``entries``, ``bodies``, ``body_bytes``."""
        return dict(self._call("GET", "requests/usage"))

    def clear_request_log(self) -> None:
        """Forget the logged requests."""
        self._call("DELETE", "requests")


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"the sandbox answered {exc.code}"
