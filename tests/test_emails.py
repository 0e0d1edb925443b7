"""Email normalisation: the syntax rule, the drop reasons, duplicates, counts and determinism."""

from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.emails import (
    REASON_DUPLICATE,
    REASON_INVALID,
    REASON_NULL,
    is_valid_email,
    normalise_email,
    normalise_emails,
)
from workbench.errors import CatalogError

LOCAL_64 = "a" * 64
LONG_DOMAIN = ".".join(["d" * 63] * 3) + ".com"  # 195 characters

VALID = [
    "a@b.co",
    "first.last@example.com",
    "first.last+tag@example.com",
    "o'neil@example.ie",
    "a_b-c@sub.domain-x.org",
    "x@a-b.c-d.io",
    "1@2.ab",
    f"{LOCAL_64}@example.com",
    f"{'b' * 54}@{LONG_DOMAIN}",  # 54 + 1 + 195 = 250 characters
]
INVALID = {
    "no at sign": "plain.example.com",
    "two at signs": "a@@b.com",
    "two separate at signs": "a@b@c.com",
    "empty local part": "@b.com",
    "empty domain": "a@",
    "no dot in domain": "a@localhost",
    "one-letter tld": "a@b.c",
    "digits in tld": "a@b.c1",
    "space inside": "a b@c.com",
    "tab inside": "a\tb@c.com",
    "leading dot": ".a@b.com",
    "trailing dot": "a.@b.com",
    "double dot": "a..b@c.com",
    "double dot in domain": "a@b..com",
    "leading dot in domain": "a@.b.com",
    "label starts with hyphen": "a@-b.com",
    "label ends with hyphen": "a@b-.com",
    "local part of 65": f"{LOCAL_64}a@example.com",
    "address of 255": f"{'b' * 59}@{LONG_DOMAIN}",
    "non-ascii local part": "zoë@example.com",
    "non-ascii domain": "a@exämple.com",
    "comma": "a,b@c.com",
    "angle brackets": "<a@b.com>",
}


def members(emails: list[str | None], keys: list[int] | None = None) -> pl.DataFrame:
    """A member frame ``id, email``; keys default to 1..n."""
    keys = keys if keys is not None else list(range(1, len(emails) + 1))
    return pl.DataFrame({"id": keys, "email": emails}, schema={"id": pl.Int64, "email": pl.String})


@pytest.mark.parametrize("address", VALID)
def test_valid_addresses_are_kept_unchanged(address: str) -> None:
    result = normalise_emails(members([address]))
    assert result.valid.get_column("email").to_list() == [address]
    assert is_valid_email(address)


@pytest.mark.parametrize("address", INVALID.values(), ids=INVALID.keys())
def test_invalid_addresses_are_dropped_as_invalid(address: str) -> None:
    result = normalise_emails(members([address]))
    assert result.valid.is_empty()
    assert result.dropped.row(0, named=True)["reason"] == REASON_INVALID
    assert not is_valid_email(address)


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n", "\u3000"])
def test_missing_or_blank_emails_are_dropped_as_null(raw: str | None) -> None:
    result = normalise_emails(members([raw]))
    row = result.dropped.row(0, named=True)
    assert (row["raw_email"], row["email"], row["reason"]) == (raw, None, REASON_NULL)


def test_case_and_outer_whitespace_are_normalised_but_dots_and_tags_kept() -> None:
    result = normalise_emails(members(["  First.Last+News@GMail.COM\t", "firstlast@gmail.com"]))
    assert result.valid.to_dicts() == [
        {"id": 1, "email": "first.last+news@gmail.com"},
        {"id": 2, "email": "firstlast@gmail.com"},
    ]
    assert result.dropped.is_empty()


def test_people_sharing_an_email_become_one_entry_with_the_smallest_key() -> None:
    frame = members(["A@x.com", " a@x.com ", "a@X.COM", "b@x.com"], keys=[5, 3, 9, 1])
    result = normalise_emails(frame)
    assert result.valid.to_dicts() == [{"id": 1, "email": "b@x.com"}, {"id": 3, "email": "a@x.com"}]
    assert result.dropped.to_dicts() == [
        {"id": 5, "raw_email": "A@x.com", "email": "a@x.com", "reason": REASON_DUPLICATE,
         "duplicate_of": 3},
        {"id": 9, "raw_email": "a@X.COM", "email": "a@x.com", "reason": REASON_DUPLICATE,
         "duplicate_of": 3},
    ]  # fmt: skip


def test_rows_that_need_fixing_keep_their_place_among_rows_that_do_not() -> None:
    # Already-normal rows skip trimming and lower-casing; the fixed rows must land back on
    # their own keys, and the local part's limit applies to both kinds.
    frame = members(
        [
            f"{LOCAL_64}a@example.com",
            f" {LOCAL_64.upper()}@Example.com",
            f"{LOCAL_64}@example.com",
            f"{LOCAL_64}A@EXAMPLE.COM ",
            "b@x.com",
            "B@x.com\t",
        ]
    )
    result = normalise_emails(frame)
    assert result.valid.rows() == [(2, f"{LOCAL_64}@example.com"), (5, "b@x.com")]
    assert [(row[0], row[3], row[4]) for row in result.dropped.rows()] == [
        (1, REASON_INVALID, None),
        (3, REASON_DUPLICATE, 2),
        (4, REASON_INVALID, None),
        (6, REASON_DUPLICATE, 5),
    ]


