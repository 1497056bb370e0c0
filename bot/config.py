"""Recoup's settings: one pydantic-settings class read from `RECOUP_*` variables and `.env`.

`Settings()` never touches the disk; call :meth:`Settings.ensure_dirs` before writing.
Invalid values (also a webhook URL without a secret) raise pydantic's ValidationError at
construction, which callers convert to :class:`bot.errors.ConfigError`.

Files: everything Recoup writes is private to its user. The command line sets the process umask
to :data:`PRIVATE_UMASK` at start (:func:`use_private_umask`), so the database, logs, evidence,
reports and exports are created 0600 and folders 0700; :meth:`Settings.ensure_dirs` also
tightens an existing data folder that others could enter (older versions left it 0755), which
makes everything inside it unreachable for other users whatever the files' own modes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Literal

from loguru import logger
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

PRIVATE_UMASK = 0o077
"""The process umask of every `recoup` command: new files 0600, new folders 0700."""

PRIVATE_DIR_MODE = 0o700
"""Mode of the data folder and its sub-folders."""


def use_private_umask() -> None:
    """Set the process umask to :data:`PRIVATE_UMASK` (children such as Chromium inherit it)."""
    os.umask(PRIVATE_UMASK)


CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
)
"""Flags every Chromium we launch gets (a closed network: no background fetches)."""


class Settings(BaseSettings):
    """Every setting Recoup reads. Environment variables are `RECOUP_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="RECOUP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"))
    """Folder for the SQLite database, browser sessions, evidence and reports."""

    database_url: str | None = None
    """SQLAlchemy URL; default SQLite at `<data_dir>/recoup.db`. PostgreSQL:
    `postgresql+psycopg2://user@host/db`."""

    browser_path: Path = Path("/usr/bin/chromium")
    """Chromium executable (Debian's `chromium`); never downloaded."""

    headless: bool = True
    """Run the browser headless (the default for scheduled runs)."""

    navigation_timeout_ms: int = Field(default=20_000, ge=100)
    """Longest wait for a page to load before it counts as the portal being unavailable."""

    action_timeout_ms: int = Field(default=10_000, ge=100)
    """Longest wait for one element to appear or become clickable."""

    confirm_timeout_ms: int = Field(default=20_000, ge=100)
    """Longest wait for the page to confirm a submitted request."""

    navigation_retries: int = Field(default=2, ge=0)
    """Extra tries of a page load (a GET only, never a submit) after a 5xx, drop or timeout."""

    login_code_timeout_s: float = Field(default=120.0, gt=0)
    """Longest wait for an emailed login verification code to arrive over IMAP."""

    portal: str = "aliexpress"
    """Name of the selector pack in `selectors/` (`<portal>.yaml`)."""

    pack_dir: Path = Path(__file__).resolve().parent.parent / "selectors"
    """Folder holding the selector packs."""

    portal_base_url: str | None = None
    """Overrides the pack's `{base}` URL (the sandbox sets `http://127.0.0.1:PORT`)."""

    portal_login_base_url: str | None = None
    """Overrides the pack's `{login_base}` URL (sandbox: `http://127.0.0.1:PORT/login`)."""

    secrets_file: Path | None = None
    """Optional YAML/`.env`-style file holding account passwords and TOTP secrets."""

    strict_secrets: bool = False
    """Refuse a secrets file that group or others may read or write (exit 6) instead of only
    warning about it."""

    imap_host: str = "127.0.0.1"
    """IMAP server of the accounts' mailboxes."""

    imap_port: int = 993
    """IMAP port."""

    imap_ssl: bool = True
    """Use IMAP over TLS (the local sandbox Dovecot is plain text on loopback)."""

    imap_timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for the IMAP server to answer one command (connect, login, fetch)."""

    mail_max_message_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    """Messages larger than this (RFC822.SIZE) are skipped by the mail poller, never downloaded."""

    mail_fetch_batch: int = Field(default=50, ge=1)
    """How many messages one IMAP FETCH asks for at a time."""

    mail_poll_interval_s: float = Field(default=2.0, gt=0)
    """Longest pause between two looks at a mailbox while waiting for a verification code (the
    wait also wakes early on IMAP IDLE news)."""

    max_evidence_bytes: int = Field(default=2 * 1024 * 1024 - 1, ge=1)
    """Largest evidence image accepted before upload (the portal's own limit is 2 MB)."""

    max_evidence_video_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    """Largest evidence video accepted before upload (the portal's video limit is a guess)."""

    max_evidence_files: int = Field(default=6, ge=1)
    """Most evidence files one request may carry."""

    evidence_image_type: Literal["jpeg", "png"] = "jpeg"
    """Format of the case screenshots: JPEG (much cheaper for Chromium to encode, text stays
    legible at the default quality) or PNG (lossless, slower)."""

    evidence_jpeg_quality: int = Field(default=85, ge=30, le=100)
    """JPEG quality of the case screenshots."""

    trace_sessions: Literal["retries", "always", "never"] = "retries"
    """When a case's browser session records a Playwright trace (kept only when the session
    fails, scrubbed): `retries` (default) only for an attempt after a failed one (the case's
    `attempts` > 0; recording costs about as much as the case itself), `always`, or `never`.
    Every failed session also leaves a screenshot and the HTML of its last page in the case
    folder, traced or not (:mod:`bot.sessions`)."""

    max_concurrency: int = Field(default=2, ge=1)
    """Cases run at once across all accounts (one browser session per account at a time)."""

    warm_context_seconds: float = Field(default=120.0, ge=0.0)
    """The scheduler service keeps an account's browser context (signed in, its page loaded)
    open this long after a session that ended cleanly, so the account's next case reuses it
    instead of opening a new context and checking the sign-in on My Orders again. 0 closes
    every context after its session (one-off commands always do)."""

    lease_seconds: int = Field(default=600, ge=10)
    """How long a claimed case stays leased to one worker before others may reclaim it."""

    account_wait_seconds: float = Field(default=60.0, ge=0.0)
    """How long a one-off command waits for a busy account (another process runs one of its
    cases) before it leaves its case queued and exits 8."""

    dispute_share_cap: float = Field(default=0.3, ge=0.0, le=1.0)
    """Refuse a new dispute when this share of an account's known orders is already disputed."""

    pacing_seconds: float = Field(default=0.0, ge=0.0)
    """Minimum pause between actions on one account (jitter of up to half of it is added)."""

    dry_run: bool = False
    """Plan only: open and read orders, never submit."""

    approve_first: bool = False
    """New cases wait for an operator's `recoup cases approve` before they run."""

    evidence_input_dir: Path | None = None
    """When set, operator evidence files given to `create_case` must lie inside this folder
    (symlinks and `../` cannot escape it); None accepts files from anywhere."""

    misfire_grace_minutes: float = Field(default=5.0, gt=0)
    """A scheduler tick that is later than this (process paused, machine asleep) is reported
    missed instead of run; coalescing runs a late job once, never once per missed interval."""

    dispatch_interval_seconds: float = Field(default=10.0, gt=0)
    """How often the scheduler looks for queued cases to run."""

    status_poll_interval_seconds: float = Field(default=60.0, gt=0)
    """How often the scheduler looks for open cases whose status check is due."""

    mailbox_poll_interval_seconds: float = Field(default=120.0, gt=0)
    """How often the scheduler polls each account's mailbox for outcome mails."""

    deadline_sweep_interval_seconds: float = Field(default=300.0, gt=0)
    """How often the scheduler sweeps portal deadlines that have passed."""

    outbox_interval_seconds: float = Field(default=30.0, gt=0)
    """How often the scheduler delivers due outbox messages (webhooks)."""

    scheduler_lock_ttl_seconds: float = Field(default=120.0, ge=10)
    """The scheduler's lock on the store expires this long after its last renewal (renewed every
    third of it); a lock left by a dead process is taken over once expired."""

    status_check_new_minutes: float = Field(default=15.0, gt=0)
    """Status-check interval of an open case younger than `status_check_new_age_hours`."""

    status_check_old_hours: float = Field(default=6.0, gt=0)
    """Status-check interval of an open case older than `status_check_new_age_hours`."""

    status_check_new_age_hours: float = Field(default=48.0, ge=0)
    """Age (since creation) up to which an open case counts as new and is checked often."""

    deadline_cancel_window_hours: float = Field(default=48.0, gt=0)
    """Seller's window to answer a cancellation request (the order cancels itself after it;
    some sources say 72 h). A status check is requested when it ends."""

    deadline_cancel_expiry_hours: float = Field(default=96.0, gt=0)
    """Since submission: a cancellation still without an outcome then goes to needs_human."""

    deadline_seller_reply_hours: float = Field(default=120.0, gt=0)
    """Seller's window to answer a refund request (5 days; then the refund is automatic)."""

    deadline_escalation_hours: float = Field(default=168.0, gt=0)
    """Since submission: when a refund dispute escalates to the platform (about 7 days)."""

    deadline_protection_hours: float = Field(default=90 * 24.0, gt=0)
    """Since submission: buyer protection ends; a refund still without an outcome then goes to
    needs_human."""

    webhook_url: str | None = None
    """Where case events are POSTed as JSON (signed with `webhook_secret`)."""

    webhook_secret: str | None = None
    """HMAC-SHA256 key for the `X-Recoup-Signature` header."""

    webhook_timeout_s: float = Field(default=10.0, gt=0)
    """Longest wait for the webhook receiver to answer one POST."""

    webhook_backoff_base_s: float = Field(default=30.0, gt=0)
    """Delay before the first retry of a failed webhook delivery; doubled after each failure."""

    webhook_backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    """Longest delay between two tries of one webhook delivery."""

    webhook_batch: int = Field(default=100, ge=1)
    """Most outbox messages one delivery run sends."""

    webhook_max_attempts: int = Field(default=12, ge=1)
    """Tries of one webhook delivery before it is given up as a dead letter (shown by `cases
    show` and the export). With the default backoff the last try is about 17 h after the first."""

    mail_poll_folders: tuple[str, ...] = ("INBOX",)
    """Mailbox folders the outcome mail poller reads (each with its own UID cursor)."""

    trust_mail_accounts: tuple[str, ...] = ()
    """Accounts (by name) whose outcome mails may move a case on their own, for accounts whose
    order pages Recoup cannot read. Off by default: a mail only asks for a status check and the
    portal page decides, because anyone can forge the portal's From address. A move made this
    way says so in the case history ("moved by mail alone (trusted by operator setting ...)")."""

    mail_sender_aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Extra sender addresses that count as the portal's, per account name (key ``*``: every
    account), e.g. ``{"ann": ["aliexpress@forwarder.example"]}``: for a mailbox that receives
    the portal's mail from a forwarding address. Like the portal's own address, an alias only
    rings the doorbell (a status check). The login-code wait counts the ``*`` aliases."""

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError(
                "RECOUP_WEBHOOK_URL is set but RECOUP_WEBHOOK_SECRET is not: webhooks are never sent unsigned"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        return self.database_url or f"sqlite:///{self.default_database_file.resolve()}"

    @property
    def default_database_file(self) -> Path:
        """The SQLite file used when `database_url` is unset."""
        return self.data_dir / "recoup.db"

    @property
    def sessions_dir(self) -> Path:
        """Stored browser sessions (storage state files, mode 0600)."""
        return self.data_dir / "sessions"

    @property
    def evidence_dir(self) -> Path:
        """One folder per case with screenshots, HTML, traces and the manifest."""
        return self.data_dir / "evidence"

    @property
    def logs_dir(self) -> Path:
        """The rotated log files."""
        return self.data_dir / "logs"

    def ensure_dirs(self) -> None:
        """Create the data folder and its sub-folders (mode 0700) and check it can be written.

        An existing data folder that group or others may enter is tightened to 0700 (with a
        warning in the log). Raises ConfigError (one line, no traceback) when the folder is a
        file, cannot be created or is not writable.
        """
        try:
            for folder in (self.data_dir, self.evidence_dir, self.sessions_dir, self.logs_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
                mode = stat.S_IMODE(folder.stat().st_mode)
                if mode & 0o077:
                    folder.chmod(mode & ~0o077)
                    logger.warning(
                        "folder {} was {:04o}: tightened to {:04o} (only this user)",
                        folder,
                        mode,
                        mode & ~0o077,
                    )
            with tempfile.TemporaryFile(dir=self.data_dir):
                pass  # a real write: os.access says yes to root even on a read-only mount
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"data folder {self.data_dir} is not usable: {reason}", path=str(self.data_dir)
            ) from None
