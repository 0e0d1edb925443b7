"""The sync planner: desired members + confirmed snapshot + SendGrid lookups -> a SyncPlan.

Steps (pure apart from the read-only SendGrid calls):

1. normalise the members' emails (dropped rows keep their reason: null / invalid / duplicate);
2. diff the unique emails against the snapshot of what SendGrid confirmed on the list;
3. look up only the emails not yet confirmed, by the cheaper path in API calls: ``ceil(n/100)``
   searches, or one export of every contact (create + polls + download) when that is fewer;
   emails that are no SendGrid contact are skipped and looked up again on later runs;
4. in mirror mode, the removals are the list's real membership (read by an export of the list)
   minus the desired contacts; in managed mode, the confirmed members who left.

Nothing here writes to SendGrid; :mod:`.sync_apply` does, from the persisted plan (or, for
a plan that only adds, from batches cut while the export is read: ``Draft.streams``).
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from workbench.diff import MembershipDiff, diff_members
from workbench.emails import NormalisedEmails

from .batching import SEARCH_MAX_EMAILS
from .client import SendGridClient
from .contact_frames import MATCH_SCHEMA, matches_from_lookup, matches_of
from .sync_plan import REMOVE_SCHEMA, SyncPlan

REASON_NOT_CONTACT = "not a SendGrid contact"
REASON_REFUSED = "SendGrid refuses this address"
EXPORT_CALLS_ESTIMATE = 5  # 1 create + about 3 polls + 1 download
SKIP_SCHEMA = {"email": pl.String, "reason": pl.String}


def lookup_path(n: int) -> str:
    """``search`` when ``ceil(n/100)`` searches cost no more calls than one export, else
    ``export``."""
    return "search" if math.ceil(n / SEARCH_MAX_EMAILS) <= EXPORT_CALLS_ESTIMATE else "export"


def find_contacts(
    client: SendGridClient,
    emails: pl.Series,
    poll_s: float,
    export: Future[list[str]] | None = None,
) -> tuple[pl.DataFrame, set[str], str]:
    """``email, contact_id, entry`` of the ``emails`` that are contacts (by primary or
    alternate email, in the order of ``emails``), the refused emails, and the path taken.

    ``export``: the URLs of the account's export, already under way (``early_export``): it
    is read whatever ``lookup_path`` says, as it is paid for."""
    if emails.is_empty():
        return pl.DataFrame(schema=MATCH_SCHEMA), set(), "none"
    if export is None and lookup_path(emails.len()) == "search":
        result = client.search_emails(emails.to_list())
        return matches_from_lookup(emails, result.found), result.invalid, "search"
    urls = export.result() if export is not None else client.export_urls(poll_s=poll_s)
    return matches_of(emails, client.read_export(urls)), set(), "export"


def early_export(
    pool: ThreadPoolExecutor, client: SendGridClient, fewest_lookups: int, poll_s: float
) -> Future[list[str]] | None:
    """The account's export (its URLs once ready), started on ``pool`` before the diff when
    the lookups will take the export path whatever the diff finds: at least
    ``fewest_lookups`` emails (desired minus snapshot) are not confirmed yet. A first run at a
    million members so asks for its export while the diff runs (0.3-0.4 s), not after it;
    None when the diff must decide."""
    if lookup_path(max(fewest_lookups, 0)) != "export":
        return None
    return pool.submit(client.export_urls, poll_s=poll_s)


def dropped_as_skipped(normalised: NormalisedEmails) -> pl.DataFrame:
    """The rows normalisation dropped, as ``email`` (the raw text, "" for null) and ``reason``."""
    dropped = normalised.dropped
    return dropped.select(
        email=pl.col("raw_email").fill_null(""), reason=pl.col("reason").cast(pl.String)
    )


@dataclass(frozen=True)
class Draft:
    """A plan up to its lookups: the members, the snapshot, their diff, and the account's
    export when it is already under way (``early_export``)."""

    activation: str
    list_name: str
    list_id: str | None
    mode: str
    normalised: NormalisedEmails
    snapshot: pl.DataFrame
    diff: MembershipDiff
    export: Future[list[str]] | None

    @property
    def candidates(self) -> pl.Series:
        """The unique emails not confirmed on the list yet: to look up."""
        return self.diff.to_add.get_column("email")

    @property
    def streams(self) -> bool:
        """Whether its adds can be sent while the export is still read: the lookups read the
        export under way, and nothing leaves (so no guard can stop the plan once the contacts
        are known: an empty segment has no candidate, and removals come only from leavers, or
        in mirror mode from an existing list's membership)."""
        return (
            self.export is not None
            and not self.candidates.is_empty()
            and self.diff.to_remove.is_empty()
            and not (self.mode == "mirror" and self.list_id)
        )


def draft_plan(
    pool: ThreadPoolExecutor,
    client: SendGridClient,
    poll_s: float,
    *,
    activation: str,
    list_name: str,
    list_id: str | None,
    mode: str,
    normalised: NormalisedEmails,
    snapshot: pl.DataFrame,
    export: Future[list[str]] | None = None,
) -> Draft:
    """Diff the members against the snapshot, the export started first on ``pool`` when the
    lookups will read one whatever the diff finds (``export``: started even earlier)."""
    desired = normalised.valid.select("email")
    if export is None:
        export = early_export(pool, client, desired.height - snapshot.height, poll_s)
    diff = diff_members(desired, snapshot)
    return Draft(activation, list_name, list_id, mode, normalised, snapshot, diff, export)


def looked_up(draft: Draft, client: SendGridClient, poll_s: float) -> SyncPlan:
    """The draft's plan once its candidates are looked up (by the export under way, if any)."""
    to_add, refused, path = find_contacts(client, draft.candidates, poll_s, draft.export)
    return finish_plan(draft, to_add, refused, path, client, poll_s)


def finish_plan(
    draft: Draft,
    to_add: pl.DataFrame,
    refused: set[str],
    path: str,
    client: SendGridClient,
    poll_s: float,
) -> SyncPlan:
    """The plan, once the lookups found the contacts ``to_add`` (``email, contact_id, entry``)
    and ``refused`` emails SendGrid will not take, by ``path``."""
    diff, snapshot, normalised = draft.diff, draft.snapshot, draft.normalised
    skipped = pl.concat(
        [dropped_as_skipped(normalised), lookup_skips(draft.candidates, to_add, refused)]
    )
    leavers = diff.to_remove.select("email", "contact_id")
    keep = pl.concat([diff.unchanged.get_column("contact_id"), to_add.get_column("contact_id")])
    if draft.mode == "mirror" and draft.list_id:
        to_remove = mirror_removals(client, draft.list_id, keep, snapshot, poll_s)
    else:
        kept = kept_leavers(leavers, keep).implode()
        to_remove = leavers.filter(~pl.col("contact_id").is_in(kept))
    removed_ids = to_remove.get_column("contact_id")
    to_forget = leavers.filter(~pl.col("contact_id").is_in(removed_ids.implode()))
    matched = diff.unchanged.height + to_add.height
    funnel = [
        *normalised.funnel(),
        ("SendGrid contacts", matched),
        ("will be on the list", matched),
    ]
    return SyncPlan(
        activation=draft.activation,
        list_name=draft.list_name,
        list_id=draft.list_id,
        mode=draft.mode,
        funnel=funnel,
        to_add=to_add,
        to_remove=to_remove,
        to_forget=to_forget,
        skipped=skipped,
        unchanged=diff.unchanged.height,
        list_size=snapshot.height,
        lookup=path,
        snapshot=snapshot,
    )


def kept_leavers(leavers: pl.DataFrame, keep: pl.Series) -> pl.Series:
    """The leavers' contact ids that stay on the list through another email in ``keep``,
    found by probing the (large) ``keep`` against the (few) leavers, not the other way."""
    if leavers.is_empty():
        return pl.Series("contact_id", [], pl.String)
    ids = leavers.get_column("contact_id").drop_nulls().unique()
    return keep.filter(keep.is_in(ids.implode())).unique()


def lookup_skips(candidates: pl.Series, to_add: pl.DataFrame, refused: set[str]) -> pl.DataFrame:
    """``email, reason`` of the candidates that are no contact: refused ones first, then the
    unknown ones, each in candidate order."""
    if to_add.height == candidates.len() and not refused:  # every candidate was found
        return pl.DataFrame(schema=SKIP_SCHEMA)
    missing = candidates.to_frame("email").join(
        to_add, on="email", how="anti", maintain_order="left"
    )
    refused_mask = pl.col("email").is_in(pl.Series(sorted(refused), dtype=pl.String).implode())
    return pl.concat(
        [
            missing.filter(refused_mask).with_columns(reason=pl.lit(REASON_REFUSED)),
            missing.filter(~refused_mask).with_columns(reason=pl.lit(REASON_NOT_CONTACT)),
        ]
    ).select("email", "reason")


def mirror_removals(
    client: SendGridClient,
    list_id: str,
    keep: pl.Series,
    snapshot: pl.DataFrame,
    poll_s: float,
) -> pl.DataFrame:
    """Contacts really on the list (read by export) that are not desired: ``email, contact_id``.

    The email is the one the snapshot knows for the contact, else the contact's primary email.
    """
    known = snapshot.unique("contact_id", keep="last").select("contact_id", known="email")
    on_list = client.export_frame([list_id], poll_s=poll_s).select("contact_id", "email")
    leaving = on_list.filter(~pl.col("contact_id").is_in(keep.implode()))
    rows = leaving.join(known, on="contact_id", how="left").select(
        email=pl.coalesce("known", "email", pl.lit("")), contact_id="contact_id"
    )
    return rows.cast(REMOVE_SCHEMA).sort("email")  # type: ignore[arg-type]


def guard_problems(plan: SyncPlan, allow_empty: bool, max_remove_fraction: float) -> list[str]:
    """Why the plan must wait for approval: an empty segment, or too many removals."""
    problems = []
    if not allow_empty and plan.funnel[2][1] == 0:
        problems.append("the segment has no member with a usable email: approve to empty the list")
    size = max(plan.list_size, 1)
    if plan.to_remove.height and plan.to_remove.height / size > max_remove_fraction:
        problems.append(
            f"it would remove {plan.to_remove.height:,} of {plan.list_size:,} list members "
            f"(more than {max_remove_fraction:.0%}): approve if that is intended"
        )
    return problems
