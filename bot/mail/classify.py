"""Turn a parsed mail into a typed :class:`MailSignal`, driven by the selector pack's email rules.

Mail is a doorbell (`bot/mail/effects.py`): every portal mail that names an order asks for a
status check of that order's open cases, whether or not a subject rule matched.

Who counts as the portal is read by :mod:`bot.mail.sender` (the one home of sender identity):
the pack's sender, directly, through an Apple relay address, as a forward naming it, or as an
operator-declared alias (:func:`bot.mail.sender.accepted_via`); the way it was accepted is kept
in :attr:`MailSignal.sender_via`. Anything else (other senders, look-alike addresses, a portal
address in a display name, a From header with two mailboxes or a malformed one) is ignored.

For portal mail the subject is first stripped of forward/reply prefixes (the pack's
``forward_prefix``: ``Fwd:``, ``WG:``, ``TR:``, ...). The first rule whose subject regex
matches gives the signal kind; its order ids are the rule's ``order_id`` group plus the other
ids the pack's subject patterns find (a subject naming several orders), else those the body
patterns find. A portal mail matching no rule but naming orders gives :data:`UNRECOGNISED`
(a status check, no hint) with every id of subject, body text and links. Where ids may come
from is the pack's data (``order_id_patterns``: order links ``tradeOrderId=``/``orderId=``/
``o_ids=a,b`` and digits right after an order word such as Order/Bestellung/commande/pedido/
ordine/zamówienie/bestelling, bounded by non-digits), never a bare digit run, so parcel and
tracking numbers are not read as orders. A verification-code mail is :data:`LOGIN_CODE`.
Nothing here raises on hostile mail: what cannot be classified is None.

The rules are the pack's own `email` section (:class:`flows.pack_schema.EmailRules`, plain
data: the schema imports nothing of the browser side).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.errors import PackError
from bot.mail.message import MailMessage
from bot.mail.sender import AuthResults, accepted_via
from bot.models import ORDER_ID_RE
from flows.pack_schema import EmailRules

LOGIN_CODE = "login_code"
"""Signal kind of a verification-code mail (no effect on cases)."""

UNRECOGNISED = "unrecognised"
"""Signal kind of a portal mail that matched no subject rule but names orders: a status check
of their open cases, with no hint."""

ALL_ACCOUNTS = "*"
"""Key of the sender aliases that count for every account."""

_DIGITS = re.compile(r"\d+")

_MAX_KEY = 255


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
    sender_via: str = "direct"
    """How the sender was accepted as the portal (:func:`bot.mail.sender.accepted_via`):
    ``direct``, ``alias``, ``relay:apple`` or ``forward:<header|body>``."""


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

    `aliases`: account name → addresses the operator declared to carry the portal's mail
    (setting ``RECOUP_MAIL_SENDER_ALIASES``; key ``*`` for every account). Raises PackError at
    construction when a rule's regex does not compile.
    """

    def __init__(self, rules: EmailRules, *, aliases: Mapping[str, Sequence[str]] | None = None) -> None:
        self.sender = rules.sender.strip().lower()
        self._rules = [
            (rule.event, _compile(rule.subject, f"rules[{n}].subject")) for n, rule in enumerate(rules.rules)
        ]
        ids = rules.order_id_patterns
        self._subject_ids = [_compile(p, "order_id_patterns.subject") for p in ids.subject]
        self._body_ids = [_compile(p, "order_id_patterns.body") for p in ids.body]
        self._login = _compile(rules.login_code.subject, "login_code.subject")
        self._prefix = _compile(rules.forward_prefix, "forward_prefix")
        self._aliases = {
            name: tuple(a.strip().lower() for a in addrs) for name, addrs in (aliases or {}).items()
        }

    def aliases_for(self, account: str | None) -> tuple[str, ...]:
        """The alias addresses that count for `account` (plus those for every account)."""
        found = self._aliases.get(ALL_ACCOUNTS, ())
        if account is not None and account != ALL_ACCOUNTS:
            found = found + self._aliases.get(account, ())
        return found

    def sender_via(self, message: MailMessage, *, account: str | None = None) -> str | None:
        """How the message counts as the portal's (see :func:`bot.mail.sender.accepted_via`), or
        None when it does not."""
        return accepted_via(message.sender, message.sender_claims, self.sender, self.aliases_for(account))

    def is_portal_sender(self, message: MailMessage, *, account: str | None = None) -> bool:
        """True when the message counts as the portal's: its strictly read From address is the
        pack's sender, an alias of `account`, an Apple relay address of the sender, or a forward
        naming it (display names never count)."""
        return self.sender_via(message, account=account) is not None

    def subject(self, message: MailMessage) -> str:
        """The subject without forward/reply prefixes (``Fwd:``, ``WG:``, ...)."""
        return self._prefix.sub("", message.subject, count=1).strip()

    def classify(self, message: MailMessage, *, account: str | None = None) -> MailSignal | None:
        """The message's signal, or None for non-portal or order-less portal mail (`account`
        picks the operator's sender aliases)."""
        via = self.sender_via(message, account=account)
        if via is None:
            return None
        key = message_key(message)
        received = message.internal_date or message.date
        subject = self.subject(message)
        for event, regex in self._rules:
            found = regex.search(subject)
            if found is None:
                continue
            order_ids = self._order_ids(found, subject, message)
            if not order_ids:
                return None
            return MailSignal(event, order_ids, key, received, message.auth, via)
        if self._login.search(subject):
            return MailSignal(LOGIN_CODE, (), key, received, message.auth, via)
        named = self.order_ids(message)
        if named:
            return MailSignal(UNRECOGNISED, named, key, received, message.auth, via)
        return None

    def order_ids(self, message: MailMessage) -> tuple[str, ...]:
        """Every order id the message names: subject, body text and links (first-seen order)."""
        return _valid(
            _groups(self._subject_ids, [self.subject(message)])
            + _groups(self._body_ids, [message.text, *message.links])
        )

    def _order_ids(self, found: re.Match[str], subject: str, message: MailMessage) -> tuple[str, ...]:
        named = found.groupdict().get("order_id")
        from_subject = _groups(self._subject_ids, [subject])
        if named or from_subject:
            return _valid([*([named] if named else []), *from_subject])
        return _valid(_groups(self._body_ids, [message.text, *message.links]))


def _groups(patterns: list[re.Pattern[str]], haystacks: list[str]) -> list[str]:
    """The ids each pattern's group 1 (else the whole match) holds; a group may list several
    (``a,b`` / ``a%2Cb`` / ``a and b``): every digit run in it is a candidate."""
    out: list[str] = []
    for haystack in haystacks:
        for regex in patterns:
            for match in regex.finditer(haystack):
                value = match.group(1) if regex.groups else match.group(0)
                out.extend(_DIGITS.findall(value or ""))
    return out


def _valid(candidates: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for c in candidates if ORDER_ID_RE.match(c)))
