"""What a mail signal does to the open cases of its order: mail is a doorbell, the page is the truth.

Every portal mail about an order with open cases requests a status check on each of them
(``cases.check_due_at = now`` and a ``status_check_requested`` event): the status poller then
reads the portal's order page, and THAT decides the state (`bot.outcomes.judge`). A mail never
moves a case on its own, because anyone can write a mail with the portal's exact From address
(the From header proves nothing; `Authentication-Results` is recorded but may be forged too).
What the mail says is kept as a hint: the event detail's ``hint`` is the state :data:`OUTCOMES`
gives for the mail's kind and the case's kind; ``sender_via`` says how the sender was accepted
as the portal (``direct``, ``alias``, ``relay:apple``, ``forward:…``). A portal mail that
matched no rule but names orders (``unrecognised``) asks for the check without a hint.

The one exception is an operator's choice: for the accounts in ``RECOUP_TRUST_MAIL_ACCOUNTS``
(accounts whose pages Recoup cannot read) an outcome mail moves the case to its hint, as
:data:`TRUSTED_NOTE` says in the event and the case's outcome note, and only when the mail is
newer than the case's last state change and its Authentication-Results do not say ``fail``,
and never for a forwarded mail (its date is the forward's).
The store makes such a move only where the state table (`bot.states`) allows it from the
case's current state (checked again inside the transaction); a refused move is noted in the
check event's detail as ``move_refused``.

``closed_needs_check`` ("Your order <id> is closed") is deliberately absent from OUTCOMES: the
mail does not say whether the order was cancelled, refunded or completed, so it is not even a
hint of an approval. Login-code mail and unknown kinds have no effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from bot.mail.classify import LOGIN_CODE, MailSignal
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import CaseEffect, EffectPlanner, OpenCase

CLOSED = "closed_needs_check"
"""The ambiguous closed mail: a status check, never an outcome."""

OUTCOMES: MappingProxyType[tuple[str, CaseKind], CaseState] = MappingProxyType(
    {
        # cancellation: the seller agreed, or the order was cancelled at once
        ("cancel_approved", CaseKind.CANCEL): CaseState.APPROVED,
        ("order_canceled", CaseKind.CANCEL): CaseState.APPROVED,
        ("cancel_rejected", CaseKind.CANCEL): CaseState.REJECTED,
        # return / refund
        ("refund_approved", CaseKind.REFUND): CaseState.REFUNDED,
        ("refund_rejected", CaseKind.REFUND): CaseState.REJECTED,
        ("counter_offer", CaseKind.REFUND): CaseState.COUNTER_OFFER,
    }
)
"""(signal kind, case kind) → the state the mail hints at (a move only on trusted accounts)."""

NO_EFFECT: frozenset[str] = frozenset({LOGIN_CODE})
"""Signal kinds that never touch a case (the login flow reads code mails itself)."""

TRUSTED_NOTE = "moved by mail alone (trusted by operator setting RECOUP_TRUST_MAIL_ACCOUNTS)"
"""Written into the event and the case's outcome note when a trusted account's mail moved it."""

assert CLOSED not in {kind for kind, _ in OUTCOMES}, "the closed mail must never be an outcome"


def outcome_for(kind: str, case_kind: CaseKind) -> CaseState | None:
    """The state a `kind` mail hints at for a `case_kind` case, or None (no hint)."""
    return OUTCOMES.get((kind, case_kind))


def effects_for(signal: MailSignal, cases: Sequence[OpenCase], *, trusted: bool = False) -> list[CaseEffect]:
    """The effects of `signal` on `cases` (the open cases of its orders): a status check for
    each case of a named order, with the mail's hint in the event detail. Only when `trusted`
    (the operator trusts this account's mail) does an outcome hint also become a move, and
    only for a mail newer than the case's last state change whose Authentication-Results do
    not say ``fail``; the reason a trusted move was skipped is noted as ``move_skipped``."""
    if signal.kind in NO_EFFECT:
        return []
    wanted = set(signal.order_ids)
    out: list[CaseEffect] = []
    for case in cases:
        if case.order_id not in wanted:
            continue
        hint = outcome_for(signal.kind, case.kind)
        note: dict[str, Any] = {"sender_via": signal.sender_via}
        if hint is not None:
            note["hint"] = hint.value
        move_to: CaseState | None = None
        if trusted and hint is not None:
            skipped = _why_not_trusted(signal, case)
            if skipped is None:
                move_to = hint
                note["trusted"] = True
                note["why"] = TRUSTED_NOTE
            else:
                note["move_skipped"] = skipped
        out.append(
            CaseEffect(
                case_id=case.id,
                request_check=True,
                move_to=move_to,
                note=note,
                outcome_note=TRUSTED_NOTE if move_to is not None else None,
            )
        )
    return out


def _why_not_trusted(signal: MailSignal, case: OpenCase) -> str | None:
    """Why a trusted account's outcome mail may not move `case` (None: it may)."""
    if signal.auth is not None and signal.auth.failed:
        return "the receiving server's Authentication-Results say fail"
    if signal.sender_via.startswith("forward:"):
        return "a forwarded mail's date is the forward's, not the portal's"
    if signal.received_at is None:
        return "the mail has no date"
    if case.state_changed_at is not None and signal.received_at <= case.state_changed_at:
        return "the mail is not newer than the case's last state change"
    return None


def planner(signal: MailSignal, *, trusted: bool = False) -> EffectPlanner | None:
    """An :data:`~bot.store.EffectPlanner` for the store's per-message transaction, or None when
    the signal has no effect at all. `trusted`: the operator trusts this account's mail."""
    if signal.kind in NO_EFFECT:
        return None

    def plan(cases: Sequence[OpenCase]) -> Sequence[CaseEffect]:
        return effects_for(signal, cases, trusted=trusted)

    return plan
