"""When an activation is next due, and when a failing one is tried again (all times UTC).

Every datetime passed in must be timezone-aware (naive ones raise ``ValueError``: a naive
``datetime.now()`` is local time, and guessing would shift runs by the machine's UTC offset).
Every datetime returned is in UTC. ``croniter`` is imported only for a cron schedule, so the
runner starts fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workbench.schedules import Schedule

BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(hours=6)


def as_utc(moment: datetime, name: str = "datetime") -> datetime:
    """``moment`` converted to UTC; a naive datetime raises ValueError (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} is naive ({moment.isoformat()}); pass a timezone-aware UTC datetime, "
            "e.g. datetime.now(timezone.utc)"
        )
    return moment.astimezone(UTC)


def next_due(schedule: Schedule, last_run: datetime | None, now: datetime) -> datetime | None:
    """When the activation is next due (UTC), or None for a manual schedule.

    ``last_run`` is the start of the last *successful* run. Rules:

    - manual: None, it is never due by itself.
    - never ran (``last_run`` is None): due ``now``, for every kind, so a new activation fills
      its list at once. A "wait for the first daily/cron slot" rule cannot be computed from
      ``now`` alone (the first slot after ``now`` moves on as ``now`` does, so it would never
      become due); a caller that wants it passes the activation's creation time as ``last_run``.
    - every: ``last_run`` + interval.
    - daily, weekly, cron: the first slot strictly after ``last_run``.

    Slots missed while the runner was down are not queued: the result is simply in the past,
    so the activation runs once, and the next slot is computed from that run's time.
    """
    now = as_utc(now, "now")
    if schedule.kind == "manual":
        return None
    if last_run is None:
        return now
    last = as_utc(last_run, "last_run")
    if schedule.kind == "every":
        return last + timedelta(minutes=schedule.minutes or 0)
    if schedule.kind == "cron":
        return _next_cron_slot(schedule.expression or "", last)
    return _next_clock_slot(schedule, last)


def _next_clock_slot(schedule: Schedule, after: datetime) -> datetime:
    """The first daily or weekly slot strictly after ``after`` (UTC)."""
    slot = after.replace(hour=schedule.hour or 0, minute=schedule.minute or 0, second=0)
    slot = slot.replace(microsecond=0)
    step = timedelta(days=1)
    if schedule.kind == "weekly":
        slot += timedelta(days=((schedule.weekday or 0) - after.weekday()) % 7)
        step = timedelta(days=7)
    return slot if slot > after else slot + step


def _next_cron_slot(expression: str, after: datetime) -> datetime:
    """The first slot of the cron ``expression`` strictly after ``after`` (UTC)."""
    from croniter import croniter

    slot: datetime = croniter(expression, after).get_next(datetime)
    return slot.astimezone(UTC)


def is_due(schedule: Schedule, last_run: datetime | None, now: datetime) -> bool:
    """True when the schedule says the activation should run at ``now``."""
    due = next_due(schedule, last_run, now)
    return due is not None and due <= as_utc(now, "now")


def backoff_delay(consecutive_failures: int) -> timedelta:
    """How long to wait after the latest failure: 0, then 5, 10, 20, 40 min ... capped at 6 h."""
    if consecutive_failures < 0:
        raise ValueError(f"consecutive_failures cannot be negative, got {consecutive_failures}")
    if consecutive_failures == 0:
        return timedelta(0)
    doublings = min(consecutive_failures - 1, 16)  # 5 min * 2**16 is far past the cap
    return min(BACKOFF_BASE * 2**doublings, BACKOFF_CAP)


def next_attempt(
    schedule: Schedule,
    last_run: datetime | None,
    last_failure: datetime | None,
    consecutive_failures: int,
    now: datetime,
) -> datetime | None:
    """When the runner should next try the activation (UTC), or None if it never should.

    The schedule's :func:`next_due` (from the last *successful* run), but never before
    ``last_failure`` + :func:`backoff_delay` while ``consecutive_failures`` is above zero: a
    failing activation whose schedule keeps saying "due" is retried after 5, 10, 20 minutes ...
    at most every 6 hours, instead of on every tick of the runner.
    """
    due = next_due(schedule, last_run, now)
    if due is None or consecutive_failures <= 0 or last_failure is None:
        return due
    retry_at = as_utc(last_failure, "last_failure") + backoff_delay(consecutive_failures)
    return max(due, retry_at)
