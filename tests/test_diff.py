"""The membership diff: hand-written cases, set-operation properties, forced hash collisions."""

from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.diff import MembershipDiff, attach_reason, diff_members
from workbench.email_hashing import email_hashes
from workbench.errors import InputError, WorkbenchError


def desired_frame(emails: list[str]) -> pl.DataFrame:
    """Desired members: ``email`` and a key ``id`` (1..n in the given order)."""
    return pl.DataFrame(
        {"email": emails, "id": list(range(1, len(emails) + 1))},
        schema={"email": pl.String, "id": pl.Int64},
    )


def snapshot_frame(emails: list[str]) -> pl.DataFrame:
    """A list snapshot: ``email`` and ``contact_id`` = "c-" + email."""
    return pl.DataFrame(
        {"email": emails, "contact_id": [f"c-{e}" for e in emails]},
        schema={"email": pl.String, "contact_id": pl.String},
    )


def emails_of(frame: pl.DataFrame) -> list[str]:
    """The email column as a list, in frame order."""
    return frame.get_column("email").to_list()


def test_partial_overlap_keeps_each_sides_columns() -> None:
    diff = diff_members(
        desired_frame(["c@x.com", "a@x.com", "b@x.com"]),
        snapshot_frame(["d@x.com", "b@x.com", "c@x.com"]),
    )
    assert diff.to_add.to_dicts() == [{"email": "a@x.com", "id": 2}]
    assert diff.to_remove.to_dicts() == [{"email": "d@x.com", "contact_id": "c-d@x.com"}]
    assert diff.unchanged.to_dicts() == [
        {"email": "b@x.com", "id": 3, "contact_id": "c-b@x.com"},
        {"email": "c@x.com", "id": 1, "contact_id": "c-c@x.com"},
    ]
    assert diff.counts == {"to_add": 1, "to_remove": 1, "unchanged": 2, "skipped": 0}
    assert diff.skipped.columns == ["email", "reason"]


def test_unchanged_rows_carry_every_desired_column_of_their_own_member() -> None:
    emails = [f"m{i}@x.com" for i in range(6)]
    desired = pl.DataFrame(
        {
            "id": [10, None, 30, 40, 50, 60],
            "email": emails,
            "name": ["a", "b", None, "d", "e", "f"],
            "score": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
        }
    )
    chunked = pl.concat([desired.slice(0, 3), desired.slice(3)], rechunk=False)
    snapshot = snapshot_frame(list(reversed(emails[1:])))
    diff = diff_members(chunked, snapshot)
    assert diff.unchanged.columns == ["id", "email", "name", "score", "contact_id"]
    assert diff.unchanged.rows() == [
        (None, "m1@x.com", "b", 2.5, "c-m1@x.com"),
        (30, "m2@x.com", None, 3.5, "c-m2@x.com"),
        (40, "m3@x.com", "d", 4.5, "c-m3@x.com"),
        (50, "m4@x.com", "e", 5.5, "c-m4@x.com"),
        (60, "m5@x.com", "f", 6.5, "c-m5@x.com"),
    ]
    assert diff.to_add.rows() == [(10, "m0@x.com", "a", 1.5)]


@pytest.mark.parametrize(
    ("desired", "snapshot", "added", "removed", "kept"),
    [
        ([], [], [], [], []),
        ([], ["b@x.com", "a@x.com"], [], ["a@x.com", "b@x.com"], []),
        (["b@x.com", "a@x.com"], [], ["a@x.com", "b@x.com"], [], []),
        (["b@x.com", "a@x.com"], ["a@x.com", "b@x.com"], [], [], ["a@x.com", "b@x.com"]),
        (["a@x.com"], ["b@x.com"], ["a@x.com"], ["b@x.com"], []),
    ],
    ids=["both empty", "empty desired", "empty snapshot", "identical", "disjoint"],
)
def test_edge_cases(
    desired: list[str], snapshot: list[str], added: list[str], removed: list[str], kept: list[str]
) -> None:
    diff = diff_members(desired_frame(desired), snapshot_frame(snapshot))
    assert (emails_of(diff.to_add), emails_of(diff.to_remove), emails_of(diff.unchanged)) == (
        added,
        removed,
        kept,
    )


