"""`recoup doctor`: check the set-up and say what to do about each problem (:mod:`bot.doctor`).

Exit code: 0 when every check is ok; 6 (CONFIG) when a setting, a secret, the mailbox
password, the selector pack, Chromium or the data folder is wrong (fix these first: the rest
may follow from them); else 5 (UNAVAILABLE) when the portal, the mail server or the database
could not be reached. Secret values are never printed, only their references.
"""

from __future__ import annotations

import typer

from bot.cli.common import ExitCode, JsonOpt, configure_logging, exit_code_for, opening
from bot.config import Settings
from bot.display import line, shown
from bot.doctor import Check, run_checks
from bot.errors import MailLoginError


def check_code(check: Check) -> ExitCode:
    """The exit code a problem stands for (OK for a passed check). A mailbox that refuses its
    password is a wrong secret here (CONFIG), not a case for a person."""
    if check.ok or check.error is None:
        return ExitCode.OK
    if isinstance(check.error, MailLoginError):
        return ExitCode.CONFIG
    return exit_code_for(check.error)


def overall_code(checks: list[Check]) -> ExitCode:
    """CONFIG when any check is a configuration problem, else UNAVAILABLE when something was
    unreachable, else the highest other code (OK when all passed)."""
    codes = {check_code(c) for c in checks}
    for first in (ExitCode.CONFIG, ExitCode.UNAVAILABLE):
        if first in codes:
            return first
    return max(codes, default=ExitCode.OK)


def doctor(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check Chromium, the store, the portal, each account's secrets and mailbox login; say
    what to do about each problem. Exit 0 all ok, 6 a setting or secret is wrong, 5 something
    is unreachable."""
    with opening(ctx, as_json, store=None) as cmd:
        out = cmd.out

        def log_to_file(settings: Settings) -> None:
            configure_logging(settings, verbose=cmd.verbose)

        checks = run_checks(cmd.settings, on_folder=log_to_file)
        code = overall_code(checks)
        payload = {"ok": code is ExitCode.OK, "exit_code": int(code), "checks": [c.as_dict() for c in checks]}

        def human() -> None:
            for c in checks:
                mark = shown("ok     ", "green") if c.ok else shown("PROBLEM", "bold red")
                out.console.print(line(mark, " ", shown(f"{c.name}: ", "bold"), shown(c.detail)))
                if c.todo:
                    out.console.print(line("        what to do: ", shown(c.todo)))
            problems = sum(not c.ok for c in checks)
            summary = "all checks passed" if not problems else f"{problems} problem(s); exit {int(code)}"
            out.console.print(line(summary))

        out.data(payload, human)
    raise typer.Exit(int(code))
