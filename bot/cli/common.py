"""Shared parts of the `recoup` command line: exit codes, settings, output, error handling.

Every command converts Recoup's typed errors (bot/errors.py) into ONE message and ONE documented
exit code here (:func:`exit_code_for`); nothing else decides an exit code. With `--json` the
command prints one JSON document on stdout (errors too: ``{"error": ..., "exit_code": ...}``);
without it, tables and messages for a person (messages on stderr).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from loguru import logger
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from bot.config import Settings
from bot.display import line, shown
from bot.errors import (
    ConfigError,
    InputError,
    NeedsHumanError,
    PortalRefusalError,
    RecoupError,
    SchedulerLockedError,
    SessionError,
    TransientError,
)
from bot.models import Case
from bot.secrets import check_secrets_file
from bot.states import CaseState
from bot.store import Store


class ExitCode(IntEnum):
    """The exit codes of every `recoup` command (also listed in `recoup --help` and the README)."""

    OK = 0
    """Done: the request was submitted / the case is on track / the command did its job."""
    ERROR = 1
    """An unexpected error (a bug); the message says what."""
    BAD_INPUT = 2
    """Bad input: unknown account or case, malformed order id, evidence missing or too large,
    amount above the order total, a duplicate case. Nothing was written."""
    NEEDS_HUMAN = 3
    """Only a person can go on: slider challenge, rejected login, changed page, unconfirmed submit."""
    REFUSED = 4
    """The portal refused: order not eligible or not found, the seller rejected, the case failed."""
    UNAVAILABLE = 5
    """Passing trouble: portal, mail server or database unavailable; the case will be retried."""
    CONFIG = 6
    """Settings, selector pack or a secret reference are wrong or missing."""
    BUSY = 7
    """Another `recoup run` holds the store's scheduler lock."""
    QUEUED = 8
    """Queued, not run: the account stayed busy (another process runs one of its cases); the
    note says whether a running service will pick the case up."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C."""


