"""The schema of a selector pack (`selectors/<portal>.yaml`), as strict pydantic models.

Every model forbids unknown keys, so a typo in a pack fails at load instead of silently doing
nothing. Locator alternatives are a discriminated union over `kind`. Cross-field rules
(unique locator keys across pages, `within`/`url` references, declared parameters, coverage of
every canonical status in every language, no full hashed CSS-module class names) are checked
by model validators; a failure raises pydantic's ValidationError, which `flows.pack.load_pack`
turns into :class:`bot.errors.PackError` naming the file and the field.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.models import OrderStatus, RefundStatus

_HASHED_CLASS = re.compile(r"[A-Za-z][\w]*--[A-Za-z][\w]*--[A-Za-z0-9]{4,}")
"""A full CSS-module class name (`block--element--HASH`): never allowed in a pack."""

Text = str | list[str]
"""One text, or several alternatives (e.g. English and German) matched as any-of."""


class FieldError(ValueError):
    """A cross-field rule failed; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _texts(value: Text | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class RoleAlt(_Strict):
    """`get_by_role(role, name=...)`; `name` is matched whole (`exact`) or as a substring."""

    kind: Literal["role"]
    role: str
    name: Text | None = None
    exact: bool = True


class TextAlt(_Strict):
    """`get_by_text(text)`."""

    kind: Literal["text"]
    text: Text
    exact: bool = False


class LabelAlt(_Strict):
    """`get_by_label(label)`."""

    kind: Literal["label"]
    label: Text
    exact: bool = False


class PlaceholderAlt(_Strict):
    """`get_by_placeholder(placeholder)`."""

    kind: Literal["placeholder"]
    placeholder: Text
    exact: bool = False


class TestIdAlt(_Strict):
    """A test-id-like hook attribute, `[data-pl="value"]` by default."""

    kind: Literal["test_id"]
    value: str
    attribute: str = "data-pl"


class CssAlt(_Strict):
    """A CSS selector, optionally narrowed to elements containing a text. Class names only as
    prefixes (`[class*="reminder--statusStr--"]`), never a full hashed CSS-module name."""

    kind: Literal["css"]
    css: str
    has_text: Text | None = None

    @field_validator("css")
    @classmethod
    def _no_hashed_class(cls, value: str) -> str:
        if _HASHED_CLASS.search(value):
            raise ValueError(f"full hashed class name in {value!r}: match the prefix instead")
        return value


Alternative = Annotated[
    RoleAlt | TextAlt | LabelAlt | PlaceholderAlt | TestIdAlt | CssAlt, Field(discriminator="kind")
]


def _placeholders(alt: Alternative) -> set[str]:
    found: set[str] = set()
    for value in alt.model_dump().values():
        for text in _texts(value) if isinstance(value, str | list) else []:
            found.update(n for _, n, _, _ in string.Formatter().parse(text) if n)
    return found


class LocatorEntry(_Strict):
    """One named locator: ordered alternatives, whether flows need it, which state counts.
    `within` names the locator it is searched inside; `after` the locator whose click reveals
    it (the read-only check does not click, so it reports such a locator as not checked)."""

    alternatives: list[Alternative] = Field(min_length=1)
    required: bool = True
    state: Literal["visible", "attached"] = "visible"
    params: list[str] = Field(default_factory=list)
    within: str | None = None
    after: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _params_declared(self) -> LocatorEntry:
        for alt in self.alternatives:
            missing = _placeholders(alt) - set(self.params)
            if missing:
                raise ValueError(f"undeclared parameter(s) {sorted(missing)}: list them in `params`")
        return self


class PageSpec(_Strict):
    """A group of locators that live on one page; `url` names a template for the check."""

    url: str | None = None
    locators: dict[str, LocatorEntry]


class Urls(_Strict):
    """Real bases plus templates over `{base}`, `{login_base}` and parameters like `{order_id}`."""

    base: str
    login_base: str
    templates: dict[str, str]


class LocaleSpec(_Strict):
    """The cookie that picks the page language. An account is driven in its own locale when
    the pack reads that language (`languages`); `force` is the locale used otherwise."""

    cookie_name: str
    cookie_value: str
    cookie_domain: str
    force: str | None = None


class BounceSpec(_Strict):
    """A URL is a bounce to login when its host starts with, or its path contains, one of these."""

    host_prefixes: list[str]
    path_contains: list[str]


class ChallengeSpec(_Strict):
    """Slider challenge: full-page URL fragments and in-page markers."""

    url_patterns: list[str] = Field(min_length=1)
    markers: LocatorEntry


class Patterns(_Strict):
    """Regexes with one group: an order id (in text), a money amount, and the order id in a
    card's detail link (`order_link`; optional)."""

    order_id: str
    money: str
    order_link: str | None = None


class LoginErrors(_Strict):
    """Texts of the login page's error line, by cause."""

    wrong_password: list[str]
    locked: list[str]
    wrong_code: list[str]


class Messages(_Strict):
    """Alert texts the portal answers with, by meaning (matched as contained, any case)."""

    already_requested: list[str]
    not_eligible: list[str]
    cancel_rejected: list[str]
    amount_invalid: list[str]
    upload_failed: list[str]


class Actions(_Strict):
    """Which canonical statuses allow which action."""

    cancel_direct: list[OrderStatus]
    cancel_request: list[OrderStatus]
    cancel_already: list[OrderStatus]
    refund: list[OrderStatus]
    refund_already: list[OrderStatus]


class Reason(_Strict):
    """A reason's label per language; `buyer_fault` marks reasons that count against the buyer."""

    model_config = ConfigDict(extra="allow", frozen=True)
    buyer_fault: bool = False

    @model_validator(mode="after")
    def _labels_are_text(self) -> Reason:
        for lang, label in (self.model_extra or {}).items():
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"label for {lang!r} must be a non-empty string")
        return self

    def labels(self) -> dict[str, str]:
        """Language → label."""
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class EvidenceLimits(_Strict):
    """What the portal accepts as evidence (checked before any upload)."""

    image_suffixes: list[str]
    max_image_bytes: int = Field(gt=0)
    video_suffixes: list[str]
    max_video_bytes: int = Field(gt=0)
    max_count: int = Field(gt=0)
    none_error: list[str] = Field(default_factory=list)


