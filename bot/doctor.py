"""`recoup doctor`: is this machine ready to run Recoup? Each check says ok, or what is wrong and
what to do about it.

Checks, in order: the data folder, the store (opens, schema at the newest migration),
Chromium (the configured executable exists and starts headless), each selector pack in use and
its portal (an HTTP GET of the base URL with a short timeout), each account's secret references
(resolved, never printed), the IMAP server (greeting, TLS as configured) and each account's
mailbox login. Checks never raise: every failure becomes a :class:`Check` with the typed error
(:mod:`bot.errors`) that caused it, so the command can pick its exit code. Nothing is written
except the data folder and its log (made like every command makes them); the store is opened
without migrating it, and no database is created.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from loguru import logger

from bot.browser import BrowserManager
from bot.config import Settings
from bot.errors import (
    ConfigError,
    MailLoginError,
    MailUnavailableError,
    PortalUnavailableError,
    RecoupError,
    SecretMissingError,
    StoreUnavailableError,
)
from bot.mail.imap import MailboxClient
from bot.models import Account
from bot.secrets import resolve_secret
from bot.store import Store, current_revision, head_revision
from flows.registry import PackRegistry

PORTAL_TIMEOUT_S = 8.0
"""Longest wait for the portal's answer to the reachability GET."""

MAIL_TIMEOUT_S = 10.0
"""Longest wait for the IMAP server in the mail checks (or `imap_timeout_s` when shorter)."""


@dataclass
class Check:
    """One finding: `ok`, what was seen (`detail`) and, when not ok, what to do (`todo`)."""

    name: str
    """chromium, store, portal, secrets, mail server or mailbox."""
    subject: str
    """What was checked: a path, a URL, an account name."""
    ok: bool
    detail: str
    todo: str | None = None
    error: RecoupError | None = field(default=None, repr=False)
    """The typed error behind a problem (picks the exit code)."""

    def as_dict(self) -> dict[str, Any]:
        """The check as plain JSON values (the error by its class name)."""
        return {
            "check": self.name,
            "subject": self.subject,
            "ok": self.ok,
            "detail": self.detail,
            "todo": self.todo,
            "error": type(self.error).__name__ if self.error is not None else None,
        }


def _problem(name: str, subject: str, error: RecoupError, todo: str) -> Check:
    return Check(name, subject, False, str(error), todo, error)


# ---- store ----------------------------------------------------------------------------------
def check_data_folder(settings: Settings) -> Check:
    """The data folder exists (it is made, 0700, like every command makes it) and is writable."""
    try:
        settings.ensure_dirs()
    except ConfigError as exc:
        return _problem("data folder", str(settings.data_dir), exc,
                        "set RECOUP_DATA_DIR (or --data-dir) to a folder this user can write")
    return Check("data folder", str(settings.data_dir), True, "writable")


def check_store(settings: Settings) -> tuple[Check, Store | None]:
    """The database opens at the newest schema (it is not migrated here). Returns the open
    store (the caller closes it) when the account checks can read it, else None."""
    subject = settings.database_url or str(settings.default_database_file)
    if settings.database_url is None and not settings.default_database_file.exists():
        return Check("store", subject, True,
                     "no database yet: the first `recoup accounts add` creates it"), None
    try:
        store = Store.open(settings.resolved_database_url, migrate=False)
    except ConfigError as exc:
        return _problem("store", subject, exc, "fix RECOUP_DATABASE_URL"), None
    except StoreUnavailableError as exc:
        return _problem("store", subject, exc,
                        "start the database server or fix RECOUP_DATABASE_URL; then run doctor again"), None
    try:
        at, head = current_revision(store.engine), head_revision()
    except StoreUnavailableError as exc:
        store.close()
        return _problem("store", subject, exc, "check that the database is reachable and readable"), None
    if at == head:
        return Check("store", subject, True, f"opens; schema at the newest migration ({head})"), store
    store.close()
    error = ConfigError(f"schema at {at or 'no migration'}, this Recoup expects {head}")
    return _problem("store", subject, error,
                    "run any command that opens the store, e.g. `recoup accounts list`: it upgrades "
                    "the schema (a revision this Recoup does not know was written by a newer one)"), None


