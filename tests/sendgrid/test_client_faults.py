"""The SendGrid client under failure, over real HTTP: retries, timeouts, pacing and 429 storms,
auth and permission errors in plain words, and the API key kept out of every text."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.errors import (
    AuthError,
    DestinationError,
    InvalidRequest,
    PermissionError_,
    RemoteNotFound,
    Unavailable,
)

KEY = "SG.faults-test-key-AbCdEfGhIjKlMnOpQrStUv.fake0123456789"
SEARCH = "POST /v3/marketing/contacts/search/emails"


@pytest.fixture
def sg_key() -> str:
    """A key of SendGrid's real length, so a leak of any long part of it would be visible."""
    return KEY


class Sleeps(list[float]):
    """An injected ``sleep`` that records every wait; it really sleeps only if ``real``."""

    def __init__(self, real: bool = False) -> None:
        super().__init__()
        self.real = real
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.append(seconds)
        if self.real:
            time.sleep(seconds)


def _client(url: str, sleeps: Sleeps, **options: object) -> SendGridClient:
    settings: dict[str, object] = {"timeout_s": 5, "backoff": 0.01, "backoff_cap": 0.05}
    settings.update(options)
    return SendGridClient(KEY, url, sleep=sleeps, jitter=lambda: 1.0, **settings)  # type: ignore[arg-type]


def _statuses(sandbox: SandboxServer, endpoint: str) -> list[int]:
    return [r["status"] for r in sandbox.admin.request_log() if r["endpoint"] == endpoint]


