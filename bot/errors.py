"""The one typed error tree of Recoup.

Every error raised by Recoup's own code is a :class:`RecoupError`. Lower-level errors
(Playwright, IMAP, SQL, OS) are converted into these at the boundary where they happen, once.
Each class says in its docstring what it triggers; :attr:`RecoupError.action` carries the same
decision in a form the one failure policy (:func:`bot.states.after_failure`) reads::

    RecoupError                       action
    ├── InputError                    give_up      bad operator input; nothing written
    │   ├── UnknownAccountError
    │   ├── InvalidOrderIdError
    │   ├── EvidenceError             (missing, escaping, wrong type, oversized, too many files)
    │   ├── AmountError               not positive, above the total, or another currency than it
    │   ├── DisputeShareError         a new dispute would exceed the account's dispute-share cap
    │   ├── UnknownCaseError          no case with that id
    │   ├── DuplicateCaseError        same account + order + kind exists; points to it
    │   └── InvalidTransitionError    the state table forbids the change; nothing written
    │       └── StaleStateError       the case is no longer in the expected state
    ├── ConfigError                   fix_config   settings, selector pack or a secret invalid
    │   ├── PackError                 a pack fails the schema or lacks a key a page object needs
    │   ├── SecretMissingError        a secret reference is malformed or resolves to nothing
    │   └── SchedulerLockedError      another live scheduler holds the store's lock
    ├── TransientError                retry        with backoff, on the attempt budget
    │   ├── PortalUnavailableError    5xx, dropped connection, timeout loading a page
    │   ├── MailUnavailableError      IMAP server unreachable
    │   ├── StoreUnavailableError     database unreachable or locked
    │   └── LeaseLostError            stop         this worker no longer holds the case's lease:
    │                                              stop at once, write nothing (no attempt)
    ├── SessionError                  relogin      on the separate session budget
    │   └── SessionExpiredError       bounced to the login page mid-flow
    ├── NeedsHumanError               needs_human  park the case for an operator
    │   ├── ChallengeRequiredError    slider challenge shown
    │   ├── LoginRejectedError        wrong password, lockout, wrong code
    │   ├── MailLoginError            the IMAP server refused the mailbox login
    │   ├── LocatorMissingError       the page changed: a required locator found nothing
    │   ├── SubmitUnconfirmedError    reconcile    clicked submit, page did not confirm: the case
    │   │                                          stays `submitting`; read the portal before a retry
    │   ├── CurrencyMismatchError     the order total is in another currency than the refund amount
    │   └── RunnerCrashedError        a bug: an error no boundary converted (never a blind retry)
    └── PortalRefusalError            give_up      the portal says no, definitively
        ├── NotEligibleError          status does not allow the action; nothing clicked
        ├── AlreadyRequestedError     a request exists already; nothing submitted
        └── OrderNotFoundError        the account has no such order
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a failed attempt triggers. :func:`bot.states.after_failure` turns it (with the case's
    state and budgets) into the next state; values are stored with each attempt."""

    RETRY = "retry"
    """Back to `queued` with backoff, on the attempt budget; `failed` when it is spent."""
    RELOGIN = "relogin"
    """Like RETRY, but counted on the separate session budget."""
    NEEDS_HUMAN = "needs_human"
    """Park the case in `needs_human` for an operator."""
    RECONCILE = "reconcile"
    """The irreversible click may have landed: the case stays `submitting` and the next attempt
    reads the portal before sending anything; a human decides once the attempt budget is spent."""
    STOP = "stop"
    """Stop work on the case at once and write nothing (no attempt, no state change): this
    worker lost the case's lease, someone else may hold it now."""
    FIX_CONFIG = "fix_config"
    """The setup is wrong, not the case: a command refuses to start (exit 6); a case waits in
    `needs_human` with the cause (no budget spent, never `failed`) until an operator fixed the
    configuration and retries it."""
    GIVE_UP = "give_up"


class RecoupError(Exception):
    """Base of every Recoup error. Never raised itself; `action` says what a failure triggers."""

    action: Action = Action.GIVE_UP

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


# ---- bad input: refused before anything is written -------------------------------------------
class InputError(RecoupError):
    """Operator input is invalid. Triggers: give up at once, write nothing, show the message."""


class UnknownAccountError(InputError):
    """No account with that name/email is configured. Triggers: give up, nothing written."""


class InvalidOrderIdError(InputError):
    """The order id is not 15-19 digits. Triggers: give up, nothing written."""


class EvidenceError(InputError):
    """An evidence file is missing, escapes the evidence folder, has a type the portal refuses,
    is over the size limit, or there are too many. Triggers: give up before any upload."""


class AmountError(InputError):
    """The refund amount is not positive, exceeds what was paid, or is in another currency than
    the order's total (or the total's currency is unreadable). Triggers: give up."""


class DisputeShareError(InputError):
    """A new dispute (refund case) would put the share of the account's orders under dispute
    above `dispute_share_cap`, or the account's order count is not known yet. Nothing was
    written. Triggers: give up; the message says the numbers (accounts with many disputes get
    banned)."""


class UnknownCaseError(InputError):
    """No case with that id exists. Triggers: give up, nothing written."""


class DuplicateCaseError(InputError):
    """A case for the same account, order id and kind exists already. Nothing was written;
    :attr:`existing_case_id` names the case to look at instead. Triggers: give up."""

    def __init__(self, message: str, *, existing_case_id: int, **context: object) -> None:
        super().__init__(message, existing_case_id=existing_case_id, **context)
        self.existing_case_id = existing_case_id


