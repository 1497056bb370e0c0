"""Domain vocabulary shared by the store, the flows and the reporter.

Portal-specific words (status texts, reason labels) never appear here: the selector pack maps
them onto these canonical values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from bot.errors import Action, AmountError, EvidenceError, InputError, InvalidOrderIdError
from bot.secrets import validate_secret_ref
from bot.states import CaseState


class OrderStatus(StrEnum):
    """Canonical order status, whatever the portal's language or wording."""

    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_VERIFYING = "payment_verifying"
    AWAITING_SHIPMENT = "awaiting_shipment"
    CANCEL_REQUESTED = "cancel_requested"
    AWAITING_DELIVERY = "awaiting_delivery"
    AWAITING_FEEDBACK = "awaiting_feedback"
    COMPLETED = "completed"
    IN_DISPUTE = "in_dispute"
    CANCELED = "canceled"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class RefundStatus(StrEnum):
    """Canonical state of a return/refund request as the refund page shows it."""

    NONE = "none"
    WAITING_SELLER = "waiting_seller"
    WAITING_BUYER = "waiting_buyer"
    ESCALATED = "escalated"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class CaseKind(StrEnum):
    """What a case asks of the portal."""

    CANCEL = "cancel"
    REFUND = "refund"


class RefundType(StrEnum):
    """Refund only, or return the goods and get a refund."""

    REFUND_ONLY = "refund_only"
    RETURN_AND_REFUND = "return_and_refund"


# ---- records kept by the store ---------------------------------------------------------------
# Domain rules raise Recoup's own errors from the validators (pydantic lets non-ValueError
# exceptions through unchanged); `NewCase.parse` also converts plain type errors.

ORDER_ID_RE = re.compile(r"\A[0-9]{15,19}\Z")
"""An order id as stored and compared: 15 to 19 ASCII digits, nothing else (no other script's
digits, no trailing newline). Operator input goes through :func:`parse_order_id` first."""


def normalize_order_id(text: str) -> str:
    """`text` as an order id to validate and compare: surrounding whitespace removed and every
    decimal digit of another script (full-width `３`, Arabic-Indic `٣`, ...) written as its ASCII
    digit, so one order has one id whatever keyboard typed it. Other characters are kept (and
    then fail :data:`ORDER_ID_RE`)."""
    return "".join(
        str(unicodedata.decimal(char)) if not char.isascii() and unicodedata.category(char) == "Nd" else char
        for char in text.strip()
    )


