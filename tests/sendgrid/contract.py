"""SendGrid's published OpenAPI documents as a contract both the sandbox and the client must meet.

The three documents in ``tests/sendgrid/oai`` (unmodified copies of /work/shared/sendgrid-oai,
MIT licensed) are merged into one (union of ``paths`` and of each ``components`` section; they
do not clash) and checked with ``jsonschema`` Draft 2020-12, ``$ref`` resolved by ``referencing``.

``validate_request(method, path, body, query)`` and ``validate_response(method, path, status,
body)`` raise ``ContractViolation`` saying what does not match. Quirks of the documents are
handled narrowly, each one named in ``_patch_quirks`` or ``ERROR_SHAPE_QUIRKS`` below:

- ``nullable: true`` is an OpenAPI 3.0 keyword that 3.1 ignores, so ``"field": null`` (SendGrid's
  real error body) would fail ``type: string``; it is translated to ``type: [..., "null"]``.
- The ``Error`` / ``ContactsError`` schemas type ``field`` as a plain string; SendGrid sends
  ``null`` when no field is to blame, so those two ``field`` properties also accept null.
- ``contact_sample`` on ``GET /lists/{id}`` is typed as one object; SendGrid sends an array of
  contacts: either is accepted.
- The list-count example carries a stray key ``"billable_count:"``; only examples have it and
  examples are not validated, so nothing to do (the sandbox test checks the real key).
- A few error answers are documented in odd shapes (a bare array, one error object, ``errors``
  as an object): for those, SendGrid's general ``ErrorResponse`` is accepted as well.
- Error statuses a document does not list (401/403 on lists, 413, 429, 5xx) are checked against
  ``ErrorResponse``, the body SendGrid documents for every error. An undocumented 2xx fails.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OAI_DIR = Path(__file__).parent / "oai"
DOCUMENTS = ("tsg_mc_contacts_v3.json", "tsg_mc_lists_v3.json", "tsg_scopes_v3.json")
BASE_URI = "urn:sendgrid-oai"
ERROR_RESPONSE = "#/components/schemas/ErrorResponse"
METHODS = ("get", "post", "put", "patch", "delete")

# (method, path template, status) documented with a body shape SendGrid does not send.
ERROR_SHAPE_QUIRKS = {
    ("GET", "/v3/marketing/lists/{id}", "404"),  # a bare array of errors
    ("DELETE", "/v3/marketing/lists/{id}/contacts", "400"),  # one error object
    ("GET", "/v3/marketing/contacts/imports/{id}", "400"),  # "errors" as one object
    ("POST", "/v3/marketing/contacts/search/identifiers/{identifier_type}", "400"),
    ("POST", "/v3/marketing/contacts/search/identifiers/{identifier_type}", "404"),
}


class ContractViolation(AssertionError):
    """A request or an answer does not match SendGrid's published documents."""


@cache
def merged_document() -> dict[str, Any]:
    """The three documents merged (paths and components united), quirks patched."""
    merged: dict[str, Any] = {"openapi": "3.1.0", "paths": {}, "components": {}}
    for name in DOCUMENTS:
        doc = json.loads((OAI_DIR / name).read_text())
        merged["paths"].update(doc["paths"])
        for section, entries in doc.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(entries)
    return _patch_quirks(merged)


def _patch_quirks(doc: dict[str, Any]) -> dict[str, Any]:
    doc = _nullable_to_type(copy.deepcopy(doc))
    schemas = doc["components"]["schemas"]
    for name in ("Error", "ContactsError"):  # SendGrid sends "field": null
        schemas[name]["properties"]["field"]["type"] = ["string", "null"]
    sample = doc["paths"]["/v3/marketing/lists/{id}"]["get"]["responses"]["200"]
    props = sample["content"]["application/json"]["schema"]["properties"]
    one = props["contact_sample"]  # documented as one object, sent as an array
    props["contact_sample"] = {"anyOf": [one, {"type": "array", "items": one}]}
    return doc


