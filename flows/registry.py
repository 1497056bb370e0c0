"""Which selector pack and which page objects drive a portal, chosen by the account's `portal`.

:class:`PackRegistry` loads `<pack_dir>/<portal>.yaml` the first time a portal is asked for,
validates it (:func:`flows.pack.load_pack`), checks it defines every locator key the portal's
page objects declare in `REQUIRED_KEYS`, and keeps it. The engine (flows), the mail poller
(classification) and the CLI's input validation (reasons) all look the pack up here by the
account's `portal`, so accounts on different portals each use their own pack.

Where a portal's steps differ, a page-object variant (a subclass of the standard class) is
registered for it in :data:`PAGE_VARIANTS` (or passed to the registry): flows build page objects
with :meth:`flows.env.FlowEnv.page_object`, which picks the variant, and the variant's keys are
the ones checked at load. There is no `if portal == ...` anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from bot.config import Settings
from bot.errors import PackError
from bot.evidence import EvidenceRecorder
from flows.env import FlowEnv
from flows.pack import Pack, load_pack
from flows.pages.base import PortalPage
from flows.pages.cancel_dialog import CancelDialog
from flows.pages.counter_offer import CounterOfferPanel
from flows.pages.login import LoginPage, VerifyPage
from flows.pages.order_detail import OrderDetailPage
from flows.pages.order_list import OrderListPage
from flows.pages.refund_form import RefundFormPage
from flows.pages.refund_list import RefundListPage

PAGE_OBJECTS: tuple[type[PortalPage], ...] = (
    PortalPage, LoginPage, VerifyPage, OrderListPage, OrderDetailPage, CancelDialog,
    RefundFormPage, RefundListPage, CounterOfferPanel,
)
"""The standard page objects every portal's flows use (variants replace them per portal)."""

Variants = Mapping[type[PortalPage], type[PortalPage]]

PAGE_VARIANTS: dict[str, Variants] = {}
"""Portal name → {standard page-object class: the portal's subclass}. Empty: every shipped
portal uses the standard page objects."""


class _HasPortal(Protocol):
    @property
    def portal(self) -> str: ...


def page_objects(variants: Variants) -> list[type[PortalPage]]:
    """The page-object classes in effect with `variants` (each variant replaces its standard)."""
    return [variants.get(cls, cls) for cls in PAGE_OBJECTS]


def requirements(variants: Variants) -> dict[str, frozenset[str]]:
    """Class name → the locator keys it needs (with its bases'), for the classes in effect."""
    return {cls.__name__: cls.required_keys() for cls in page_objects(variants)}


class PackRegistry:
    """Packs by portal name, loaded and checked on first use, then cached (thread-safe).

    Raises PackError from :meth:`get` when the portal has no pack file, the pack fails the
    schema, or it lacks a locator key a page object needs (the message names the key and the
    page object)."""

    def __init__(self, settings: Settings, *, pack_dir: Path | None = None,
                 variants: Mapping[str, Variants] | None = None) -> None:
        self.settings = settings
        self.pack_dir = pack_dir or settings.pack_dir
        self._variants = PAGE_VARIANTS if variants is None else variants
        self._packs: dict[str, Pack] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, settings: Settings, *packs: Pack) -> PackRegistry:
        """A registry holding already loaded `packs` (keyed by each pack's `portal`); other
        portals still load from the pack folder. The packs are checked like loaded ones."""
        registry = cls(settings)
        for pack in packs:
            registry.add(pack)
        return registry

    def add(self, pack: Pack) -> Pack:
        """Check `pack` against its portal's page objects and serve it for its `portal`."""
        return self._add(pack.model.portal, pack)

    def _add(self, portal: str, pack: Pack) -> Pack:
        """Check `pack` against `portal`'s page objects and serve it for `portal` (the file
        name picks the portal: a copy of a pack under another name serves that name)."""
        pack.check_required(requirements(self.variants(portal)))
        with self._lock:
            self._packs[portal] = pack
        return pack

    def variants(self, portal: str) -> Variants:
        """The page-object variants registered for `portal` (empty: the standard ones)."""
        return self._variants.get(portal, {})

    def get(self, portal: str) -> Pack:
        """The checked pack of `portal` (loaded from `<pack_dir>/<portal>.yaml` on first use)."""
        with self._lock:
            cached = self._packs.get(portal)
        if cached is not None:
            return cached
        path = self.pack_dir / f"{portal}.yaml"
        if not path.exists():
            raise PackError(f"no selector pack for portal {portal!r} ({path} does not exist)",
                            path=str(path), portal=portal)
        return self._add(portal, load_pack(self.settings, path))

    @property
    def default(self) -> Pack:
        """The pack of `settings.portal` (new accounts' portal)."""
        return self.get(self.settings.portal)

    def for_account(self, account: _HasPortal) -> Pack:
        """The pack of the account's portal."""
        return self.get(account.portal)

    def env(self, portal: str, *, evidence: EvidenceRecorder | None = None,
            shots_dir: Path | None = None, settings: Settings | None = None) -> FlowEnv:
        """A FlowEnv for `portal`: its pack and its page-object variants."""
        variants: Mapping[type[Any], type[Any]] = self.variants(portal)
        return FlowEnv(self.get(portal), settings or self.settings, evidence=evidence,
                       shots_dir=shots_dir, variants=variants)
