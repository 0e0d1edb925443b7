# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""When the sync polls its jobs: estimates chain from job to job at the pace progress shows, a
late poll does not push the later jobs back, and a real run polls each job about once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.sendgrid.helpers import HandClock
from tests.sendgrid.sync_support import FAST, World, world  # noqa: F401
from workbench.destinations.sendgrid.job_schedule import Schedule
from workbench.destinations.sendgrid.models import ImportJob

JOB_POLLS = "GET /v3/marketing/contacts/imports/{id}"


def paced(clock: HandClock) -> Schedule:
    """A schedule that saw a first job half done after 1 s: 50 rows/s."""
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    (first,) = schedule.plan([(0, 100, 0.0)])
    clock.now = 1.0
    half_done = ImportJob("j0", "pending", requested=100, updated=50)
    schedule.unfinished(first, half_done, start=0.0, rows=100)
    return schedule


def test_without_a_pace_only_the_oldest_job_gets_an_early_look() -> None:
    clock = HandClock()
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    first, second = schedule.plan([(0, 100, 0.0), (1, 100, 0.0)])
    assert first.due == pytest.approx(0.05) and second.due >= 30
    (big,) = schedule.plan([(2, 30_000, 0.0)])
    assert big.due == pytest.approx(1.0)  # a big job is first looked at later (30,000 rows/s)


def test_progress_sets_the_pace_and_the_next_look_comes_when_the_rest_is_done() -> None:
    clock = HandClock()
    schedule = paced(clock)
    assert schedule.rate == pytest.approx(50)
    (again,) = schedule.plan([(0, 100, 0.0)])
    assert again.due == pytest.approx(1.0 + 1.5 * 1.0)  # 50 rows left at 50 rows/s, + margin


def test_later_jobs_chain_from_estimated_ends_not_from_a_late_poll() -> None:
    clock = HandClock()
    schedule = paced(clock)
    head, second, third = schedule.plan([(0, 100, 0.0), (1, 100, 0.5), (2, 50, 0.6)])
    assert (second.due, third.due) == pytest.approx((2.0 + 3.0, 4.0 + 1.5))  # one after another
    clock.now = 9.0  # the head's poll came late: it finished long ago
    schedule.finished(head, rows=100, start=0.0, timed=False)  # settled behind a probe
    second_now, third_now = schedule.plan([(1, 100, 0.5), (2, 50, 0.6)])
    assert (second_now.due, third_now.due) == pytest.approx((second.due, third.due))
    assert third_now.due < clock.now  # both are due now: one probe settles both


def test_without_progress_the_pace_comes_from_how_long_the_first_job_took() -> None:
    clock = HandClock()
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    silent = ImportJob("j0", "pending", requested=0)  # SendGrid may show no counts until done
    looks = []
    while True:  # the first job takes 1.3 s: looked at early, then at doubling intervals
        (job,) = schedule.plan([(0, 1000, 0.0)])
        clock.now = job.due
        looks.append(job.due)
        if clock.now >= 1.3:
            schedule.finished(job, rows=1000, start=0.0)
            break
        schedule.unfinished(job, silent, start=0.0, rows=1000)
    assert len(looks) <= 7 and looks[-1] < 2 * 1.3  # bounded within a factor of 2
    second, third = schedule.plan([(1, 1000, 0.5), (2, 1000, 0.6)])
    took = looks[-1]  # the pace learnt: 1000 rows in that time
    assert second.due == pytest.approx(looks[-1] + 1.5 * took)
    assert third.due == pytest.approx(looks[-1] + took + 1.5 * took)
    clock.now = second.due
    schedule.unfinished(second, silent, start=looks[-1], rows=1000)  # slower than thought
    assert schedule.rate < 1000 / took


def test_a_job_looked_at_long_after_it_ended_takes_its_pace_from_sendgrids_times() -> None:
    clock = HandClock()
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    removal, upsert = schedule.plan([(0, 100, 0.0), (1, 9_000, 0.0)])
    clock.now = 0.6  # SendGrid says the 100-row removal ran 10 ms; we looked after 0.6 s
    schedule.finished(removal, rows=100, start=0.0, run_s=0.01)
    assert schedule.rate == pytest.approx(100 / 0.01)
    (upsert,) = schedule.plan([(1, 9_000, 0.0)])
    assert upsert.due < 2.0  # 9,000 rows at 10,000 rows/s, not at 100 rows per 0.6 s (54 s)
    unaware = Schedule(first_s=0.05, max_s=30, clock=clock)
    (removal,) = unaware.plan([(0, 100, 0.0)])
    unaware.finished(removal, rows=100, start=0.0)  # without SendGrid's times: a bound only
    assert unaware.rate == pytest.approx(100 / 0.6)
    close = Schedule(first_s=0.05, max_s=30, clock=clock)
    (job,) = close.plan([(0, 100, 0.0)])
    close.finished(job, rows=100, start=0.0, run_s=0.4)  # looked at within 2x of its end:
    assert close.rate == pytest.approx(100 / 0.6)  # the bound, on the safe side, is kept


def test_a_run_polls_each_job_about_once(world: World) -> None:
    options = replace(FAST, poll_s=2.0, client={**FAST.client, "upsert_max_contacts": 10})
    record = world.run(options=options)
    assert record.status == "succeeded", record.message
    jobs = sum(len(b["job_ids"]) for b in record.fields["jobs"])
    polls = record.fields["api_calls_by_endpoint"][JOB_POLLS]
    assert jobs >= 5 and jobs <= polls <= jobs + 3
