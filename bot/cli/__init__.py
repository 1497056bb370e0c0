"""`recoup`: the operator's command line (Typer). Also `python -m bot`.

Commands live in small modules: accounts (bot/cli/accounts.py), cancel / refund / status /
evidence (bot/cli/orders.py), cases (bot/cli/cases.py), mail (bot/cli/mail.py), run / sandbox / selectors
(bot/cli/service.py), doctor (bot/cli/doctor.py), demo (bot/demo.py). Exit codes: see
:class:`bot.cli.common.ExitCode`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import accounts as cli_accounts
from bot.cli import cases as cli_cases
from bot.cli import doctor as cli_doctor
from bot.cli import mail as cli_mail
from bot.cli import order_list as cli_order_list
from bot.cli import orders as cli_orders
from bot.cli import service as cli_service
from bot.cli.common import EXIT_CODES_HELP, CliState
from bot.config import use_private_umask

HELP = (
    "Recoup files order cancellations and return/refund disputes on supplier portals and follows "
    "them to the outcome.\n\n"
    "One-off commands (cancel, refund, cases approve|retry) run the case now and print the outcome; "
    "while `recoup run` is running they only queue it for the service.\n\n" + EXIT_CODES_HELP
)

app = typer.Typer(
    name="recoup",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
selectors_app = typer.Typer(help="The selector pack.", no_args_is_help=True)


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder (default RECOUP_DATA_DIR or ./data).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log everything on stderr.")] = False,
) -> None:
    """Recoup."""
    use_private_umask()  # every command, the service and the demo: new files 0600, folders 0700
    ctx.obj = CliState(data_dir=data_dir, verbose=verbose)


app.add_typer(cli_accounts.app, name="accounts")
app.add_typer(cli_cases.app, name="cases")
app.add_typer(cli_mail.app, name="mail")
app.add_typer(selectors_app, name="selectors")
app.command("cancel")(cli_orders.cancel)
app.command("refund")(cli_orders.refund)
app.command("status")(cli_orders.status)
app.command("orders")(cli_order_list.orders)
app.command("evidence")(cli_orders.evidence)
app.command("doctor")(cli_doctor.doctor)
app.command("run")(cli_service.run)
app.command("sandbox")(cli_service.sandbox)
selectors_app.command("check")(cli_service.selectors_check)


@app.command("demo")
def demo(
    ctx: typer.Context,
    cases: Annotated[int, typer.Option(help="How many cases to queue (about 20).")] = 20,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for outcomes after this many seconds.")
    ] = 600.0,
) -> None:
    """Run the main job on the embedded sandbox: accounts, ~20 cases, the scheduler, a summary."""
    from bot.demo import run_demo

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    raise typer.Exit(run_demo(data_dir=state.data_dir, cases=cases, timeout=timeout, verbose=state.verbose))


def main() -> None:
    """Entry point of the `recoup` script and `python -m bot`."""
    sys.exit(app(prog_name="recoup"))
