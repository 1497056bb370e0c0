"""Browser and mailbox helpers for the sandbox tests (real Chromium, real Dovecot)."""

from __future__ import annotations

import re
import struct
import time
import zlib
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message

from imapclient import IMAPClient
from playwright.async_api import Page, expect

from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox

ORDERS = "/p/order/index.html"


async def accept_cookies(page: Page) -> None:
    """Click the cookie banner away (it covers the page until accepted)."""
    banner = page.locator(".gdpr-banner")
    if await banner.count():
        await banner.locator(".btn-accept").click()
        await expect(banner).to_have_count(0)


async def login(page: Page, sb: RunningSandbox, email: str, return_path: str = ORDERS) -> None:
    """Sign in through the layout's login form; ends on `return_path` (or a challenge/code page)."""
    password = sb.scenario.account(email).password
    await page.goto(sb.url + return_path)
    await expect(page).to_have_url(re.compile(r"/login/"))
    await accept_cookies(page)
    await page.fill("#fm-login-id", email)
    if sb.settings.layout == "b":
        await page.keyboard.press("Enter")
        await expect(page.locator("#fm-login-password")).to_be_visible()
    await page.fill("#fm-login-password", password)
    await page.locator("button[type=submit]:visible").click()
    await page.wait_for_load_state()


def png_bytes(width: int = 8, height: int = 8, extra: int = 0) -> bytes:
    """A valid PNG; `extra` pads it with an ancillary chunk to reach a given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if extra:
        body += chunk(b"teXt", b"pad\x00" + b"x" * extra)
    body += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def wait_for_mail(
    server: MailServer, sb: RunningSandbox, email: str, subject_re: str, timeout: float = 20.0
) -> Message:
    """Poll the account's Dovecot INBOX over IMAP until a mail whose subject matches arrives;
    returns the newest such mail."""
    password = sb.scenario.account(email).mailbox_password
    host, port = server.host, server.imap_port
    deadline = time.monotonic() + timeout
    pattern = re.compile(subject_re)
    seen: list[str] = []
    while True:
        with IMAPClient(host, port=port, ssl=False, timeout=10) as client:
            client.login(email, password)
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["RFC822"])
            for uid in sorted(fetched, reverse=True):  # newest first: older tests' mails stay behind
                msg = message_from_bytes(fetched[uid][b"RFC822"])
                subject = str(make_header(decode_header(msg["Subject"])))
                if pattern.search(subject):
                    return msg
                seen.append(subject)
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail matching {subject_re!r} for {email}; saw {sorted(set(seen))}")
        time.sleep(0.3)


def body_text(msg: Message) -> str:
    """The text/plain part of a mail."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")