MailEvent = Literal[
    "closed_needs_check", "order_canceled", "cancel_requested", "cancel_approved", "cancel_rejected",
    "refund_requested", "counter_offer", "offer_accepted", "refund_rejected", "refund_escalated",
    "refund_approved", "dispute_decided", "order_confirmed", "ready_to_ship", "order_shipped",
    "delivered", "awaiting_confirmation", "feedback_request",
]
"""What a notification mail means for a case (the mail classifier's vocabulary)."""


class MailRule(_Strict):
    """A subject regex (optionally with an `order_id` group) → the event it means."""

    event: MailEvent
    subject: str

    @field_validator("subject")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class OrderIdPatterns(_Strict):
    """Where an order id is found in a mail: subject and body/link regexes. Group 1 (else the
    match) may list several ids: every digit run in it that is a valid order id counts. The
    body patterns run over the text and every link. Bound ids by non-digits (``(?<!\\d)``,
    ``(?!\\d)``), never ``\\b`` (real text glues words to ids: ``…7135Copy``), and read ids only
    next to order words or from order links, so parcel numbers are never taken."""

    subject: list[str]
    body: list[str]

    @field_validator("subject", "body")
    @classmethod
    def _compile_all(cls, value: list[str]) -> list[str]:
        for pattern in value:
            re.compile(pattern)
        return value


class LoginCodeRule(_Strict):
    """The verification-code mail: subject regex and the regex of the code (group 1)."""

    subject: str
    code: str


class EmailRules(_Strict):
    """Everything the mail classifier needs."""

    sender: str
    order_id_patterns: OrderIdPatterns
    rules: list[MailRule] = Field(min_length=1)
    login_code: LoginCodeRule
    forward_prefix: str = r"(?i)^(?:\s*(?:fwd?|wg|aw|re|tr|rv|i|pd|doorst|antw)\s*:\s*)+"
    """Regex of the forward/reply prefixes stripped from a subject before the rules run
    (``Fwd:``, ``WG:``, ``TR:``, ``RV:``, ``I:``, ``PD:``, ``Doorst:``, ``Re:``, ``AW:``)."""

    @field_validator("forward_prefix")
    @classmethod
    def _prefix_compiles(cls, value: str) -> str:
        re.compile(value)
        return value


StatusTexts = dict[str, list[str]]
"""Language → texts."""


class PackModel(_Strict):
    """A whole selector pack."""

    schema_version: Literal[1]
    portal: str
    languages: list[str] = Field(min_length=1)
    urls: Urls
    locale: LocaleSpec
    bounce: BounceSpec
    challenge: ChallengeSpec
    mask: LocatorEntry
    patterns: Patterns
    currencies: dict[str, list[str]] = Field(default_factory=dict)
    """ISO 4217 code → the markers the portal prints next to amounts (`US $`, `€`, `zł`)."""
    login_errors: LoginErrors
    messages: Messages
    pages: dict[str, PageSpec]
    order_statuses: dict[OrderStatus, StatusTexts]
    refund_statuses: dict[RefundStatus, StatusTexts]
    actions: Actions
    cancel_reasons: dict[str, Reason]
    refund_reasons: dict[str, Reason]
    evidence: EvidenceLimits
    email: EmailRules

    @model_validator(mode="after")
    def _cross_checks(self) -> PackModel:
        seen: dict[str, str] = {}
        for page_name, page in self.pages.items():
            if page.url is not None and page.url not in self.urls.templates:
                raise FieldError(f"pages.{page_name}.url", f"unknown URL template {page.url!r}")
            for key in page.locators:
                if key in seen:
                    raise FieldError(f"pages.{page_name}.locators.{key}",
                                     f"locator {key!r} defined in pages {seen[key]!r} and {page_name!r}")
                seen[key] = page_name
        for page_name, page in self.pages.items():
            for key, entry in page.locators.items():
                for ref in ("within", "after"):
                    target = getattr(entry, ref)
                    if target is not None and target not in seen:
                        raise FieldError(f"pages.{page_name}.locators.{key}.{ref}", f"unknown {target!r}")
        self._check_coverage("order_statuses", self.order_statuses, set(OrderStatus) - {OrderStatus.UNKNOWN})
        refund_needed = set(RefundStatus) - {RefundStatus.UNKNOWN, RefundStatus.NONE}
        self._check_coverage("refund_statuses", self.refund_statuses, refund_needed)
        groups = (("cancel_reasons", self.cancel_reasons), ("refund_reasons", self.refund_reasons))
        for group, reasons in groups:
            for key, reason in reasons.items():
                missing = set(self.languages) - set(reason.labels())
                if missing:
                    raise FieldError(f"{group}.{key}", f"no label for {sorted(missing)}")
        return self

    def _check_coverage(self, field: str, table: Mapping[Any, StatusTexts], needed: set[Any]) -> None:
        missing = sorted(str(s) for s in needed if s not in table)
        if missing:
            raise FieldError(field, f"no texts for canonical status(es) {missing}")
        for status, texts in table.items():
            lacking = [lang for lang in self.languages if not texts.get(lang)]
            if lacking:
                raise FieldError(f"{field}.{status}", f"no text for language(s) {lacking}")
