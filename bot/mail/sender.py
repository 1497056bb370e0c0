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

:func:`accepted_via` decides whether a mail counts as the portal's and says how: ``direct``
(the From is the portal's address), ``alias`` (an address the operator declared, setting
``RECOUP_MAIL_SENDER_ALIASES``), ``relay:apple`` (an Apple Hide My Email address encoding the
portal's address) or ``forward:<where>`` (a forwarded mail whose ``X-Original-From``,
``Resent-From``, ``Reply-To`` or forwarded header block in the body names the portal's address,
see :func:`read_claims`). Every form is forgeable, like the From itself: an accepted mail only
rings the doorbell, it never proves anything.

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


# ---- relays, forwards and aliases --------------------------------------------------------------
APPLE_RELAY_DOMAIN = "privaterelay.appleid.com"
"""Apple "Hide My Email" / Sign in with Apple relay: it rewrites the From of relayed mail to
``<local>_at_<domain with _ for .>_<random>@privaterelay.appleid.com``."""

_APPLE_RANDOM = re.compile(r"[0-9a-z]{6,}(?:_[0-9a-z]{8,})?")
"""The relay's random tail (one or two alphanumeric chunks). A short second chunk is refused, so
``…_com_evil_io`` (``transaction@notice.aliexpress.com.evil.io``) is not read as the portal."""

CLAIM_HEADERS = ("X-Original-From", "Resent-From", "Reply-To")
"""Headers a forwarder (Gmail, Outlook, a mailing service) puts the original sender into, read
in this order, each strictly (one well-formed mailbox, see :func:`parse_from`)."""

_FORWARD_MARKERS = re.compile(
    r"(?im)^[ \t>]*(?:-{2,}\s*)?(?:Forwarded message|Begin forwarded message:?|Original Message"
    r"|Weitergeleitete Nachricht|Ursprüngliche Nachricht|Message transféré|Message d'origine"
    r"|Mensaje reenviado|Mensaje original|Messaggio inoltrato|Messaggio originale"
    r"|Wiadomość przekazana dalej|Wiadomość przekazana|Oryginalna wiadomość"
    r"|Doorgestuurd bericht|Oorspronkelijk bericht)\s*(?:-{2,})?\s*$"
)
"""The line a mail client writes above a forwarded message's header block (Gmail
``---------- Forwarded message ---------``, Apple Mail ``Begin forwarded message:``, Outlook
``-----Original Message-----`` and their EN/DE/FR/ES/IT/PL/NL translations)."""

_FORWARD_FROM = re.compile(r"(?im)^[ \t>*]*(?:From|Von|De|Da|Od|Van)[ \t]*:[ \t]*(.+?)[ \t*]*$")
_FORWARD_NEXT = re.compile(
    r"(?im)^[ \t>*]*(?:Sent|Date|Gesendet|Datum|Envoyé|Date|Enviado|Fecha|Inviato|Data|Wysłano"
    r"|Verzonden|Datum)[ \t]*:"
)
"""Outlook writes no marker line, only ``From: … Sent: …`` (``Von: … Gesendet: …``): a From line
directly followed by one of these counts as a forwarded header block too."""
_MAILTO = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)
_FORWARD_WINDOW = 6
"""A marker's From line must be among the next few lines."""
_FORWARD_TEXT = 20_000
"""Only the start of the body is searched for a forwarded header block."""


@dataclass(frozen=True)
class SenderClaim:
    """Another place of the mail naming its original sender: `via` is the header name
    (lower-case) or ``body`` for a forwarded header block; `address` is read strictly."""

    via: str
    address: str


