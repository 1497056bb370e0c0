"""CSS-module class names with a hash suffix, and the layout-specific plain class names.

Like the real site's build, every start gets new suffixes (7 characters `[A-Za-z0-9]`) unless a
seed is given: `ClassNames("x").module("reminder--statusStr")` -> `reminder--statusStr--3FMxRSU`.
Layout B renames the plain list/detail class names (see CONTRACT.md); names not in the table stay.
Names a public bot uses on the real site (`order-item-btns`, see CONTRACT.md "Facts from
AliRefundClaimer") are never renamed: the conformance test wants them in both layouts.
"""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.digits + string.ascii_letters

LAYOUT_B_NAMES: dict[str, str] = {
    "order-item-header-status-text": "order-item-header-status-label",
    "order-item-header-right-info": "order-item-header-meta",
    "order-item-store-name": "order-item-shop",
    "order-item-content-body": "order-item-product",
    "order-item-content-info-name": "order-item-product-title",
    "order-item-content-opt-price-total": "order-item-sum",
    "order-item-content-info-sku": "order-item-product-variant",
    "info-row": "order-info-line",
    "order-block-title": "order-block-heading",
    "order-detail-item": "order-detail-product",
    "order-detail-actions": "order-detail-toolbar",
}


class ClassNames:
    """Maps logical class names to what the page of this start uses."""

    def __init__(self, seed: str | None, layout: str) -> None:
        self.seed = seed if seed is not None else secrets.token_hex(8)
        self.layout = layout
        self._cache: dict[str, str] = {}

    def module(self, name: str) -> str:
        """`name--<hash7>`: a CSS-module class whose suffix depends on the seed."""
        if name not in self._cache:
            digest = int.from_bytes(hashlib.sha256(f"{self.seed}/{name}".encode()).digest()[:8], "big")
            suffix = ""
            for _ in range(7):
                digest, rem = divmod(digest, len(_ALPHABET))
                suffix += _ALPHABET[rem]
            self._cache[name] = f"{name}--{suffix}"
        return self._cache[name]

    def plain(self, name: str) -> str:
        """A plain class name of the list/detail page, renamed in layout B."""
        return LAYOUT_B_NAMES.get(name, name) if self.layout == "b" else name