def test_server_errors_are_retried_with_growing_backoff(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(fail_next_requests=2)
    sleeps = Sleeps()
    client = _client(sandbox.url, sleeps)
    assert client.lists() == []
    assert sleeps == [0.01, 0.02]  # 2^attempt * backoff, jitter pinned at 100 %
    assert _statuses(sandbox, "GET /v3/marketing/lists") == [500, 500, 200]
    assert client.stats.snapshot()["retries"] == {"GET /v3/marketing/lists": 2}


def test_persistent_server_errors_end_in_unavailable(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(fail_next_requests=10)
    client = _client(sandbox.url, Sleeps(), max_retries=2)
    with pytest.raises(Unavailable, match="500") as caught:
        client.lists()
    assert caught.value.transient
    assert client.calls == {"GET /v3/marketing/lists": 3}


def test_timeouts_are_retried_then_succeed(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(timeout_next_requests=1, timeout_hold_s=0.6)
    client = _client(sandbox.url, Sleeps(), timeout_s=0.2)
    assert "marketing.read" in client.scopes()
    assert client.stats.snapshot()["transient_errors"] == {"Unavailable": 1}


def test_timeouts_end_in_unavailable_after_max_retries(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(timeout_next_requests=5, timeout_hold_s=0.6)
    client = _client(sandbox.url, Sleeps(), timeout_s=0.2, max_retries=1)
    with pytest.raises(Unavailable, match="did not answer"):
        client.scopes()
    assert client.stats.total_calls == 2


def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(Unavailable):
        _client(f"http://127.0.0.1:{port}", sleeps, max_retries=2).lists()
    assert len(sleeps) == 2


def test_calls_are_paced_from_the_rate_limit_headers(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(rate_limits={"GET /v3/marketing/lists/{id}": 3})
    list_id = sandbox.admin.create_list("paced")
    sleeps = Sleeps(real=True)
    client = _client(sandbox.url, sleeps)
    for _ in range(5):
        assert client.get_list(list_id).id == list_id
    assert 429 not in _statuses(sandbox, "GET /v3/marketing/lists/{id}")  # waited, not refused
    assert sleeps and all(0 < s <= 1.0 for s in sleeps)  # until the window resets


def test_a_429_storm_from_threads_is_waited_out(sandbox: SandboxServer) -> None:
    sandbox.admin.add_contacts([{"email": f"storm{i}@example.com"} for i in range(8)])
    sandbox.admin.set_faults(rate_limits={SEARCH: 3})
    sleeps = Sleeps(real=True)
    client = _client(sandbox.url, sleeps)
    results: dict[int, set[str]] = {}

    def look_up(i: int) -> None:
        results[i] = set(client.search_emails([f"storm{i}@example.com"]).found)

    threads = [threading.Thread(target=look_up, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {i: {f"storm{i}@example.com"} for i in range(8)}
    assert sleeps and max(sleeps) <= 1.0  # waits until reset, not blind long backoffs
    statuses = _statuses(sandbox, SEARCH)
    assert statuses.count(200) == 8
    assert 429 in statuses  # 8 requests sent at once into windows of 3: a real storm
    assert client.stats.snapshot()["retries"].get(SEARCH, 0) == statuses.count(429)


def test_a_revoked_key_is_an_auth_error_in_plain_words(sandbox: SandboxServer) -> None:
    sandbox.admin.revoke_key(KEY)
    client = _client(sandbox.url, Sleeps())
    with pytest.raises(AuthError) as caught:
        client.lists()
    assert str(caught.value) == "the SendGrid API key was rejected (401): check or replace the key"
    assert client.stats.total_calls == 1  # never retried
    check = client.check_connection()
    assert not check.ok and "rejected" in check.message


def test_a_missing_permission_is_a_permission_error(sandbox: SandboxServer) -> None:
    reader = "SG.reader-only-key-0123456789.fake-abcdefghij"
    sandbox.admin.add_key(reader, ["marketing.read"])
    client = SendGridClient(reader, sandbox.url, backoff=0.001)
    with pytest.raises(PermissionError_, match="Marketing full access") as caught:
        client.create_list("not allowed")
    assert "legacy Marketing Campaigns" in str(caught.value)
    assert client.stats.total_calls == 1


def test_the_key_never_appears_in_errors_reprs_or_logs(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(sandbox.url, Sleeps(), max_retries=0, timeout_s=0.2)
    assert "SG.fa" in repr(client) and KEY not in repr(client)
    failures: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        for knobs in ({"fail_next_requests": 1}, {"timeout_next_requests": 1}):
            sandbox.admin.set_faults(timeout_hold_s=0.5, **knobs)
            failures.append(_raised(client.lists))
        failures.append(_raised(lambda: client.get_list("no-such-list")))
        failures.append(_raised(lambda: client.create_list("x" * 101)))
        sandbox.admin.revoke_key(KEY)
        failures.append(_raised(client.scopes))
    kinds = [type(f) for f in failures]
    assert kinds[0] is Unavailable and kinds[2] is RemoteNotFound and kinds[-1] is AuthError
    for failure in failures:
        text = "".join(traceback.format_exception(failure)) + repr(failure.args)
        assert KEY not in text and KEY[5:-4] not in text
    assert "Bearer" in caplog.text  # the library's debug headers were logged ...
    assert KEY not in caplog.text  # ... with the key masked


def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except DestinationError as exc:
        return exc
    raise AssertionError("expected a DestinationError")


class _Recorder(BaseHTTPRequestHandler):
    """A loopback stand-in for SendGrid plus a file host: records every request's headers."""

    seen: list[tuple[str, str, dict[str, str]]]
    answers: dict[tuple[str, str], tuple[int, bytes]]

    def _serve(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        self.seen.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}))
        status, body = self.answers.get((self.command, path), (404, b'{"errors": []}'))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def recorder() -> Iterator[tuple[str, type[_Recorder]]]:
    """A recording HTTP server on loopback; yields its URL and its handler class."""
    handler = type("Recorder", (_Recorder,), {"seen": [], "answers": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_headers_of_one_call_never_leak_into_the_next(
    recorder: tuple[str, type[_Recorder]],
) -> None:
    url, handler = recorder
    handler.answers[("GET", "/v3/scopes")] = (200, b'{"scopes": ["marketing.read"]}')
    client = _client(url, Sleeps())
    client.search_emails(["a@example.com"])  # a POST with a JSON body: sets Content-Type
    client.scopes()
    (post, get) = handler.seen
    assert post[2]["content-type"] == "application/json"
    assert "content-type" not in get[2]
    assert get[2]["authorization"] == f"Bearer {KEY}"


def test_export_files_are_downloaded_without_the_key(
    recorder: tuple[str, type[_Recorder]],
) -> None:
    url, handler = recorder
    csv_file = gzip.compress(b"EMAIL,CONTACT_ID\nx@example.com,c-1\n")
    status = {"id": "e-1", "status": "ready", "urls": [f"{url}/files/e-1.csv.gz?sig=abc"]}
    handler.answers.update(
        {
            ("POST", "/v3/marketing/contacts/exports"): (202, b'{"id": "e-1"}'),
            ("GET", "/v3/marketing/contacts/exports/e-1"): (200, json.dumps(status).encode()),
            ("GET", "/files/e-1.csv.gz"): (200, csv_file),
        }
    )
    contacts = _client(url, Sleeps()).export_contacts(poll_s=0)
    assert [(c.id, c.email) for c in contacts] == [("c-1", "x@example.com")]
    download = next(h for method, path, h in handler.seen if path == "/files/e-1.csv.gz")
    assert "authorization" not in download


def test_one_client_serves_many_threads(sandbox: SandboxServer) -> None:
    sandbox.admin.add_contacts([{"email": f"t{i}@example.com"} for i in range(16)])
    client = _client(sandbox.url, Sleeps())
    found: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            emails = [f"t{i}@example.com", f"t{(i + 1) % 16}@example.com"]
            found[i] = sorted(client.search_emails(emails).found)
            client.lists()
        except BaseException as exc:  # collected, re-checked below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert found == {
        i: sorted([f"t{i}@example.com", f"t{(i + 1) % 16}@example.com"]) for i in range(16)
    }


def test_a_list_created_during_a_timeout_is_not_created_twice(sandbox: SandboxServer) -> None:
    sandbox.admin.set_faults(timeout_next_requests=1, timeout_hold_s=0.3)
    sleeps = Sleeps(real=True)
    client = _client(sandbox.url, sleeps, timeout_s=0.15, backoff=0.5, backoff_cap=0.5)
    created = client.create_list("made while timing out")
    assert created.name == "made while timing out"
    assert _statuses(sandbox, "POST /v3/marketing/lists") == [201]  # sent once, found after
    assert [sg_list.name for sg_list in client.lists()] == ["made while timing out"]


def test_a_403_on_the_key_check_mentions_legacy_marketing_campaigns(
    recorder: tuple[str, type[_Recorder]],
) -> None:
    url, handler = recorder
    handler.answers[("GET", "/v3/scopes")] = (403, b'{"errors": [{"message": "access forbidden"}]}')
    check = _client(url, Sleeps()).check_connection()
    assert not check.ok and "legacy Marketing Campaigns" in check.message


def test_sendgrids_own_words_reach_an_invalid_request_whatever_the_body_shape(
    recorder: tuple[str, type[_Recorder]],
) -> None:
    url, handler = recorder
    handler.answers[("POST", "/v3/marketing/contacts/batch")] = (
        400,
        b'{"errors": {"field": "ids", "message": "ids must be strings"}}',
    )
    with pytest.raises(InvalidRequest, match="ids: ids must be strings"):
        _client(url, Sleeps()).contacts_by_ids(["c-1"])
    assert len(handler.seen) == 1  # a 400 is never retried