def _nullable_to_type(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return {k: _nullable_to_type(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_nullable_to_type(v) for v in node]
    return node


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(merged_document(), default_specification=DRAFT202012)
    return Registry().with_resource(BASE_URI, resource)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _check(instance: Any, pointer: str, what: str) -> None:
    """Validate ``instance`` against the schema at ``pointer`` (``#/...``) of the merged doc."""
    schema = {"$ref": BASE_URI + pointer}
    validator = Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ContractViolation(f"{what}: " + "; ".join(_describe(e) for e in errors[:5]))


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"at {where}: {error.message[:300]}"


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented path template serving ``method path`` and its operation object."""
    path = path.split("?", 1)[0]
    paths = merged_document()["paths"]
    for template in sorted(paths, key=lambda t: t.count("{")):  # literal segments win
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(regex, path) and method.lower() in paths[template]:
            return template, paths[template][method.lower()]
    raise ContractViolation(f"{method} {path} is not in SendGrid's documents")


def validate_request(method: str, path: str, body: Any = None, query: dict | None = None) -> None:
    """Check a request's path parameters, query parameters and JSON body against the docs."""
    template, operation = find_operation(method, path)
    _check_parameters(method, path, template, query or {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        if body is not None:
            raise ContractViolation(f"{method} {template} takes no body, got {body!r:.200}")
        return
    where = ("paths", template, method.lower(), "requestBody", "content", "application/json")
    _check(body, _pointer(*where, "schema"), f"request {method} {template}")


def _check_parameters(method: str, path: str, template: str, query: dict) -> None:
    path_values = dict(zip(template.split("/"), path.split("?", 1)[0].split("/"), strict=False))
    for pointer, param in _parameters(template, method.lower()):
        value = _parameter_value(param, path_values, query, f"{method} {template}")
        if value is not None:
            coerced = _coerce(value, _resolve(param["schema"]))
            _check(coerced, pointer + "/schema", f"parameter {param['name']}")


def _parameters(template: str, method: str) -> list[tuple[str, dict[str, Any]]]:
    """Every parameter of an operation with the pointer to its (resolved) definition."""
    item = merged_document()["paths"][template]
    found = []
    for owner in (("paths", template), ("paths", template, method)):
        node = item if len(owner) == 2 else item[method]
        for index, param in enumerate(node.get("parameters", [])):
            pointer = param.get("$ref") or _pointer(*owner, "parameters", str(index))
            found.append((pointer, _resolve(param)))
    return found


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (within the merged document) until a definition is reached."""
    while "$ref" in node:
        target: Any = merged_document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _parameter_value(param: dict, path_values: dict, query: dict, what: str) -> Any:
    if param["in"] == "path":
        return path_values.get("{" + param["name"] + "}")
    if param["in"] != "query":
        return None
    value = query.get(param["name"])
    if isinstance(value, list):
        if len(value) != 1:
            raise ContractViolation(f"{what}: query {param['name']} given {len(value)} times")
        value = value[0]
    if value is None and param.get("required"):
        raise ContractViolation(f"{what}: query parameter {param['name']} is required")
    return value


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind in ("number", "integer"):
            return float(value) if kind == "number" else int(value)
        if kind == "boolean" and isinstance(value, str):
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        return value
    return str(value) if not isinstance(value, (bool, int, float)) else value


def validate_response(method: str, path: str, status: int, body: Any) -> None:
    """Check an answer's JSON body (None when empty) against the documented response."""
    template, operation = find_operation(method, path)
    code = str(status)
    responses = operation.get("responses", {})
    what = f"response {status} to {method} {template}"
    if code not in responses:
        if status < 400:
            raise ContractViolation(f"{what}: status {status} is not documented")
        _check(body, ERROR_RESPONSE, what)
        return
    response = _resolve(responses[code])
    if status == 204 or "application/json" not in response.get("content", {}):
        if status == 204 and body is not None:
            raise ContractViolation(f"{what}: a 204 answer must have no body")
        if body is not None and status >= 400:
            _check(body, ERROR_RESPONSE, what)
        return
    ref = _response_schema_pointer(template, method, code, responses[code])
    if (method.upper(), template, code) in ERROR_SHAPE_QUIRKS:
        try:
            _check(body, ERROR_RESPONSE, what)
            return
        except ContractViolation:
            pass
    _check(body, ref, what)


def _response_schema_pointer(template: str, method: str, code: str, response: dict) -> str:
    if "$ref" in response:
        return response["$ref"] + "/content/application~1json/schema"
    where = ("paths", template, method.lower(), "responses", code, "content", "application/json")
    return _pointer(*where, "schema")
