"""The IMAP boundary: one mailbox, opened read-only, fetched by UID without touching flags.

:class:`MailboxClient` wraps IMAPClient (synchronous). Every IMAPClient, socket and TLS error
is converted here, once: a refused login becomes :class:`bot.errors.MailLoginError`, anything
else :class:`bot.errors.MailUnavailableError` (retry on the next poll). The mailbox is opened
with EXAMINE and bodies are fetched with ``BODY.PEEK[]``, so reading never sets ``\\Seen``.
Passwords never appear in logs or error messages.

One TLS mistake is a setting, not a passing fault: with ``RECOUP_IMAP_SSL=true`` against a
server that speaks plain IMAP on that port, the TLS handshake reads the plain greeting and fails
at once with SSL's "wrong version number". That raises :class:`bot.errors.ConfigError` with
:data:`PLAIN_IMAP_HINT` (no retry would ever succeed).

The ``a*`` methods are the same calls run in a worker thread (``asyncio.to_thread``); one
client must not be used by two threads at once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from loguru import logger

from bot.config import Settings
from bot.errors import ConfigError, MailLoginError, MailUnavailableError

PLAIN_IMAP_HINT = "the server speaks plain IMAP on this port: set RECOUP_IMAP_SSL=false (or use port 993)"
"""What to do when a TLS connection meets a plain-text IMAP server."""


def is_plain_server_error(exc: BaseException) -> bool:
    """True when a TLS handshake failed because the peer answered in plain text (SSL's
    WRONG_VERSION_NUMBER: the first bytes read were no TLS record)."""
    if not isinstance(exc, ssl.SSLError):
        return False
    reason = getattr(exc, "reason", None) or ""
    return reason == "WRONG_VERSION_NUMBER" or "wrong version number" in str(exc).lower()


@dataclass(frozen=True)
class MailboxState:
    """What EXAMINE reported: the cursor's UIDVALIDITY and the next UID the server will give."""

    mailbox: str
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True)
class FetchedMail:
    """One message as fetched: `raw` is None when it was over the size cap and was skipped."""

    uid: int
    size: int
    internal_date: datetime | None
    raw: bytes | None

    @property
    def skipped(self) -> bool:
        """True when the body was not downloaded because RFC822.SIZE exceeded the cap."""
        return self.raw is None


