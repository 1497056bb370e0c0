"""Who sent a mail: the ONE home of sender identity (the outcome poller and the login-code wait
both read it through :func:`bot.mail.message.parse_message`).

:func:`read_from` takes the From header strictly, as RFC 5322 defines it, with the standard
library's header parser (``email.headerregistry``): the sender is the addr-spec of the single
mailbox in the single From header, never an address that appears in a display name, a
comment, an encoded word or after the address. Anything the parser had to repair or guess
(any defect but a dot in an unquoted display name: ``a@b <c@d>``, ``a@b)<c@d>``,
``<a@b>@c``, an encoded word in the address, a route, a NUL byte), a second mailbox, a group,
a second From header, a domain literal or a non-hostname domain gives no sender (``""``).
Mail with no sender is never the portal's.

:func:`read_auth_results` records what the receiving mail server says about DKIM, SPF and
DMARC (``Authentication-Results``, RFC 8601). Only the TOPMOST header is read: each server
on the way prepends its own, so the first one in the message is the one the operator's own
server added last; lower ones (and, on a server that adds none, even the topmost) may be
written by the sender. The result is therefore recorded for the operator, and a ``fail`` may
veto a move, but a ``pass`` is never a reason to trust a mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import Message
from typing import Any

MAX_FROM_CHARS = 1_000
"""A From header longer than this is not read (no real sender needs it)."""

_HEADERS = HeaderRegistry()
_DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")
_LOCAL_BAD = re.compile(r"[\s\"\\<>()\[\]@,;:\x00-\x1f\x7f]")
_COMMENT_RE = re.compile(r"\([^()]*\)")
_DOTTED_NAME = frozenset({"period in 'phrase'", "comment found without atom"})
"""The only defects tolerated: what a dot in an unquoted display name gives (``J. Smith <j@x>``,
``AliExpress Inc. <a@b>``), an obsolete form still common in real mail; the address still comes
from the angle brackets, and every forgery above also carries another defect."""
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_AUTH_CHARS = 2_000


@dataclass(frozen=True)
class Sender:
    """The From header as read strictly; `address` is ``""`` when the header was refused."""

    address: str
    """local@domain, lower-case, or ``""``."""
    name: str
    """The display name, decoded (RFC 2047), whitespace folded; ``""`` when absent or refused."""

    @property
    def domain(self) -> str:
        """The address's domain (``""`` without an address)."""
        return self.address.rpartition("@")[2]


NO_SENDER = Sender("", "")


def _unescape(value: str) -> str:
    """A header value as the parser gave it (8-bit bytes as surrogates, still folded) → one line
    of text (UTF-8 assumed; RFC 5322 unfolding: a line break before a blank is removed)."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _FOLD_RE.sub("", text)


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of header `name`, top to bottom, as text. Never raises."""
    wanted = name.lower()
    try:
        return [_unescape(str(value)) for key, value in msg.raw_items() if key.lower() == wanted]
    except Exception:
        return []


def read_from(msg: Message) -> Sender:
    """The message's sender, read strictly (see the module docstring); :data:`NO_SENDER` when
    the From header is absent, repeated, ambiguous or malformed. Never raises."""
    values = raw_headers(msg, "From")
    if len(values) != 1 or len(values[0]) > MAX_FROM_CHARS:
        return NO_SENDER
    return parse_from(values[0])


def parse_from(value: str) -> Sender:
    """One From header value → :class:`Sender` (:data:`NO_SENDER` unless it is exactly one
    well-formed mailbox with a hostname domain). Never raises."""
    try:
        header = _HEADERS("From", value)
        defects = list(header.defects)
        groups = header.groups if isinstance(header, AddressHeader) else ()
    except Exception:
        return NO_SENDER
    if any(str(d) not in _DOTTED_NAME for d in defects):
        return NO_SENDER
    if len(groups) != 1 or groups[0].display_name is not None:
        return NO_SENDER
    addresses = groups[0].addresses
    if len(addresses) != 1:
        return NO_SENDER
    mailbox = addresses[0]
    local, domain = mailbox.username, mailbox.domain.lower().rstrip(".")
    if not local or _LOCAL_BAD.search(local) or not _DOMAIN_RE.fullmatch(domain):
        return NO_SENDER
    return Sender(f"{local}@{domain}".lower(), " ".join(str(mailbox.display_name).split()))


