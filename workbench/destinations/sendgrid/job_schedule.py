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

When SendGrid says when a job finished (its ``finished_at``), that is used as it is: it is
where the next job started (the anchor). A job's own run time is from the end of the job
before it (or its creation, SendGrid's ``started_at``, when later) to its end; each kind of
job (upserts, removals) takes its pace from the slowest of the last three timed so (of those
at least half as big, when there are). The jobs queued after the anchor are due at the
anchor plus the margin times their run times added up, so that one job slower than the last
does not cost a look, while the last job is still looked at soon after it ends. SendGrid's
clock is mapped onto ours by the smallest difference seen (an answer is never older than the
time it reports), which errs on the late side.

Once everything is sent (the tail of a run, where every late look is time the run waits), the
job before the last is due the last job's run time before the last one: its look (needed
anyway) anchors the last job's estimate, and its batch is confirmed meanwhile. It is finished
then whenever the last job would be finished at its own due time, so that look costs no call
the last one would not have cost. Once it has settled, the last job is due from its finish at
``LAST_MARGIN`` over its own run plus ``START_SLACK`` of the run of the job before it: a job
starts some time after the one before it ended, the longer the bigger that one was (the
sandbox writes its changes out in between: 0.15-0.19 s for a 3,302-row job it runs at 0.1 s,
after a 30,000-row one of 0.9 s).
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
PACE_SAMPLES = 3  # a kind's pace: the slowest of its last 3 jobs SendGrid timed (alike in size)
SAMPLES_KEPT = 8  # timed jobs kept per kind, to find 3 alike in size among them
LAST_MARGIN = 1.2  # once all is sent, the last job: one early look costs a call, a late one time
START_SLACK = 0.1  # the last job after the one before it settled: that one's run, times this
LOOK_AGAIN = 0.25  # a job found unfinished past its anchored estimate: again after 1/4 of a run


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
        self.kinds: dict[int, str] = {}  # job key -> its kind, for the paces SendGrid timed
        self._paces: dict[str, list[tuple[int, float]]] = {}  # kind -> (rows, rows/s) timed
        self._end: float | None = None  # when the last settled job should have ended
        self._anchored = False  # _end is a finished_at SendGrid gave
        self._offset: float | None = None  # our clock minus SendGrid's, at most
        self._finishes: list[float] = []  # finished_at of the jobs settled, SendGrid's clock
        self._anchor_run = 0.0  # the own run time of the job whose finish is the anchor
        self.all_sent = False  # no job will be added: the last one is looked at more closely
        self._seen: dict[int, tuple[float, float, int, float]] = {}  # due, end, done, at

    @property
    def paced(self) -> bool:
        """True once some pace is known."""
        return self.rate > 0 or bool(self._paces)

    @property
    def anchored(self) -> bool:
        """True once SendGrid said when a settled job finished (estimates start there)."""
        return self._anchored

    def _rate_of(self, key: int, rows: int) -> float:
        """The pace of a job of ``rows`` rows: the slowest of the last ``PACE_SAMPLES`` jobs
        of its kind SendGrid timed (job run times vary by a third), among those at least half
        its size when there are any (a small job's pace carries its start: 28,000 rows/s for
        6,690 rows against 35,000 for 30,000 in the sandbox, which would make the next big
        job's look 0.2 s late); a kind not timed yet while others are (a lone upsert after
        removals) is given the optimistic pace, not theirs; else the pace learnt without
        SendGrid's times."""
        samples = self._paces.get(self.kinds.get(key, ""))
        if samples:
            alike = [rate for size, rate in samples if 2 * size >= rows]
            return min((alike or [rate for _, rate in samples])[-PACE_SAMPLES:])
        return OPTIMISTIC_RATE if self._paces else self.rate

    def _timed(self, key: int, rows: int, rate: float) -> None:
        samples = self._paces.setdefault(self.kinds.get(key, ""), [])
        samples[:] = [*samples[1 - SAMPLES_KEPT :], (rows, rate)]

    def _local(self, stamp: float) -> float:
        """A time on SendGrid's clock on ours (after ``_observe`` of it)."""
        return stamp + (self._offset or 0.0)

    def _observe(self, stamp: float, seen_at: float | None = None) -> None:
        """SendGrid reported a time ``stamp`` that had passed when its answer came (at
        ``seen_at``, else now): our clock is at least that much ahead of SendGrid's."""
        ahead = (self._clock() if seen_at is None else seen_at) - stamp
        self._offset = ahead if self._offset is None else min(self._offset, ahead)

    @property
    def seen(self) -> set[int]:
        """Keys of the waiting jobs already seen unfinished."""
        return set(self._seen)

    def plan(self, waiting: Sequence[tuple[int, int, float]]) -> list[Planned]:
        """``waiting``: (key, rows, sent at) of each unsettled job in send order."""
        planned, end, now = [], self._end, self._clock()
        base, run = end, 0.0  # since the anchor: where the queue started, its run time so far
        from_anchor = self._anchored  # ``base`` is SendGrid's finish of the last settled job
        durations: list[float] = []
        for position, (key, rows, sent) in enumerate(waiting):
            rate, duration = self._rate_of(key, rows), 0.0
            if key in self._seen:
                due, job_end = self._seen[key][:2]
                base, run, from_anchor = job_end, 0.0, False
            elif rate > 0:
                start = max(sent, end if end is not None else sent)
                duration, margin = rows / rate, self._margin(position, waiting)
                slack = 0.0
                if self._anchored and base is not None and sent < base + run:
                    if margin == LAST_MARGIN and from_anchor and not run:
                        slack = START_SLACK * self._anchor_run  # see the module docstring
                    run += duration  # queued behind the anchor: the margin covers the lot
                else:
                    base, run, from_anchor = start, duration, False
                due, job_end = base + min(margin * run + slack, self.max_s), start + duration
            else:  # no pace yet: an early look at the first job gives one
                early = max(self.first_s, rows / OPTIMISTIC_RATE)
                due = sent + early if position == 0 else now + self.max_s
                job_end = None
            planned.append(Planned(key, due, job_end))
            durations.append(duration)
            end = job_end if job_end is not None else end
        return self._before_the_last(planned, durations, waiting)

    def _margin(self, position: int, waiting: Sequence[tuple[int, int, float]]) -> float:
        last = self.all_sent and self._anchored and position == len(waiting) - 1
        return LAST_MARGIN if last else MARGIN

    def _before_the_last(
        self,
        planned: list[Planned],
        durations: list[float],
        waiting: Sequence[tuple[int, int, float]],
    ) -> list[Planned]:
        """Once all is sent: the job before the last is due no later than the last job's run
        time before the last one (see the module docstring)."""
        if len(planned) < 2 or not (self.all_sent and self._anchored):
            return planned
        before, last = planned[-2], planned[-1]
        if before.key in self._seen or last.key in self._seen or not durations[-1]:
            return planned
        lead = last.due - durations[-1]
        return [*planned[:-2], Planned(before.key, min(before.due, lead), before.end), last]

    def finished(
        self,
        planned: Planned,
        rows: int,
        start: float,
        timed: bool = True,
        run_s: float | None = None,
        finished_at: float | None = None,
        seen_at: float | None = None,
        started_at: float | None = None,
        sent_at: float | None = None,
    ) -> None:
        """A job of ``rows`` rows was seen finished: later jobs chain from its estimated end,
        or from its ``finished_at`` (SendGrid's clock) when SendGrid said it (in an answer
        that came at ``seen_at``, when not just now); ``started_at`` is when SendGrid created
        the job (what SendGrid documents it as), not when it began to run: the answer to its
        request came at ``sent_at``, which maps SendGrid's clock onto ours closely.

        The first job timed (the probe) sets the pace when none is known, from its run time
        (see ``_run_time``).
        After that the pace only ever goes down (misses lower it): a pace too low only makes
        polls late, which costs no call, and the applier catches up at the end by one look
        at the last job; a pace too high would cost a call per early poll. A job SendGrid
        timed (``run_s`` with ``finished_at``) is a sample of the pace of its kind."""
        now = self._clock()
        self._seen.pop(planned.key, None)
        if timed and self.rate <= 0 and rows > 0:
            self.rate = rows / max(_run_time(now - start, run_s), 1e-3)
            self._end = now
        else:
            self._end = min(planned.end, now) if planned.end is not None else now
        if started_at is not None and sent_at is not None:
            self._observe(started_at, sent_at)
        if finished_at is not None:
            self._observe(finished_at, seen_at)
            self._end, self._anchored = self._local(finished_at), True
            began = max([started_at or 0.0, *(f for f in self._finishes if f < finished_at)])
            self._anchor_run = finished_at - began if began else 0.0
            if began and rows > 0:  # its own run: since the job before it ended, or created
                self._timed(planned.key, rows, rows / max(finished_at - began, 1e-3))
            self._finishes.append(finished_at)

    def unfinished(self, planned: Planned, job: ImportJob, start: float, rows: int) -> None:
        """A job was seen unfinished: lower the pace to what its progress (or, without any,
        its run time so far) allows; poll it again when the rest should be done, and at
        least twice as late as last time when it showed no progress since. ``start`` is when
        it should have started; ``rows`` its size (SendGrid may show no counts before the
        end)."""
        now, done = self._clock(), rows_done(job)
        if self._anchored and not done and self._rate_of(planned.key, rows) > 0:
            soon = LOOK_AGAIN * rows / self._rate_of(planned.key, rows)  # it is nearly done
            self._seen[planned.key] = (now + max(soon, self.first_s), now + soon, 0, now)
            return
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
