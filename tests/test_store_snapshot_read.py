"""Reading a member snapshot column-wise gives exactly the row-by-row frame: every row, sorted
by email, null contact ids as null; values holding the separators fall back to rows."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from workbench.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.sqlite")


def _rows(count: int, seed: int = 17) -> list[tuple[str, str | None]]:
    """Emails in random order; every 6th contact id null, one empty string."""
    rng = random.Random(seed)
    rows: list[tuple[str, str | None]] = [
        (f"{rng.randrange(10**9)}.{i}@example.com", None if i % 6 == 0 else f"id-{i}")
        for i in range(count)
    ]
    rows[5] = (rows[5][0], "")
    rng.shuffle(rows)
    return rows


def _row_by_row(rows: list[tuple[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        sorted(rows), schema={"email": pl.Utf8, "contact_id": pl.Utf8}, orient="row"
    )


def test_the_snapshot_read_column_wise_is_the_row_by_row_frame(store: Store) -> None:
    rows = _rows(5_000)
    for start in range(0, len(rows), 1_000):  # confirmed batch by batch, in no order
        store.confirm_added("weekly", rows[start : start + 1_000], run_id=1)
    store.confirm_added("other", [("zz@example.com", "id-z")], run_id=1)
    frame = store.read_snapshot("weekly")
    assert frame.equals(_row_by_row(rows))
    assert frame.get_column("contact_id").null_count() == sum(c is None for _, c in rows)
    assert frame.filter(pl.col("contact_id") == "").height == 1  # "" is not null


@pytest.mark.parametrize(
    "odd",
    [("line\nbreak@example.com", "id-n"), ("a@example.com", "id\n2"), ("b@example.com", "\x01")],
)
def test_values_holding_a_separator_are_read_exactly(
    store: Store, odd: tuple[str, str | None]
) -> None:
    rows = [*_rows(50), odd]
    store.confirm_added("odd", rows, run_id=1)
    assert store.read_snapshot("odd").equals(_row_by_row(rows))


def test_a_snapshot_whose_first_members_have_no_contact_id_is_read_whole(store: Store) -> None:
    """5,000 null ids first: the null markers and the ids line up again after them."""
    rows = [(f"{i:06d}@example.com", None if i < 5_000 else f"id-{i}") for i in range(8_000)]
    store.confirm_added("late-ids", rows, run_id=1)
    frame = store.read_snapshot("late-ids")
    assert frame.equals(_row_by_row(rows))
    assert frame.get_column("contact_id").null_count() == 5_000


def test_an_empty_snapshot_is_an_empty_frame_of_the_right_types(store: Store) -> None:
    store.confirm_added("other", [("a@example.com", "id-a")], run_id=1)
    empty = store.read_snapshot("nobody-yet")
    assert empty.height == 0 and empty.schema == {"email": pl.Utf8, "contact_id": pl.Utf8}


def test_inside_a_transaction_the_snapshot_read_sees_its_own_writes(store: Store) -> None:
    store.confirm_added("tx", [("a@example.com", "id-a")], run_id=1)
    with store.transaction():
        store.confirm_added("tx", [("b@example.com", None)], run_id=2)
        inside = store.read_snapshot("tx")
    assert inside.equals(_row_by_row([("a@example.com", "id-a"), ("b@example.com", None)]))


READ_WHILE_WRITING = """
import sys, threading, time
from pathlib import Path
from workbench.store import Store

store = Store(Path(sys.argv[1]))
store.confirm_added("a", [(f"m{i}@example.com", str(i)) for i in range(2000)], 1)
stop = time.monotonic() + 2.0

def write() -> None:
    i = 0
    while time.monotonic() < stop:
        store.confirm_added("b", [(f"w{i}@example.com", str(i))], 1)
        i += 1

writer = threading.Thread(target=write)
writer.start()
reads = 0
while time.monotonic() < stop:
    assert store.read_snapshot("a").height == 2000
    reads += 1
writer.join()
print(reads)
"""


def test_reading_a_snapshot_while_the_same_process_writes_never_crashes(tmp_path: Path) -> None:
    """The run reads its snapshot while its other threads write (each write on a connection
    that is closed after it). A second SQLite library in the process (ADBC's, tried for speed)
    shared no locks with Python's: a closing connection dropped the reader's locks, the WAL
    was reset under it, and the process died of SIGBUS within seconds."""
    child = subprocess.run(
        [sys.executable, "-c", READ_WHILE_WRITING, str(tmp_path / "state.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert int(child.stdout) > 10