def sender_matches(address: str, wanted: str | None) -> bool:
    """Does the strictly read `address` count as `wanted`? None matches anyone; ``@domain``
    matches an address at exactly that domain; else the whole address, case-insensitive. An
    empty address (a refused From) matches only None."""
    if wanted is None:
        return True
    wanted = wanted.strip().lower()
    address = address.strip().lower()
    if not address or "@" not in address:
        return False
    if wanted.startswith("@"):
        return address.rpartition("@")[2] == wanted[1:]
    return address == wanted


# ---- Authentication-Results -------------------------------------------------------------------
@dataclass(frozen=True)
class AuthResults:
    """The topmost ``Authentication-Results`` header, reduced to what an operator reads."""

    authserv_id: str
    """Who wrote it (the receiving server's name, if it is the receiving server's header)."""
    dkim: str | None = None
    """Result of the DKIM signature of the From domain (or a parent of it), else of the first."""
    dkim_domain: str | None = None
    """That signature's ``header.d``."""
    spf: str | None = None
    spf_domain: str | None = None
    """``smtp.mailfrom`` (its domain part) of the SPF result."""
    dmarc: str | None = None
    dmarc_domain: str | None = None
    """``header.from`` of the DMARC result."""

    @property
    def failed(self) -> bool:
        """True when DKIM (of the From domain) or DMARC says ``fail``: the mail claims a sender
        the receiving server could not confirm."""
        return self.dkim == "fail" or self.dmarc == "fail"

    def as_detail(self) -> dict[str, Any]:
        """The fields for an event's detail JSON (None values left out)."""
        out: dict[str, Any] = {"authserv_id": self.authserv_id}
        for key in ("dkim", "dkim_domain", "spf", "spf_domain", "dmarc", "dmarc_domain"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _aligned(domain: str, sender_domain: str) -> bool:
    return bool(domain) and (sender_domain == domain or sender_domain.endswith("." + domain))


def read_auth_results(msg: Message, sender_domain: str) -> AuthResults | None:
    """The topmost Authentication-Results header (see the module docstring), or None when there
    is none or it cannot be read. `sender_domain` picks the DKIM signature to report. Never
    raises."""
    values = raw_headers(msg, "Authentication-Results")
    if not values:
        return None
    try:
        return _auth(values[0][:_AUTH_CHARS], sender_domain.lower())
    except Exception:
        return None


def _auth(value: str, sender_domain: str) -> AuthResults | None:
    text = " ".join(value.split())
    for _ in range(5):  # comments, even nested a few levels
        text = _COMMENT_RE.sub(" ", text)
    parts = [p.strip() for p in text.split(";")]
    head = parts[0].split()
    if not head:
        return None
    found: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for part in parts[1:]:
        words = part.split()
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].partition("=")
        props = {}
        for word in words[1:]:
            key, eq, val = word.partition("=")
            if eq:
                props[key.lower()] = val.strip('"').lower()
        found.setdefault(method.lower(), []).append((result.lower(), props))
    dkim = found.get("dkim", [])
    chosen = sorted(
        dkim, key=lambda r: (not _aligned(r[1].get("header.d", ""), sender_domain), r[0] != "pass")
    )
    spf = found.get("spf", [])
    dmarc = found.get("dmarc", [])
    return AuthResults(
        authserv_id=head[0].lower()[:255],
        dkim=chosen[0][0] if chosen else None,
        dkim_domain=chosen[0][1].get("header.d") if chosen else None,
        spf=spf[0][0] if spf else None,
        spf_domain=spf[0][1].get("smtp.mailfrom", "").rpartition("@")[2] or None if spf else None,
        dmarc=dmarc[0][0] if dmarc else None,
        dmarc_domain=dmarc[0][1].get("header.from") if dmarc else None,
    )