EXIT_CODES_HELP = (
    "Exit codes: "
    + ", ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in ExitCode)
    + "."
)


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code a failure maps to (see :class:`ExitCode`)."""
    if isinstance(error, SchedulerLockedError):
        return ExitCode.BUSY
    if isinstance(error, InputError):
        return ExitCode.BAD_INPUT
    if isinstance(error, ConfigError):
        return ExitCode.CONFIG
    if isinstance(error, NeedsHumanError):
        return ExitCode.NEEDS_HUMAN
    if isinstance(error, PortalRefusalError):
        return ExitCode.REFUSED
    if isinstance(error, TransientError | SessionError):
        return ExitCode.UNAVAILABLE
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.ERROR


def _error_class(name: str | None) -> type[RecoupError] | None:
    """The RecoupError subclass called `name` (attempts store the class name)."""
    if not name:
        return None
    todo: list[type[RecoupError]] = [RecoupError]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls
        todo.extend(cls.__subclasses__())
    return None


STATE_CODES: dict[CaseState, ExitCode] = {
    CaseState.AWAITING_APPROVAL: ExitCode.OK,
    CaseState.QUEUED: ExitCode.OK,
    CaseState.SUBMITTED: ExitCode.OK,
    CaseState.APPROVED: ExitCode.OK,
    CaseState.REFUNDED: ExitCode.OK,
    CaseState.COUNTER_OFFER: ExitCode.OK,
    CaseState.CANCELED_BY_OPERATOR: ExitCode.OK,
    CaseState.NEEDS_HUMAN: ExitCode.NEEDS_HUMAN,
    CaseState.SUBMITTING: ExitCode.NEEDS_HUMAN,
    CaseState.RUNNING: ExitCode.UNAVAILABLE,
    CaseState.FAILED: ExitCode.REFUSED,
    CaseState.REJECTED: ExitCode.REFUSED,
}
"""The exit code of a one-off run by the state it left the case in (every state has one; a test
checks it)."""


def exit_code_for_run(case: Case, last_error_type: str | None) -> ExitCode:
    """The exit code after running `case` once: by its state, refined by the last error (a
    case re-queued after a passing fault is 5; one the portal failed for bad input is 2; one
    parked because the account's configuration is wrong, e.g. a missing secret, is 6)."""
    error = _error_class(last_error_type)
    if case.state is CaseState.NEEDS_HUMAN and error is not None and issubclass(error, ConfigError):
        return ExitCode.CONFIG
    if case.state is CaseState.QUEUED and error is not None:
        return ExitCode.UNAVAILABLE
    if case.state is CaseState.FAILED and error is not None and issubclass(error, InputError):
        return ExitCode.BAD_INPUT
    return STATE_CODES[case.state]


# ---- settings, store, logging ------------------------------------------------------------------
@dataclass
class CliState:
    """What the root command collected (its options apply to every sub-command)."""

    data_dir: Path | None = None
    verbose: bool = False


def load_settings(state: CliState, **overrides: Any) -> Settings:
    """Settings from RECOUP_* / `.env`, with `--data-dir` and `overrides` on top; the secrets
    file (when set) is read once to show it is usable. Touches nothing on disk: the data folder
    is made by :func:`opened_store` / :func:`configure_logging`. Every problem (invalid value,
    unreadable or non-UTF-8 `.env`, a list that is not JSON, a webhook URL without a secret, a
    broken secrets file) raises ConfigError with one line."""
    values = dict(overrides)
    if state.data_dir is not None:
        values["data_dir"] = state.data_dir
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {message}" if where else message) from None
    except SettingsError as exc:  # e.g. a list setting that is not JSON (the message names no value)
        raise ConfigError(f"invalid settings: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError("the .env file is not valid UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"the .env file cannot be read: {exc.strerror or type(exc).__name__}") from None
    if settings.secrets_file is not None:
        check_secrets_file(settings.secrets_file, strict=settings.strict_secrets)
    return settings


_SINKS: list[int] = []
"""Loguru sinks this module added (replaced on every call; other sinks are left alone)."""


def configure_logging(settings: Settings, *, verbose: bool = False, console: bool = True) -> Path:
    """Log INFO and up to `<data_dir>/logs/recoup.log` (rotated); on stderr only warnings
    (everything with `--verbose`). Returns the log file path. Messages never carry secrets:
    the code logs references, never values."""
    while _SINKS:
        with contextlib.suppress(ValueError):
            logger.remove(_SINKS.pop())
    with contextlib.suppress(ValueError):
        logger.remove(0)  # loguru's default stderr sink (DEBUG) would print everything
    if console:
        _SINKS.append(
            logger.add(sys.stderr, level="DEBUG" if verbose else "WARNING", format="{level}: {message}")
        )
    settings.ensure_dirs()
    log_file = settings.logs_dir / "recoup.log"
    _SINKS.append(logger.add(log_file, level="INFO", rotation="10 MB", retention=5))
    return log_file


@contextmanager
def opened_store(settings: Settings, *, create: bool = True) -> Iterator[Store]:
    """The store at the settings' database URL, closed afterwards (the data folder is made
    first). Case events are queued for webhook delivery when `webhook_url` is set.

    With `create=False` (commands that need an existing account) a SQLite database that does
    not exist yet is not created: InputError, and nothing is written to disk."""
    if not create and settings.database_url is None and not settings.default_database_file.exists():
        if settings.data_dir.exists():
            settings.ensure_dirs()  # ConfigError when it is a file or cannot be written
        raise InputError(f"no Recoup database in {settings.data_dir} yet: add an account first")
    settings.ensure_dirs()
    targets = ("webhook",) if settings.webhook_url else ()
    store = Store.open(settings.resolved_database_url, outbox_targets=targets)
    try:
        yield store
    finally:
        store.close()


# ---- output ------------------------------------------------------------------------------------
PIPE_WIDTH = 200
"""Table width when the output is not a terminal (scripts, logs)."""

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]


