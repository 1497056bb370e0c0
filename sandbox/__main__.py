"""`python -m sandbox --scenario FILE`: the portal plus a throwaway Dovecot, until Ctrl-C.

Prints the portal URL, the admin token, the logins and the IMAP port. Ctrl-C (or SIGTERM) stops
the portal and Dovecot cleanly and removes the temporary mail folder. Exit code 1 if either
cannot start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from sandbox.mailserver import MailServer
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
    lines.append("Ctrl-C stops the portal and Dovecot.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
