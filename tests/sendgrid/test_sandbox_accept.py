"""Accepting upserts: the column-wise check of ``{"email": ...}`` items gives the same answers as
the per-item check, and a job stored as the received body (its own keys appended) behaves as one
stored from the parsed payload, after a restart too."""

from __future__ import annotations

import json
import random
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import SandboxConfig, SandboxServer
from workbench.destinations.sendgrid.sandbox.api import is_valid_email
from workbench.destinations.sendgrid.sandbox.contacts_api import plain_upsert_items_valid
from workbench.destinations.sendgrid.sandbox.job_records import text_around_body

UPSERT = "/v3/marketing/contacts"
FULL = 30_000
NEEDS = "needs an email or an identifier (phone_number_id, external_id, anonymous_id)"


def plain(count: int, prefix: str = "p") -> list[dict[str, Any]]:
    """``count`` items of the shape a list sync sends: ``{"email": ...}`` only."""
    return [{"email": f"{prefix}{i:07d}@example.com"} for i in range(count)]


def with_item(index: int, item: object, count: int = FULL) -> list[object]:
    """``count`` plain items with ``item`` at ``index``."""
    items: list[object] = list(plain(count))
    items[index] = item
    return items


def put_raw(sandbox: SandboxServer, key: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """``PUT /v3/marketing/contacts`` with exactly ``data`` as the body; status and answer."""
    request = urllib.request.Request(
        sandbox.url + UPSERT,
        data=data,
        method="PUT",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("items", "field", "message"),
    [
        (
            with_item(FULL - 1, {"email": "not-an-address"}),
            "contacts[29999].email",
            "contacts[29999].email 'not-an-address' is not a valid email address",
        ),
        (
            [*with_item(5, {"email": "a@b"}, 10), 42],  # the first bad item is the one named
            "contacts[5].email",
            "contacts[5].email 'a@b' is not a valid email address",
        ),
        (with_item(3, {"first_name": "Ann"}), "contacts[3]", f"contacts[3] {NEEDS}"),
        (
            with_item(4, {"email": ""}),
            "contacts[4].email",
            "contacts[4].email '' is not a valid email address",
        ),
        (with_item(6, {"email": None}), "contacts[6]", f"contacts[6] {NEEDS}"),
        (
            with_item(7, {"email": 5}),
            "contacts[7].email",
            "contacts[7].email 5 is not a valid email address",
        ),
        (
            with_item(1, {"email": "a@example.com", "alternate_emails": ["nope"]}),
            "contacts[1].alternate_emails",
            "contacts[1].alternate_emails must hold at most 5 valid addresses",
        ),
        (with_item(2, "a@example.com"), "contacts[2]", "contacts[2] must be an object"),
        (with_item(0, ["a@example.com"], 3), "contacts[0]", "contacts[0] must be an object"),
        (
            with_item(9, {"email": "a\nb@example.com"}, 10),
            "contacts[9].email",
            "contacts[9].email 'a\\nb@example.com' is not a valid email address",
        ),
        (plain(FULL + 1), "contacts", "contacts must be an array of 1 to 30000 contacts"),
    ],
)
def test_bad_items_are_named_as_before(
    sendgrid_client, items: list[object], field: str, message: str
) -> None:
    status, answer, _ = call(sendgrid_client, "PUT", UPSERT, {"contacts": items})
    assert status == 400
    assert answer["errors"] == [{"field": field, "message": message}]


def test_an_unknown_list_is_404_and_an_oversized_body_413(sendgrid_client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    status, answer, _ = call(
        sendgrid_client, "PUT", UPSERT, {"list_ids": [missing], "contacts": plain(FULL)}
    )
    assert status == 404
    assert answer["errors"] == [{"field": "list_ids", "message": f"list(s) not found: {missing}"}]
    long_items = [{"email": f"{'x' * 200}{i}@example.com"} for i in range(FULL)]
    status, answer, _ = call(sendgrid_client, "PUT", UPSERT, {"contacts": long_items})
    assert status == 413 and "6291456 bytes" in answer["errors"][0]["message"]


def test_a_full_plain_upsert_takes_the_column_wise_check_and_lands(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    items = plain(FULL)
    assert plain_upsert_items_valid(items)  # what the sync sends is checked column-wise
    lid = sandbox.admin.create_list("seg")
    status, answer, _ = call(sendgrid_client, "PUT", UPSERT, {"list_ids": [lid], "contacts": items})
    assert status == 202
    sandbox.admin.flush()
    job = call(sendgrid_client, "GET", f"{UPSERT}/imports/{answer['job_id']}")[1]
    assert job["status"] == "completed" and job["results"]["created_count"] == FULL
    assert len(sandbox.admin.list_members(lid)) == FULL


def test_addresses_outside_the_column_wise_check_are_still_accepted(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    items = [{"email": " Padded@Example.com "}, {"email": "zoë@example.com"}, *plain(3)]
    assert not plain_upsert_items_valid(items)  # the per-item check decides these
    lid = sandbox.admin.create_list("seg")
    status, _, _ = call(sendgrid_client, "PUT", UPSERT, {"list_ids": [lid], "contacts": items})
    assert status == 202
    sandbox.admin.flush()
    assert {"padded@example.com", "zoë@example.com"} <= sandbox.admin.list_members(lid)


def test_the_column_wise_check_never_passes_an_address_the_per_item_check_refuses() -> None:
    rng = random.Random(11)
    common = "abcZ09.-_+!#'{~"
    tricky = '@ \t\n,;<>()[]"\\é\u00a0\u3000\x1c\x85\x7f'
    tails = ["", "@example.com", "@a.co", "@x-y.example.org", "@example.c", "@-.aa", "@b..cc"]
    seen = {True: 0, False: 0}
    for _ in range(2000):
        local = rng.choices([common, tricky], weights=[9, 1], k=rng.randint(0, 8))
        text = "".join(rng.choice(chars) for chars in local) + rng.choice(tails)
        fast = plain_upsert_items_valid([{"email": text}])
        assert not fast or is_valid_email(text), repr(text)
        if text.isascii() and text.isprintable() and " " not in text:  # plain: same answer
            assert fast == is_valid_email(text), repr(text)
        seen[fast] += 1
    assert seen[True] > 300 and seen[False] > 300  # both answers were exercised
    assert not plain_upsert_items_valid([{"email": "a" * 250 + "@example.com"}])


def test_a_job_stored_as_the_received_body_keeps_its_own_kind_and_lists(
    sandbox: SandboxServer, sg_key: str
) -> None:
    lid = sandbox.admin.create_list("seg")
    data = (
        b'\n {"kind": "delete_contacts", "contact_ids": ["x"], "note": "ignored",'
        b' "contacts": [{"email": "a@example.com"}], "list_ids": ["' + lid.encode() + b'"]} \r\n'
    )
    status, answer = put_raw(sandbox, sg_key, data)
    assert status == 202
    sandbox.admin.flush()
    assert sandbox.admin.list_members(lid) == {"a@example.com"}
    with sqlite3.connect(sandbox.config.state_path) as conn:
        row = conn.execute("SELECT job_type, size FROM jobs WHERE id = ?", (answer["job_id"],))
        assert row.fetchall() == [("upsert", 1)]


def test_jobs_waiting_in_the_inbox_as_received_bodies_finish_after_a_restart(
    sandbox_config: SandboxConfig, sg_key: str
) -> None:
    sandbox_config.job_delay_s = 3600.0  # nothing is due: the jobs wait where they were put
    with SandboxServer(sandbox_config) as sandbox:
        lid = sandbox.admin.create_list("seg")
        body = {"list_ids": [lid], "contacts": plain(500)}
        assert put_raw(sandbox, sg_key, json.dumps(body, separators=(",", ":")).encode())[0] == 202
        assert put_raw(sandbox, sg_key, json.dumps({"contacts": plain(3, "q")}).encode())[0] == 202
    with sqlite3.connect(sandbox_config.state_path) as conn:  # stop() took the inbox in
        rows = conn.execute("SELECT payload FROM jobs WHERE status = 'pending' ORDER BY rowid")
        stored = [json.loads(row[0]) for row in rows.fetchall()]
    assert [(s["kind"], s["list_ids"], len(s["contacts"])) for s in stored] == [
        ("upsert", [lid], 500),
        ("upsert", [], 3),
    ]
    with SandboxServer(sandbox_config) as sandbox:
        sandbox.admin.flush()
        assert len(sandbox.admin.list_members(lid)) == 500
        assert len(sandbox.admin.contacts()) == 503


@pytest.mark.parametrize(
    "raw",
    [
        '{"contacts": []}',
        '  {"list_ids": ["L"], "kind": "remove", "contacts": [{"email": "é@x.io"}]}\n',
        '{\n"contacts": [1]\n}',
    ],
)
def test_the_stored_text_decodes_to_the_body_with_the_jobs_own_keys_last(raw: str) -> None:
    text = text_around_body(raw.encode(), "upsert", {"list_ids": ["A", "B"]})
    assert text is not None
    assert json.loads(text) == {**json.loads(raw), "kind": "upsert", "list_ids": ["A", "B"]}


def test_bodies_that_are_not_plain_utf8_json_text_are_encoded_as_before() -> None:
    body = {"contacts": [{"email": "a@example.com"}]}
    assert text_around_body(json.dumps(body).encode("utf-16"), "upsert", {}) is None
    assert text_around_body(b"\xef\xbb\xbf" + json.dumps(body).encode(), "upsert", {}) is None
    assert text_around_body(b'{"contacts": "\xed\xa0\x80"}', "upsert", {}) is None
    assert json.loads(text_around_body(b"{}", "upsert", {}) or "") == {"kind": "upsert"}