class InvalidTransitionError(InputError):
    """The state table (`bot.states`) does not allow this state change. Nothing was written.
    Triggers: give up; the case keeps its current state."""


class StaleStateError(InvalidTransitionError):
    """The case is not in the state the caller expected (someone else moved it first).
    Nothing was written. Triggers: give up this change; re-read the case before deciding."""


# ---- configuration ---------------------------------------------------------------------------
class ConfigError(RecoupError):
    """Settings are invalid or incomplete. Triggers: the command does not start (exit 6); a
    case that meets it while running waits in `needs_human` with the message as its cause —
    no attempt budget spent, never `failed` (the case is not at fault; `recoup cases retry`
    runs it once the configuration is fixed)."""

    action = Action.FIX_CONFIG


class PackError(ConfigError):
    """A selector pack failed validation, names an unknown key, lacks a locator key a page object
    declares (the message names the key and the page object), or the portal has no pack.
    Triggers: give up at load."""


class SecretMissingError(ConfigError):
    """A secret reference (`env:NAME` / `file:key`) is malformed or resolves to nothing, or the
    secrets file cannot be read (or is open to others under `RECOUP_STRICT_SECRETS`). The
    message names the reference, never a value. Triggers: the account's cases wait in
    `needs_human` (fix_config) until the secret is there; a command exits 6."""


class SchedulerLockedError(ConfigError):
    """Another scheduler holds this store's lock and renewed it recently. Nothing was started.
    Triggers: give up; this process must not schedule (stop the other one, or wait for its
    lock to expire if it died)."""


# ---- transient: retry with backoff -----------------------------------------------------------
class TransientError(RecoupError):
    """A passing fault. Triggers: retry with backoff while the attempt budget lasts."""

    action = Action.RETRY


class PortalUnavailableError(TransientError):
    """The portal answered 5xx, dropped the connection or a page did not load in time.
    Triggers: retry with backoff."""


class MailUnavailableError(TransientError):
    """The IMAP server could not be reached or failed a command. Triggers: retry next poll."""


class StoreUnavailableError(TransientError):
    """The database could not be reached or was locked. Triggers: retry with backoff."""


class LeaseLostError(TransientError):
    """This worker's lease on a case expired or was taken over, so it may no longer change the
    case. Nothing was written. Triggers: stop work on the case at once (no submit, no attempt
    recorded); the case is retried by whichever worker claims it next."""

    action = Action.STOP


# ---- session: re-login on its own budget -----------------------------------------------------
class SessionError(RecoupError):
    """The portal session is not usable. Triggers: drop the stored session and log in again,
    counted on the session budget (not the attempt budget)."""

    action = Action.RELOGIN


class SessionExpiredError(SessionError):
    """A page bounced to the login page mid-flow. Triggers: re-login, then resume the flow
    from its start (which re-reads the order before any submit)."""


# ---- needs a human ---------------------------------------------------------------------------
class NeedsHumanError(RecoupError):
    """Only a person can get past this. Triggers: the case goes to `needs_human` with a
    screenshot; never a blind retry."""

    action = Action.NEEDS_HUMAN


class ChallengeRequiredError(NeedsHumanError):
    """The portal shows a slider challenge (in-page or full page). Triggers: needs_human."""


class LoginRejectedError(NeedsHumanError):
    """The portal refused the login: wrong password, lockout, or a wrong/missing verification
    code. Triggers: needs_human (retrying a wrong password risks a lockout)."""


class MailLoginError(NeedsHumanError):
    """The IMAP server refused the mailbox user/password (the message never holds either
    secret). Triggers: needs_human for whatever waited on that mailbox; retrying a wrong
    password only risks a lockout."""


class LocatorMissingError(NeedsHumanError):
    """A required locator found nothing through any fallback: the portal changed. Triggers:
    needs_human and an alarm; `recoup selectors check` shows which."""


class SubmitUnconfirmedError(NeedsHumanError):
    """The submit was clicked but the page never confirmed it. Triggers: the case stays
    `submitting`; the next attempt reconciles by reading the portal before sending anything
    (`needs_human` once the attempt budget is spent)."""

    action = Action.RECONCILE


class CurrencyMismatchError(NeedsHumanError):
    """The order total is printed in another currency than the refund amount was given in, so
    the amount cannot be checked. Triggers: needs_human before anything is clicked (a one-off
    command refuses it as bad input: nothing written)."""


class RunnerCrashedError(NeedsHumanError):
    """A bug: the engine or a runner raised something that is not a Recoup error (no boundary
    converted it). The message holds its type and text only. Triggers: needs_human, never a
    blind retry."""


# ---- definitive refusals ---------------------------------------------------------------------
class PortalRefusalError(RecoupError):
    """The portal definitively does not allow the action. Triggers: give up with the reason."""


class NotEligibleError(PortalRefusalError):
    """The order's status does not allow this action (e.g. cancel a shipped order). Nothing was
    clicked. Triggers: give up; the case fails with the status seen."""


class AlreadyRequestedError(PortalRefusalError):
    """The page already shows a pending or finished request of this kind. Nothing was
    submitted. Triggers: record the existing request and move on to tracking it."""


class OrderNotFoundError(PortalRefusalError):
    """The account's order list and detail page do not know the order id. Nothing was clicked.
    Triggers: give up; the operator checks the account and the id."""