def test_a_column_on_both_sides_is_kept_from_each() -> None:
    desired = desired_frame(["a@x.com"]).with_columns(contact_id=pl.lit("fresh"))
    diff = diff_members(desired, snapshot_frame(["a@x.com"]))
    assert diff.unchanged.to_dicts() == [
        {"email": "a@x.com", "id": 1, "contact_id": "fresh", "contact_id_snapshot": "c-a@x.com"}
    ]


def test_order_of_the_inputs_does_not_matter() -> None:
    rng = random.Random(5)
    pool = [f"user{i}@example.com" for i in range(300)]
    desired, snapshot = rng.sample(pool, 200), rng.sample(pool, 200)
    first = diff_members(desired_frame(desired), snapshot_frame(sorted(snapshot)))
    second = diff_members(desired_frame(desired), snapshot_frame(snapshot))
    for name in ("to_add", "to_remove", "unchanged"):
        frame = getattr(first, name)
        assert frame.equals(getattr(second, name))
        assert emails_of(frame) == sorted(emails_of(frame))


def test_many_chunked_inputs_give_the_same_answer() -> None:
    desired = desired_frame([f"u{i}@x.com" for i in range(100)])
    snapshot = snapshot_frame([f"u{i}@x.com" for i in range(50, 150)])
    chunked = pl.concat([snapshot.slice(i, 10) for i in range(0, 100, 10)], rechunk=False)
    assert chunked.n_chunks() > 1
    plain, split = diff_members(desired, snapshot), diff_members(desired, chunked)
    assert plain.unchanged.equals(split.unchanged)
    assert plain.to_remove.equals(split.to_remove)


@pytest.mark.parametrize("hash_bits", [1, 2, 4])
def test_forced_hash_collisions_still_give_the_exact_answer(hash_bits: int) -> None:
    desired = [f"d{i}@x.com" for i in range(40)] + [f"both{i}@x.com" for i in range(40)]
    snapshot = [f"s{i}@x.com" for i in range(40)] + [f"both{i}@x.com" for i in range(40)]
    diff = diff_members(desired_frame(desired), snapshot_frame(snapshot), hash_bits=hash_bits)
    assert emails_of(diff.to_add) == sorted(desired[:40])
    assert emails_of(diff.to_remove) == sorted(snapshot[:40])
    assert emails_of(diff.unchanged) == sorted(desired[40:])
    assert diff.unchanged.get_column("contact_id").to_list() == [
        f"c-{e}" for e in sorted(desired[40:])
    ]


def colliding_emails(bits: int, count: int) -> list[str]:
    """``count`` different emails whose ``bits``-wide hashes are all equal."""
    pool = pl.Series([f"user{i}@example.com" for i in range(4 * 2**bits * count)])
    hashes = email_hashes(pool, bits=bits)
    target = hashes.mode().item(0)
    found = pool.filter(hashes == target).to_list()[:count]
    assert len(found) == count
    return found


def test_a_collision_across_the_sides_is_not_a_match() -> None:
    mine, theirs = colliding_emails(bits=8, count=2)
    diff = diff_members(desired_frame([mine]), snapshot_frame([theirs]), hash_bits=8)
    assert (emails_of(diff.to_add), emails_of(diff.to_remove)) == ([mine], [theirs])
    assert diff.unchanged.is_empty()


def test_a_collision_among_true_matches_drops_only_the_collided_pair() -> None:
    mine, theirs = colliding_emails(bits=12, count=2)
    common = [f"both{i}@x.com" for i in range(50)]
    diff = diff_members(
        desired_frame([mine, *common]), snapshot_frame([theirs, *common]), hash_bits=12
    )
    assert (emails_of(diff.to_add), emails_of(diff.to_remove)) == ([mine], [theirs])
    assert emails_of(diff.unchanged) == sorted(common)


