"""`python -m sandbox --scenario FILE`: the portal plus a throwaway Dovecot, until Ctrl-C.

Prints the portal URL, the admin token, the logins, the IMAP port and a ready set-up for Recoup
(`export RECOUP_*` lines with the sandbox's throwaway secrets, and `recoup accounts add` lines).
Ctrl-C (or SIGTERM) stops the portal and Dovecot cleanly and removes the temporary mail folder.
Exit code 1 if either cannot start.
"""

from __future__ import annotations

import argparse
import re
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from sandbox.mailserver import MailServer
from sandbox.scenario import Account
from sandbox.server import start_sandbox
from sandbox.settings import SandboxSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument(
        "--scenario", default="demo", help="scenario YAML file or a name in sandbox/scenarios/"
    )
    parser.add_argument("--port", type=int, default=0, help="portal port (0: a free one)")
    parser.add_argument("--layout", choices=("a", "b"), default=None)
    parser.add_argument("--hash-seed", default=None, help="fixed CSS-module hash suffixes")
    parser.add_argument("--token", default=None, help="admin token (default: generated)")
    args = parser.parse_args(argv)

    given: dict[str, object] = {"port": args.port}
    if args.layout:
        given["layout"] = args.layout
    if args.hash_seed:
        given["hash_seed"] = args.hash_seed
    if args.token:
        given["admin_token"] = args.token

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    with tempfile.TemporaryDirectory(prefix="sandbox-mail-") as tmp:
        mail = MailServer(Path(tmp))
        try:
            mail.start()
        except Exception as exc:
            print(f"Dovecot did not start: {exc}", file=sys.stderr)
            return 1
        try:
            sb = start_sandbox(
                SandboxSettings.model_validate(
                    {**given, "lmtp_host": mail.host, "lmtp_port": mail.lmtp_port}
                ),
                args.scenario,
            )
        except Exception as exc:
            print(f"Sandbox portal did not start: {exc}", file=sys.stderr)
            mail.stop()
            return 1
        try:
            for acc in sb.scenario.accounts:
                mail.add_user(acc.email, acc.mailbox_password)
            _banner(sb, mail)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            print("\nStopping...", flush=True)
        finally:
            sb.stop()
            mail.stop()
    return 0


def _banner(sb: object, mail: MailServer) -> None:
    from sandbox.server import RunningSandbox

    assert isinstance(sb, RunningSandbox)
    lines = [
        f"Sandbox portal:  {sb.url}/p/order/index.html   (layout {sb.settings.layout})",
        f"Login page:      {sb.login_base}/",
        f"Admin token:     {sb.token}   (header X-Sandbox-Token, API under {sb.url}/__sandbox__/)",
        f"IMAP:            {mail.host}:{mail.imap_port} (plain, user = account email)",
        "Logins:",
    ]
    for acc in sb.scenario.accounts:
        extra: list[str] = []
        if acc.locale != "en_US":
            extra.append(acc.locale)
        if acc.login_code != "never":
            extra.append(f"login code: {acc.login_code}")
        if acc.totp_secret:
            extra.append(f"TOTP secret {acc.totp_secret}")
        if acc.challenge != "none":
            extra.append(f"challenge: {acc.challenge}/{acc.challenge_form}")
        note = f"  [{', '.join(extra)}]" if extra else ""
        lines.append(f"  {acc.email} / {acc.password}  ({len(acc.orders)} orders){note}")
    lines.extend(recoup_env_block(sb.url, sb.login_base, mail.host, mail.imap_port, sb.scenario.accounts))
    lines.append("Ctrl-C stops the portal and Dovecot.")
    print("\n".join(lines), flush=True)


def recoup_env_block(
    url: str, login_base: str, imap_host: str, imap_port: int, accounts: list[Account]
) -> list[str]:
    """Lines that point Recoup at this sandbox: settings and secrets as `export` lines (valid in
    a shell and in a `.env` file), then one `recoup accounts add` per scenario account. The
    secrets are the scenario's throwaway test data, printed on purpose."""
    lines = [
        "Recoup set-up for this sandbox (paste into a shell, or save as .env and `set -a; . ./.env; set +a`;",
        "  Recoup reads RECOUP_* settings from .env but secrets only from the environment).",
        "  The passwords below are the sandbox's own throwaway test data, printed on purpose:",
        f"export RECOUP_PORTAL_BASE_URL={url}",
        f"export RECOUP_PORTAL_LOGIN_BASE_URL={login_base}",
        f"export RECOUP_IMAP_HOST={imap_host}",
        f"export RECOUP_IMAP_PORT={imap_port}",
        "export RECOUP_IMAP_SSL=false",
    ]
    adds: list[str] = []
    for name, acc in account_names(accounts):
        key = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
        lines.append(f"export RECOUP_SECRET_{key}_PASSWORD={shlex.quote(acc.password)}")
        lines.append(f"export RECOUP_SECRET_{key}_MAILBOX={shlex.quote(acc.mailbox_password)}")
        if acc.totp_secret:
            lines.append(f"export RECOUP_SECRET_{key}_TOTP={shlex.quote(acc.totp_secret)}")
        locale = f" --locale {acc.locale}" if acc.locale != "en_US" else ""
        adds.append(f"recoup accounts add {name} --email {acc.email}{locale}")
    lines.append("Then add the accounts (and check the set-up with `recoup doctor`):")
    lines.extend(adds)
    return lines


def account_names(accounts: list[Account]) -> list[tuple[str, Account]]:
    """A Recoup account name per scenario account: the e-mail's local part, lower-case, made
    unique with a number when two accounts share one."""
    named: list[tuple[str, Account]] = []
    taken: set[str] = set()
    for acc in accounts:
        base = re.sub(r"[^a-z0-9_.-]+", "_", acc.email.split("@", 1)[0].lower()).strip("._-") or "buyer"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        named.append((name, acc))
    return named


if __name__ == "__main__":
    sys.exit(main())
