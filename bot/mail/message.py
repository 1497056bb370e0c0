"""Parse one raw mail into a :class:`MailMessage`, safely, whatever the sender put in it.

:func:`parse_message` never raises on bad mail. Malformed headers, unknown or lying charsets,
broken transfer encodings, absurd nesting and huge bodies all end in a message holding what
could be read (text cut at a limit, :attr:`MailMessage.truncated` set), or ``None`` when
nothing usable is left (not bytes, empty, or the parser itself gave up).

The sender is read strictly (:mod:`bot.mail.sender`): the addr-spec of the one mailbox of the
one From header, or ``""`` when the header is ambiguous or malformed; an address in a display
name never counts. The topmost ``Authentication-Results`` header is kept in
:attr:`MailMessage.auth` for the record (never as a reason to trust the mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from bot.mail.sender import AuthResults, SenderClaim, read_auth_results, read_claims, read_from

MAX_RAW_BYTES = 8 * 1024 * 1024
"""Input beyond this is cut before parsing (the IMAP side skips such mail anyway)."""

MAX_TEXT_CHARS = 200_000
"""The text body is cut here."""

MAX_PARTS = 200
"""Only the first parts of a multipart tree are looked at."""

MAX_LINKS = 200
"""Only the first links are kept."""

_HEADER_CHARS = 2_000
_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_BLANKS_RE = re.compile(r"\n\s*\n\s*\n+")
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "td"}
)


@dataclass(frozen=True)
class MailMessage:
    """What Recoup reads from one message. Strings are never None; unknown ones are ``""``."""

    uid: int
    message_id: str | None
    """The Message-ID without angle brackets; the key for de-duplication."""
    sender: str
    """The From addr-spec, lower-case, read strictly (``""`` when the From header is missing,
    repeated, names several mailboxes or is malformed: see :func:`bot.mail.sender.read_from`)."""
    sender_name: str
    subject: str
    """Decoded (RFC 2047), whitespace folded."""
    date: datetime | None
    """The Date header, timezone-aware (UTC assumed when it names none)."""
    text: str
    """text/plain parts, or text/html stripped to text when there is no plain part."""
    links: tuple[str, ...]
    """hrefs of the HTML parts and URLs found in plain text, first occurrence order."""
    internal_date: datetime | None = None
    """The server's INTERNALDATE (arrival time), when the caller knows it."""
    truncated: bool = False
    """True when the input or the text was cut at a limit."""
    auth: AuthResults | None = None
    """The topmost Authentication-Results header (DKIM/SPF/DMARC), when there is one."""
    sender_claims: tuple[SenderClaim, ...] = ()
    """Where a forwarded mail names its original sender (``X-Original-From``, ``Resent-From``,
    ``Reply-To``, a forwarded header block in the body): see :func:`bot.mail.sender.read_claims`."""


def parse_message(
    raw: bytes, *, uid: int, internal_date: datetime | None = None, max_text_chars: int = MAX_TEXT_CHARS
) -> MailMessage | None:
    """Parse `raw`; returns None only when it is unusable. Never raises on hostile input."""
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        return None
    truncated = len(raw) > MAX_RAW_BYTES
    data = bytes(raw[:MAX_RAW_BYTES])
    try:
        msg = message_from_bytes(data)
        text, links, cut = _body(msg, max_text_chars)
    except Exception:  # RecursionError on absurd nesting: keep the headers, drop the body
        try:
            msg = BytesHeaderParser().parsebytes(data)
        except Exception:
            return None
        text, links, cut = "", (), True
    sender = read_from(msg)
    if not (sender.address or text or msg.keys()):
        return None
    return MailMessage(
        uid=uid,
        message_id=_message_id(msg),
        sender=sender.address,
        sender_name=sender.name,
        subject=_header(msg, "Subject"),
        date=_date(msg),
        text=text,
        links=links,
        internal_date=internal_date,
        truncated=truncated or cut,
        auth=read_auth_results(msg, sender.domain),
        sender_claims=read_claims(msg, text),
    )


# ---- headers --------------------------------------------------------------------------------
def _raw_header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    try:
        return str(value)[:_HEADER_CHARS]
    except Exception:
        return ""


def _header(msg: Message, name: str) -> str:
    """The header decoded from RFC 2047, folded to one line; ``""`` when absent or unreadable."""
    value = _raw_header(msg, name)
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # bad encoded-word, unknown charset, ...: keep the raw text
        decoded = value
    return " ".join(decoded.split())


def _message_id(msg: Message) -> str | None:
    value = _raw_header(msg, "Message-ID").strip()
    value = value.strip("<>").strip()
    return value or None


def _date(msg: Message) -> datetime | None:
    value = _raw_header(msg, "Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---- body -----------------------------------------------------------------------------------
def _decoded(part: Message) -> str:
    """One leaf part's payload as text: transfer encoding undone, charset applied or guessed."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        try:
            payload = part.get_payload()
        except Exception:
            return ""
        return payload if isinstance(payload, str) else ""
    if not isinstance(payload, bytes):
        return ""
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):  # unknown or broken charset name
        return payload.decode("utf-8", errors="replace")


class _HtmlText(HTMLParser):
    """Text and hrefs of an HTML document; script/style skipped; never raises on bad HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value and value.strip():
                    self.links.append(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Strip an HTML body to text; returns (text, hrefs). Never raises."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    return _tidy("".join(parser.chunks)), parser.links


def _tidy(text: str) -> str:
    lines = (_WS_RE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return _BLANKS_RE.sub("\n\n", "\n".join(lines)).strip()


def _leaves(msg: Message) -> list[Message]:
    """Leaf parts in document order, at most MAX_PARTS, without recursion (no depth limit hit)."""
    leaves: list[Message] = []
    stack = [msg]
    visited = 0
    while stack and visited < MAX_PARTS * 4 and len(leaves) < MAX_PARTS:
        part = stack.pop()
        visited += 1
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            leaves.append(part)
    return leaves


def _body(msg: Message, max_chars: int) -> tuple[str, tuple[str, ...], bool]:
    plain: list[str] = []
    html: list[str] = []
    try:
        leaves = _leaves(msg)
    except Exception:
        leaves = []
    for part in leaves:
        try:
            ctype = part.get_content_type()
            disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        except Exception:
            continue
        if disposition == "attachment":
            continue
        if ctype == "text/plain":
            plain.append(_decoded(part))
        elif ctype == "text/html":
            html.append(_decoded(part))
    links: list[str] = []
    html_text: list[str] = []
    for doc in html:
        text, hrefs = html_to_text(doc[: max_chars * 4])
        html_text.append(text)
        links.extend(hrefs)
    text = _tidy("\n\n".join(plain)) if any(p.strip() for p in plain) else "\n\n".join(html_text)
    for chunk in plain:
        links.extend(_URL_RE.findall(chunk[: max_chars * 4]))
    cut = len(text) > max_chars
    unique = tuple(dict.fromkeys(links))[:MAX_LINKS]
    return text[:max_chars], unique, cut
