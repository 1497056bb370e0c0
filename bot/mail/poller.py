"""The outcome mail poller: read an account's mailbox folders and apply each portal mail once.

Per folder a (UIDVALIDITY, last UID) cursor lives in the store. A poll EXAMINEs the folder
(read-only), plans the fetch (:func:`bot.mail.cursor.plan_fetch`), fetches new messages with
``BODY.PEEK[]`` (never setting ``\\Seen``) and handles them in UID order, each in ONE database
transaction holding its processed-message key, its effects on cases and the cursor advance
(:meth:`bot.store.Store.mail_apply`). So a crash anywhere loses nothing and repeats nothing: a
message is either fully applied (and the cursor is past it) or not at all.

A portal mail is a doorbell (`bot/mail/effects.py`): it makes the status check of its open
cases due now, and the page read decides their state. Only on accounts listed in
``Settings.trust_mail_accounts`` may an outcome mail move a case by itself. The event detail
records the mail's signal, hint, key, folder, UID, date and its Authentication-Results.

A portal mail that matched no pack rule (unknown subject, or no order id found) is not buried:
its summary (`bot/mail/summary.py`, login codes masked) is kept with its processed key, and
:meth:`MailPoller.reclassify` later runs the current pack over the kept mails and applies what
now matches, once (`recoup mail reclassify`).

Each account's mail is read with the email rules of its own portal's pack (`Account.portal`,
looked up in the :class:`PackSource` the poller is given, e.g. `flows.registry.PackRegistry`).

When UIDVALIDITY changes (RFC 4549 §4.1) the cursor restarts at zero under the new value and
the folder is re-scanned; messages seen before are recognised by their key (Message-ID, else a
hash of headers and text) and only move the cursor. Keys are de-duplicated per account across
folders, so a message moved from one polled folder to another is not applied twice.

Failures: IMAP problems raise :class:`bot.errors.MailUnavailableError` (retry on the next poll)
or :class:`bot.errors.MailLoginError` (a human must fix the mailbox login); a missing mailbox
password reference raises :class:`bot.errors.SecretMissingError`; the store raises
:class:`bot.errors.StoreUnavailableError`. Whatever was committed before the failure stays.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard, cast

from loguru import logger

from bot.config import Settings
from bot.errors import SecretMissingError
from bot.failpoints import failpoint
from bot.mail.classify import LOGIN_CODE, MailClassifier, MailSignal, message_key
from bot.mail.cursor import MailCursor, PlanReason, plan_fetch
from bot.mail.effects import planner
from bot.mail.imap import FetchedMail, MailboxClient
from bot.mail.message import MailMessage, parse_message
from bot.mail.summary import code_pattern, rebuild, summarise
from bot.secrets import resolve_secret
from bot.store import (
    AppliedMessage,
    CaseEffect,
    Clock,
    EffectPlanner,
    KeptMail,
    OpenCase,
    Store,
    UnrecognisedMail,
    utc_now,
)
from flows.pack_schema import EmailRules

ClientFactory = Callable[[Settings, str, str, str], MailboxClient]
"""Builds a (not yet opened) client from settings, mailbox user, password and folder."""

CaseMovedHook = Callable[[int], object]
"""Called after a message's transaction committed, once per case the message moved (e.g. to
re-render the case's report). Its failures are logged and never undo or stop the poll."""

EffectHook = Callable[[MailSignal, int], None]
"""Called inside a message's transaction, before its effects, with the signal and the UID.
An exception rolls that message back (tests use it to simulate a crash)."""


class _EmailHolder(Protocol):
    @property
    def email(self) -> EmailRules: ...


class PackSpec(Protocol):
    """What the poller needs of a selector pack (`flows.pack.Pack` fits): its email rules."""

    @property
    def model(self) -> _EmailHolder: ...


class PackSource(Protocol):
    """Packs by portal name (`flows.registry.PackRegistry` fits)."""

    def get(self, portal: str) -> PackSpec: ...