def test_a_collision_inside_one_side_keeps_the_true_match() -> None:
    first, second, third = colliding_emails(bits=8, count=3)
    diff = diff_members(
        desired_frame([first, second]), snapshot_frame([second, third]), hash_bits=8
    )
    assert emails_of(diff.to_add) == [first]
    assert emails_of(diff.to_remove) == [third]
    assert diff.unchanged.rows() == [(second, 2, f"c-{second}")]


email_sets = st.sets(st.sampled_from([f"{c}{n}@x.io" for c in "abcA." for n in range(12)]))


@settings(max_examples=200, deadline=None)
@given(desired=email_sets, snapshot=email_sets, hash_bits=st.sampled_from([64, 3, 1]))
def test_matches_python_set_operations(
    desired: set[str], snapshot: set[str], hash_bits: int
) -> None:
    diff = diff_members(
        desired_frame(list(desired)), snapshot_frame(list(snapshot)), hash_bits=hash_bits
    )
    assert emails_of(diff.to_add) == sorted(desired - snapshot)
    assert emails_of(diff.to_remove) == sorted(snapshot - desired)
    assert emails_of(diff.unchanged) == sorted(desired & snapshot)
    assert diff.to_remove.get_column("contact_id").to_list() == [
        f"c-{e}" for e in sorted(snapshot - desired)
    ]


def test_skipping_moves_emails_from_to_add_with_their_reason() -> None:
    diff = diff_members(desired_frame(["a@x.com", "b@x.com", "c@x.com"]), snapshot_frame([]))
    skipped = attach_reason(pl.Series(["c@x.com", "a@x.com", "zz@x.com"]), "not a contact")
    later = diff.skip(skipped)
    assert emails_of(later.to_add) == ["b@x.com"]
    assert later.skipped.to_dicts() == [
        {"email": "a@x.com", "reason": "not a contact"},
        {"email": "c@x.com", "reason": "not a contact"},
    ]
    assert later.counts == {"to_add": 1, "to_remove": 0, "unchanged": 0, "skipped": 2}
    assert diff.add_count == 3, "skip returns a new diff and leaves the original alone"
    assert isinstance(later, MembershipDiff)


def test_attach_reason_accepts_a_frame_and_needs_an_email_column() -> None:
    frame = pl.DataFrame({"email": ["b@x.com", "a@x.com"], "id": [2, 1]})
    assert attach_reason(frame, "why").rows() == [("a@x.com", 1, "why"), ("b@x.com", 2, "why")]
    with pytest.raises(InputError, match="no 'email' column"):
        attach_reason(pl.DataFrame({"mail": ["a@x.com"]}), "why")


@pytest.mark.parametrize(
    ("desired", "snapshot", "message"),
    [
        (pl.DataFrame({"mail": ["a@x.com"]}), snapshot_frame([]), "desired frame lacks .*email"),
        (desired_frame([]), pl.DataFrame({"email": ["a@x.com"]}), "lacks column.*contact_id"),
        (desired_frame(["a@x.com", "a@x.com"]), snapshot_frame([]), "1 repeated email"),
        (desired_frame([]), snapshot_frame(["b@x.com"] * 3), "snapshot frame has 2 repeated"),
        (pl.DataFrame({"email": [None, "a@x.com"]}), snapshot_frame([]), "1 null email"),
        (pl.DataFrame({"email": [1, 2]}), snapshot_frame([]), "holds Int64, not text"),
    ],
    ids=["no email", "no contact id", "repeated desired", "repeated snapshot", "null", "type"],
)
def test_bad_input_is_a_clear_error(
    desired: pl.DataFrame, snapshot: pl.DataFrame, message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        diff_members(desired, snapshot, hash_bits=2)
    assert isinstance(caught.value, WorkbenchError) and isinstance(caught.value, ValueError)
