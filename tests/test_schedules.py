"""Schedules: text and dict forms, plain-English descriptions, due times in UTC, back-off."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from workbench.errors import ConfigError
from workbench.schedule_timing import backoff_delay, is_due, next_attempt, next_due
from workbench.schedules import Schedule, parse_schedule


def utc(*parts: int) -> datetime:
    """A UTC datetime from year, month, day[, hour, minute, second]."""
    return datetime(*parts, tzinfo=UTC)


# --- text form, dict form, descriptions ---------------------------------------------------

AT_0630 = {"hour": 6, "minute": 30}
AT_0605 = {"hour": 6, "minute": 5}
FORMS = [
    # (typed text, canonical text, description, dict form)
    ("manual", "manual", "manual", {"kind": "manual"}),
    ("every 6h", "every 6h", "every 6 hours", {"kind": "every", "minutes": 360}),
    ("every 30m", "every 30m", "every 30 minutes", {"kind": "every", "minutes": 30}),
    ("every 90 minutes", "every 90m", "every 90 minutes", {"kind": "every", "minutes": 90}),
    ("Every 1 Hour", "every 1h", "every hour", {"kind": "every", "minutes": 60}),
    ("every 5m", "every 5m", "every 5 minutes", {"kind": "every", "minutes": 5}),
    (
        "daily 06:30",
        "daily 06:30",
        "daily at 06:30 UTC",
        {"kind": "daily", "hour": 6, "minute": 30},
    ),
    (
        "daily at 6:05",
        "daily 06:05",
        "daily at 06:05 UTC",
        {"kind": "daily", "hour": 6, "minute": 5},
    ),
    (
        "weekly mon 06:30",
        "weekly mon 06:30",
        "weekly on Monday at 06:30 UTC",
        {"kind": "weekly", "hour": 6, "minute": 30, "weekday": 0},
    ),
    (
        "weekly on Sunday at 23:59",
        "weekly sun 23:59",
        "weekly on Sunday at 23:59 UTC",
        {"kind": "weekly", "hour": 23, "minute": 59, "weekday": 6},
    ),
    (
        "cron  0 */4  * * *",
        "cron 0 */4 * * *",
        "cron 0 */4 * * * (UTC)",
        {"kind": "cron", "expression": "0 */4 * * *"},
    ),
]


@pytest.mark.parametrize(("text", "canonical", "description", "as_dict"), FORMS)
def test_text_and_dict_forms_round_trip(
    text: str, canonical: str, description: str, as_dict: dict[str, object]
) -> None:
    schedule = parse_schedule(text)
    assert str(schedule) == canonical
    assert schedule.describe() == description
    assert schedule.to_dict() == as_dict
    assert parse_schedule(str(schedule)) == schedule
    assert Schedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule


def test_class_methods_build_the_same_schedules_as_the_text_form() -> None:
    assert Schedule.every(hours=6) == parse_schedule("every 6h")
    assert Schedule.every(hours=1, minutes=30) == parse_schedule("every 90m")
    assert Schedule.daily(6, 30) == parse_schedule("daily 06:30")
    assert Schedule.weekly(0, 6, 30) == parse_schedule("weekly mon 06:30")
    assert Schedule.cron("0 */4 * * *") == parse_schedule("cron 0 */4 * * *")
    assert Schedule.manual() == parse_schedule("manual")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "cannot read ''"),
        ("hourly", "cannot read 'hourly'"),
        ("every 4m", "from 5 to"),
        ("every 0h", "from 5 to"),
        ("every 745h", "from 5 to"),
        ("every 6 days", "cannot read"),
        ("daily 24:00", "the hour"),
        ("daily 06:60", "the minute"),
        ("daily 6", "cannot read"),
        ("weekly xyz 06:30", "unknown weekday 'xyz'"),
        ("weekly monx 06:30", "unknown weekday"),
        ("cron 0 0 * * * *", "5 fields"),
        ("cron @daily", "5 fields"),
        ("cron 61 * * * *", "cannot read the cron expression"),
        ("cron 0 0 31 2 *", "never fires"),
    ],
)
def test_invalid_text_raises_config_error_listing_accepted_forms(text: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text)
    message = str(caught.value)
    assert hint in message
    assert "accepted forms" in message and "weekly mon 06:30" in message


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "yearly"},
        {"kind": ["every"]},
        {"kind": "every"},
        {"kind": "every", "minutes": "360"},
        {"kind": "every", "minutes": True},
        {"kind": "daily", "hour": 6},
        {"kind": "manual", "minutes": 5},
        {"kind": "weekly", "hour": 6, "minute": 0, "weekday": 7},
        {"kind": "cron", "expression": 5},
        {"kind": "daily", "hour": 6, "minute": 0, "colour": "red"},
    ],
)
def test_invalid_dict_raises_config_error(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="accepted forms"):
        Schedule.from_dict(data)


def test_import_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, workbench.schedules, workbench.secrets;"
        "heavy = {'croniter', 'duckdb', 'polars', 'streamlit', 'pandas'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- next_due / is_due ---------------------------------------------------------------------

NOW = utc(2026, 6, 15, 12, 0)


def test_manual_is_never_due() -> None:
    assert next_due(Schedule.manual(), None, NOW) is None
    assert next_due(Schedule.manual(), utc(2020, 1, 1), NOW) is None
    assert not is_due(Schedule.manual(), None, NOW)


@pytest.mark.parametrize("text", ["every 6h", "daily 06:30", "weekly mon 06:30", "cron 0 4 * * *"])
def test_first_run_is_immediate_for_every_kind(text: str) -> None:
    assert next_due(parse_schedule(text), None, NOW) == NOW
    assert is_due(parse_schedule(text), None, NOW)


def test_every_is_last_run_plus_interval() -> None:
    schedule = parse_schedule("every 6h")
    last = utc(2026, 6, 15, 9, 17)
    assert next_due(schedule, last, NOW) == utc(2026, 6, 15, 15, 17)
    assert not is_due(schedule, last, NOW)
    assert not is_due(schedule, last, utc(2026, 6, 15, 15, 16, 59))
    assert is_due(schedule, last, utc(2026, 6, 15, 15, 17))


SLOTS = [
    # (schedule, last run, first slot strictly after it)
    ("daily 06:30", utc(2026, 6, 15, 6, 29), utc(2026, 6, 15, 6, 30)),
    ("daily 06:30", utc(2026, 6, 15, 6, 30), utc(2026, 6, 16, 6, 30)),
    (
        "daily 06:30",
        utc(2026, 6, 15, 6, 30, 0) + timedelta(microseconds=1),
        utc(2026, 6, 16, 6, 30),
    ),
    ("daily 06:30", utc(2026, 1, 31, 7, 0), utc(2026, 2, 1, 6, 30)),  # month end 31st -> 1st
    ("daily 06:30", utc(2026, 4, 30, 7, 0), utc(2026, 5, 1, 6, 30)),  # 30-day month
    ("daily 00:00", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0)),  # year end
    ("daily 06:30", utc(2028, 2, 28, 7, 0), utc(2028, 2, 29, 6, 30)),  # into a leap day
    ("daily 06:30", utc(2028, 2, 29, 7, 0), utc(2028, 3, 1, 6, 30)),  # out of a leap day
    ("daily 06:30", utc(2027, 2, 28, 7, 0), utc(2027, 3, 1, 6, 30)),  # no leap day in 2027
    ("weekly mon 06:30", utc(2026, 6, 15, 6, 0), utc(2026, 6, 15, 6, 30)),  # same Monday
    ("weekly mon 06:30", utc(2026, 6, 15, 6, 30), utc(2026, 6, 22, 6, 30)),  # just ran
    ("weekly mon 06:30", utc(2026, 6, 17, 9, 0), utc(2026, 6, 22, 6, 30)),  # Wednesday
    ("weekly fri 18:00", utc(2026, 12, 31, 12, 0), utc(2027, 1, 1, 18, 0)),  # across new year
    ("weekly mon 06:30", utc(2026, 12, 29, 0, 0), utc(2027, 1, 4, 6, 30)),  # Tue -> next year
    ("weekly tue 08:00", utc(2028, 2, 25, 0, 0), utc(2028, 2, 29, 8, 0)),  # leap-day Tuesday
    ("cron 0 */4 * * *", utc(2026, 6, 15, 9, 17), utc(2026, 6, 15, 12, 0)),
    ("cron 0 */4 * * *", utc(2026, 6, 15, 12, 0), utc(2026, 6, 15, 16, 0)),  # strictly after
    ("cron 0 */4 * * *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0)),
    ("cron 0 0 31 * *", utc(2026, 1, 31, 0, 0), utc(2026, 3, 31, 0, 0)),  # skips February
    ("cron 0 0 31 * *", utc(2026, 4, 1, 0, 0), utc(2026, 5, 31, 0, 0)),  # skips 30-day April
    ("cron 0 0 1 * *", utc(2026, 1, 31, 23, 0), utc(2026, 2, 1, 0, 0)),
    ("cron 0 0 L * *", utc(2028, 2, 1, 0, 0), utc(2028, 2, 29, 0, 0)),  # last day, leap year
    ("cron 30 6 29 2 *", utc(2026, 3, 1, 0, 0), utc(2028, 2, 29, 6, 30)),
]


@pytest.mark.parametrize(("text", "last", "expected"), SLOTS)
def test_slot_schedules_are_due_at_the_first_slot_strictly_after_the_last_run(
    text: str, last: datetime, expected: datetime
) -> None:
    due = next_due(parse_schedule(text), last, last)
    assert due == expected
    assert due is not None and due.tzinfo is not None and due.utcoffset() == timedelta(0)


OUTAGES = [
    # (schedule, how long the runner was down after a run at Mon 2026-06-01 06:30, next slot
    #  after the single catch-up run made 20 s after it came back)
    ("every 6h", timedelta(days=3), utc(2026, 6, 4, 12, 30, 20)),
    ("daily 06:30", timedelta(days=3), utc(2026, 6, 5, 6, 30)),
    ("cron 0 * * * *", timedelta(days=3), utc(2026, 6, 4, 7, 0)),
    ("weekly mon 06:30", timedelta(days=21), utc(2026, 6, 29, 6, 30)),
]


@pytest.mark.parametrize(("text", "down_for", "following"), OUTAGES)
def test_missed_runs_run_once_then_the_schedule_resumes_after_that_run(
    text: str, down_for: timedelta, following: datetime
) -> None:
    schedule = parse_schedule(text)
    last = utc(2026, 6, 1, 6, 30)
    back_up = last + down_for
    missed = next_due(schedule, last, back_up)
    assert missed is not None and missed < back_up - timedelta(days=1)
    assert is_due(schedule, last, back_up)

    ran_at = back_up + timedelta(seconds=20)  # the one catch-up run
    assert next_due(schedule, ran_at, ran_at) == following
    assert not is_due(schedule, ran_at, ran_at + timedelta(minutes=1))
    assert is_due(schedule, ran_at, following)


def test_other_timezones_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    last = datetime(2026, 6, 15, 8, 0, tzinfo=plus_two)  # 06:00 UTC
    due = next_due(parse_schedule("daily 06:30"), last, NOW)
    assert due == utc(2026, 6, 15, 6, 30)
    assert due is not None and due.tzinfo == UTC


@pytest.mark.parametrize("argument", ["last_run", "now"])
def test_naive_datetimes_are_rejected(argument: str) -> None:
    naive = datetime(2026, 6, 15, 12, 0)
    last, now = (naive, NOW) if argument == "last_run" else (utc(2026, 6, 15), naive)
    with pytest.raises(ValueError, match=f"{argument} is naive.*timezone-aware"):
        next_due(parse_schedule("every 6h"), last, now)
    with pytest.raises(ValueError, match="naive"):
        is_due(parse_schedule("daily 06:30"), last, now)


# --- back-off --------------------------------------------------------------------------------


def test_backoff_doubles_from_five_minutes_and_caps_at_six_hours() -> None:
    minutes = [backoff_delay(n) / timedelta(minutes=1) for n in range(0, 10)]
    assert minutes == [0, 5, 10, 20, 40, 80, 160, 320, 360, 360]
    assert backoff_delay(10_000) == timedelta(hours=6)
    with pytest.raises(ValueError, match="negative"):
        backoff_delay(-1)


def test_failing_activation_waits_for_backoff_even_when_schedule_is_due() -> None:
    schedule = parse_schedule("daily 06:30")
    last_ok = utc(2026, 6, 14, 6, 30)  # so the 06:30 slot of June 15 is due and unserved
    failed = utc(2026, 6, 15, 6, 31)
    for failures, wait in [(1, 5), (2, 10), (3, 20), (8, 360), (50, 360)]:
        retry = next_attempt(schedule, last_ok, failed, failures, failed)
        assert retry == failed + timedelta(minutes=wait)
    assert next_attempt(schedule, last_ok, failed, 0, failed) == utc(2026, 6, 15, 6, 30)


def test_backoff_never_runs_an_activation_earlier_than_its_schedule() -> None:
    schedule = parse_schedule("every 6h")
    last_ok = utc(2026, 6, 15, 0, 0)
    failed = utc(2026, 6, 15, 0, 1)
    assert next_attempt(schedule, last_ok, failed, 1, failed) == utc(2026, 6, 15, 6, 0)
    assert next_attempt(Schedule.manual(), last_ok, failed, 3, failed) is None


def test_first_run_failure_is_retried_after_backoff() -> None:
    schedule = parse_schedule("weekly mon 06:30")
    failed = utc(2026, 6, 15, 12, 0)
    assert next_attempt(schedule, None, failed, 2, failed) == failed + timedelta(minutes=10)
    with pytest.raises(ValueError, match="last_failure is naive"):
        next_attempt(schedule, None, datetime(2026, 6, 15), 2, failed)