class MailboxClient:
    """A read-only connection to one mailbox folder (INBOX by default).

    Use as a context manager or call :meth:`open` / :meth:`close`. :meth:`open` connects, logs
    in and EXAMINEs the folder; failures raise the typed errors described in the module doc.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        use_ssl: bool,
        username: str,
        password: str,
        mailbox: str = "INBOX",
        timeout_s: float = 30.0,
        max_message_bytes: int = 5 * 1024 * 1024,
        batch_size: int = 50,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.use_ssl = use_ssl
        self.username = username
        self._password = password
        self.mailbox = mailbox
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.batch_size = max(1, batch_size)
        self._ssl_context = ssl_context
        self._client: IMAPClient | None = None
        self.state: MailboxState | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, username: str, password: str, mailbox: str = "INBOX"
    ) -> MailboxClient:
        """A client using the `imap_*` and `mail_*` settings."""
        return cls(
            settings.imap_host,
            settings.imap_port,
            use_ssl=settings.imap_ssl,
            username=username,
            password=password,
            mailbox=mailbox,
            timeout_s=settings.imap_timeout_s,
            max_message_bytes=settings.mail_max_message_bytes,
            batch_size=settings.mail_fetch_batch,
        )

    def __repr__(self) -> str:  # never shows the password
        return f"MailboxClient({self.username!r} at {self.host}:{self.port}/{self.mailbox})"

    # ---- error boundary -------------------------------------------------------------------------
    @contextmanager
    def _boundary(self, action: str) -> Iterator[None]:
        where = f"{self.host}:{self.port}"
        try:
            yield
        except LoginError as exc:
            text = str(exc)
            if "UNAVAILABLE" in text.upper():  # auth backend down, not a wrong password
                raise MailUnavailableError(
                    f"IMAP login for {self.username} on {where} temporarily failed: {text}",
                    host=where,
                ) from exc
            raise MailLoginError(
                f"IMAP server {where} refused the login for {self.username}: {text}",
                host=where,
                user=self.username,
            ) from exc
        except ssl.SSLError as exc:
            if self.use_ssl and is_plain_server_error(exc):
                raise ConfigError(f"IMAP {where}: {PLAIN_IMAP_HINT}", host=where) from exc
            raise MailUnavailableError(
                f"IMAP {action} failed for {self.username} on {where}: {type(exc).__name__}: {exc}",
                host=where,
            ) from exc
        except (IMAPClientError, OSError, EOFError, ValueError) as exc:
            # OSError covers socket errors and timeouts
            raise MailUnavailableError(
                f"IMAP {action} failed for {self.username} on {where}: {type(exc).__name__}: {exc}",
                host=where,
            ) from exc

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise MailUnavailableError(f"IMAP connection for {self.username} is not open")
        return self._client

    # ---- connection -----------------------------------------------------------------------------
    def open(self) -> MailboxState:
        """Connect, log in and EXAMINE the folder; returns its UIDVALIDITY / UIDNEXT."""
        if self._client is not None:
            return self.refresh()
        client = self._connect()
        client.normalise_times = False  # keep INTERNALDATE timezone-aware
        self._client = client
        try:
            with self._boundary("login"):
                client.login(self.username, self._password)
            state = self.refresh()
        except BaseException:
            self._drop()
            raise
        logger.debug("IMAP {} opened: {}", self, state)
        return state

    def _connect(self) -> IMAPClient:
        """A connection that read the server's greeting (TLS first when `use_ssl`)."""
        with self._boundary("connect"):
            context = self._ssl_context
            if self.use_ssl and context is None:
                context = ssl.create_default_context()
            return IMAPClient(
                self.host, self.port, ssl=self.use_ssl, ssl_context=context, timeout=self.timeout_s
            )

    def greet(self) -> None:
        """Connect, read the greeting and hang up without logging in (is the server there, and
        does it speak what `use_ssl` says?). Raises like :meth:`open`: ConfigError with
        :data:`PLAIN_IMAP_HINT` for a plain server met with TLS, MailUnavailableError otherwise."""
        client = self._connect()
        with suppress(Exception):
            client.shutdown()

    def refresh(self) -> MailboxState:
        """EXAMINE the folder again (read-only) and return its current state."""
        client = self._require()
        with self._boundary("examine"):
            info: dict[bytes, Any] = client.select_folder(self.mailbox, readonly=True)
        try:
            uidvalidity = int(info[b"UIDVALIDITY"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MailUnavailableError(f"IMAP server sent no UIDVALIDITY for {self.mailbox}") from exc
        uidnext = info.get(b"UIDNEXT")
        self.state = MailboxState(
            mailbox=self.mailbox,
            uidvalidity=uidvalidity,
            uidnext=int(uidnext) if uidnext is not None else None,
            exists=int(info.get(b"EXISTS", 0)),
        )
        return self.state

    def close(self) -> None:
        """Log out (best effort) and drop the connection; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with suppress(Exception):
                client.shutdown()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                client.shutdown()

    def __enter__(self) -> MailboxClient:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- reading --------------------------------------------------------------------------------
    def uids_after(self, after_uid: int) -> list[int]:
        """UIDs greater than `after_uid`, ascending (``n:*`` also matches the last message even
        when its UID is lower, so the result is filtered)."""
        client = self._require()
        with self._boundary("search"):
            found = client.search(["UID", f"{max(after_uid, 0) + 1}:*"])
        return sorted(int(uid) for uid in found if int(uid) > after_uid)

    def uids_since_day(self, day: date) -> list[int]:
        """UIDs whose INTERNALDATE falls on `day` or later (IMAP SINCE: whole days), ascending."""
        client = self._require()
        with self._boundary("search"):
            found = client.search(["SINCE", day])
        return sorted(int(uid) for uid in found)

    def fetch(self, uids: list[int]) -> Iterator[list[FetchedMail]]:
        """Fetch `uids` in batches, ascending: sizes first, then ``BODY.PEEK[]`` for those within
        the cap. Messages expunged meanwhile are left out. Yields one list per batch."""
        client = self._require()
        ordered = sorted(set(uids))
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start : start + self.batch_size]
            with self._boundary("fetch"):
                meta: dict[int, dict[bytes, Any]] = client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"])
                wanted = [uid for uid in batch if uid in meta and _size(meta[uid]) <= self.max_message_bytes]
                bodies: dict[int, dict[bytes, Any]] = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
            wanted_set = set(wanted)
            out: list[FetchedMail] = []
            for uid in batch:
                if uid not in meta:
                    continue
                size = _size(meta[uid])
                internal = meta[uid].get(b"INTERNALDATE")
                raw = bodies.get(uid, {}).get(b"BODY[]") if uid in wanted_set else None
                if uid in wanted_set and raw is None:
                    continue  # expunged between the two FETCHes
                if raw is None:
                    logger.info("IMAP {}: UID {} skipped, {} bytes over the cap", self, uid, size)
                out.append(
                    FetchedMail(
                        uid=uid,
                        size=size,
                        internal_date=internal if isinstance(internal, datetime) else None,
                        raw=bytes(raw) if raw is not None else None,
                    )
                )
            yield out

    def fetch_after(self, after_uid: int) -> list[FetchedMail]:
        """Every message with UID > `after_uid`, ascending (all batches joined)."""
        return [mail for batch in self.fetch(self.uids_after(after_uid)) for mail in batch]

    def supports_idle(self) -> bool:
        """True when the server announced IDLE (RFC 2177); False when not open."""
        if self._client is None:
            return False
        with self._boundary("capability"):
            return bool(self._client.has_capability("IDLE"))

    def wait_for_news(self, timeout_s: float, after_uid: int | None = None) -> bool:
        """Block up to `timeout_s` in IMAP IDLE; True when the server reported a change, False on
        timeout. Returns False at once when the server has no IDLE (the caller then waits).

        A server reports each new message once, in the reply to whichever command first sees
        it, so news could hide in an earlier FETCH's reply. Pass `after_uid` (the highest UID
        already looked at): the folder is re-EXAMINEd first and True comes back at once when
        UIDNEXT shows mail beyond it; anything later is reported during IDLE.
        """
        client = self._require()
        with self._boundary("idle"):
            if not client.has_capability("IDLE"):
                return False
        if after_uid is not None:
            state = self.refresh()
            if state.uidnext is not None and state.uidnext - 1 > after_uid:
                return True
        with self._boundary("idle"):
            client.idle()
            try:
                responses = client.idle_check(timeout=max(timeout_s, 0.0))
            finally:
                client.idle_done()
        return bool(responses)

    # ---- async wrappers -------------------------------------------------------------------------
    async def aopen(self) -> MailboxState:
        """:meth:`open` in a worker thread."""
        return await asyncio.to_thread(self.open)

    async def arefresh(self) -> MailboxState:
        """:meth:`refresh` in a worker thread."""
        return await asyncio.to_thread(self.refresh)

    async def afetch_after(self, after_uid: int) -> list[FetchedMail]:
        """:meth:`fetch_after` in a worker thread."""
        return await asyncio.to_thread(self.fetch_after, after_uid)

    async def afetch(self, uids: list[int]) -> list[FetchedMail]:
        """:meth:`fetch` (all batches) in a worker thread."""
        return await asyncio.to_thread(lambda: [m for batch in self.fetch(uids) for m in batch])

    async def await_news(self, timeout_s: float, after_uid: int | None = None) -> bool:
        """:meth:`wait_for_news` in a worker thread."""
        return await asyncio.to_thread(self.wait_for_news, timeout_s, after_uid)

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread."""
        await asyncio.to_thread(self.close)


def _size(item: dict[bytes, Any]) -> int:
    try:
        return int(item.get(b"RFC822.SIZE", 0))
    except (TypeError, ValueError):
        return 0
