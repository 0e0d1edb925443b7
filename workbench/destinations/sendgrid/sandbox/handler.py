"""The HTTP request handler: auth, rate limits, faults, the request log, then the route.

Order for an API request: count it against its endpoint's rate window (every answer carries
the ``X-RateLimit-*`` headers), check the key (401) and its scope (403), refuse past the limit
(429), apply the fault knobs (latency, a 5xx, holding the request past the client's timeout),
then run the handler: from a read snapshot when the route only creates a job (it goes to the
job inbox) or only reads and the request has no due work (so neither waits for the job worker
or an export render), else inside one write transaction that first finishes due small jobs
and makes due changes visible.
Paths under ``/_sandbox/`` are the admin surface and the export downloads: no key, no log.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from workbench.destinations.sendgrid.sandbox import admin_http, jobs, store
from workbench.destinations.sendgrid.sandbox.api import Answer, ApiError, ApiRequest, Route
from workbench.destinations.sendgrid.sandbox.config import MAX_UPSERT_BYTES
from workbench.destinations.sendgrid.sandbox.faults import RateDecision
from workbench.destinations.sendgrid.sandbox.routes import find_route, path_exists

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sandbox.server import SandboxServer

log = logging.getLogger(__name__)
UPSERT_ENDPOINT = "PUT /v3/marketing/contacts"
UNMATCHED = "unknown endpoints"  # the rate window shared by paths the sandbox does not serve


@dataclass(frozen=True)
class _Parsed:
    """An authorised API request, its body parsed (once: the log keeps the raw bytes)."""

    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    raw: bytes
    scopes: list[str]


class SandboxHandler(BaseHTTPRequestHandler):
    """Serves one HTTP request for the ``SandboxServer`` in ``server.sandbox``."""

    server_version = "SendGridSandbox/1.0"

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log (without headers) is kept by the sandbox instead."""

    @property
    def sandbox(self) -> SandboxServer:
        """The sandbox this handler serves."""
        return self.server.sandbox  # type: ignore[attr-defined]

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if url.path.startswith("/_sandbox/"):
                answer = admin_http.serve(
                    self.sandbox, self.command, url.path, query, raw, self._base_url()
                )
            else:
                answer = self._serve_api(url.path, query, raw)
        except Exception:  # the sandbox must answer, whatever went wrong inside it
            log.exception("sandbox: unexpected error on %s %s", self.command, url.path)
            answer = Answer(500, ApiError(500, "internal error").body())
        self._send(answer)

    def _serve_api(self, path: str, query: dict[str, list[str]], raw: bytes) -> Answer:
        found = find_route(self.command, path)
        if found is None:
            status = 405 if path_exists(path) else 404
            message = "method not allowed" if status == 405 else f"no endpoint {path}"
            answer = Answer(status, ApiError(status, message).body())
            answer.headers.update(self.sandbox.plan.count_request(UNMATCHED).headers())
            return self._logged(None, path, query, raw, answer)
        route, params = found
        decision = self.sandbox.plan.count_request(route.endpoint)
        answer = self._guarded(route, params, query, raw, decision)
        answer.headers.update(decision.headers())
        return self._logged(route, path, query, raw, answer)

    def _guarded(
        self, route: Route, params: dict, query: dict, raw: bytes, decision: RateDecision
    ) -> Answer:
        try:
            scopes = self._authorise(route)
            if not decision.allowed:
                raise ApiError(429, "too many requests")
            fault = self.sandbox.plan.request_fault()
            self.sandbox.pause(fault.latency_s + fault.hold_s)
            if fault.error_status is not None:
                raise ApiError(fault.error_status, "the sandbox failed this request on purpose")
            if fault.hold_s and not self.sandbox.plan.knobs.timeout_applies:
                raise ApiError(504, "the sandbox held this request past its timeout")
            request = _Parsed(params, query, _parse_body(route, raw), raw, scopes)
            return self._run(route, request)
        except ApiError as exc:
            return Answer(exc.status, exc.body())

    def _authorise(self, route: Route) -> list[str]:
        header = self.headers.get("Authorization") or ""
        key = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        with self.sandbox.db.read() as conn:
            scopes = store.key_scopes(conn, key) if key else None
        if scopes is None:
            raise ApiError(401, "authorization required")
        if route.scope is not None and route.scope not in scopes:
            raise ApiError(403, f"access forbidden: the API key lacks the {route.scope} scope")
        return scopes

    def _run(self, route: Route, request: _Parsed) -> Answer:
        """Serve from a read snapshot when the route only creates a job, or only reads and
        nothing is due; else in one write transaction that first does the request's due work
        (``pump_for_request``)."""
        sandbox = self.sandbox
        if route.renders_export:
            sandbox.renderer.render(request.params["id"])
        if route.creates_job:
            with sandbox.db.read() as conn:
                return self._answer(route, conn, request, time.time())
        if route.reads_only:
            # The inbox first: the worker commits a job into the state file before it marks
            # it moved in the inbox, so a job gone from this read is in the snapshot below
            # (read the other way round, a small job taken in between was in neither, and its
            # status read said "pending" instead of finishing it).
            waiting = sandbox.inbox.head()
            with sandbox.db.read() as conn:
                now = time.time()
                if not jobs.due_for_request(conn, now, lambda: waiting):
                    return self._answer(route, conn, request, now)
        with sandbox.db.write() as conn:
            sandbox.pump_for_request(conn)
            return self._answer(route, conn, request, time.time())

    def _answer(
        self, route: Route, conn: sqlite3.Connection, request: _Parsed, now: float
    ) -> Answer:
        """The route's answer inside the caller's transaction (an ``ApiError`` answers too, and
        the work done before it stays committed)."""
        sandbox = self.sandbox
        req = ApiRequest(
            conn,
            request.params,
            request.query,
            request.body,
            self._base_url(),
            sandbox.plan,
            now,
            request.scopes,
            sandbox.inbox,
            request.raw,
        )
        try:
            return route.handler(req)
        except ApiError as exc:
            return Answer(exc.status, exc.body())

    def _base_url(self) -> str:
        host = self.headers.get("Host") or self.sandbox.url.removeprefix("http://")
        return f"http://{host}"

    def _logged(
        self, route: Route | None, path: str, query: dict, raw: bytes, answer: Answer
    ) -> Answer:
        self.sandbox.record_request(
            {
                "method": self.command,
                "path": path,
                "endpoint": route.endpoint if route else None,
                "query": query,
                "status": answer.status,
                "at": time.time(),
            },
            raw,  # kept as received: the log decodes it when read
        )
        return answer

    def _send(self, answer: Answer) -> None:
        data = answer.raw if answer.raw is not None else b""
        if answer.raw is None and answer.body is not None:
            data = json.dumps(answer.body).encode()
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("sandbox: the client left before the answer (timeout)")


def _parse_body(route: Route, raw: bytes) -> Any:
    if route.endpoint == UPSERT_ENDPOINT and len(raw) > MAX_UPSERT_BYTES:
        raise ApiError(413, f"the request body is larger than {MAX_UPSERT_BYTES} bytes")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the request body is not valid JSON") from exc