@dataclass(frozen=True)
class _Rules:
    """One pack's email rules, compiled once."""

    classifier: MailClassifier
    rule_events: frozenset[str]
    code_regex: re.Pattern[str]

    @classmethod
    def of(cls, pack: PackSpec, settings: Settings) -> _Rules:
        rules = pack.model.email
        return cls(
            MailClassifier(rules, aliases=settings.mail_sender_aliases),
            frozenset(rule.event for rule in rules.rules),
            code_pattern(getattr(rules.login_code, "code", None)),
        )

    def recognised(self, signal: MailSignal | None) -> bool:
        """True when `signal` comes from a rule of this pack or is a login code; False for no
        signal and for one that only says "portal mail" without a rule behind it."""
        return signal is not None and (signal.kind == LOGIN_CODE or signal.kind in self.rule_events)


@dataclass(frozen=True)
class PollResult:
    """Counts of one poll. `fetched` = `applied` + `ignored` + `duplicates`."""

    fetched: int = 0
    applied: int = 0
    """Messages that requested a check on, or moved, at least one case."""
    ignored: int = 0
    """Messages with no effect: not from the portal, unknown, malformed, oversized, a login
    code, or about an order without an open case. Recorded as processed all the same."""
    duplicates: int = 0
    """Messages whose key was processed before (e.g. re-listed after a UIDVALIDITY change)."""
    unrecognised: int = 0
    """Of `applied` + `ignored`: portal mails that matched no rule, kept for reclassification."""

    def __add__(self, other: PollResult) -> PollResult:
        return PollResult(
            self.fetched + other.fetched,
            self.applied + other.applied,
            self.ignored + other.ignored,
            self.duplicates + other.duplicates,
            self.unrecognised + other.unrecognised,
        )


@dataclass(frozen=True)
class Reclassified:
    """A kept mail that the current pack now recognises, and what applying it did."""

    kept: UnrecognisedMail
    kind: str
    order_ids: tuple[str, ...]
    applied: AppliedMessage

    def as_dict(self) -> dict[str, object]:
        """Plain JSON values."""
        return {
            **self.kept.as_dict(),
            "now": self.kind,
            "now_order_ids": list(self.order_ids),
            "checked": list(self.applied.checked),
            "moved": [[case_id, state.value] for case_id, state in self.applied.moved],
        }


def _default_client(settings: Settings, user: str, password: str, folder: str) -> MailboxClient:
    return MailboxClient.from_settings(settings, user, password, mailbox=folder)


