"""When to poll the jobs of a run, so that normally one poll finds each job finished.

SendGrid works through a list's jobs one after the other. So a job starts when it was sent or
when the previous one should have ended, whichever is later, and takes its rows at the pace
seen so far; it is due a margin after that. The estimates chain from job to job (not from when
a poll happened to see the previous job finished), so one late poll does not delay the rest.

The follower polls the NEWEST job that is due first (the probe): when it has finished, or has
started (it reports rows done), every older job has finished too and is polled once, at once.
The pace comes from progress (rows done since the job should have started) when SendGrid
reports it, else from how long a job took: its ``finished_at - started_at`` when SendGrid
gives them, else bounded by looking at the first job early and then at doubling intervals
until it has finished (within a factor of 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .models import ImportJob
from .polling import rows_done

MARGIN = 1.5  # a job is polled at 1.5x its estimated run time: a late poll costs no call,
# an early one does, and the last jobs are caught up by one look at the last (sync_apply)
OPTIMISTIC_RATE = 30_000.0  # rows/s: the first look at the first job, before any pace is known


@dataclass(frozen=True)
class Planned:
    """One waiting job's estimate: poll it at ``due``; it should end at ``end`` (None: no pace
    known yet)."""

    key: int
    due: float
    end: float | None


class Schedule:
    """Estimates for the jobs still waiting, oldest first; see the module docstring."""

    def __init__(
        self, first_s: float, max_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.first_s, self.max_s, self._clock = first_s, max_s, clock
        self.rate = 0.0  # rows per second
        self._end: float | None = None  # when the last settled job should have ended
        self._seen: dict[int, tuple[float, float, int, float]] = {}  # due, end, done, at

    @property
    def seen(self) -> set[int]:
        """Keys of the waiting jobs already seen unfinished."""
        return set(self._seen)

    def plan(self, waiting: Sequence[tuple[int, int, float]]) -> list[Planned]:
        """``waiting``: (key, rows, sent at) of each unsettled job in send order."""
        planned, end, now = [], self._end, self._clock()
        for position, (key, rows, sent) in enumerate(waiting):
            if key in self._seen:
                due, job_end = self._seen[key][:2]
            elif self.rate > 0:
                start = max(sent, end if end is not None else sent)
                duration = rows / self.rate
                due, job_end = start + min(MARGIN * duration, self.max_s), start + duration
            else:  # no pace yet: an early look at the first job gives one
                early = max(self.first_s, rows / OPTIMISTIC_RATE)
                due = sent + early if position == 0 else now + self.max_s
                job_end = None
            planned.append(Planned(key, due, job_end))
            end = job_end if job_end is not None else end
        return planned

    def finished(
        self,
        planned: Planned,
        rows: int,
        start: float,
        timed: bool = True,
        run_s: float | None = None,
    ) -> None:
        """A job of ``rows`` rows was seen finished: later jobs chain from its estimated end.

        The first job timed (the probe) sets the pace when none is known, from its run time
        (see ``_run_time``).
        After that the pace only ever goes down (misses lower it): a pace too low only makes
        polls late, which costs no call, and the applier catches up at the end by one look
        at the last job; a pace too high would cost a call per early poll."""
        now = self._clock()
        self._seen.pop(planned.key, None)
        if timed and self.rate <= 0 and rows > 0:
            self.rate = rows / max(_run_time(now - start, run_s), 1e-3)
            self._end = now
        else:
            self._end = min(planned.end, now) if planned.end is not None else now

    def unfinished(self, planned: Planned, job: ImportJob, start: float, rows: int) -> None:
        """A job was seen unfinished: lower the pace to what its progress (or, without any,
        its run time so far) allows; poll it again when the rest should be done, and at
        least twice as late as last time when it showed no progress since. ``start`` is when
        it should have started; ``rows`` its size (SendGrid may show no counts before the
        end)."""
        now, done = self._clock(), rows_done(job)
        earlier = self._seen.get(planned.key)
        if earlier is not None and done > earlier[2]:
            self._lower((done - earlier[2]) / max(now - earlier[3], 1e-3))
        elif done > 0 and now > start:
            self._lower(done / (now - start))
        elif self.rate > 0 and now > start:  # no progress shown: it is slower than thought
            self._lower(rows / (now - start))
        left = max(job.requested or rows, rows) - done
        wait = MARGIN * left / self.rate if self.rate > 0 and left > 0 else self.first_s
        if earlier is not None and done <= earlier[2]:  # nothing moved: back off
            wait = max(wait, 2 * (earlier[0] - earlier[3]))
        wait = min(max(wait, self.first_s), self.max_s)
        self._seen[planned.key] = (now + wait, now + wait / MARGIN, done, now)

    def _lower(self, observed: float) -> None:
        self.rate = observed if self.rate <= 0 else min(self.rate, observed)

    def start_of(self, planned: list[Planned], index: int, sent: float) -> float:
        """When the job at ``index`` of ``planned`` should have started."""
        previous = planned[index - 1].end if index else self._end
        return max(sent, previous) if previous is not None else sent


def _run_time(since_start: float, run_s: float | None) -> float:
    """A finished probe's run time: the time since it should have started (it ended by now),
    a bound on the safe side (a late poll costs no call) as long as it is within the factor
    of 2 the schedule tolerates; beyond that (a job that ended long before the look, such as
    a 100-row removal looked at 0.6 s after it ran for 10 ms) SendGrid's own
    ``finished_at - started_at`` (``run_s``), when it gave both."""
    if run_s is not None and run_s > 0 and since_start > 2 * run_s:
        return run_s
    return since_start