def parse_order_id(text: str) -> str:
    """The normalised order id (:func:`normalize_order_id`); InvalidOrderIdError unless it is 15
    to 19 ASCII digits then."""
    value = normalize_order_id(text)
    if not ORDER_ID_RE.match(value):
        raise InvalidOrderIdError("order id must be 15-19 digits (0-9)", order_id=value)
    return value


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Account(BaseModel):
    """A portal account. Secrets are references (`env:NAME` / `file:key`), never values."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    """Database id; None before the account is stored."""
    name: str
    """Unique short name the operator uses (letters, digits, `_.-`)."""
    email: str
    """Login e-mail on the portal."""
    mailbox_user: str | None = None
    """IMAP login of the account's mailbox; None means the e-mail address."""
    locale: str = "en_US"
    """Portal language the account uses (selects the pack's status texts)."""
    portal: str = "aliexpress"
    """Selector pack name."""
    password_ref: str
    """Reference to the portal password."""
    totp_ref: str | None = None
    """Reference to the TOTP seed, if the account uses an authenticator app."""
    mailbox_password_ref: str | None = None
    """Reference to the IMAP password."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise InputError("account name must be 1-64 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
            raise InputError("account e-mail is not an address")
        return value

    @field_validator("password_ref", "totp_ref", "mailbox_password_ref")
    @classmethod
    def _refs(cls, value: str | None) -> str | None:
        return None if value is None else validate_secret_ref(value)


class NewCase(BaseModel):
    """What an operator asks for; validated before anything is written."""

    model_config = ConfigDict(frozen=True)

    account: str
    """Account name."""
    order_id: str
    """Portal order id (15-19 ASCII digits; other scripts' digits are converted)."""
    kind: CaseKind
    reason: str
    """Reason key from the selector pack (e.g. `not_received`)."""
    message: str = ""
    """Free text sent to the seller."""
    refund_type: RefundType | None = None
    """Refund cases only."""
    amount: Decimal | None = None
    """Refund cases only: amount asked, positive, at most 2 decimals."""
    currency: str | None = None
    """ISO 4217 code of `amount`."""
    item_line: int | None = None
    """Refund cases only: the order's item line asked for, 1-based as the portal lists them
    (`recoup refund --item N`); None: the first line without a request. The flows count lines
    from 0 (`RefundRequest.item_index` = `item_line - 1`)."""
    evidence_folder: str | None = None
    """Folder of the case's evidence files (copied in by the CLI)."""

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str) -> str:
        return parse_order_id(value)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise InputError("a reason is required")
        return value.strip()

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite() or value <= 0:
            raise AmountError("amount must be positive")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise AmountError("amount has more than 2 decimals")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not _CURRENCY_RE.match(value):
            raise InputError("currency must be a 3-letter ISO code like USD")
        return value

    @field_validator("item_line")
    @classmethod
    def _item_line(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise InputError("item line must be 1 or more (lines are counted from 1)", field="item_line")
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> NewCase:
        if self.kind is CaseKind.REFUND:
            if self.refund_type is None:
                raise InputError("a refund case needs a refund type")
            if self.amount is None or self.currency is None:
                raise AmountError("a refund case needs an amount and a currency")
        elif self.refund_type is not None or self.amount is not None or self.item_line is not None:
            raise InputError("a cancel case takes no refund type, amount or item line")
        return self

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> NewCase:
        """Validate raw input; every failure is an :class:`InputError` (amount → AmountError)."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "input"
            error = AmountError if field == "amount" else InputError
            raise error(f"{field}: {first['msg']}", field=field) from None


class Case(BaseModel):
    """A stored case as the repository returns it (a snapshot; re-read after changes)."""

    model_config = ConfigDict(frozen=True)

    id: int
    account_id: int
    account: str
    order_id: str
    kind: CaseKind
    reason: str
    message: str
    refund_type: RefundType | None
    amount: Decimal | None
    currency: str | None
    item_line: int | None = None
    """Refund cases: the item line asked for (1-based); None: the first line without a request."""
    evidence_folder: str | None
    state: CaseState
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    """Attempts counted on the ordinary retry budget."""
    session_attempts: int
    """Attempts counted on the separate session (re-login) budget."""
    next_attempt_at: datetime | None
    """Not to be claimed before this time (backoff)."""
    submit_intent_at: datetime | None
    """Set just before the irreversible click; never cleared."""
    portal_request_ref: str | None
    outcome_at: datetime | None
    outcome_amount: Decimal | None
    outcome_note: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class CaseEvent(BaseModel):
    """One entry of the append-only case history."""

    model_config = ConfigDict(frozen=True)

    id: int
    case_id: int
    at: datetime
    from_state: CaseState | None
    """None for the `created` event."""
    to_state: CaseState
    kind: str
    """`created`, `transition`, `claimed`, `lease_expired`, `submit_intent`, `attempt`, ..."""
    detail: dict[str, Any]


class NewEvidence(BaseModel):
    """An evidence file already written into the case folder."""

    model_config = ConfigDict(frozen=True)

    path: str
    """Relative to the case's evidence folder, `/`-separated, never `..`."""
    sha256: str
    kind: str
    """`screenshot`, `html`, `trace`, `upload`, ..."""
    step: str | None = None
    """Flow step that produced it (`before_submit`, `confirmation`, ...)."""
    url: str | None = None
    captured_at: datetime

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        pure = PurePosixPath(value)
        if not value or pure.is_absolute() or "\\" in value or ".." in pure.parts:
            raise EvidenceError("evidence path must be relative to the case folder", path=value)
        return str(pure)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if not _SHA256_RE.match(value):
            raise EvidenceError("sha256 must be 64 lowercase hex digits")
        return value


class EvidenceItem(NewEvidence):
    """A stored evidence record."""

    id: int
    case_id: int


class Attempt(BaseModel):
    """One run of a case by a worker, as recorded after it ended."""

    model_config = ConfigDict(frozen=True)

    id: int
    case_id: int
    number: int
    """1-based, over all attempts of the case."""
    worker: str
    started_at: datetime
    finished_at: datetime
    action: Action | None
    """What the error triggered; None when the attempt succeeded."""
    error_type: str | None
    error_message: str | None
    next_attempt_at: datetime | None
    """When the case may run again; None when no retry is scheduled."""
    budget_exhausted: bool