class MailPoller:
    """Polls the mailboxes of the store's accounts. Thread-safe between accounts; one account's
    folders are read one after the other. Blocking (:meth:`poll_account`) with an async wrapper
    (:meth:`apoll_account`) that runs it in a worker thread."""

    def __init__(
        self,
        store: Store,
        pack: PackSpec | PackSource,
        settings: Settings,
        clock: Clock = utc_now,
        *,
        client_factory: ClientFactory = _default_client,
        effect_hook: EffectHook | None = None,
        on_case_moved: CaseMovedHook | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._packs = pack
        self._rules: dict[str, _Rules] = {}
        self.classifier = self._rules_of(settings.portal).classifier
        """The classifier of `settings.portal`'s pack (accounts on other portals use theirs)."""
        self._client_factory = client_factory
        self._hook = effect_hook
        self._on_case_moved = on_case_moved
        self._environ = environ
        self.last_polled: dict[str, datetime] = {}
        """Account name → when its last poll finished (by `clock`)."""

    async def apoll_account(self, account_name: str) -> PollResult:
        """:meth:`poll_account` in a worker thread."""
        return await asyncio.to_thread(self.poll_account, account_name)

    def poll_account(self, account_name: str) -> PollResult:
        """Read every configured folder of the account's mailbox and apply what is new.

        Raises UnknownAccountError, SecretMissingError (no or unresolvable mailbox password
        reference), MailLoginError, MailUnavailableError, StoreUnavailableError.
        """
        account = self.store.accounts.get(account_name)
        assert account.id is not None
        trusted = account_name in self.settings.trust_mail_accounts
        if account.mailbox_password_ref is None:
            raise SecretMissingError(
                f"account {account_name} has no mailbox password reference", account=account_name
            )
        password = resolve_secret(
            account.mailbox_password_ref,
            secrets_file=self.settings.secrets_file,
            environ=self._environ,
            strict=self.settings.strict_secrets,
        )
        user = account.mailbox_user or account.email
        total = PollResult()
        for folder in self.settings.mail_poll_folders:
            total += self._poll_folder(
                account.id, user, password, folder, trusted, account_name, self._rules_of(account.portal)
            )
        self.last_polled[account_name] = self.clock()
        logger.info(
            "mail poll of {}: {} fetched, {} applied, {} ignored, {} duplicates, {} unrecognised kept",
            account_name, total.fetched, total.applied, total.ignored, total.duplicates, total.unrecognised,
        )  # fmt: skip
        return total

    def _rules_of(self, portal: str) -> _Rules:
        """The compiled email rules of `portal`'s pack (one pack given: that one for all).
        Raises PackError when the portal has no valid pack."""
        rules = self._rules.get(portal)
        if rules is None:
            source = self._packs
            pack = source.get(portal) if _is_source(source) else cast(PackSpec, source)
            rules = self._rules[portal] = _Rules.of(pack, self.settings)
        return rules

    def reclassify(self, account_name: str | None = None) -> list[Reclassified]:
        """Run the current pack over the kept unrecognised mails (of `account_name`, or all) and
        apply each one it now recognises, once (:meth:`bot.store.MailApplyRepository.apply_reclassified`:
        a mail resolved before, by an earlier or a concurrent run, is skipped). Effects are those
        of a freshly polled mail: a status check, a move only on trusted accounts. Returns what
        changed (an empty list when nothing did). Raises StoreUnavailableError, UnknownAccountError."""
        if account_name is not None:
            self.store.accounts.get(account_name)
        changed: list[Reclassified] = []
        portals: dict[str, str] = {}
        for kept in self.store.unrecognised.list_kept(account=account_name, pending_only=True):
            if kept.account not in portals:
                portals[kept.account] = self.store.accounts.get(kept.account).portal
            rules = self._rules_of(portals[kept.account])
            message = rebuild(kept.mail.content, uid=kept.uid, internal_date=kept.mail.received_at)
            signal = rules.classifier.classify(message, account=kept.account) if message is not None else None
            if signal is None or not rules.recognised(signal):
                continue
            trusted = kept.account in self.settings.trust_mail_accounts
            detail = {
                **_detail(signal, kept.mailbox, kept.uid),
                "message_key": kept.message_key,
                "reclassified": True,
            }
            applied = self.store.mail_apply.apply_reclassified(
                kept.id,
                kind=signal.kind,
                order_ids=signal.order_ids,
                plan=self._plan(signal, kept.uid, trusted),
                detail=detail,
            )
            if applied is None:
                continue
            logger.info(
                "unrecognised mail {} of {} now reads as {}: {} check(s), {} move(s)",
                kept.id, kept.account, signal.kind, len(applied.checked), len(applied.moved),
            )  # fmt: skip
            for case_id, _state in applied.moved:
                self._case_moved(case_id)
            changed.append(Reclassified(kept, signal.kind, signal.order_ids, applied))
        return changed

    # ---- one folder -------------------------------------------------------------------------
    def _poll_folder(
        self, account_id: int, user: str, password: str, folder: str, trusted: bool, account: str,
        rules: _Rules,
    ) -> PollResult:  # fmt: skip
        client = self._client_factory(self.settings, user, password, folder)
        try:
            state = client.open()
            stored = self.store.mail.get_cursor(account_id, folder)
            known = None if stored is None else MailCursor(folder, stored.uidvalidity, stored.last_uid)
            plan = plan_fetch(known, folder, state.uidvalidity, state.uidnext)
            if plan.reason is not PlanReason.CONTINUE and plan.reason is not PlanReason.UP_TO_DATE:
                if plan.reset:
                    logger.warning(
                        "mailbox {} of {}: {} (UIDVALIDITY {} → {}): re-scanning, de-duplicating by key",
                        folder, user, plan.reason.value, known.uidvalidity if known else None,
                        state.uidvalidity,
                    )  # fmt: skip
                self.store.mail_apply.advance_cursor(
                    account_id, folder, uidvalidity=state.uidvalidity, last_uid=plan.after_uid
                )
            result = PollResult()
            if not plan.fetch:
                return result
            for batch in client.fetch(client.uids_after(plan.after_uid)):
                for mail in batch:
                    result += self._handle(
                        account_id, folder, state.uidvalidity, mail, trusted, account, rules
                    )
            return result
        finally:
            client.close()

    def _handle(
        self, account_id: int, folder: str, uidvalidity: int, mail: FetchedMail, trusted: bool,
        account: str | None = None, rules: _Rules | None = None,
    ) -> PollResult:  # fmt: skip
        """Classify one fetched message and apply it in one transaction (`trusted`: the operator
        trusts this account's mail to move cases, see `bot/mail/effects.py`)."""
        key: str | None
        classification: str
        signal: MailSignal | None = None
        keep: KeptMail | None = None
        rules = rules or self._rules_of(self.settings.portal)
        if mail.raw is None:
            key, classification = None, "oversized"
        else:
            message = parse_message(mail.raw, uid=mail.uid, internal_date=mail.internal_date)
            if message is None:
                key, classification = "raw-sha256:" + hashlib.sha256(mail.raw).hexdigest(), "unreadable"
            else:
                key = message_key(message)
                signal = rules.classifier.classify(message, account=account)
                portal_sender = rules.classifier.is_portal_sender(message, account=account)
                if signal is not None:
                    classification = signal.kind
                elif portal_sender:
                    classification = "unrecognised"
                else:
                    classification = "not_portal"
                if not rules.recognised(signal) and portal_sender:
                    keep = self._keep(message, mail.raw, signal, rules)
        plan = self._plan(signal, mail.uid, trusted) if signal is not None else None
        applied = self.store.mail_apply.apply_message(
            account_id,
            folder,
            uidvalidity=uidvalidity,
            uid=mail.uid,
            message_key=key,
            classification=classification,
            order_ids=signal.order_ids if signal else (),
            plan=plan,
            detail=_detail(signal, folder, mail.uid) if signal else None,
            keep=keep,
        )
        failpoint("mail.mid_batch")  # this message is committed, the next one not yet read
        for case_id, _state in applied.moved:
            self._case_moved(case_id)
        if applied.duplicate:
            return PollResult(fetched=1, duplicates=1)
        kept = int(applied.kept)
        if applied.changed_cases:
            return PollResult(fetched=1, applied=1, unrecognised=kept)
        return PollResult(fetched=1, ignored=1, unrecognised=kept)

    def _keep(self, message: MailMessage, raw: bytes, signal: MailSignal | None, rules: _Rules) -> KeptMail:
        """The summary kept for a portal mail that matched no rule (codes masked)."""
        via = signal.sender_via if signal is not None else ""
        how = (
            "From is the pack's sender"
            if message.sender == rules.classifier.sender
            else f"accepted as {via}" if via else "accepted by the sender rules (relay, forward or alias)"
        )
        return summarise(
            message,
            raw,
            code_regex=rules.code_regex,
            order_ids=signal.order_ids if signal is not None else (),
            accepted_as=how,
        )

    def _case_moved(self, case_id: int) -> None:
        if self._on_case_moved is None:
            return
        try:
            self._on_case_moved(case_id)
        except Exception as exc:  # the mail is applied; a stale report must not stop the poll
            logger.warning("case {}: follow-up after a mail failed: {}", case_id, exc)

    def _plan(self, signal: MailSignal, uid: int, trusted: bool) -> EffectPlanner | None:
        base = planner(signal, trusted=trusted)
        hook = self._hook
        if base is None or hook is None:
            return base

        def plan(cases: Sequence[OpenCase]) -> Sequence[CaseEffect]:
            hook(signal, uid)
            return base(cases)

        return plan


def _detail(signal: MailSignal, folder: str, uid: int) -> dict[str, object]:
    received: datetime | None = signal.received_at
    return {
        "source": "mail",
        "signal": signal.kind,
        "message_key": signal.message_key,
        "mailbox": folder,
        "uid": uid,
        "received_at": received.isoformat() if received else None,
        "auth": signal.auth.as_detail() if signal.auth is not None else None,
    }


def _is_source(packs: PackSpec | PackSource) -> TypeGuard[PackSource]:
    """True for packs by portal (a registry), False for one pack used for every account."""
    return callable(getattr(packs, "get", None)) and not hasattr(packs, "model")
