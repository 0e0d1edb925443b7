"""The sandbox's route table: every SendGrid endpoint it serves, with the scope each needs."""

from __future__ import annotations

from workbench.destinations.sendgrid.sandbox import contacts_api as contacts
from workbench.destinations.sendgrid.sandbox import exports
from workbench.destinations.sendgrid.sandbox import lists_api as lists
from workbench.destinations.sendgrid.sandbox.api import Route
from workbench.destinations.sendgrid.sandbox.config import READ_SCOPE, WRITE_SCOPE

READS = True  # the route's handler writes nothing (``Route.reads_only``)
JOB = {"creates_job": True}  # the handler only creates a job (``Route.creates_job``)
C = "/v3/marketing/contacts"
L = "/v3/marketing/lists"

API_ROUTES: tuple[Route, ...] = (
    Route("GET", "/v3/scopes", None, contacts.scopes, READS),
    Route("POST", L, WRITE_SCOPE, lists.create_list),
    Route("GET", L, READ_SCOPE, lists.page_lists, READS),
    Route("GET", L + "/{id}", READ_SCOPE, lists.get_list, READS),
    Route("PATCH", L + "/{id}", WRITE_SCOPE, lists.rename_list),
    Route("DELETE", L + "/{id}", WRITE_SCOPE, lists.delete_list),
    Route("GET", L + "/{id}/contacts/count", READ_SCOPE, lists.count_list, READS),
    Route("DELETE", L + "/{id}/contacts", WRITE_SCOPE, lists.remove_contacts, **JOB),
    Route("PUT", C, WRITE_SCOPE, contacts.upsert_contacts, **JOB),
    Route("POST", C + "/search/emails", READ_SCOPE, contacts.search_emails, READS),
    Route(
        "POST",
        C + "/search/identifiers/{identifier_type}",
        READ_SCOPE,
        contacts.search_identifiers,
        READS,
    ),
    Route("POST", C + "/batch", READ_SCOPE, contacts.batch_contacts, READS),
    Route("GET", C + "/count", READ_SCOPE, contacts.count_contacts, READS),
    Route("GET", C + "/imports/{id}", READ_SCOPE, contacts.import_status, READS),
    Route("POST", C + "/exports", READ_SCOPE, exports.start_export),
    Route("GET", C + "/exports/{id}", READ_SCOPE, exports.export_status, READS, True),
    Route("GET", C + "/{id}", READ_SCOPE, contacts.get_contact, READS),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route serving ``method path`` and its path parameters, or None."""
    for route in API_ROUTES:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def path_exists(path: str) -> bool:
    """Whether some method is served on ``path`` (to tell 405 from 404)."""
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    return any(route.match(m, path) is not None for route in API_ROUTES for m in methods)