# ---- chromium -------------------------------------------------------------------------------
async def check_chromium(settings: Settings) -> Check:
    """The configured Chromium exists and starts headless (then closes again)."""
    path = settings.browser_path
    manager = BrowserManager(settings.model_copy(update={"headless": True}))
    try:
        await manager.start()
    except ConfigError as exc:
        return _problem("chromium", str(path), exc,
                        "install Debian's Chromium (`apt-get install chromium`) or set "
                        "RECOUP_BROWSER_PATH to its executable")
    except RecoupError as exc:
        return _problem("chromium", str(path), ConfigError(str(exc)),
                        f"run `{path} --headless --no-sandbox about:blank` to see why it does not start")
    finally:
        await manager.close()
    return Check("chromium", str(path), True, "starts headless")


# ---- portal ---------------------------------------------------------------------------------
def check_portals(settings: Settings, portals: list[str]) -> list[Check]:
    """Each portal's selector pack loads and its base URL answers an HTTP GET (any status
    below 500) within :data:`PORTAL_TIMEOUT_S`."""
    registry = PackRegistry(settings)
    checks: list[Check] = []
    for portal in portals:
        try:
            base = registry.get(portal).base
        except ConfigError as exc:
            checks.append(_problem("portal", portal, exc,
                                   f"fix the selector pack {portal}.yaml in RECOUP_PACK_DIR "
                                   "(`recoup selectors check` names the problem)"))
            continue
        checks.append(_get_portal(portal, base + "/"))
    return checks


def _get_portal(portal: str, url: str) -> Check:
    todo = (f"check that {url} opens from this machine (network, proxy, firewall); for the "
            "sandbox: is it running, and does RECOUP_PORTAL_BASE_URL name its port?")
    try:
        response = httpx.get(url, timeout=PORTAL_TIMEOUT_S, follow_redirects=True)
    except httpx.HTTPError as exc:
        reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        return _problem("portal", url, PortalUnavailableError(f"{portal}: {url} is unreachable ({reason})"),
                        todo)
    if response.status_code >= 500:
        error = PortalUnavailableError(f"{portal}: {url} answered HTTP {response.status_code}")
        return _problem("portal", url, error, "the portal has trouble: try again later")
    return Check("portal", url, True, f"{portal}: answers (HTTP {response.status_code})")


# ---- secrets --------------------------------------------------------------------------------
def _refs(account: Account) -> list[tuple[str, str]]:
    found = [("password", account.password_ref), ("TOTP seed", account.totp_ref),
             ("mailbox password", account.mailbox_password_ref)]
    return [(what, ref) for what, ref in found if ref]


def _fix_ref(ref: str, what: str, settings: Settings) -> str:
    if ref.startswith("env:"):
        return (f"set {ref.removeprefix('env:')} (the {what}) in the environment Recoup runs in, "
                f"e.g. `export {ref.removeprefix('env:')}=...` (secrets are read from the "
                "environment, not from .env)")
    where = settings.secrets_file or "a secrets file named by RECOUP_SECRETS_FILE"
    return f"add the key {ref.removeprefix('file:')} (the {what}) to {where}"


def check_secrets(settings: Settings, account: Account) -> Check:
    """Every secret reference of `account` resolves (values are read, never shown)."""
    problems: list[SecretMissingError] = []
    todos: list[str] = []
    for what, ref in _refs(account):
        try:
            resolve_secret(ref, secrets_file=settings.secrets_file, strict=settings.strict_secrets)
        except SecretMissingError as exc:
            problems.append(exc)
            todos.append(_fix_ref(ref, what, settings) if "ref" in exc.context
                         else "fix the secrets file (RECOUP_SECRETS_FILE) as the message says")
    names = ", ".join(ref for _, ref in _refs(account))
    if not problems:
        return Check("secrets", account.name, True, f"{account.name}: {names} resolve")
    error = SecretMissingError(f"{account.name}: " + "; ".join(str(p) for p in problems))
    return _problem("secrets", account.name, error, "; ".join(dict.fromkeys(todos)))


