"""The SQLite state store: schema migrations, every kind of saved object, and two processes
writing at the same time without errors or lost updates."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import workbench.store as store_module
from workbench.catalog import EntitySpec, Relation
from workbench.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    SegmentInvalid,
)
from workbench.store import Store

INCREMENTS_PER_PROCESS = 200


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "state.sqlite"


@pytest.fixture
def store(path: Path) -> Store:
    return Store(path)


def segment(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "entity": "customers", "where": {"all": []}, **extra}


def raw(path: Path, sql: str) -> list[Any]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# -- database, migrations ------------------------------------------------------------------


def test_creates_folder_and_database_in_wal_mode(path: Path) -> None:
    Store(path)
    assert path.exists()
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(path, "PRAGMA user_version") == [(len(store_module.MIGRATIONS),)]


def test_reopening_keeps_data_and_migrates_nothing_again(path: Path) -> None:
    Store(path).save_segment(segment("vip"))
    reopened = Store(path)
    assert reopened.get_segment("vip") == segment("vip")
    assert reopened.schema_version() == len(store_module.MIGRATIONS)


def test_appended_migration_is_applied_once(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(path).create_run("weekly", {})
    extra = "ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, extra))
    migrated = Store(path)
    again = Store(path)  # a duplicate ALTER would fail: the migration must not run twice
    assert again.schema_version() == migrated.schema_version() == len(store_module.MIGRATIONS)
    assert raw(path, "SELECT attempt FROM runs") == [(1,)]


def test_failed_migration_leaves_nothing_half_done(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(path)
    broken = "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        Store(path)
    assert raw(path, "SELECT name FROM sqlite_master WHERE name = 'half'") == []
    assert raw(path, "PRAGMA user_version") == [(len(store_module.MIGRATIONS) - 1,)]


def test_database_of_a_newer_workbench_is_refused(path: Path) -> None:
    Store(path)
    raw(path, "PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match=r"schema version 99.*upgrade"):
        Store(path)


# -- transactions ---------------------------------------------------------------------------


def test_transaction_rolls_back_everything_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.save_segment(segment("a"))
        store.save_destination("sg", {"list_name": "A"})
        raise RuntimeError("boom")
    assert store.list_segments() == []
    assert store.list_destinations() == []


def test_store_methods_join_an_open_transaction(store: Store) -> None:
    store.save_destination("counter", {"n": 1})
    with store.transaction():
        n = store.get_destination("counter")["n"]
        store.save_destination("counter", {"n": n + 1})
        assert store.get_destination("counter") == {"n": 2}  # sees its own write
    assert store.get_destination("counter") == {"n": 2}


def test_failed_nested_operation_rolls_back_alone(store: Store) -> None:
    with store.transaction():
        store.save_segment(segment("kept"))
        with pytest.raises(NotFoundError):
            store.delete_segment("missing")
        with pytest.raises(ValueError), store.transaction():
            store.save_segment(segment("dropped"))
            raise ValueError("inner")
    assert [s.name for s in store.list_segments()] == ["kept"]


# -- catalog registrations ------------------------------------------------------------------


def test_entities_are_saved_replaced_listed_and_deleted(store: Store) -> None:
    orders = EntitySpec("orders", "orders.parquet", "order_id", time_column="ordered_at",
                        relation=Relation("customers", "customer_id"))  # fmt: skip
    store.save_entity(orders)
    store.save_entity(EntitySpec("customers", "customers", "id"))
    store.save_entity(EntitySpec("customers", "crm_customers", "customer_id", "email"))
    assert store.list_entities() == [
        EntitySpec("customers", "crm_customers", "customer_id", "email"),
        orders,
    ]
    store.delete_entity("customers")
    assert [e.name for e in store.list_entities()] == ["orders"]
    with pytest.raises(NotFoundError, match=r"no saved entity named 'customer'.*'orders'"):
        store.delete_entity("customer")


# -- segments -------------------------------------------------------------------------------


def test_segment_gets_a_new_version_only_when_its_content_changes(store: Store) -> None:
    assert store.save_segment(segment("vip", description="Big spenders")) == 1
    same_in_other_order = {"where": {"all": []}, "entity": "customers", "name": "vip",
                           "description": "Big spenders"}  # fmt: skip
    assert store.save_segment(same_in_other_order) == 1
    assert store.save_segment(segment("vip", description="Top 5%")) == 2
    assert store.get_segment("vip") == segment("vip", description="Top 5%")
    assert store.get_segment("vip", version=1) == segment("vip", description="Big spenders")
    versions = store.segment_versions("vip")
    assert [(v.version, v.description) for v in versions] == [(1, "Big spenders"), (2, "Top 5%")]
    [info] = store.list_segments()
    assert (info.name, info.version, info.description) == ("vip", 2, "Top 5%")
    assert datetime.fromisoformat(info.updated_at).tzinfo == UTC


def test_missing_segment_error_names_it_and_close_names(store: Store) -> None:
    store.save_segment(segment("lapsed_buyers"))
    store.save_segment(segment("vip"))
    with pytest.raises(NotFoundError, match=r"'lapsed_buyer'.*did you mean: 'lapsed_buyers'"):
        store.get_segment("lapsed_buyer")
    with pytest.raises(NotFoundError, match=r"'zzz'.*saved: 'lapsed_buyers', 'vip'"):
        store.segment_versions("zzz")
    with pytest.raises(NotFoundError, match=r"'vip' has no version 3 \(versions 1 to 1\)"):
        store.get_segment("vip", version=3)


@pytest.mark.parametrize("doc", [{"entity": "customers"}, {"name": ""}, {"name": 7}, "vip"])
def test_segment_without_a_name_is_refused(store: Store, doc: Any) -> None:
    with pytest.raises(SegmentInvalid):
        store.save_segment(doc)
    assert store.list_segments() == []


def test_dependents_are_found_anywhere_in_the_document(store: Store) -> None:
    store.save_segment(segment("vip"))
    nested = {"all": [{"any": [{"column": "x", "op": "eq", "value": 1}, {"in_segment": "vip"}]}]}
    store.save_segment(segment("vip_recent", where=nested))
    store.save_segment(segment("not_vip", where={"not": {"in_segment": "vip"}}))
    store.save_segment(segment("other", where={"in_segment": "vip_recent"}))
    store.save_segment(segment("text_only", description='mentions {"in_segment": "vip"}'))
    assert store.segment_dependents("vip") == ["not_vip", "vip_recent"]
    assert store.segment_dependents("vip_recent") == ["other"]


def test_rename_updates_versions_references_and_activations(store: Store) -> None:
    store.save_segment(segment("vip"))
    store.save_segment(segment("vip", description="v2"))
    store.save_segment(segment("vip_recent", where={"in_segment": "vip"}))
    store.save_activation("vip_to_sendgrid", {"segment": "vip", "destination": "sg"})
    store.rename_segment("vip", "champions")
    assert store.get_segment("champions", version=1)["name"] == "champions"
    assert store.get_segment("champions") == segment("champions", description="v2")
    assert store.get_segment("vip_recent")["where"] == {"in_segment": "champions"}
    assert store.get_activation("vip_to_sendgrid")["segment"] == "champions"
    assert [a.name for a in store.list_activations(segment="champions")] == ["vip_to_sendgrid"]
    with pytest.raises(NotFoundError):
        store.get_segment("vip")


def test_rename_onto_an_existing_segment_is_a_conflict(store: Store) -> None:
    store.save_segment(segment("a"))
    store.save_segment(segment("b"))
    with pytest.raises(ConflictError, match="'b' exists already"):
        store.rename_segment("a", "b")
    with pytest.raises(NotFoundError):
        store.rename_segment("nope", "c")
    assert store.get_segment("a") == segment("a")


def test_delete_segment_refuses_while_used_unless_forced(store: Store) -> None:
    store.save_segment(segment("vip"))
    store.save_segment(segment("vip", description="v2"))
    store.save_segment(segment("vip_recent", where={"in_segment": "vip"}))
    with pytest.raises(ConflictError, match="used by vip_recent"):
        store.delete_segment("vip")
    store.delete_segment("vip", force=True)
    assert [s.name for s in store.list_segments()] == ["vip_recent"]
    assert raw(store.path, "SELECT count(*) FROM segment_versions WHERE name = 'vip'") == [(0,)]
    with pytest.raises(NotFoundError):
        store.delete_segment("vip")


# -- destinations, activations, runs ---------------------------------------------------------


def test_destinations_are_saved_listed_and_deleted(store: Store) -> None:
    store.save_destination("sg", {"kind": "sendgrid", "api_key_env": "SENDGRID_API_KEY"})
    store.save_destination("sg", {"kind": "sendgrid", "host": "https://api.eu.sendgrid.com"})
    assert store.get_destination("sg") == {
        "kind": "sendgrid",
        "host": "https://api.eu.sendgrid.com",
    }
    assert [d.name for d in store.list_destinations()] == ["sg"]
    store.delete_destination("sg")
    with pytest.raises(NotFoundError, match="no saved destination named 'sg'"):
        store.get_destination("sg")


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": "SG.aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb"},
        {"apiKey": "hunter2-hunter2"},
        {"auth": {"Bearer_Token": "hunter2-hunter2"}},
        {"password": "hunter2-hunter2"},
        {"headers": [{"x": "SG.aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb"}]},
    ],
)
def test_secrets_are_refused_without_repeating_them(store: Store, config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="looks like a secret") as caught:
        store.save_destination("sg", config)
    assert "hunter2" not in str(caught.value) and "SG.aaa" not in str(caught.value)
    with pytest.raises(ConfigError):
        store.save_activation("weekly", {"segment": "vip", **config})
    assert store.list_destinations() == [] and store.list_activations() == []


def test_activations_are_indexed_by_segment_and_destination(store: Store) -> None:
    store.save_destination("sg", {"kind": "sendgrid"})
    store.save_activation("a1", {"segment": "vip", "destination": "sg", "list_name": "VIP"})
    store.save_activation("a2", {"segment": "lapsed", "destination": "sg"})
    assert store.get_activation("a1")["list_name"] == "VIP"
    assert [a.name for a in store.list_activations()] == ["a1", "a2"]
    assert [a.name for a in store.list_activations(segment="lapsed")] == ["a2"]
    assert [a.name for a in store.list_activations(destination="sg")] == ["a1", "a2"]
    with pytest.raises(ConflictError, match=r"used by activation\(s\) a1, a2"):
        store.delete_destination("sg")


def test_deleting_an_activation_drops_its_snapshot_but_keeps_runs(store: Store) -> None:
    store.save_activation("a1", {"segment": "vip"})
    run = store.create_run("a1", {})
    store.confirm_added("a1", [("a@x.io", "c1")], run)
    store.delete_activation("a1")
    assert store.read_snapshot("a1").is_empty()
    assert store.get_run(run)["activation"] == "a1"
    with pytest.raises(NotFoundError, match="no saved activation named 'a1'"):
        store.delete_activation("a1")


def test_runs_are_created_updated_and_listed_newest_first(store: Store) -> None:
    first = store.create_run("weekly", {"trigger": "schedule"})
    run = store.get_run(first)
    assert (run["status"], run["activation"], run["trigger"]) == ("planned", "weekly", "schedule")
    assert datetime.fromisoformat(run["started_at"]).tzinfo == UTC
    updated = store.update_run(first, status="applying", batch=1)
    assert updated == {**run, "status": "applying", "batch": 1, "updated_at": updated["updated_at"]}
    store.update_run(first, status="confirmed", added=10)
    assert store.get_run(first) | {"updated_at": ""} == {
        **run, "status": "confirmed", "batch": 1, "added": 10, "updated_at": ""
    }  # fmt: skip
    second = store.create_run("daily", {})
    third = store.create_run("weekly", {})
    assert [r["id"] for r in store.list_runs()] == [third, second, first]
    assert [r["id"] for r in store.list_runs(activation="weekly")] == [third, first]
    assert [r["id"] for r in store.list_runs(limit=1)] == [third]
    with pytest.raises(NotFoundError, match="no run with id 999"):
        store.update_run(999, status="failed")
    with pytest.raises(ValueError, match="activation"):
        store.update_run(first, activation="other")


# -- member snapshots -----------------------------------------------------------------------


def test_empty_snapshot_has_typed_columns(store: Store) -> None:
    frame = store.read_snapshot("nothing")
    assert frame.schema == pl.Schema({"email": pl.Utf8, "contact_id": pl.Utf8})
    assert frame.height == 0


def test_snapshot_batches_are_idempotent(store: Store) -> None:
    batch = [("c@x.io", "id-c"), ("a@x.io", "id-a"), ("b@x.io", None)]
    store.confirm_added("weekly", batch, run_id=1)
    store.confirm_added("daily", [("z@x.io", "id-z")], run_id=1)
    before = raw(store.path, "SELECT * FROM snapshot_members ORDER BY activation, email")
    store.confirm_added("weekly", batch, run_id=1)
    store.confirm_added("weekly", [("a@x.io", None)], run_id=2)  # a later run keeps the id
    assert raw(store.path, "SELECT * FROM snapshot_members ORDER BY activation, email") == before
    expected = pl.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io"],
                             "contact_id": ["id-a", None, "id-c"]})  # fmt: skip
    assert store.read_snapshot("weekly").equals(expected)
    store.confirm_removed("weekly", ["a@x.io", "c@x.io", "never@x.io"])
    store.confirm_removed("weekly", ["a@x.io", "c@x.io", "never@x.io"])
    assert store.read_snapshot("weekly")["email"].to_list() == ["b@x.io"]
    assert store.read_snapshot("daily")["email"].to_list() == ["z@x.io"]


def test_snapshot_rows_travel_intact_whatever_their_characters(store: Store) -> None:
    # rows reach SQLite as one JSON array: quotes, backslashes, non-ASCII and a duplicate
    # address within one batch must land exactly as given (the later row's id wins, as before)
    odd = [('q"uote@x.io', "id-1"), ("back\\slash@x.io", None), ("zoë@x.io", "id-ë")]
    store.confirm_added("odd", [*odd, ('q"uote@x.io', "id-2")], run_id=3)
    expected = {('q"uote@x.io', "id-2"), ("back\\slash@x.io", None), ("zoë@x.io", "id-ë")}
    assert set(store.read_snapshot("odd").rows()) == expected
    store.confirm_removed("odd", ["zoë@x.io", 'q"uote@x.io'])
    assert store.read_snapshot("odd")["email"].to_list() == ["back\\slash@x.io"]


# -- threads and processes ---------------------------------------------------------------


def _hammer(path: str, worker: int, start: Any) -> None:
    """One process: open the store at the same moment as the other, then increment and save."""
    start.wait()
    store = Store(Path(path))
    for i in range(INCREMENTS_PER_PROCESS):
        with store.transaction():
            n = store.get_destination("counter")["n"] if store.list_destinations() else 0
            store.save_destination("counter", {"n": n + 1})
        if i % 10 == 0:
            store.save_segment(segment(f"w{worker}_{i}"))
            store.create_run(f"w{worker}", {"i": i})


def test_two_processes_write_concurrently_without_lost_updates(path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_hammer, args=(str(path), w, start)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0]
    store = Store(path)
    assert store.get_destination("counter") == {"n": 2 * INCREMENTS_PER_PROCESS}
    expected = {f"w{w}_{i}" for w in (1, 2) for i in range(0, INCREMENTS_PER_PROCESS, 10)}
    assert {s.name for s in store.list_segments()} == expected
    assert len(store.list_runs(limit=1000)) == len(expected)
    assert store.schema_version() == len(store_module.MIGRATIONS)


def test_threads_sharing_one_store_lose_no_update(store: Store) -> None:
    """Streamlit runs each session on its own thread over one cached Store."""
    store.save_destination("counter", {"n": 0})
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            for _ in range(50):
                with store.transaction():
                    n = store.get_destination("counter")["n"]
                    store.save_destination("counter", {"n": n + 1})
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert store.get_destination("counter") == {"n": 200}
