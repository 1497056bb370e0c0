"""What a person does next about a case a one-off left for a human: the command to run and,
when the run saved one, the challenge screenshot. Text only; nothing is read from the portal."""

from __future__ import annotations

from pathlib import Path

from bot.cli.common import _error_class
from bot.errors import (
    ChallengeRequiredError,
    ConfigError,
    LocatorMissingError,
    LoginRejectedError,
    MailLoginError,
    SubmitUnconfirmedError,
)
from bot.models import Case
from bot.states import CaseState


def challenge_screenshot(case_dir: Path | None) -> Path | None:
    """The newest challenge screenshot in the case folder (evidence names are `NNN-step.jpg`,
    or `.png` with RECOUP_EVIDENCE_IMAGE_TYPE=png)."""
    if case_dir is None or not case_dir.is_dir():
        return None
    shots = sorted(p for p in case_dir.glob("*-challenge.*") if p.suffix in (".jpg", ".png"))
    return shots[-1] if shots else None


def next_step(case: Case, error_type: str | None, case_dir: Path | None) -> str | None:
    """The next step for a case in `needs_human` or `submitting` after a one-off run (None for
    any other state): what to fix, then `recoup cases retry ID` (a `submitting` case is
    reconciled by its next attempt instead)."""
    if case.state not in (CaseState.NEEDS_HUMAN, CaseState.SUBMITTING):
        return None
    retry = f"then `recoup cases retry {case.id}`"
    if (case.outcome_note or "").startswith("dry run"):
        return f"nothing was sent (RECOUP_DRY_RUN is on); `recoup cases show {case.id}` shows the plan"
    error = _error_class(error_type)
    unconfirmed = error is not None and issubclass(error, SubmitUnconfirmedError)
    if case.state is CaseState.SUBMITTING or unconfirmed:
        return (f"the submit was not confirmed: check the order on the portal (`recoup status "
                f"{case.order_id} --refresh`); the next attempt reads the portal before sending again")
    if error is not None and issubclass(error, ChallengeRequiredError):
        shot = challenge_screenshot(case_dir)
        seen = f" (screenshot: {shot})" if shot else ""
        return (f"solve the slider{seen}: `recoup accounts login {case.account} --headed`, {retry}")
    if error is not None and issubclass(error, ConfigError):
        return f"fix the set-up (`recoup doctor` says what), {retry}"
    if error is not None and issubclass(error, LoginRejectedError | MailLoginError):
        return (f"check the account's login (`recoup accounts login {case.account}` shows what the "
                f"portal says), {retry}")
    if error is not None and issubclass(error, LocatorMissingError):
        return f"the page changed: `recoup selectors check --account {case.account}`, {retry}"
    return f"see `recoup cases show {case.id}`, {retry}"
