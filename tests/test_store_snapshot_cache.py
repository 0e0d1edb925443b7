"""The columnar copy of a member snapshot: read while it is current, never once the snapshot
changed (whoever changed it), and never trusted over SQLite when it is unreadable or wrong."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest

import workbench.store as store_module
from workbench import store_snapshot_cache as cache
from workbench.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.sqlite")


def rows(count: int, start: int = 0) -> list[tuple[str, str | None]]:
    return [
        (f"m{i:05d}@example.com", None if i % 7 == 0 else f"id-{i}") for i in range(start, count)
    ]


def stored(store: Store, activation: str) -> pl.DataFrame:
    """The snapshot straight from SQLite, row by row, email order."""
    with closing(sqlite3.connect(store.path)) as con:
        found = con.execute(
            "SELECT email, contact_id FROM snapshot_members WHERE activation = ? ORDER BY email",
            (activation,),
        ).fetchall()
    return pl.DataFrame(found, schema=cache.SNAPSHOT_SCHEMA, orient="row")


def current_copy(store: Store, activation: str) -> pl.DataFrame | None:
    with closing(sqlite3.connect(store.path)) as con:
        token = cache.token_of(con, activation)
    return cache.read_copy(store.path, activation, token) if token else None


def test_a_read_keeps_a_copy_and_later_reads_use_it(store: Store) -> None:
    store.confirm_added("weekly", rows(3_000), run_id=1)
    first = store.read_snapshot("weekly")
    assert first.equals(stored(store, "weekly"))
    copy = current_copy(store, "weekly")
    assert copy is not None and copy.equals(first)
    with closing(sqlite3.connect(store.path)) as con:
        token = cache.token_of(con, "weekly")
    assert token is not None
    marked = first.head(5)  # a copy for the current token is trusted as it is
    cache.write_copy(store.path, "weekly", token, marked)
    assert store.read_snapshot("weekly").equals(marked)


def test_every_change_makes_the_copy_stale(store: Store) -> None:
    store.confirm_added("weekly", rows(2_000), run_id=1)
    store.read_snapshot("weekly")  # a copy of 2,000
    store.confirm_added("weekly", rows(2_500, start=2_000), run_id=2)
    assert store.read_snapshot("weekly").equals(stored(store, "weekly"))
    assert store.read_snapshot("weekly").height == 2_500
    store.confirm_removed("weekly", [f"m{i:05d}@example.com" for i in range(100)])
    assert store.read_snapshot("weekly").equals(stored(store, "weekly"))
    assert store.read_snapshot("weekly").height == 2_400
    folder = cache.cache_folder(store.path)
    assert len(list(folder.glob("*.arrow"))) == 1  # older copies are deleted


def test_a_deleted_activation_of_the_same_name_starts_afresh(store: Store) -> None:
    store.save_activation("weekly", {"segment": "s", "destination": "d"})
    store.confirm_added("weekly", rows(500), run_id=1)
    store.read_snapshot("weekly")
    store.delete_activation("weekly")
    assert store.read_snapshot("weekly").height == 0
    store.confirm_added("weekly", rows(30), run_id=9)
    assert store.read_snapshot("weekly").equals(stored(store, "weekly"))


def test_an_unreadable_copy_falls_back_to_sqlite(store: Store) -> None:
    store.confirm_added("weekly", rows(800), run_id=1)
    store.read_snapshot("weekly")
    (copy,) = cache.cache_folder(store.path).glob("*.arrow")
    copy.write_bytes(b"not arrow at all")
    assert store.read_snapshot("weekly").equals(stored(store, "weekly"))


def test_inside_a_transaction_the_read_sees_its_writes_and_keeps_no_copy(store: Store) -> None:
    store.confirm_added("weekly", rows(100), run_id=1)
    store.read_snapshot("weekly")
    with store.transaction():
        store.confirm_added("weekly", rows(150, start=100), run_id=2)
        assert store.read_snapshot("weekly").height == 150
    assert store.read_snapshot("weekly").equals(stored(store, "weekly"))


def test_a_frame_of_the_wrong_size_is_not_kept(store: Store) -> None:
    store.confirm_added("weekly", rows(300), run_id=1)
    truth = stored(store, "weekly")
    assert not store.cache_snapshot("weekly", truth.head(299))
    assert current_copy(store, "weekly") is None
    assert store.cache_snapshot("weekly", truth)
    copy = current_copy(store, "weekly")
    assert copy is not None and copy.equals(truth)


def test_snapshots_stored_before_the_tokens_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite"
    all_migrations = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations[:3])
    Store(path)  # a state file as the workbench before migration 4 left it
    with closing(sqlite3.connect(path)) as con, con:
        for activation, size in (("weekly", 40), ("monthly", 60)):
            con.executemany(
                "INSERT INTO snapshot_members (activation, email, contact_id) VALUES (?, ?, ?)",
                [(activation, *row) for row in rows(size)],
            )
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations)
    store = Store(path)
    for activation, size in (("weekly", 40), ("monthly", 60)):
        assert store.read_snapshot(activation).height == size
        assert current_copy(store, activation) is not None


def test_a_copy_written_ahead_is_put_in_place_only_when_it_fits(store: Store) -> None:
    store.confirm_added("weekly", rows(300), run_id=1)
    truth = stored(store, "weekly")
    wrong = cache.prepare_copy(store.path, "weekly", truth.head(10))
    assert wrong is not None and wrong.exists()
    assert not store.cache_snapshot("weekly", truth.head(10), wrong)
    assert not wrong.exists() and current_copy(store, "weekly") is None
    ahead = cache.prepare_copy(store.path, "weekly", truth)
    left_behind = cache.prepare_copy(store.path, "weekly", truth.head(1))  # a killed run's
    assert store.cache_snapshot("weekly", truth, ahead)
    copy = current_copy(store, "weekly")
    assert copy is not None and copy.equals(truth)
    assert left_behind is not None and not left_behind.exists()
    assert [p.suffix for p in cache.cache_folder(store.path).iterdir()] == [".arrow"]


def test_a_change_that_changes_nothing_keeps_the_copy(store: Store) -> None:
    store.confirm_added("weekly", rows(200), run_id=1)
    store.read_snapshot("weekly")
    before = current_copy(store, "weekly")
    store.confirm_removed("weekly", [])  # a run with nothing to forget
    store.confirm_removed("weekly", ["nobody@example.com"])
    assert current_copy(store, "weekly") is not None and before is not None
    store.confirm_added("weekly", [("new@example.com", "id-new")], run_id=2)
    assert current_copy(store, "weekly") is None  # a real change: the copy is stale
    assert store.read_snapshot("weekly").height == 201
