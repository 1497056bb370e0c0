"""Where a mailbox poll resumes: the (mailbox, UIDVALIDITY, last UID) cursor. Pure logic.

RFC 3501 §2.3.1.1 / RFC 4549 §4.1: UIDs only grow within one UIDVALIDITY; when UIDVALIDITY
changes every UID the client knew is void, so the cursor starts again from zero and the caller
de-duplicates by Message-ID (nothing is processed twice, nothing is missed).

How a poller uses it (the store keeps the cursor; this module keeps no state)::

    state = client.open()                                 # EXAMINE: UIDVALIDITY, UIDNEXT
    plan = plan_fetch(stored, state.mailbox, state.uidvalidity, state.uidnext)
    if plan.fetch:
        cursor = plan.cursor
        for batch in client.fetch(client.uids_after(plan.after_uid)):
            ...handle each message (skip Message-IDs already seen when plan.reset)...
            cursor = advance(cursor, [m.uid for m in batch])   # save with the batch's effects
    else:
        cursor = plan.cursor                              # save it (may carry a new mailbox)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class MailCursor:
    """The last UID handled in one mailbox folder while its UIDVALIDITY stayed the same."""

    mailbox: str
    uidvalidity: int
    last_uid: int = 0

    def __post_init__(self) -> None:
        if self.uidvalidity <= 0 or self.last_uid < 0:
            raise ValueError("UIDVALIDITY must be positive and last_uid not negative")


class PlanReason(StrEnum):
    """Why a fetch plan looks the way it does."""

    FIRST = "first"
    """No cursor stored for this mailbox: fetch everything (or start at the end, see `backfill`)."""
    CONTINUE = "continue"
    """Same UIDVALIDITY and the server has UIDs beyond the cursor."""
    UP_TO_DATE = "up_to_date"
    """Same UIDVALIDITY and UIDNEXT says nothing arrived since."""
    UIDVALIDITY_CHANGED = "uidvalidity_changed"
    """The server's UIDVALIDITY differs: old UIDs are void, start again at zero."""
    UIDS_WENT_BACK = "uids_went_back"
    """Same UIDVALIDITY but UIDNEXT fell below the cursor (a broken server): start again."""


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch now. `cursor` is where the poll starts (save it even when nothing is
    fetched: it may hold a new UIDVALIDITY); fetch UIDs > `after_uid` when `fetch` is True;
    `reset` tells the caller to de-duplicate by Message-ID."""

    cursor: MailCursor
    reason: PlanReason

    @property
    def after_uid(self) -> int:
        """Fetch UIDs strictly greater than this."""
        return self.cursor.last_uid

    @property
    def fetch(self) -> bool:
        """False when the server says nothing new can be there."""
        return self.reason is not PlanReason.UP_TO_DATE

    @property
    def reset(self) -> bool:
        """True when earlier-seen messages may come again under new UIDs."""
        return self.reason in (PlanReason.UIDVALIDITY_CHANGED, PlanReason.UIDS_WENT_BACK)


def plan_fetch(
    stored: MailCursor | None,
    mailbox: str,
    uidvalidity: int,
    uidnext: int | None = None,
    *,
    backfill: bool = True,
) -> FetchPlan:
    """Decide what to fetch given the stored cursor and what EXAMINE just reported.

    `uidnext` may be None (servers need not send it): then a fetch is always planned.
    With `backfill=False` a first poll starts at the end (only mail arriving later counts);
    that needs `uidnext`.
    """
    if uidvalidity <= 0:
        raise ValueError("UIDVALIDITY must be positive")
    if stored is None or stored.mailbox != mailbox:
        start = 0 if backfill or uidnext is None else max(uidnext - 1, 0)
        return FetchPlan(MailCursor(mailbox, uidvalidity, start), PlanReason.FIRST)
    if stored.uidvalidity != uidvalidity:
        return FetchPlan(MailCursor(mailbox, uidvalidity, 0), PlanReason.UIDVALIDITY_CHANGED)
    if uidnext is not None and uidnext - 1 < stored.last_uid:
        return FetchPlan(MailCursor(mailbox, uidvalidity, 0), PlanReason.UIDS_WENT_BACK)
    if uidnext is not None and uidnext - 1 == stored.last_uid:
        return FetchPlan(stored, PlanReason.UP_TO_DATE)
    return FetchPlan(stored, PlanReason.CONTINUE)


def advance(cursor: MailCursor, handled_uids: Iterable[int]) -> MailCursor:
    """The cursor after the given UIDs were handled (it never moves backwards).

    Pass only UIDs whose handling is durable; UIDs are handled in ascending order, so on a
    failure mid-batch pass those handled before it.
    """
    top = max((uid for uid in handled_uids if uid > 0), default=0)
    if top <= cursor.last_uid:
        return cursor
    return MailCursor(cursor.mailbox, cursor.uidvalidity, top)
