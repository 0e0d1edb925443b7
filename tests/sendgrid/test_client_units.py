"""The SendGrid client's pure parts: batching, error mapping, pacing, redaction, parsing."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import random
import urllib.error
from pathlib import Path

import pytest
from python_http_client.exceptions import HTTPError as SendGridHTTPError

from workbench.config import Settings
from workbench.destinations.sendgrid.batching import json_size, upsert_batches, upsert_body
from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.exports import parse_export
from workbench.destinations.sendgrid.failures import error_messages, map_failure
from workbench.destinations.sendgrid.lookup import lookup_emails
from workbench.destinations.sendgrid.models import Contact, parse_contact, parse_import_job
from workbench.destinations.sendgrid.pacing import EndpointPacer, RetryPolicy
from workbench.destinations.sendgrid.redaction import install_log_redaction, mask_secret
from workbench.errors import (
    AuthError,
    InvalidRequest,
    PermissionError_,
    RateLimited,
    RemoteNotFound,
    Unavailable,
)
from workbench.secrets import Secret

KEY = "SG.unit-test-secret-key.fake-abcdefghij"
LIST_ID = "0f6c1b7e-1111-2222-3333-444455556666"


def _entries(count: int, seed: int = 3) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {"email": f"user{i}.{rng.randrange(10**6)}@example.com", "external_id": f"ext-{i}"}
        for i in range(count)
    ]


def test_upsert_batches_respect_the_contact_count() -> None:
    batches = list(upsert_batches(LIST_ID, _entries(25), max_contacts=10))
    assert [len(b) for b in batches] == [10, 10, 5]


def test_upsert_batches_respect_the_byte_limit_exactly() -> None:
    entries = _entries(200)
    limit = 2_000
    batches = list(upsert_batches(LIST_ID, entries, max_bytes=limit))
    assert len(batches) > 1
    assert all(json_size(upsert_body(LIST_ID, b)) <= limit for b in batches)
    assert [e for b in batches for e in b] == entries  # nothing lost, order kept
    # each batch is as full as allowed: adding the next entry would go over the limit
    for batch, following in itertools.pairwise(batches):
        assert json_size(upsert_body(LIST_ID, [*batch, following[0]])) > limit


def test_a_contact_too_large_for_any_request_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="cannot be sent"):
        list(upsert_batches(LIST_ID, [{"email": "a" * 500 + "@example.com"}], max_bytes=100))


def test_upsert_entry_holds_primary_email_and_identifiers_only() -> None:
    contact = parse_contact(
        {
            "id": "c1",
            "email": "Primary@Example.com",
            "alternate_emails": ["alt@example.com"],
            "first_name": "Ann",
            "external_id": "e-1",
            "phone_number_id": "",
            "list_ids": ["l1"],
        }
    )
    assert contact.upsert_entry() == {"email": "primary@example.com", "external_id": "e-1"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"errors": [{"field": "emails", "message": "bad address"}]}', ["emails: bad address"]),
        (b'{"errors": {"message": "single object"}}', ["single object"]),
        (b'[{"message": "bare array"}]', ["bare array"]),
        (b'{"message": "top-level message"}', ["top-level message"]),
        (b"<html>gateway</html>", ["<html>gateway</html>"]),
        (b"", []),
        (b'{"errors": [null, 5]}', ["5"]),
    ],
)
def test_error_messages_are_parsed_from_any_shape(body: bytes, expected: list[str]) -> None:
    assert error_messages(body) == expected


def _http_error(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Exception:
    return SendGridHTTPError(status, "reason", body, headers or {})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthError),
        (403, PermissionError_),
        (404, RemoteNotFound),
        (400, InvalidRequest),
        (413, InvalidRequest),
        (429, RateLimited),
        (408, Unavailable),
        (500, Unavailable),
        (503, Unavailable),
        (451, PermissionError_),
        (405, InvalidRequest),
    ],
)
def test_statuses_map_to_the_error_tree(status: int, kind: type[Exception]) -> None:
    error = map_failure(_http_error(status), what="x", secret=KEY, clock=lambda: 0.0)
    assert type(error) is kind
    assert error.transient == (status in (408, 429, 500, 503))


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError("timed out"),
        ConnectionRefusedError(111, "refused"),
        urllib.error.URLError("no route"),
        __import__("http.client").client.RemoteDisconnected("closed"),
    ],
)
def test_network_failures_are_unavailable(exc: Exception) -> None:
    error = map_failure(exc, what="the lists", secret=KEY, clock=lambda: 0.0)
    assert isinstance(error, Unavailable) and error.transient


def test_messages_never_carry_the_key() -> None:
    body = json.dumps({"errors": [{"message": f"key {KEY} is bad"}]}).encode()
    for status in (400, 401, 403, 404, 500):
        text = str(map_failure(_http_error(status, body), what="x", secret=KEY, clock=time0))
        assert KEY not in text
    assert KEY not in str(map_failure(OSError(f"Bearer {KEY}"), what="x", secret=KEY, clock=time0))


def time0() -> float:
    return 1_000_000_000.0


def test_rate_limit_reset_is_read_from_headers() -> None:
    error = map_failure(
        _http_error(429, b"", {"X-RateLimit-Reset": "1700000042"}),
        what="x",
        secret=KEY,
        clock=time0,
    )
    assert isinstance(error, RateLimited) and error.reset_at == 1_700_000_042
    relative = map_failure(
        _http_error(429, b"", {"x-ratelimit-reset": "3"}), what="x", secret=KEY, clock=time0
    )
    assert isinstance(relative, RateLimited) and relative.reset_at == time0() + 3


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(backoff=1.0, backoff_cap=5.0)
    assert [policy.backoff_delay(a, jitter=1.0) for a in range(5)] == [1, 2, 4, 5, 5]
    assert policy.backoff_delay(1, jitter=0.0) == 1.0  # jitter scales to 50..100 %


def test_pacer_blocks_an_endpoint_until_reset_when_none_remain() -> None:
    now = [1_700_000_100.0]
    pacer = EndpointPacer(lambda: now[0], max_wait=60)
    pacer.observe("GET /a", {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "2000000000"})
    assert pacer.wait_time("GET /a") == 0
    pacer.observe("GET /a", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000102.5"})
    assert pacer.wait_time("GET /a") == pytest.approx(2.5)
    assert pacer.wait_time("GET /b") == 0  # other endpoints are not slowed down
    now[0] = 1_700_000_103.0
    assert pacer.wait_time("GET /a") == 0


def test_pacer_counts_calls_in_flight_against_the_remaining_budget() -> None:
    now = [1_700_000_100.2]
    pacer = EndpointPacer(lambda: now[0], max_wait=60)
    pacer.observe("PUT /c", {"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "1700000101"})
    assert pacer.reserve("PUT /c") == 0 and pacer.reserve("PUT /c") == 0  # two may go at once
    assert pacer.reserve("PUT /c") == pytest.approx(0.8)  # a third waits for the next window
    pacer.release("PUT /c")
    pacer.release("PUT /c")
    pacer.release("PUT /c")
    assert pacer.reserve("PUT /c") == 0  # answers are in: the budget is free again
    now[0] = 1_700_000_101.0
    assert pacer.reserve("PUT /c") == 0 and pacer.reserve("PUT /c") == 0  # a new window


def test_mask_secret_shows_only_the_ends() -> None:
    assert mask_secret("SG.abcdefghijklmnopxyz9") == "SG.ab…xyz9"
    assert "cdefghijklmnop" not in mask_secret("SG.abcdefghijklmnopxyz9")
    assert mask_secret("SG.short") == "••••"


def test_debug_logs_of_the_http_library_never_show_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    logger = logging.getLogger("python_http_client.client")
    with caplog.at_level(logging.DEBUG, logger="python_http_client.client"):
        logger.debug("HEADERS: {headers}".format(headers={"Authorization": f"Bearer {KEY}"}))
    assert caplog.records and KEY not in caplog.text


def test_exports_parse_gzipped_csv_with_upper_case_headers() -> None:
    csv_text = (
        "EMAIL,ALTERNATE_EMAILS,EXTERNAL_ID,CONTACT_ID,LIST_IDS\n"
        'A@Example.com,"b@example.com,c@example.com",e1,id-1,"l1,l2"\n'
    )
    (contact,) = parse_export(gzip.compress(csv_text.encode()), "csv")
    assert contact == Contact(
        id="id-1",
        email="a@example.com",
        alternate_emails=("b@example.com", "c@example.com"),
        external_id="e1",
        list_ids=("l1", "l2"),
    )


def test_exports_parse_json_lines() -> None:
    lines = '{"contact_id": "id-2", "email": "x@example.com", "list_ids": ["l1"]}\n\n'
    (contact,) = parse_export(lines.encode(), "json")
    assert (contact.id, contact.email, contact.list_ids) == ("id-2", "x@example.com", ("l1",))


def test_a_client_takes_host_and_timeout_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, sendgrid_host="http://127.0.0.1:9", sendgrid_timeout_s=3)
    client = SendGridClient.from_settings(settings, Secret(KEY))
    assert "http://127.0.0.1:9" in repr(client) and KEY not in repr(client)
    assert client._transport.timeout_s == 3


def test_an_empty_key_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="no SendGrid API key"):
        SendGridClient("  ", "http://127.0.0.1:9")


def test_bisection_isolates_every_invalid_address_in_few_calls() -> None:
    bad = {"b7@x_y.com", "b55@x_y.com"}
    emails = sorted({f"u{i}@example.com" for i in range(98)} | bad)
    calls: list[list[str]] = []

    def search(batch: list[str]) -> dict[str, object]:
        """Behaves like SendGrid: 400 if any address is invalid, else u1x are found."""
        calls.append(batch)
        if bad & set(batch):
            raise InvalidRequest("invalid email")
        found = {e: {"contact": {"id": e, "email": e}} for e in batch if e.startswith("u1")}
        if not found:
            raise RemoteNotFound("none")
        return {"result": found}

    result = lookup_emails(emails, search)
    assert result.invalid == bad
    assert set(result.found) == {e for e in emails if e.startswith("u1")}
    assert result.not_found == set(emails) - bad - set(result.found)
    assert len(calls) <= 2 * 2 * 7 + 1  # about 2 log2(100) per bad address, not 100


def test_a_job_status_gives_the_jobs_run_time_when_sendgrid_says_both_times() -> None:
    done = {"status": "completed", "started_at": "2026-11-27T10:00:00Z"}
    done["finished_at"] = "2026-11-27T10:00:02.250Z"
    assert parse_import_job("j", done).run_s == pytest.approx(2.25)
    running = {"status": "pending", "started_at": "2026-11-27T10:00:00Z"}
    assert parse_import_job("j", running).run_s is None
    garbled = {**done, "finished_at": "soon"}
    assert parse_import_job("j", garbled).run_s is None