def read_claims(msg: Message, text: str) -> tuple[SenderClaim, ...]:
    """The original-sender claims of a forwarded mail: :data:`CLAIM_HEADERS` (one value each,
    read strictly; a repeated header is refused) and the forwarded header block at the start of
    the body `text`. Never raises; claims are only claims (anyone can write them)."""
    claims: list[SenderClaim] = []
    for name in CLAIM_HEADERS:
        values = raw_headers(msg, name)
        if len(values) != 1 or len(values[0]) > MAX_FROM_CHARS:
            continue
        address = parse_from(values[0]).address
        if address:
            claims.append(SenderClaim(name.lower(), address))
    try:
        forwarded = forwarded_from(text)
    except Exception:
        forwarded = ""
    if forwarded:
        claims.append(SenderClaim("body", forwarded))
    return tuple(claims)


def forwarded_from(text: str) -> str:
    """The strictly read sender of the first forwarded header block in `text` (``""`` when
    there is none): a From line (``From:``/``Von:``/``De :``/``Da:``/``Od:``/``Van:``) within a
    few lines after a forward marker, or directly followed by a Sent/Date line (Outlook).
    ``Name [mailto:a@b]`` is read as ``Name <a@b>``."""
    lines = text[:_FORWARD_TEXT].splitlines()
    marker_at = -(_FORWARD_WINDOW + 1)
    for index, line in enumerate(lines):
        if _FORWARD_MARKERS.match(line):
            marker_at = index
            continue
        found = _FORWARD_FROM.match(line)
        if found is None:
            continue
        after_marker = index - marker_at <= _FORWARD_WINDOW
        outlook = index + 1 < len(lines) and _FORWARD_NEXT.match(lines[index + 1]) is not None
        if not (after_marker or outlook):
            continue
        value = _MAILTO.sub(r"<\1>", found.group(1))
        address = parse_from(value).address
        if address:
            return address
    return ""


def apple_relay_matches(address: str, wanted: str) -> bool:
    """Is `address` an Apple relay address encoding `wanted` (an address, or ``@domain`` for any
    sender at that domain)? ``transaction_at_notice_aliexpress_com_ab12cd34@privaterelay.appleid.com``
    encodes ``transaction@notice.aliexpress.com``; a look-alike domain encodes differently."""
    local, _, domain = address.strip().lower().rpartition("@")
    wanted = wanted.strip().lower()
    if domain != APPLE_RELAY_DOMAIN or not wanted or "@" not in wanted:
        return False
    want_local, _, want_domain = wanted.rpartition("@")
    encoded_domain = "_at_" + want_domain.replace(".", "_") + "_"
    if want_local:
        prefix = want_local + encoded_domain
        if not local.startswith(prefix):
            return False
        tail = local[len(prefix) :]
    else:
        head, sep, tail = local.partition(encoded_domain)
        if not sep or not head or "_at_" in head or _LOCAL_BAD.search(head):
            return False
    return _APPLE_RANDOM.fullmatch(tail) is not None


def accepted_via(
    sender: str, claims: tuple[SenderClaim, ...], wanted: str | None, aliases: tuple[str, ...] = ()
) -> str | None:
    """How a mail from the strictly read `sender` (with its forward `claims`) counts as coming
    from `wanted`, or None when it does not:

    - ``direct``: `sender` is `wanted` (:func:`sender_matches`);
    - ``alias``: `sender` is one of the operator's `aliases` (addresses the operator declared
      to carry the portal's mail, e.g. a forwarding mailbox);
    - ``relay:apple``: `sender` is an Apple relay address encoding `wanted`;
    - ``forward:<header>`` / ``forward:body``: a forward claim (``X-Original-From``,
      ``Resent-From``, ``Reply-To``, or a forwarded header block in the body) is `wanted`.

    A mail whose own From was refused (``""``) is never accepted, whatever it claims; display
    names never count; a look-alike domain matches nothing. Claims are forgeable, as is the
    From itself: an accepted mail only rings the doorbell (a status check)."""
    if wanted is None:
        return "direct"
    if not sender:
        return None
    if sender_matches(sender, wanted):
        return "direct"
    if any(sender == alias.strip().lower() for alias in aliases if alias.strip()):
        return "alias"
    if apple_relay_matches(sender, wanted):
        return "relay:apple"
    for claim in claims:
        if sender_matches(claim.address, wanted):
            return f"forward:{claim.via}"
    return None
