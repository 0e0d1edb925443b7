"""Benchmark: a million-contact export read and matched chunk by chunk versus whole.

Run: ``.venv/bin/python -m bench.bench_export_chunks [--contacts 942000] [--wanted 933000]
[--repeat 3] [--lists]``

The export is synthesised the way the sandbox renders a synced list's contacts (its CSV header,
an email, empty names and identifiers, ISO times and a random UUID per row, CRLF), gzip level 1
(~33 MB at 942k rows; ``--lists``: every contact on two lists, a quoted cell in every row);
the wanted emails are ``--wanted`` of its emails (all but 0.3% present)
in sorted order, as the diff hands them. Prints, best of ``--repeat`` each:

* the CPU seconds of one whole read + match and of one chunked read + match (2 cores shared);
* ``ChunkMatcher(emails)``: hashing and sorting the wanted emails once (can be done while the
  export job runs);
* first frame + its matches: from calling ``export_frames`` to the first frame's matches;
* all frames + matches versus ``export_frame`` + ``matches_of`` on the whole file (the ratio),
  for a few ``first_rows`` / ``rows`` settings; the chunked matches are checked equal to the
  whole's.
"""

from __future__ import annotations

import argparse
import gzip
import random
import time
import uuid
from collections.abc import Callable

import polars as pl

from workbench.destinations.sendgrid.contact_frames import export_frame, matches_of
from workbench.destinations.sendgrid.export_chunks import ChunkMatcher, export_frames
from workbench.destinations.sendgrid.sandbox.export_render import CSV_HEADER

SETTINGS = [(40_000, 200_000), (30_000, 100_000), (40_000, 400_000), (20_000, 200_000)]


def synthetic_export(contacts: int, seed: int = 11, lists: bool = False) -> tuple[bytes, list[str]]:
    """A gzip CSV export of ``contacts`` rows as the sandbox renders them, and its emails;
    ``lists``: every contact is on two lists (a quoted cell in every row)."""
    rng = random.Random(seed)
    emails = [f"customer{i}.{rng.randrange(10**6)}@example{i % 50}.com" for i in range(contacts)]
    times = "2026-06-30T12:00:00Z,2026-06-30T12:00:00Z"
    on = f'"{uuid.UUID(int=1)},{uuid.UUID(int=2)}"' if lists else ""
    rows = (
        f"{email},,,,,,,{on},{times},{uuid.UUID(int=rng.getrandbits(128), version=4)}\r\n"
        for email in emails
    )
    text = (CSV_HEADER + "".join(rows)).encode()
    return gzip.compress(text, compresslevel=1), emails


def wanted_emails(emails: list[str], count: int, seed: int = 12) -> pl.Series:
    """``count`` emails to look up, 0.3% of them in no contact, sorted."""
    rng = random.Random(seed)
    absent = count * 3 // 1000
    picked = rng.sample(emails, count - absent) + [f"nobody{i}@example.org" for i in range(absent)]
    return pl.Series("email", picked, dtype=pl.String).sort()


def best(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def cpu_seconds(run: Callable[[], object]) -> float:
    """The CPU seconds (all threads of this process) one run takes."""
    started = time.process_time()
    run()
    return time.process_time() - started


def first_frame_matches(data: bytes, matcher: ChunkMatcher, first_rows: int) -> int:
    """The first frame's match count (its time is what the first upsert waits for)."""
    frames = export_frames(data, "csv", first_rows=first_rows)
    found = matcher.matches(next(frames)).height
    frames.close()
    return found


def chunked(data: bytes, wanted: pl.Series, first_rows: int, rows: int) -> pl.DataFrame:
    """Every frame read and matched in turn (the matcher built here too)."""
    matcher = ChunkMatcher(wanted)
    frames = export_frames(data, "csv", first_rows=first_rows, rows=rows)
    return pl.concat([matcher.matches(frame) for frame in frames])


def main() -> None:
    """Print the figures described in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=942_000)
    parser.add_argument("--wanted", type=int, default=933_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lists", action="store_true", help="a quoted LIST_IDS cell a row")
    args = parser.parse_args()
    data, emails = synthetic_export(args.contacts, lists=args.lists)
    wanted = wanted_emails(emails, args.wanted)
    print(f"export {len(data) / 1e6:.1f} MB gzip, {args.contacts:,} contacts, "
          f"{wanted.len():,} wanted", flush=True)  # fmt: skip
    read_s, whole = best(args.repeat, lambda: export_frame(data, "csv"))
    assert isinstance(whole, pl.DataFrame)
    match_s, expected = best(args.repeat, lambda: matches_of(wanted, whole))
    assert isinstance(expected, pl.DataFrame)
    print(f"whole: export_frame {read_s:.3f} s + matches_of {match_s:.3f} s "
          f"= {read_s + match_s:.3f} s")  # fmt: skip
    whole_cpu = cpu_seconds(lambda: matches_of(wanted, export_frame(data, "csv")))
    chunked_cpu = cpu_seconds(lambda: chunked(data, wanted, *SETTINGS[0]))
    print(f"CPU seconds: whole {whole_cpu:.3f}, chunks {chunked_cpu:.3f} (first setting)")
    init_s, _ = best(args.repeat, lambda: ChunkMatcher(wanted))
    print(f"ChunkMatcher(emails) {init_s:.3f} s")
    for first_rows, rows in SETTINGS:
        total_s, line = measure(data, wanted, expected, (first_rows, rows), args.repeat)
        ratio = total_s / (read_s + match_s)
        print(f"first_rows {first_rows:,} rows {rows:,}: {line} = {ratio:.2f}x the whole")


def measure(
    data: bytes, wanted: pl.Series, expected: pl.DataFrame, sizes: tuple[int, int], repeat: int
) -> tuple[float, str]:
    """One setting's figures: the first frame's matches (with a matcher built before, and
    with its build), every chunk read and matched (checked equal to ``expected``)."""
    first_rows, rows = sizes
    matcher = ChunkMatcher(wanted)
    ready_s, found = best(1, lambda: first_frame_matches(data, matcher, first_rows))
    built_s, _ = best(repeat, lambda: first_frame_matches(data, ChunkMatcher(wanted), first_rows))
    total_s, got = best(repeat, lambda: chunked(data, wanted, first_rows, rows))
    assert isinstance(got, pl.DataFrame)
    assert got.sort("email").equals(expected.sort("email")), "chunked matches differ"
    return total_s, (
        f"first frame + matches {ready_s:.3f} s ({found:,} matches; {built_s:.3f} s with the "
        f"matcher's build), all chunks {total_s:.3f} s"
    )


if __name__ == "__main__":
    main()
