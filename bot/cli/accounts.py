"""`recoup accounts add|list|remove|login`.

The database only ever holds secret REFERENCES (`env:NAME`, `file:key`); values are read from
the environment or the secrets file at the moment of use and never printed. `add` checks that
each reference resolves (unless `--no-check`) and — with or without `--no-check` — refuses
anything not shaped like a reference (a value given where a reference belongs, also as
`env:<the value>`), showing the expected form, never what was given. A secrets file that is
unusable (unreadable, or open to others under RECOUP_STRICT_SECRETS) exits 6.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from loguru import logger
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from rich.table import Table

from bot.browser import session_file_name
from bot.cli.common import Command, JsonOpt, configure_logging, opened_store, opening
from bot.display import line, shown
from bot.errors import (
    ChallengeRequiredError,
    ConfigError,
    InputError,
    PackError,
    PortalUnavailableError,
    SecretMissingError,
)
from bot.models import Account
from bot.runtime import Runtime, open_runtime, service_running
from bot.secrets import REF_FORM, env_ref_for, resolve_secret, validate_secret_ref
from flows.login import log_in
from flows.pages.base import PortalPage
from flows.registry import PackRegistry
from flows.scan import count_orders

T = TypeVar("T")

app = typer.Typer(help="Portal accounts and their secret references.", no_args_is_help=True)


def _ref(given: str | None, default: str | None, what: str) -> str | None:
    """The reference to store: the one given (checked for shape) or the conventional default."""
    ref = given if given is not None else default
    if ref is None:
        return None
    try:
        return validate_secret_ref(ref)
    except SecretMissingError:
        raise InputError(
            f"--{what}-ref must be a reference like {REF_FORM}, never the secret itself "
            "(what was given is not shown)"
        ) from None


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Short unique name (letters, digits, _ . -).")],
    email: Annotated[str, typer.Option(help="Login e-mail on the portal.")],
    password_ref: Annotated[
        str | None,
        typer.Option(
            help="Where the password is: env:VAR or file:key. Default env:RECOUP_SECRET_<NAME>_PASSWORD."
        ),
    ] = None,
    totp_ref: Annotated[
        str | None,
        typer.Option(
            help="Where the TOTP seed is. Default env:RECOUP_SECRET_<NAME>_TOTP if that variable is set."
        ),
    ] = None,
    mailbox_user: Annotated[str | None, typer.Option(help="IMAP login (default: the e-mail).")] = None,
    mailbox_password_ref: Annotated[
        str | None,
        typer.Option(
            help="Where the IMAP password is. Default env:RECOUP_SECRET_<NAME>_MAILBOX if that "
            "variable is set."
        ),
    ] = None,
    locale: Annotated[str, typer.Option(help="The account's portal language, e.g. de_DE.")] = "en_US",
    portal: Annotated[str | None, typer.Option(help="Selector pack (default: RECOUP_PORTAL).")] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Do not check that the references resolve.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add an account. Only references to its secrets are stored, never the secrets."""
    with opening(ctx, as_json, store=None) as cmd:
        out, settings = cmd.out, cmd.settings
        configure_logging(settings, verbose=cmd.verbose)

        def optional_default(what: str) -> str | None:
            ref = env_ref_for(name, what)
            return ref if os.environ.get(ref.removeprefix("env:")) else None

        refs = {
            "password_ref": _ref(password_ref, env_ref_for(name, "PASSWORD"), "password"),
            "totp_ref": _ref(totp_ref, optional_default("TOTP"), "totp"),
            "mailbox_password_ref": _ref(
                mailbox_password_ref, optional_default("MAILBOX"), "mailbox-password"
            ),
        }
        if not no_check:
            for field, ref in refs.items():
                if ref is None:
                    continue
                try:
                    resolve_secret(ref, secrets_file=settings.secrets_file, strict=settings.strict_secrets)
                except SecretMissingError as exc:
                    if "ref" not in exc.context:  # the secrets file itself is unusable: exit 6
                        raise
                    raise InputError(f"{field.removesuffix('_ref')}: {exc} (or pass --no-check)") from None
        account = Account(
            name=name,
            email=email,
            mailbox_user=mailbox_user,
            locale=locale,
            portal=portal or settings.portal,
            **refs,
        )
        if not no_check:
            try:
                PackRegistry(settings).get(account.portal)  # a bad pack: PackError, exit 6
            except PackError as exc:
                if "portal" not in exc.context:
                    raise
                raise InputError(f"portal: {exc} (or pass --no-check)") from None
        with opened_store(settings) as store:
            stored = store.accounts.add(account)
        out.data(
            stored.model_dump(mode="json"),
            lambda: out.console.print(
                line("Account ", shown(stored.name, "bold"), f" added (password {stored.password_ref}).")
            ),
        )


