"""The kept summary of a portal mail that matched no rule, and the message rebuilt from it.

:func:`summarise` turns a parsed mail into a :class:`bot.store.KeptMail`: what an operator reads
(sender, subject, dates, order ids seen, a short excerpt) and what a later reclassification
needs (`content`): the headers (without MIME, Received and signature headers), the subject and
the text (at most :data:`MAX_TEXT_CHARS`) with every match of the pack's login-code regex
masked, and the links with query values that are not plain numbers blanked and fragments
dropped (tokens stay out). The excerpt also masks every 4-8 digit run that could be a code.
Nothing here raises on hostile input.

:func:`rebuild` writes that content back into a small MIME message and parses it with
:func:`bot.mail.message.parse_message`, so a reclassification reads a kept mail exactly as the
poller reads a fetched one (same parser, same sender rules, same classifier).
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from email.header import Header
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.mail.message import MailMessage, parse_message
from bot.store import KeptMail

MAX_TEXT_CHARS = 16_000
"""The kept text is cut here."""

MAX_EXCERPT_CHARS = 400
"""The excerpt shown in listings."""

MAX_LINKS = 40
"""Only the first links are kept."""

MAX_LINK_CHARS = 500
MAX_HEADER_CHARS = 8_000
"""All kept headers together."""

MASK = "#"
CONTENT_VERSION = 1

_DROPPED_HEADERS = frozenset(
    {
        "subject",
        "mime-version",
        "received",
        "dkim-signature",
        "x-google-dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "x-gm-message-state",
        "x-received",
    }
)
"""Headers not kept: the subject is kept masked on its own, the body is rebuilt, and these are
large and say nothing about the sender's identity that the classifier reads."""

_CODE_LIKE = re.compile(r"(?<![0-9])[0-9]{4,8}(?![0-9])")
_ORDER_LIKE = re.compile(r"(?<![0-9])[0-9]{15,19}(?![0-9])")
_NUMERIC = re.compile(r"\A[0-9,]*\Z")
_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"[\r\n]+[ \t]*")
_FALLBACK_CODE = r"(?<![0-9])[0-9]{4,8}(?![0-9])"


def _digits_masked(found: re.Match[str]) -> str:
    return re.sub(r"[0-9]", MASK, found.group(0))


def mask_codes(text: str, code_regex: re.Pattern[str]) -> str:
    """`text` with the code (group 1, else the whole match) of every `code_regex` match masked."""

    def masked(found: re.Match[str]) -> str:
        whole = found.group(0)
        if not found.re.groups or found.group(1) is None:
            return re.sub(r"[0-9A-Za-z]", MASK, whole)
        start, end = found.span(1)
        offset = found.start(0)
        code = whole[start - offset : end - offset]
        return whole[: start - offset] + re.sub(r"[0-9A-Za-z]", MASK, code) + whole[end - offset :]

    try:
        return code_regex.sub(masked, text)
    except Exception:  # a pathological pattern must not lose the mail: mask every code-like run
        return _CODE_LIKE.sub(_digits_masked, text)


def code_pattern(pattern: str | None) -> re.Pattern[str]:
    """The pack's login-code regex, or a 4-8 digit fallback when it is missing or invalid."""
    try:
        return re.compile(pattern or _FALLBACK_CODE)
    except re.error:
        return re.compile(_FALLBACK_CODE)


def excerpt_of(text: str) -> str:
    """The first :data:`MAX_EXCERPT_CHARS` of `text`, whitespace folded, 4-8 digit runs masked."""
    folded = " ".join(text.split())[: MAX_EXCERPT_CHARS * 2]
    return _CODE_LIKE.sub(_digits_masked, folded)[:MAX_EXCERPT_CHARS]


def scrub_link(url: str) -> str:
    """`url` without fragment and with every query value that is not digits/commas blanked
    (ids stay readable, tokens do not)."""
    try:
        parts = urlsplit(url[: MAX_LINK_CHARS * 4])
        query = [
            (key, value if _NUMERIC.match(value) else "")
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe=","), ""))[
            :MAX_LINK_CHARS
        ]
    except Exception:
        return ""