def test_a_non_ascii_letter_that_lower_cases_to_ascii_is_accepted_like_its_lower_case() -> None:
    kelvin_sign = "\u212a"  # lower-cases to "k" in Python and in polars alike
    result = normalise_emails(members([f"{kelvin_sign}@x.com", "k@x.com"]))
    assert result.valid.rows() == [(1, "k@x.com")]
    assert result.dropped.rows() == [(2, "k@x.com", "k@x.com", REASON_DUPLICATE, 1)]
    assert is_valid_email(f"{kelvin_sign}@x.com")


def test_counts_add_up_and_feed_the_funnel() -> None:
    frame = members(["a@x.com", "A@x.com", None, "", "bad", "b@x.com", "bad@", "b@x.com "])
    result = normalise_emails(frame)
    assert result.total == 8
    assert result.by_reason == {REASON_NULL: 2, REASON_INVALID: 2, REASON_DUPLICATE: 2}
    assert (result.valid_count, result.unique_count) == (4, 2)
    assert result.unique_count + result.dropped.height == result.total
    assert result.funnel() == [
        ("members", 8),
        ("valid emails", 4),
        ("unique after normalisation", 2),
    ]


def test_output_does_not_depend_on_input_order() -> None:
    rng = random.Random(11)
    pool = ["a@x.com", "A@X.com", " b@y.org", "bad", None, "c+1@z.io", "C+1@z.io", "d@x.com"]
    emails = [rng.choice(pool) for _ in range(200)]
    frame = members(emails)
    first = normalise_emails(frame)
    shuffled = normalise_emails(frame.sample(fraction=1.0, shuffle=True, seed=3))
    assert first.valid.equals(shuffled.valid)
    assert first.dropped.equals(shuffled.dropped)


def test_text_keys_and_lazy_frames_work() -> None:
    frame = pl.LazyFrame({"customer_id": ["C2", "C1"], "mail": ["x@y.com", "X@y.com"]})
    result = normalise_emails(frame, email_column="mail", key_column="customer_id")
    assert result.valid.to_dicts() == [{"customer_id": "C1", "email": "x@y.com"}]
    assert result.dropped.get_column("duplicate_of").to_list() == ["C1"]
    assert result.key_column == "customer_id"


def test_empty_frame_gives_empty_results() -> None:
    result = normalise_emails(members([]))
    assert (result.total, result.unique_count, result.dropped.height) == (0, 0, 0)


@pytest.mark.parametrize(
    ("email_column", "key_column", "named"),
    [("mail", "id", "'mail'"), ("email", "customer_id", "'customer_id'")],
)
def test_missing_column_is_a_clear_error(email_column: str, key_column: str, named: str) -> None:
    with pytest.raises(CatalogError) as caught:
        normalise_emails(members(["a@b.co"]), email_column=email_column, key_column=key_column)
    assert named in str(caught.value)
    assert "available columns: id, email" in str(caught.value)


def test_non_text_email_column_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match="holds Int64, not text"):
        normalise_emails(pl.DataFrame({"id": [1], "email": [42]}))


def reference_normalisation(emails: list[str | None]) -> tuple[list[tuple], list[tuple]]:
    """The rule written plainly in Python over rows in key order (keys are 1..n)."""
    valid, dropped, first_key = [], [], {}
    for key, raw in enumerate(emails, start=1):
        email = normalise_email(raw)
        if email is None:
            dropped.append((key, raw, None, REASON_NULL, None))
        elif not is_valid_email(raw or ""):
            dropped.append((key, raw, email, REASON_INVALID, None))
        elif email in first_key:
            dropped.append((key, raw, email, REASON_DUPLICATE, first_key[email]))
        else:
            first_key[email] = key
            valid.append((key, email))
    return valid, dropped


email_like = st.lists(
    st.one_of(
        st.none(),
        st.sampled_from(["a@x.com", "A@x.com ", " b.c@y.org", "b.c@Y.org", "x@y", "a..b@x.com"]),
        st.text(alphabet="aB.@+ -_'é\t", max_size=12),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(emails=email_like, hash_bits=st.sampled_from([64, 2, 1]))
def test_matches_a_plain_python_reference(emails: list[str | None], hash_bits: int) -> None:
    result = normalise_emails(members(emails), hash_bits=hash_bits)
    valid, dropped = reference_normalisation(emails)
    assert result.valid.rows() == valid
    assert result.dropped.rows() == dropped


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.from_regex(
    r"\s?[a-zA-Z0-9.+'_-]{1,8}@[a-zA-Z0-9.-]{1,10}\.[a-zA-Z]{1,3}\s?", fullmatch=True
))  # fmt: skip
def test_single_check_agrees_with_the_vectorised_rule(text: str) -> None:
    result = normalise_emails(members([text]))
    assert is_valid_email(text) == (result.unique_count == 1)
