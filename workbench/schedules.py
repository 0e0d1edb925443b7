"""How often an activation runs (all times UTC); when it is next due is
:mod:`workbench.schedule_timing`.

A :class:`Schedule` has a short text form for the CLI and files and a dict form for JSON::

    manual                 never due by itself; runs only when someone presses "Run now"
    every 30m / every 6h   a fixed interval after the last run (at least 5 minutes)
    daily 06:30            every day at 06:30 UTC
    weekly mon 06:30       every Monday at 06:30 UTC
    cron 0 */4 * * *       a 5-field cron expression, evaluated in UTC

This module checks cron expressions with ``croniter`` only when a cron schedule is parsed, so
the runner starts fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from workbench.errors import ConfigError

ScheduleKind = Literal["manual", "every", "daily", "weekly", "cron"]

MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 31 * 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

ACCEPTED_FORMS = (
    "accepted forms: 'manual', 'every 30m' or 'every 6h' (at least 5 minutes), "
    "'daily 06:30', 'weekly mon 06:30', 'cron 0 */4 * * *' (5 fields); all times are UTC"
)

_ALL_FIELDS = ("minutes", "hour", "minute", "weekday", "expression")
_FIELDS_OF_KIND: dict[str, set[str]] = {
    "manual": set(),
    "every": {"minutes"},
    "daily": {"hour", "minute"},
    "weekly": {"hour", "minute", "weekday"},
    "cron": {"expression"},
}
_EVERY = re.compile(r"every\s+(\d+)\s*(m|mins?|minutes?|h|hrs?|hours?)", re.IGNORECASE)
_DAILY = re.compile(r"daily\s+(?:at\s+)?(\d{1,2}):(\d{2})", re.IGNORECASE)
_WEEKLY = re.compile(r"weekly\s+(?:on\s+)?([a-z]+)\s+(?:at\s+)?(\d{1,2}):(\d{2})", re.IGNORECASE)
_CRON = re.compile(r"cron\s+(.+)", re.IGNORECASE)


def _invalid(problem: str) -> ConfigError:
    """A ConfigError naming the problem and listing the accepted schedule forms."""
    return ConfigError(f"invalid schedule: {problem}; {ACCEPTED_FORMS}")


@dataclass(frozen=True)
class Schedule:
    """When an activation runs. Build with the class methods or :func:`parse_schedule`.

    Only the fields of the schedule's ``kind`` are set: ``minutes`` for ``every``,
    ``hour``/``minute`` for ``daily`` and ``weekly``, ``weekday`` (0 = Monday) for ``weekly``,
    ``expression`` for ``cron``. Construction validates, so every Schedule value is usable.
    """

    kind: ScheduleKind
    minutes: int | None = None
    hour: int | None = None
    minute: int | None = None
    weekday: int | None = None
    expression: str | None = None

    def __post_init__(self) -> None:
        """Refuse fields that do not fit the kind; collapse the spaces of a cron expression."""
        if isinstance(self.expression, str):
            object.__setattr__(self, "expression", " ".join(self.expression.split()))
        _check_fields(self)

    @classmethod
    def manual(cls) -> Schedule:
        """A schedule that is never due by itself."""
        return cls("manual")

    @classmethod
    def every(cls, *, minutes: int = 0, hours: int = 0) -> Schedule:
        """A fixed interval after the last run, at least 5 minutes."""
        return cls("every", minutes=minutes + 60 * hours)

    @classmethod
    def daily(cls, hour: int, minute: int = 0) -> Schedule:
        """Every day at ``hour:minute`` UTC."""
        return cls("daily", hour=hour, minute=minute)

    @classmethod
    def weekly(cls, weekday: int, hour: int, minute: int = 0) -> Schedule:
        """Every week on ``weekday`` (0 = Monday) at ``hour:minute`` UTC."""
        return cls("weekly", hour=hour, minute=minute, weekday=weekday)

    @classmethod
    def cron(cls, expression: str) -> Schedule:
        """A 5-field cron expression evaluated in UTC."""
        return cls("cron", expression=expression)

    def __str__(self) -> str:
        """The short text form that :func:`parse_schedule` reads back."""
        if self.kind == "every":
            minutes = self.minutes or 0
            return f"every {minutes // 60}h" if minutes % 60 == 0 else f"every {minutes}m"
        if self.kind == "daily":
            return f"daily {self._clock()}"
        if self.kind == "weekly":
            return f"weekly {WEEKDAYS[self.weekday or 0]} {self._clock()}"
        if self.kind == "cron":
            return f"cron {self.expression}"
        return "manual"

    def describe(self) -> str:
        """The schedule in plain English, e.g. ``weekly on Monday at 06:30 UTC``."""
        if self.kind == "every":
            return _describe_interval(self.minutes or 0)
        if self.kind == "daily":
            return f"daily at {self._clock()} UTC"
        if self.kind == "weekly":
            return f"weekly on {WEEKDAY_NAMES[self.weekday or 0]} at {self._clock()} UTC"
        if self.kind == "cron":
            return f"cron {self.expression} (UTC)"
        return "manual"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict holding the kind and only the fields that kind uses."""
        values = {name: getattr(self, name) for name in _ALL_FIELDS}
        return {"kind": self.kind} | {name: v for name, v in values.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """The schedule saved by :meth:`to_dict`; unknown or missing fields raise ConfigError."""
        known = {"kind", *_ALL_FIELDS}
        if not isinstance(data, dict) or "kind" not in data or set(data) - known:
            raise _invalid(f"expected a dict with 'kind' and fields among {sorted(known)}")
        return cls(**data)

    def _clock(self) -> str:
        """``HH:MM`` of a daily or weekly schedule."""
        return f"{self.hour or 0:02d}:{self.minute or 0:02d}"


def _describe_interval(minutes: int) -> str:
    """``every 6 hours``, ``every 90 minutes``, ``every hour``."""
    if minutes % 60:
        return f"every {minutes} minutes"
    hours = minutes // 60
    return "every hour" if hours == 1 else f"every {hours} hours"


def _check_fields(schedule: Schedule) -> None:
    """Raise ConfigError unless exactly the fields of the schedule's kind are set and valid."""
    kind = schedule.kind
    if not isinstance(kind, str) or kind not in _FIELDS_OF_KIND:
        raise _invalid(f"unknown kind {kind!r}")
    present = {name for name in _ALL_FIELDS if getattr(schedule, name) is not None}
    if present != _FIELDS_OF_KIND[kind]:
        raise _invalid(f"a {kind} schedule takes {sorted(_FIELDS_OF_KIND[kind])}")
    if kind == "every":
        _check_int(schedule.minutes, MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES, "the interval")
    if kind in ("daily", "weekly"):
        _check_clock(schedule.hour, schedule.minute)
    if kind == "weekly":
        _check_int(schedule.weekday, 0, 6, "weekday (0 = Monday ... 6 = Sunday)")
    if kind == "cron":
        _check_cron(schedule.expression)


def _check_int(value: object, low: int, high: int, what: str) -> None:
    """Raise ConfigError unless ``value`` is an int within ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{what} must be a whole number from {low} to {high}, not {value!r}")


def _check_clock(hour: object, minute: object) -> None:
    """Raise ConfigError unless ``hour:minute`` is a time of day (00:00 to 23:59)."""
    _check_int(hour, 0, 23, "the hour")
    _check_int(minute, 0, 59, "the minute")


def _check_cron(expression: object) -> None:
    """Raise ConfigError unless ``expression`` is a 5-field cron expression that ever fires."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise _invalid(f"a cron expression has 5 fields, got {expression!r}")
    from croniter import CroniterError, croniter

    if not croniter.is_valid(expression):
        raise _invalid(f"croniter cannot read the cron expression {expression!r}")
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterError:
        raise _invalid(f"the cron expression {expression!r} never fires") from None


def parse_schedule(text: str) -> Schedule:
    """Read the short text form (``every 6h``, ``daily 06:30``, ...); ConfigError if invalid."""
    cleaned = " ".join(str(text).split())
    if cleaned.lower() == "manual":
        return Schedule.manual()
    if match := _EVERY.fullmatch(cleaned):
        per_unit = 60 if match[2].lower().startswith("h") else 1
        return Schedule.every(minutes=int(match[1]) * per_unit)
    if match := _DAILY.fullmatch(cleaned):
        return Schedule.daily(int(match[1]), int(match[2]))
    if match := _WEEKLY.fullmatch(cleaned):
        return Schedule.weekly(_weekday_number(match[1]), int(match[2]), int(match[3]))
    if match := _CRON.fullmatch(cleaned):
        return Schedule.cron(match[1])
    raise _invalid(f"cannot read {text!r}")


def _weekday_number(name: str) -> int:
    """0 for ``mon``/``monday`` ... 6 for ``sun``/``sunday``; ConfigError otherwise."""
    lowered = name.lower()
    for number, full_name in enumerate(WEEKDAY_NAMES):
        if lowered in (WEEKDAYS[number], full_name.lower()):
            return number
    raise _invalid(f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat or sun)")
