"""When SendGrid says when its jobs finished, the schedule starts from there: the next job is
due from the last one's ``finished_at``, the jobs queued behind it share one margin over their
run times added up, a job's own run time starts when the job before it ended (SendGrid's
``started_at`` is when it was created), and each kind of job keeps its own pace."""

from __future__ import annotations

import pytest

from tests.sendgrid.helpers import SENDGRID_AHEAD, HandClock
from workbench.destinations.sendgrid.job_schedule import MARGIN, Schedule


def timed_first_job(clock: HandClock) -> Schedule:
    """Three upserts sent at 0, 0.1 and 0.2 s; the first, created at 0.05 s, ran 0.9 s and was
    seen done at 1.0 s (SendGrid says it finished at 0.95 s, our time)."""
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    schedule.kinds.update({0: "add", 1: "add", 2: "add"})
    first = schedule.plan([(0, 30_000, 0.0), (1, 30_000, 0.1), (2, 3_000, 0.2)])[0]
    assert first.due == pytest.approx(1.0)  # no pace yet: 30,000 rows at 30,000 rows/s
    clock.now = 1.0
    created, ended = 0.05 + SENDGRID_AHEAD, 0.95 + SENDGRID_AHEAD
    schedule.finished(first, 30_000, 0.0, run_s=0.9, finished_at=ended, started_at=created)
    return schedule


def test_queued_jobs_are_due_from_the_anchor_with_one_margin_over_their_run_times() -> None:
    clock = HandClock()
    schedule = timed_first_job(clock)
    assert schedule.anchored
    second, last = schedule.plan([(1, 30_000, 0.1), (2, 3_000, 0.2)])
    # the anchor is the finish mapped onto our clock by the answer's time: 1.0 (late side)
    assert second.due == pytest.approx(1.0 + MARGIN * 0.9)
    assert last.end == pytest.approx(1.0 + 0.9 + 0.09)  # SendGrid's pace: 30,000 rows in 0.9 s
    # a small last job behind a big one is due after both, with the margin over the two: a
    # 3,000-row job that really takes 0.3 s is not looked at too early
    assert last.due == pytest.approx(1.0 + MARGIN * (0.9 + 0.09))
    assert last.due > 1.0 + 0.9 + 0.3


def test_a_job_sent_after_the_queue_emptied_starts_when_it_was_sent() -> None:
    clock = HandClock()
    schedule = timed_first_job(clock)
    schedule.kinds[5] = "add"
    (late,) = schedule.plan([(5, 30_000, 4.0)])
    assert late.due == pytest.approx(4.0 + MARGIN * 0.9)


def test_each_kind_of_job_keeps_the_pace_sendgrid_timed_for_it() -> None:
    clock = HandClock()
    schedule = timed_first_job(clock)
    schedule.kinds[7] = "remove"
    (removal,) = schedule.plan([(7, 100, 1.1)])
    clock.now = 1.2
    created, ended = 1.13 + SENDGRID_AHEAD, 1.15 + SENDGRID_AHEAD
    schedule.finished(removal, 100, 1.1, run_s=0.02, finished_at=ended, started_at=created)
    schedule.kinds.update({8: "remove", 9: "add"})
    removal, upsert = schedule.plan([(8, 100, 1.3), (9, 30_000, 1.4)])
    assert removal.due == pytest.approx(1.3 + MARGIN * 0.02)  # 100 rows at 5,000 rows/s
    assert upsert.end - upsert.due + MARGIN * 0.9 == pytest.approx(0.9)  # still 0.9 s a job


def test_a_queued_jobs_own_run_starts_when_the_job_before_it_ended() -> None:
    clock = HandClock()
    schedule = timed_first_job(clock)
    second, _ = schedule.plan([(1, 30_000, 0.1), (2, 3_000, 0.2)])
    clock.now = 2.1  # created at 0.1 s but queued behind the first until 0.95 s: ran 1.05 s
    created, ended = 0.1 + SENDGRID_AHEAD, 2.0 + SENDGRID_AHEAD
    schedule.finished(second, 30_000, 1.0, run_s=1.9, finished_at=ended, started_at=created)
    schedule.kinds[3] = "add"
    (third,) = schedule.plan([(3, 30_000, 0.3)])
    # from its end (2.0 s, seen 0.05 s late as the first) at the slower of the two: 1.05 s
    assert third.due == pytest.approx(2.05 + MARGIN * 1.05)


def test_without_sendgrids_times_nothing_is_anchored() -> None:
    clock = HandClock()
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    (first,) = schedule.plan([(0, 100, 0.0)])
    clock.now = 0.2
    schedule.finished(first, 100, 0.0, run_s=0.1)
    assert not schedule.anchored


def test_a_job_status_gives_sendgrids_start_and_finish_as_unix_seconds() -> None:
    from workbench.destinations.sendgrid.models import parse_import_job

    done = {"status": "completed", "started_at": "2026-11-27T10:00:00Z"}
    job = parse_import_job("j", {**done, "finished_at": "2026-11-27T10:00:02.250Z"})
    assert job.finished_at is not None and job.started_at is not None
    assert job.finished_at - job.started_at == pytest.approx(2.25)
    assert job.started_at == pytest.approx(1_795_773_600.0)
    assert parse_import_job("j", {"status": "pending"}).started_at is None
    assert parse_import_job("j", {**done, "finished_at": "soon"}).finished_at is None


def test_a_kind_not_timed_yet_is_not_given_the_pace_of_another() -> None:
    clock = HandClock()
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    schedule.kinds.update({0: "remove", 1: "add"})
    (removal,) = schedule.plan([(0, 100, 0.0)])
    clock.now = 0.3  # a 100-id removal ran 0.05 s: 2,000 rows/s, far slower than an upsert
    created, ended = 0.2 + SENDGRID_AHEAD, 0.25 + SENDGRID_AHEAD
    schedule.finished(removal, 100, 0.0, run_s=0.05, finished_at=ended, started_at=created)
    (upsert,) = schedule.plan([(1, 9_000, 0.1)])
    assert upsert.end - 0.3 == pytest.approx(9_000 / 30_000)  # not 4.5 s at the removals' pace
