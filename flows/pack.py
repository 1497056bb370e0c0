"""Load a selector pack and turn its locator entries into Playwright locators with fallbacks.

`load_pack(settings)` reads `<pack_dir>/<portal>.yaml`, rejects duplicate YAML keys, validates
it against :mod:`flows.pack_schema` and returns a :class:`Pack`. Any problem raises
:class:`bot.errors.PackError` naming the file and the field. :mod:`flows.registry` loads packs
by portal name and also checks the locator keys the page objects declare.

A :class:`Pack` is the flows' only source of portal knowledge: URLs (with the settings'
base overrides), locators, status texts, reasons, markers and limits.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from playwright.async_api import Frame, FrameLocator, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import LocatorMissingError, PackError
from bot.models import OrderStatus, RefundStatus
from flows.pack_schema import (
    Alternative,
    CssAlt,
    FieldError,
    LocatorEntry,
    PackModel,
    RoleAlt,
    TestIdAlt,
    Text,
)

Root = Page | Frame | Locator | FrameLocator
"""Anything locators can be built on."""

Param = str | list[str]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping with the same key twice (YAML silently keeps the last)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_pack(settings: Settings, path: Path | None = None, *, portal: str | None = None) -> Pack:
    """Read, validate and return the pack of `portal` (default `settings.portal`), or the file
    at `path`. This checks the schema only; :class:`flows.registry.PackRegistry` (what the
    bot uses) also checks the locator keys the page objects need.

    Raises PackError (with `path` and `field` in its context) when the file is missing,
    is not valid YAML, has a duplicate key, or fails the schema.
    """
    path = path or settings.pack_dir / f"{portal or settings.portal}.yaml"
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise PackError(f"{path}: cannot read selector pack ({exc.strerror})", path=str(path)) from exc
    except yaml.YAMLError as exc:
        raise PackError(f"{path}: invalid YAML: {exc}", path=str(path)) from exc
    try:
        model = PackModel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        parts = [str(p) for p in first["loc"]] + ([cause.field] if isinstance(cause, FieldError) else [])
        field = ".".join(parts)
        raise PackError(f"{path}: {field}: {first['msg']}", path=str(path), field=field) from exc
    return Pack(model, settings=settings, path=path)


def _norm(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").casefold().split())


def escape(text: str) -> str:
    """`re.escape` that also escapes `/` (Playwright sends a regex as `/source/flags`)."""
    return re.escape(text).replace("/", r"\/")


def _any_of(texts: list[str], exact: bool) -> str | re.Pattern[str]:
    alternation = "|".join(escape(t) for t in texts)
    if exact:
        return re.compile(rf"^\s*(?:{alternation})\s*$")
    return re.compile(alternation, re.IGNORECASE)


def _text_arg(value: Text, exact: bool) -> tuple[str | re.Pattern[str], bool]:
    """Playwright text argument for one text or a list of alternatives."""
    if isinstance(value, str):
        return value, exact
    if len(value) == 1:
        return value[0], exact
    return _any_of(value, exact), False


def describe(alt: Alternative) -> str:
    """A short human-readable form of one alternative (for errors and the check report)."""
    data = alt.model_dump(exclude={"kind"}, exclude_defaults=True)
    return f"{alt.kind}(" + ", ".join(f"{k}={v!r}" for k, v in data.items()) + ")"


class Pack:
    """A validated selector pack bound to the settings (base URLs, timeouts)."""

    def __init__(self, model: PackModel, *, settings: Settings, path: Path) -> None:
        self.model = model
        self.settings = settings
        self.path = path
        self.base = (settings.portal_base_url or model.urls.base).rstrip("/")
        self.login_base = (settings.portal_login_base_url or model.urls.login_base).rstrip("/")
        self._entries: dict[str, LocatorEntry] = {}
        self._page_of: dict[str, str] = {}
        for page_name, page in model.pages.items():
            for key, entry in page.locators.items():
                self._entries[key] = entry
                self._page_of[key] = page_name
        try:
            self.order_id_re = re.compile(model.patterns.order_id)
            self.money_re = re.compile(model.patterns.money)
            self.order_link_re = re.compile(model.patterns.order_link) if model.patterns.order_link else None
        except re.error as exc:
            raise PackError(f"{path}: patterns: {exc}", path=str(path), field="patterns") from exc
        self._order_texts = [(_norm(t), s) for s, by in model.order_statuses.items()
                             for ts in by.values() for t in ts]
        self._refund_texts = [(_norm(t), s) for s, by in model.refund_statuses.items()
                              for ts in by.values() for t in ts]

    # ---- URLs ------------------------------------------------------------------------------
    def url(self, name: str, **params: str) -> str:
        """The URL template `name` filled with the bases and `params` (PackError if unknown)."""
        template = self.model.urls.templates.get(name)
        if template is None:
            raise PackError(f"{self.path}: no URL template {name!r}", field=f"urls.templates.{name}")
        try:
            return template.format(base=self.base, login_base=self.login_base, **params)
        except KeyError as exc:
            raise PackError(f"URL {name!r} needs parameter {exc}", field=f"urls.templates.{name}") from exc

    def is_bounce(self, url: str) -> bool:
        """True when `url` is a login page: the session is gone."""
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
        login_path = urlsplit(self.login_base).path
        if login_path and login_path != "/" and path.startswith(login_path):
            return True
        return any(host.startswith(p) for p in self.model.bounce.host_prefixes) or any(
            p in host + path for p in self.model.bounce.path_contains)

    def is_challenge_url(self, url: str) -> bool:
        """True when `url` is a full-page slider challenge."""
        return any(p in url for p in self.model.challenge.url_patterns)

    def locale_cookies(self, locale: str) -> list[dict[str, Any]]:
        """Cookies that make the portal speak `locale` (e.g. `en_US`), for both bases."""
        spec = self.model.locale
        value = spec.cookie_value.format(locale=locale)
        if self.base == self.model.urls.base.rstrip("/"):
            return [{"name": spec.cookie_name, "value": value, "domain": spec.cookie_domain, "path": "/"}]
        urls = {f"{p.scheme}://{p.netloc}/" for p in (urlsplit(self.base), urlsplit(self.login_base))}
        return [{"name": spec.cookie_name, "value": value, "url": u} for u in sorted(urls)]

    def page_locale(self, account_locale: str | None) -> str | None:
        """The locale to drive an account in: its own (`de_DE`) when the pack reads that
        language, else the pack's `locale.force` (None: leave the portal's choice)."""
        if account_locale and account_locale.split("_")[0].lower() in self.model.languages:
            return account_locale
        return self.model.locale.force

    # ---- statuses and reasons ---------------------------------------------------------------
    def order_status(self, text: str) -> OrderStatus:
        """Canonical status of a status text in any pack language; UNKNOWN when none matches."""
        return _match(_norm(text), self._order_texts, OrderStatus.UNKNOWN)

    def refund_status(self, text: str) -> RefundStatus:
        """Canonical refund status of a refund page text; UNKNOWN when none matches."""
        return _match(_norm(text), self._refund_texts, RefundStatus.UNKNOWN)

    def cancel_reason_labels(self, key: str) -> list[str]:
        """The labels (all languages) of cancel reason `key`; PackError if unknown."""
        return self._reason(self.model.cancel_reasons, "cancel_reasons", key)

    def refund_reason_labels(self, key: str) -> list[str]:
        """The labels (all languages) of refund reason `key`; PackError if unknown."""
        return self._reason(self.model.refund_reasons, "refund_reasons", key)

    def _reason(self, table: dict[str, Any], field: str, key: str) -> list[str]:
        reason = table.get(key)
        if reason is None:
            raise PackError(f"unknown reason {key!r}; known: {sorted(table)}", field=f"{field}.{key}")
        labels: list[str] = list(reason.labels().values())
        return labels

    def matches_any(self, text: str, texts: list[str]) -> bool:
        """True when one of `texts` occurs in `text` (case- and space-insensitive)."""
        norm = _norm(text)
        return any(_norm(t) in norm for t in texts)

    # ---- locators ---------------------------------------------------------------------------
    def entry(self, key: str) -> LocatorEntry:
        """The entry `key`; PackError when the pack does not define it."""
        if key == "challenge":
            return self.model.challenge.markers
        if key == "mask":
            return self.model.mask
        try:
            return self._entries[key]
        except KeyError:
            raise PackError(f"{self.path}: no locator {key!r}", field=f"pages.*.locators.{key}") from None

    def has_locator(self, key: str) -> bool:
        """True when the pack defines locator `key` (`challenge` and `mask` always exist)."""
        return key in ("challenge", "mask") or key in self._entries

    def check_required(self, needs: dict[str, frozenset[str]]) -> None:
        """Check the pack defines every locator key each page object needs (`needs`: class
        name → keys). Raises PackError naming the first missing key and the page object that
        needs it (`key`, `page_object` and `field` in its context)."""
        for owner, keys in needs.items():
            for key in sorted(keys):
                if not self.has_locator(key):
                    raise PackError(
                        f"{self.path}: no locator {key!r}, which page object {owner} needs "
                        f"(portal {self.model.portal!r})",
                        path=str(self.path), field=f"pages.*.locators.{key}", key=key, page_object=owner)

    def locator_keys(self, page: str | None = None) -> list[str]:
        """Locator keys, in pack order, optionally of one page."""
        return [k for k, p in self._page_of.items() if page is None or p == page]

    def alternatives(self, root: Root, key: str, **params: Param) -> list[Locator]:
        """One Playwright locator per alternative of `key`, in pack order."""
        entry = self.entry(key)
        missing = set(entry.params) - set(params)
        if missing:
            raise PackError(f"locator {key!r} needs parameter(s) {sorted(missing)}", field=key)
        built = [_build(root, _fill(alt, params)) for alt in entry.alternatives]
        if entry.state == "visible":
            built = [loc.filter(visible=True) for loc in built]
        return built

    def locator(self, root: Root, key: str, **params: Param) -> Locator:
        """A locator matching what ANY alternative of `key` matches (for waits and counts)."""
        alts = self.alternatives(root, key, **params)
        combined = alts[0]
        for alt in alts[1:]:
            combined = combined.or_(alt)
        return combined

    async def resolve(self, root: Root, key: str, *, timeout_ms: float | None = None,
                      **params: Param) -> Locator:
        """Wait up to `timeout_ms` (default: the action timeout) for any alternative of `key`,
        then return the first alternative, in pack order, that matches. When the first
        alternative matches at once (the usual case) that costs one round trip to the browser.

        Raises LocatorMissingError naming the key and the alternatives tried.
        """
        entry = self.entry(key)
        timeout = self.settings.action_timeout_ms if timeout_ms is None else timeout_ms
        alts = self.alternatives(root, key, **params)
        if await alts[0].count() > 0:  # the usual case: the first alternative already shows
            return alts[0]
        combined = self.locator(root, key, **params)
        state: Literal["visible", "attached"] = entry.state
        try:
            await combined.first.wait_for(state=state, timeout=timeout)
        except PlaywrightTimeoutError:
            raise self._missing(key, entry, timeout) from None
        if len(alts) == 1:
            return alts[0]
        for alt in alts:
            if await alt.count() > 0:
                return alt
        raise self._missing(key, entry, timeout)

    async def probe(self, root: Root, key: str, **params: Param) -> int | None:
        """Without waiting: the index of the first alternative of `key` that matches now, or None."""
        for index, alt in enumerate(self.alternatives(root, key, **params)):
            if await alt.count() > 0:
                return index
        return None

    async def present(self, root: Root, key: str, **params: Param) -> bool:
        """Without waiting: does any alternative of `key` match now? One round trip to the
        browser (a count of the union of the alternatives), whatever their number."""
        return await self.locator(root, key, **params).count() > 0

    async def any_present(self, root: Root, keys: Sequence[str]) -> bool:
        """Without waiting: does any alternative of any of `keys` (none with parameters) match
        now? One round trip; used to skip several checks that usually find nothing."""
        combined = self.locator(root, keys[0])
        for key in keys[1:]:
            combined = combined.or_(self.locator(root, key))
        return await combined.count() > 0

    def _missing(self, key: str, entry: LocatorEntry, timeout: float) -> LocatorMissingError:
        tried = [describe(a) for a in entry.alternatives]
        return LocatorMissingError(
            f"locator {key!r} found nothing within {timeout:.0f} ms; tried: " + "; ".join(tried),
            key=key, tried=tried)


_S = TypeVar("_S", OrderStatus, RefundStatus)


def _match(norm: str, texts: list[tuple[str, _S]], unknown: _S) -> _S:
    for text, status in texts:
        if text == norm:
            return status
    best = max(((len(t), s) for t, s in texts if t and t in norm), default=None, key=lambda p: p[0])
    return best[1] if best else unknown


def _fill(alt: Alternative, params: dict[str, Param]) -> Alternative:
    if not params:
        return alt
    data = alt.model_dump()
    for field, value in data.items():
        if field == "kind" or not isinstance(value, str) or "{" not in value:
            continue
        bare = value[1:-1] if value.startswith("{") and value.endswith("}") else None
        if bare is not None and bare in params:
            data[field] = params[bare]
        else:
            flat = {k: v if isinstance(v, str) else v[0] for k, v in params.items()}
            data[field] = string.Formatter().vformat(value, (), flat)
    return type(alt).model_validate(data)


def _build(root: Root, alt: Alternative) -> Locator:
    if isinstance(alt, RoleAlt):
        if alt.name is None:
            return root.get_by_role(alt.role)  # type: ignore[arg-type]
        name, exact = _text_arg(alt.name, alt.exact)
        return root.get_by_role(alt.role, name=name, exact=exact)  # type: ignore[arg-type]
    if isinstance(alt, TestIdAlt):
        return root.locator(f'[{alt.attribute}="{alt.value}"]')
    if isinstance(alt, CssAlt):
        loc = root.locator(alt.css)
        if alt.has_text is not None:
            text, _ = _text_arg(alt.has_text, False)
            loc = loc.filter(has_text=text)
        return loc
    if alt.kind == "text":
        text, exact = _text_arg(alt.text, alt.exact)
        return root.get_by_text(text, exact=exact)
    if alt.kind == "label":
        label, exact = _text_arg(alt.label, alt.exact)
        return root.get_by_label(label, exact=exact)
    placeholder, exact = _text_arg(alt.placeholder, alt.exact)
    return root.get_by_placeholder(placeholder, exact=exact)
