"""Rate limits, fault knobs (Python and HTTP admin), the request log, and persistence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sendgrid

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import (
    FULL_SCOPES,
    SandboxConfig,
    SandboxRemote,
    SandboxServer,
)
from workbench.errors import ConfigError, InvalidRequest, NotFoundError


def test_every_answer_carries_rate_limit_headers(sandbox: SandboxServer, sendgrid_client) -> None:
    stranger = sendgrid.SendGridAPIClient("SG.unknown", host=sandbox.url)
    for client, expected in ((sendgrid_client, 200), (stranger, 401)):
        status, _, headers = call(client, "GET", "/v3/marketing/lists")
        assert status == expected
        assert int(headers["X-RateLimit-Limit"]) == 1000
        assert int(headers["X-RateLimit-Reset"]) >= int(time.time())


def test_past_the_limit_comes_429_until_the_reset(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.set_faults(rate_limits={"GET /v3/marketing/lists": 2})
    while time.time() % 1 > 0.6:  # start early in a one-second window
        time.sleep(0.02)
    remaining = [
        call(sendgrid_client, "GET", "/v3/marketing/lists")[2]["X-RateLimit-Remaining"]
        for _ in range(2)
    ]
    assert remaining == ["1", "0"]
    status, body, headers = call(sendgrid_client, "GET", "/v3/marketing/lists")
    assert status == 429
    assert body == {"errors": [{"field": None, "message": "too many requests"}]}
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 200  # limits are per endpoint
    time.sleep(max(0.0, int(headers["X-RateLimit-Reset"]) - time.time()) + 0.01)
    assert call(sendgrid_client, "GET", "/v3/marketing/lists")[0] == 200


def test_error_rate_is_deterministic_with_the_seed(sandbox_config: SandboxConfig) -> None:
    def statuses() -> list[int]:
        sandbox_config.error_rate = 0.5
        with SandboxServer(sandbox_config) as server:
            sg = sendgrid.SendGridAPIClient(next(iter(sandbox_config.api_keys)), host=server.url)
            return [call(sg, "GET", "/v3/scopes")[0] for _ in range(12)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_job_error_rate_is_deterministic_with_the_seed(sandbox_config: SandboxConfig) -> None:
    def job_statuses() -> list[str]:
        sandbox_config.job_error_rate = 0.5
        with SandboxServer(sandbox_config) as server:
            sg = sendgrid.SendGridAPIClient(next(iter(sandbox_config.api_keys)), host=server.url)
            found = []
            for i in range(10):
                body = {"contacts": [{"email": f"u{i}@example.com"}]}
                job = call(sg, "PUT", "/v3/marketing/contacts", body)[1]["job_id"]
                found.append(call(sg, "GET", f"/v3/marketing/contacts/imports/{job}")[1]["status"])
            return found

    first = job_statuses()
    assert set(first) == {"completed", "failed"}
    sandbox_config.state_path = sandbox_config.state_path.with_name("second.sqlite")
    assert job_statuses() == first


def test_fault_knobs_flip_while_running(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.set_faults(fail_next_requests=1, error_status=503)
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 503
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 200
    sandbox.admin.set_faults(latency_s=0.15)
    started = time.monotonic()
    call(sendgrid_client, "GET", "/v3/scopes")
    assert time.monotonic() - started >= 0.15
    with pytest.raises(ConfigError, match="error_rate"):
        sandbox.admin.set_faults(error_rate=2)
    with pytest.raises(ConfigError, match="unknown"):
        sandbox.admin.set_faults(eror_rate=0.1)


def test_a_held_request_times_the_client_out(sandbox: SandboxServer, sg_key: str) -> None:
    sandbox.admin.set_faults(timeout_next_requests=1, timeout_hold_s=1.0)
    impatient = sendgrid.SendGridAPIClient(sg_key, host=sandbox.url)
    impatient.client.timeout = 0.2
    with pytest.raises(TimeoutError):
        impatient.client.scopes.get()
    assert impatient.client.scopes.get().status_code == 200


@pytest.mark.parametrize("applies", [True, False])
def test_a_timed_out_write_lands_or_not_as_configured(
    sandbox: SandboxServer, sg_key: str, applies: bool
) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.set_faults(timeout_next_requests=1, timeout_hold_s=0.4, timeout_applies=applies)
    impatient = sendgrid.SendGridAPIClient(sg_key, host=sandbox.url)
    impatient.client.timeout = 0.1
    body = {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]}
    with pytest.raises(TimeoutError):
        impatient.client.marketing.contacts.put(request_body=body)
    time.sleep(0.5)
    expected = {"a@example.com"} if applies else set()
    assert sandbox.admin.list_members(lid) == expected
    assert sandbox.admin.request_log()[-1]["status"] == (202 if applies else 504)


def test_the_request_log_shows_each_call_without_the_key(
    sandbox: SandboxServer, sendgrid_client, sg_key: str
) -> None:
    lid = sandbox.admin.create_list("seg")
    call(
        sendgrid_client,
        "PUT",
        "/v3/marketing/contacts",
        {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]},
    )
    call(sendgrid_client, "GET", "/v3/marketing/lists", query={"page_size": 5})
    log = sandbox.admin.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("PUT", "/v3/marketing/contacts", 202),
        ("GET", "/v3/marketing/lists", 200),
    ]
    assert log[0]["body"]["list_ids"] == [lid] and log[1]["query"] == {"page_size": ["5"]}
    assert sg_key not in json.dumps(log)


def test_the_http_admin_surface_seeds_flips_and_inspects(
    sandbox: SandboxServer, sendgrid_client, sg_key: str
) -> None:
    remote = SandboxRemote(sandbox.url)
    assert remote.healthy()
    lid = remote.create_list("seg")
    ids = remote.add_contacts([{"email": "a@example.com"}], list_ids=[lid])
    assert remote.list_members(lid) == {"a@example.com"}
    assert remote.find_list("seg")["id"] == lid and remote.find_list("nope") is None
    assert [c["id"] for c in remote.contacts()] == ids
    assert remote.set_faults(fail_next_requests=1)["fail_next_requests"] == 1
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 500
    assert [e["status"] for e in remote.request_log()] == [500]
    with pytest.raises(InvalidRequest, match="unknown sandbox knob"):
        remote.set_faults(eror_rate=1)
    with pytest.raises(NotFoundError):
        remote.list_members("no-such-list")
    remote.revoke_key(sg_key)
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 401


def test_admin_answers_carry_no_rate_limit_but_unknown_api_paths_do(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    status, body, headers = call(sendgrid_client, "GET", "/v3/marketing/segments")
    assert status == 404 and body["errors"][0]["message"] and "X-RateLimit-Limit" in headers
    assert call(sendgrid_client, "POST", "/v3/scopes", {})[0] == 405
    assert sandbox.admin.request_log()[-1]["endpoint"] is None


def test_state_survives_a_restart_with_the_same_file(tmp_path: Path, sg_key: str) -> None:
    config = SandboxConfig(
        state_path=tmp_path / "state.sqlite", api_keys={sg_key: list(FULL_SCOPES)}
    )
    with SandboxServer(config) as first:
        sg = sendgrid.SendGridAPIClient(sg_key, host=first.url)
        lid = call(sg, "POST", "/v3/marketing/lists", {"name": "kept"})[1]["id"]
        call(
            sg,
            "PUT",
            "/v3/marketing/contacts",
            {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]},
        )
        first.admin.add_key("SG.gone", list(FULL_SCOPES))
        first.admin.revoke_key("SG.gone")
    with SandboxServer(config) as second:
        sg = sendgrid.SendGridAPIClient(sg_key, host=second.url)
        assert second.admin.list_members(lid) == {"a@example.com"}
        assert call(sg, "GET", f"/v3/marketing/lists/{lid}")[1]["name"] == "kept"
        gone = sendgrid.SendGridAPIClient("SG.gone", host=second.url)
        assert call(gone, "GET", "/v3/scopes")[0] == 401
    assert sg_key.encode() not in (tmp_path / "state.sqlite").read_bytes()