# ---- mail -----------------------------------------------------------------------------------
def _mail_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"imap_timeout_s": min(settings.imap_timeout_s, MAIL_TIMEOUT_S)})


def _mail_todo(error: RecoupError, settings: Settings) -> str:
    where = f"{settings.imap_host}:{settings.imap_port}"
    if isinstance(error, ConfigError):
        return "set RECOUP_IMAP_SSL=false, or RECOUP_IMAP_PORT=993 for IMAP over TLS"
    if not settings.imap_ssl and settings.imap_port == 993:
        return "port 993 is IMAP over TLS: set RECOUP_IMAP_SSL=true (or the server's plain port)"
    return (f"check RECOUP_IMAP_HOST / RECOUP_IMAP_PORT ({where}) and that the server runs; "
            f"TLS is {'on' if settings.imap_ssl else 'off'} (RECOUP_IMAP_SSL)")


def check_mail_server(settings: Settings) -> Check:
    """The IMAP server answers with a greeting, over TLS when RECOUP_IMAP_SSL is on."""
    where = f"{settings.imap_host}:{settings.imap_port}"
    mode = "TLS" if settings.imap_ssl else "plain"
    try:
        MailboxClient.from_settings(_mail_settings(settings), "(no login)", "").greet()
    except (ConfigError, MailUnavailableError) as exc:
        return _problem("mail server", where, exc, _mail_todo(exc, settings))
    return Check("mail server", where, True, f"answers ({mode} IMAP)")


def check_mailbox(settings: Settings, account: Account) -> Check:
    """The account's mailbox accepts its user and password (read-only EXAMINE, then logout)."""
    assert account.mailbox_password_ref is not None
    user = account.mailbox_user or account.email
    password = resolve_secret(account.mailbox_password_ref, secrets_file=settings.secrets_file,
                              strict=settings.strict_secrets)
    try:
        with MailboxClient.from_settings(_mail_settings(settings), user, password):
            pass
    except MailLoginError as exc:
        return _problem("mailbox", account.name, exc,
                        f"check the mailbox password ({account.mailbox_password_ref}) and user "
                        f"({user}; `recoup accounts add --mailbox-user` sets another)")
    except (ConfigError, MailUnavailableError) as exc:
        return _problem("mailbox", account.name, exc, _mail_todo(exc, settings))
    return Check("mailbox", account.name, True, f"{account.name}: {user} logs in")


# ---- all of it ------------------------------------------------------------------------------
def run_checks(settings: Settings, *, on_folder: Callable[[Settings], None] | None = None) -> list[Check]:
    """Every check, in the order of the module doc. `on_folder` runs once the data folder is
    known usable (the command configures its log file there); until then, and without it,
    loguru's default stderr sink is removed so that nothing but the report is printed."""
    with contextlib.suppress(ValueError):
        logger.remove(0)
    folder = check_data_folder(settings)
    checks = [folder]
    store: Store | None = None
    if folder.ok:
        if on_folder is not None:
            on_folder(settings)
        store_check, store = check_store(settings)
        checks.append(store_check)
    with contextlib.ExitStack() as stack:
        accounts: list[Account] = []
        if store is not None:
            stack.callback(store.close)
            try:
                accounts = store.accounts.list_accounts()
            except RecoupError as exc:
                checks.append(_problem("store", checks[-1].subject, exc, "check the database"))
        checks.append(asyncio.run(check_chromium(settings)))
        portals = list(dict.fromkeys([settings.portal, *(a.portal for a in accounts)]))
        checks.extend(check_portals(settings, portals))
        secrets = [check_secrets(settings, account) for account in accounts]
        checks.extend(secrets)
        with_mail = [a for a, s in zip(accounts, secrets, strict=True) if a.mailbox_password_ref and s.ok]
        if any(a.mailbox_password_ref for a in accounts):
            server = check_mail_server(settings)
            checks.append(server)
            if server.ok:
                checks.extend(check_mailbox(settings, account) for account in with_mail)
    return checks
