"""Turn a parsed mail into a typed :class:`MailSignal`, driven by the selector pack's email rules.

Only mail from the pack's sender counts, as read strictly by :mod:`bot.mail.sender`; anything
else (other senders, look-alike addresses, a portal address in a display name, a From header
with two mailboxes or a malformed one) is ignored. For portal mail the first rule whose
subject regex matches gives the signal kind; the order id comes from the rule's `order_id`
group, else the pack's subject patterns, else its body/link patterns (``tradeOrderId=``,
``orderId=``, ``o_ids=<id>,<id>``). A verification-code mail is recognised as
:data:`LOGIN_CODE` and left to the login flow. Nothing here raises on hostile mail: what cannot
be classified is None.

The rules are read structurally (:class:`EmailRulesSpec`), so `flows.pack_schema.EmailRules`
fits without `bot/` importing `flows/`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.errors import PackError
from bot.mail.message import MailMessage
from bot.mail.sender import AuthResults, sender_matches
from bot.models import ORDER_ID_RE

LOGIN_CODE = "login_code"
"""Signal kind of a verification-code mail (no effect on cases)."""

_MAX_KEY = 255


class MailRuleSpec(Protocol):
    """One pack rule: subject regex → event."""

    @property
    def event(self) -> str: ...
    @property
    def subject(self) -> str: ...


class OrderIdPatternsSpec(Protocol):
    """Regexes (group 1) finding order ids in the subject and in the body / links."""

    @property
    def subject(self) -> Sequence[str]: ...
    @property
    def body(self) -> Sequence[str]: ...


class LoginCodeSpec(Protocol):
    """The verification-code mail's subject regex."""

    @property
    def subject(self) -> str: ...


class EmailRulesSpec(Protocol):
    """What the classifier reads from a pack's `email` section."""

    @property
    def sender(self) -> str: ...
    @property
    def order_id_patterns(self) -> OrderIdPatternsSpec: ...
    @property
    def rules(self) -> Sequence[MailRuleSpec]: ...
    @property
    def login_code(self) -> LoginCodeSpec: ...


@dataclass(frozen=True)
class MailSignal:
    """What a portal mail says: `kind` is a pack event (e.g. ``cancel_approved``,
    ``closed_needs_check``) or :data:`LOGIN_CODE`; `order_ids` are valid ids, first-seen order."""

    kind: str
    order_ids: tuple[str, ...]
    message_key: str
    received_at: datetime | None
    auth: AuthResults | None = None
    """The mail's topmost Authentication-Results (recorded; a ``fail`` vetoes a trusted move)."""


def message_key(message: MailMessage) -> str:
    """The de-duplication key: the Message-ID (hashed when too long for the store), else a
    SHA-256 over sender, subject, Date and text, which a re-listed copy of the same message
    reproduces under any UID."""
    if message.message_id:
        key = f"mid:{message.message_id}"
        if len(key) <= _MAX_KEY:
            return key
        return "mid-sha256:" + hashlib.sha256(message.message_id.encode("utf-8", "replace")).hexdigest()
    digest = hashlib.sha256()
    for part in (
        message.sender,
        message.subject,
        message.date.isoformat() if message.date else "",
        message.text,
    ):
        digest.update(part.encode("utf-8", "replace"))
        digest.update(b"\x00")
    return "hdr-sha256:" + digest.hexdigest()


def _compile(pattern: str, field: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise PackError(f"email rule {field}: invalid regex: {exc}", field=f"email.{field}") from exc


class MailClassifier:
    """Classifies parsed messages with one pack's email rules (compiled once).

    Raises PackError at construction when a rule's regex does not compile.
    """

    def __init__(self, rules: EmailRulesSpec) -> None:
        self.sender = rules.sender.strip().lower()
        self._rules = [
            (rule.event, _compile(rule.subject, f"rules[{n}].subject")) for n, rule in enumerate(rules.rules)
        ]
        ids = rules.order_id_patterns
        self._subject_ids = [_compile(p, "order_id_patterns.subject") for p in ids.subject]
        self._body_ids = [_compile(p, "order_id_patterns.body") for p in ids.body]
        self._login = _compile(rules.login_code.subject, "login_code.subject")

    def is_portal_sender(self, message: MailMessage) -> bool:
        """True when the From address is exactly the pack's sender (display names don't count)."""
        return bool(message.sender) and sender_matches(message.sender, self.sender)

    def classify(self, message: MailMessage) -> MailSignal | None:
        """The message's signal, or None for non-portal, unknown or order-less portal mail."""
        if not self.is_portal_sender(message):
            return None
        key = message_key(message)
        received = message.internal_date or message.date
        subject = message.subject
        for event, regex in self._rules:
            found = regex.search(subject)
            if found is None:
                continue
            order_ids = self._order_ids(found, message)
            if not order_ids:
                return None
            return MailSignal(event, order_ids, key, received, message.auth)
        if self._login.search(subject):
            return MailSignal(LOGIN_CODE, (), key, received, message.auth)
        return None

    def _order_ids(self, found: re.Match[str], message: MailMessage) -> tuple[str, ...]:
        named = found.groupdict().get("order_id")
        if named:
            return _valid([named])
        from_subject = _valid(_groups(self._subject_ids, [message.subject]))
        if from_subject:
            return from_subject
        return _valid(_groups(self._body_ids, [message.text, *message.links]))


def _groups(patterns: list[re.Pattern[str]], haystacks: list[str]) -> list[str]:
    out: list[str] = []
    for haystack in haystacks:
        for regex in patterns:
            for match in regex.finditer(haystack):
                value = match.group(1) if regex.groups else match.group(0)
                out.extend(part.strip() for part in (value or "").split(","))
    return out


def _valid(candidates: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for c in candidates if ORDER_ID_RE.match(c)))
