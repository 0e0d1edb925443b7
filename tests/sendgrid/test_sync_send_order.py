# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""The order a run sends its requests in: SendGrid runs a list's jobs one after the other, so a
lone upsert goes after the removals (queued first, it would hold every removal job and its
poll back for its whole run)."""

from __future__ import annotations

from tests.sendgrid.sync_support import World, world  # noqa: F401

UPSERT = "PUT /v3/marketing/contacts"
REMOVAL = "DELETE /v3/marketing/lists/{id}/contacts"


def _writes(world: World) -> list[str]:
    log = world.sandbox.request_log()
    return [str(e["endpoint"]) for e in log if e["endpoint"] in (UPSERT, REMOVAL)]


def test_a_lone_upsert_is_sent_after_every_removal(world: World) -> None:
    world.run()
    world.set_segment(set(range(121, 181)))
    world.sandbox.clear_request_log()
    record = world.run(approve=True)
    assert record.status == "succeeded", record.message
    writes = _writes(world)
    assert writes.count(UPSERT) == 1 and writes.count(REMOVAL) >= 1
    assert writes[-1] == UPSERT
    assert world.on_list() == world.expected(set(range(121, 181))) == world.snapshot()