class Out:
    """Where a command's results and messages go: Rich for people, JSON for scripts. Text for
    people is built with :mod:`bot.display` (stored and portal text shown literally)."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.console = Console(soft_wrap=True)
        self.err = Console(stderr=True, soft_wrap=True)
        for console in (self.console, self.err):
            if not console.is_terminal:  # a pipe or file: no truncated tables
                console.width = max(console.width, PIPE_WIDTH)

    def data(self, payload: Any, human: Callable[[], None] | None = None) -> None:
        """Print `payload` as JSON (with --json), else call `human` (or pretty-print it)."""
        if self.json:
            sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif human is not None:
            human()
        else:
            self.console.print(shown(payload) if isinstance(payload, str) else payload)

    def info(self, text: str) -> None:
        """A note for a person (stderr in JSON mode, so stdout stays parseable), shown literally."""
        (self.err if self.json else self.console).print(shown(text))

    def fail(self, error: BaseException, code: ExitCode | None = None) -> NoReturn:
        """Print the error's message and exit with its code."""
        code = code if code is not None else exit_code_for(error)
        message = str(error) or type(error).__name__
        if self.json:
            self.data({"error": type(error).__name__, "message": message, "exit_code": int(code)})
        else:
            self.err.print(line(shown("error", "bold red"), ": ", message))
        raise typer.Exit(int(code))

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn a RecoupError (or Ctrl-C) raised inside into a message and its exit code."""
        try:
            yield
        except RecoupError as error:
            self.fail(error)
        except KeyboardInterrupt:
            self.fail(KeyboardInterrupt("interrupted"), ExitCode.INTERRUPTED)


def case_dict(case: Case) -> dict[str, Any]:
    """A case as plain JSON values."""
    return case.model_dump(mode="json")


STATE_STYLES: dict[CaseState, str] = {
    CaseState.AWAITING_APPROVAL: "cyan",
    CaseState.QUEUED: "cyan",
    CaseState.RUNNING: "cyan",
    CaseState.SUBMITTING: "yellow",
    CaseState.SUBMITTED: "green",
    CaseState.APPROVED: "green",
    CaseState.REFUNDED: "green",
    CaseState.COUNTER_OFFER: "yellow",
    CaseState.NEEDS_HUMAN: "yellow",
    CaseState.FAILED: "red",
    CaseState.REJECTED: "red",
    CaseState.CANCELED_BY_OPERATOR: "cyan",
}
"""Rich colour of each state in tables (every state has one; a test checks it)."""


def state_style(state: CaseState) -> str:
    """Rich colour for a state in tables."""
    return STATE_STYLES[state]


# ---- the shared opening of a command ------------------------------------------------------
StoreMode = Literal["create", "existing"]
"""How a command opens the store: "create" makes the database when there is none; "existing"
refuses a data folder without one (InputError, nothing written)."""


def cli_state(ctx: typer.Context) -> CliState:
    """What the root command collected (defaults when a command runs without it)."""
    return ctx.obj if isinstance(ctx.obj, CliState) else CliState()


@dataclass
class Command:
    """What :func:`opening` gives a command: its output, settings and (when asked) store."""

    out: Out
    settings: Settings
    verbose: bool
    opened: Store | None = None
    log_file: Path | None = None
    """The log file (set when the command opened a store)."""

    @property
    def store(self) -> Store:
        """The store the command opened (a bug to ask for it in a command that opened none)."""
        if self.opened is None:
            raise RuntimeError("this command opened no store")
        return self.opened


@contextmanager
def opening(
    ctx: typer.Context,
    as_json: bool = False,
    *,
    store: StoreMode | None = "existing",
    overrides: dict[str, Any] | None = None,
) -> Iterator[Command]:
    """The opening every command shares: output (`--json` or for a person), settings (with
    `overrides`), then — unless `store` is None — the store and the log file. A RecoupError
    (or Ctrl-C) raised inside becomes ONE message and its exit code (:meth:`Out.errors`); the
    store is closed first."""
    out = Out(as_json)
    with out.errors():
        state = cli_state(ctx)
        settings = load_settings(state, **(overrides or {}))
        if store is None:
            yield Command(out, settings, state.verbose)
            return
        with opened_store(settings, create=store == "create") as opened:
            log_file = configure_logging(settings, verbose=state.verbose)
            yield Command(out, settings, state.verbose, opened, log_file)
