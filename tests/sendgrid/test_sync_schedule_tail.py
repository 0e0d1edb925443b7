"""The tail of a run, once everything is sent: the job before the last is looked at before the
last one (its look anchors the last job's estimate, and its batch is confirmed meanwhile), and
the last job keeps some slack after the job before it for its start."""

from __future__ import annotations

import pytest

from tests.sendgrid.helpers import SENDGRID_AHEAD, HandClock
from workbench.destinations.sendgrid.job_schedule import (
    LAST_MARGIN,
    MARGIN,
    START_SLACK,
    Schedule,
)


def anchored(clock: HandClock, all_sent: bool = True) -> Schedule:
    """Three upserts sent at 0, 0.1 and 0.2 s; the first ran 0.9 s and was seen done at 1.0 s
    (SendGrid says it finished at 0.95 s: the anchor is 1.0 s on our clock, the late side)."""
    schedule = Schedule(first_s=0.05, max_s=30, clock=clock)
    schedule.kinds.update({0: "add", 1: "add", 2: "add"})
    first = schedule.plan([(0, 30_000, 0.0), (1, 30_000, 0.1), (2, 3_000, 0.2)])[0]
    clock.now = 1.0
    created, ended = 0.05 + SENDGRID_AHEAD, 0.95 + SENDGRID_AHEAD
    schedule.finished(first, 30_000, 0.0, run_s=0.9, finished_at=ended, started_at=created)
    schedule.all_sent = all_sent
    return schedule


def test_once_all_is_sent_the_job_before_the_last_is_due_the_last_ones_run_earlier() -> None:
    schedule = anchored(HandClock())
    before, last = schedule.plan([(1, 30_000, 0.1), (2, 3_000, 0.2)])
    assert last.due == pytest.approx(1.0 + LAST_MARGIN * (0.9 + 0.09))
    assert before.due == pytest.approx(last.due - 0.09)  # not 1.0 + MARGIN * 0.9
    assert before.due < 1.0 + MARGIN * 0.9


def test_while_sending_the_job_before_the_last_keeps_its_own_margin() -> None:
    schedule = anchored(HandClock(), all_sent=False)
    before, _ = schedule.plan([(1, 30_000, 0.1), (2, 3_000, 0.2)])
    assert before.due == pytest.approx(1.0 + MARGIN * 0.9)


def test_a_big_last_job_leaves_the_one_before_it_its_earlier_own_due() -> None:
    schedule = anchored(HandClock())
    schedule.kinds[3] = "add"
    before, last = schedule.plan([(1, 30_000, 0.1), (3, 30_000, 0.2)])
    assert last.due == pytest.approx(1.0 + LAST_MARGIN * 1.8)
    assert before.due == pytest.approx(min(1.0 + MARGIN * 0.9, last.due - 0.9))


def test_the_last_job_keeps_some_slack_after_the_job_before_it() -> None:
    clock = HandClock()
    schedule = anchored(clock)
    before, _ = schedule.plan([(1, 30_000, 0.1), (2, 3_000, 0.2)])
    clock.now = before.due  # seen done: SendGrid says it ended at 1.85 s (it ran 0.9 s)
    created, ended = 0.1 + SENDGRID_AHEAD, 1.85 + SENDGRID_AHEAD
    schedule.finished(before, 30_000, 1.0, finished_at=ended, started_at=created)
    (last,) = schedule.plan([(2, 3_000, 0.2)])
    anchor = 1.85 + 0.05  # mapped onto our clock as the first finish was
    assert last.due == pytest.approx(anchor + START_SLACK * 0.9 + LAST_MARGIN * 0.09)
    # a small last job starts some time after the one before it ended (the sandbox took
    # 0.15-0.19 s for 3,302 rows it ran at 0.1 s): it is not looked at too early
    assert last.due > anchor + 0.09 + 0.08


def test_without_a_job_before_it_the_last_job_has_no_slack_to_keep() -> None:
    clock = HandClock()
    schedule = anchored(clock)
    schedule.kinds[5] = "add"
    (late,) = schedule.plan([(5, 30_000, 4.0)])  # sent after the queue emptied
    assert late.due == pytest.approx(4.0 + LAST_MARGIN * 0.9)


def test_a_small_jobs_pace_does_not_slow_the_estimate_of_a_big_one() -> None:
    clock = HandClock()
    schedule = anchored(clock, all_sent=False)
    small, _ = schedule.plan([(2, 3_000, 0.2), (1, 30_000, 0.1)])
    clock.now = 1.2  # 3,000 rows in 0.15 s: 20,000 rows/s, its start included
    created, ended = 0.2 + SENDGRID_AHEAD, 1.1 + SENDGRID_AHEAD
    schedule.finished(small, 3_000, 1.0, finished_at=ended, started_at=created)
    schedule.kinds[4] = "add"
    big, small_again = schedule.plan([(1, 30_000, 0.1), (4, 3_000, 0.3)])
    assert big.end - 1.15 == pytest.approx(0.9)  # 30,000 rows at the 30,000-row job's pace
    assert small_again.end - big.end == pytest.approx(0.15)  # a small one at the small pace
