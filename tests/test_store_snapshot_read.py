"""Reading a member snapshot column-wise gives exactly the row-by-row frame: every row, sorted
by email, null contact ids as null; values holding the separators fall back to rows."""

from __future__ import annotations

import random
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