def order_ids_seen(subject: str, text: str, links: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Order-id-shaped numbers (15-19 digits bounded by non-digits) in subject, links and text."""
    found: list[str] = []
    for haystack in (subject, *links, text):
        found.extend(_ORDER_LIKE.findall(haystack))
    return tuple(dict.fromkeys(found))


def _headers(raw: bytes) -> list[list[str]]:
    try:
        parsed: Message = BytesHeaderParser().parsebytes(raw[: 256 * 1024])
        items = parsed.raw_items()
    except Exception:
        return []
    kept: list[list[str]] = []
    total = 0
    for name, value in items:
        lower = name.lower()
        if lower in _DROPPED_HEADERS or lower.startswith("content-"):
            continue
        text = _LINE_BREAKS.sub(" ", str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        text = text.replace("\x00", "")[:2_000]
        if total + len(name) + len(text) > MAX_HEADER_CHARS:
            break
        total += len(name) + len(text)
        kept.append([name, text])
    return kept


def summarise(
    message: MailMessage,
    raw: bytes,
    *,
    code_regex: re.Pattern[str],
    order_ids: tuple[str, ...] = (),
    accepted_as: str | None = None,
) -> KeptMail:
    """The kept summary of `message` (parsed from `raw`). `order_ids`: what the classifier found
    (else the order-id-shaped numbers seen)."""
    subject = mask_codes(message.subject, code_regex)
    scrubbed_text = _URL_RE.sub(lambda found: scrub_link(found.group(0)), message.text[:MAX_TEXT_CHARS])
    text = mask_codes(scrubbed_text, code_regex)
    links = [scrubbed for scrubbed in (scrub_link(link) for link in message.links[:MAX_LINKS]) if scrubbed]
    content: dict[str, Any] = {
        "version": CONTENT_VERSION,
        "headers": _headers(raw),
        "subject": subject,
        "text": text,
        "links": links,
        "truncated": message.truncated or len(message.text) > MAX_TEXT_CHARS,
    }
    return KeptMail(
        sender=message.sender,
        subject=subject,
        sent_at=message.date,
        received_at=message.internal_date,
        order_ids=order_ids or order_ids_seen(subject, text, links),
        excerpt=excerpt_of(text),
        content=content,
        accepted_as=accepted_as,
    )


def _b64(text: str) -> str:
    data = base64.encodebytes(text.encode("utf-8")).decode("ascii")
    return data.replace("\n", "\r\n")


def rebuild_raw(content: dict[str, Any]) -> bytes:
    """A MIME message holding the kept headers, subject, text and links."""
    lines: list[str] = []
    for pair in content.get("headers") or []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            name, value = str(pair[0]), str(pair[1])
            if name and ":" not in name and not any(c.isspace() for c in name):
                lines.append(f"{name}: {_LINE_BREAKS.sub(' ', value)}")
    subject = str(content.get("subject") or "")
    lines.append("Subject: " + (subject if subject.isascii() else Header(subject, "utf-8").encode()))
    boundary = "=_recoup_kept_mail_boundary"
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    links = [str(link) for link in content.get("links") or []]
    anchors = "".join(f'<a href="{html.escape(link, quote=True)}">link</a><br>' for link in links)
    for ctype, body in (("text/plain", str(content.get("text") or "")), ("text/html", f"<p>{anchors}</p>")):
        lines += [
            f"--{boundary}",
            f"Content-Type: {ctype}; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            _b64(body),
        ]
    lines.append(f"--{boundary}--")
    return "\r\n".join(lines).encode("utf-8", "replace")


def rebuild(content: dict[str, Any], *, uid: int, internal_date: datetime | None) -> MailMessage | None:
    """The kept mail as the poller would parse it (None when nothing usable is left)."""
    try:
        raw = rebuild_raw(content)
    except Exception:
        return None
    return parse_message(raw, uid=uid, internal_date=internal_date)