@app.command("list")
def list_accounts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List accounts with their secret references (never values) and session state."""
    with opening(ctx, as_json, store="create") as cmd:
        out, settings, store = cmd.out, cmd.settings, cmd.store
        accounts = store.accounts.list_accounts()
        paces = {p.name: p for p in store.tracking.paces()} if accounts else {}
        rows: list[dict[str, Any]] = []
        for acc in accounts:
            pace = paces.get(acc.name)
            rows.append(
                {
                    **acc.model_dump(mode="json"),
                    "session_stored": (settings.sessions_dir / session_file_name(acc.name)).exists(),
                    "orders_seen": getattr(pace, "orders_seen", None),
                }
            )

        def table() -> None:
            t = Table("name", "email", "locale", "password", "mailbox", "totp", "session", "orders")
            for r in rows:
                t.add_row(
                    shown(r["name"]),
                    shown(r["email"]),
                    shown(r["locale"]),
                    shown(r["password_ref"]),
                    shown(r["mailbox_password_ref"] or "-"),
                    shown(r["totp_ref"] or "-"),
                    "yes" if r["session_stored"] else "no",
                    shown(r["orders_seen"] or "-"),
                )
            out.console.print(t)

        out.data(rows, table)


@app.command("remove")
def remove(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    """Remove an account without cases, and its stored browser session."""
    with opening(ctx, as_json) as cmd:
        out = cmd.out
        removed = cmd.store.accounts.remove(name)
        session = cmd.settings.sessions_dir / session_file_name(name)
        session.unlink(missing_ok=True)
        out.data(
            {"removed": removed.name}, lambda: out.console.print(line(f"Account {removed.name} removed."))
        )


@app.command("login")
def login(
    ctx: typer.Context,
    name: str,
    headed: Annotated[
        bool, typer.Option("--headed", help="Show the browser (a person can solve a slider).")
    ] = False,
    wait: Annotated[
        float, typer.Option(help="--headed: seconds to wait for a person to solve a slider.")
    ] = 300.0,
    as_json: JsonOpt = False,
) -> None:
    """Sign in now (stored session, else password and code), save the session and count the
    account's orders (the dispute-share cap needs that count).

    A slider challenge without `--headed` exits 3 with the next step (the `--headed` command)
    and the screenshot it saved. `--headed` needs a screen: without DISPLAY / WAYLAND_DISPLAY
    it exits 6 at once (before any browser starts) and names `xvfb-run`."""
    with opening(ctx, as_json, overrides={"headless": False} if headed else None) as cmd:
        out = cmd.out
        if headed and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ConfigError(
                f"no display: run under Xvfb (xvfb-run recoup accounts login {name} --headed) "
                "or on a desktop"
            )
        if service_running(cmd.store):
            out.info("note: `recoup run` is running; signing in from here opens a second session.")

        def waiting(shot: str | None) -> None:
            seen = f" (screenshot {shot})" if shot else ""
            out.err.print(
                line(f"{name}: a slider challenge is showing{seen}: solve it in the browser window; "
                     f"waiting up to {wait:.0f} s"),
            )

        try:
            result = asyncio.run(_login(cmd, name=name, headed=headed, wait=wait, waiting=waiting))
        except ChallengeRequiredError as exc:
            raise ChallengeRequiredError(_handoff(name, exc, headed=headed), **exc.context) from None
        out.data(
            result,
            lambda: out.console.print(
                line(
                    f"{name}: signed in ({result['method']}); "
                    f"{result['orders_seen']} orders on the account."
                )
            ),
        )


def _handoff(name: str, error: ChallengeRequiredError, *, headed: bool) -> str:
    """What a person does next about a slider on `name` (the screenshot when one was saved)."""
    shot = error.context.get("screenshot")
    seen = f"; screenshot: {shot}" if shot else ""
    if headed:
        return f"{name}: {error}{seen}; run `recoup accounts login {name} --headed` again (longer --wait)"
    return (
        f"{name}: the portal shows a slider challenge{seen}; a person must solve it: run "
        f"`recoup accounts login {name} --headed` and solve it in the browser window (it needs a "
        "screen: a desktop, `ssh -X`, or Xvfb with a VNC viewer)"
    )


async def _login(
    cmd: Command, *, name: str, headed: bool, wait: float, waiting: Callable[[str | None], None]
) -> dict[str, Any]:
    async with open_runtime(cmd.settings, cmd.store) as rt:
        return await login_and_count(rt, name, headed=headed, wait=wait, waiting=waiting)


async def login_and_count(
    rt: Runtime,
    name: str,
    *,
    headed: bool = False,
    wait: float = 300.0,
    waiting: Callable[[str | None], None] | None = None,
) -> dict[str, Any]:
    """Sign in as `name`, click "View orders" to the end, record the order count. Raises the
    login flow's typed errors (challenge, rejected login, unavailable).

    With `headed`, a slider challenge (at sign-in or on My Orders) is left to the person at the
    window: `waiting` is told (with the screenshot path), the step is tried again once the
    portal navigates away from the slider, and a ChallengeRequiredError (keeping the
    screenshot in its context) is raised when nobody solved it within `wait` seconds."""
    account = await asyncio.to_thread(rt.store.accounts.get, name)
    async with rt.portal_session(account) as session:
        page, env = session.page, session.env

        async def with_person(step: Callable[[], Awaitable[T]]) -> T:
            try:
                return await step()
            except ChallengeRequiredError as shown_slider:
                if not headed:
                    raise
                shot = shown_slider.context.get("screenshot")
                if waiting is not None:
                    waiting(str(shot) if shot else None)
                try:
                    await _wait_for_a_person(PortalPage(page, env), wait)
                except ChallengeRequiredError as timed_out:
                    raise ChallengeRequiredError(str(timed_out), **shown_slider.context) from None
                return await step()

        method = await with_person(lambda: log_in(page, env, session.creds, code_source=session.code_source))
        count = await with_person(lambda: count_orders(page, env))
    await asyncio.to_thread(rt.store.tracking.set_orders_seen, name, count)
    return {"account": name, "method": method.value, "orders_seen": count}


async def _wait_for_a_person(portal: PortalPage, wait: float) -> None:
    """Wait until the slider is gone (a person solved it and the portal navigated on), checking
    again at every main-frame navigation; ChallengeRequiredError when it is still there after
    `wait` seconds."""
    logger.info("a slider challenge is showing: waiting up to {:.0f} s for a person to solve it", wait)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    page = portal.page
    while True:
        try:
            if not await portal.shows_challenge():
                return
        except PortalUnavailableError:  # the page is between two documents: look again
            pass
        left = deadline - loop.time()
        if left <= 0:
            raise ChallengeRequiredError(f"nobody solved the slider within {wait:.0f} s")
        with contextlib.suppress(PlaywrightTimeoutError):
            await page.wait_for_event("framenavigated", predicate=lambda frame: frame == page.main_frame,
                                      timeout=min(left, 1.0) * 1000)
