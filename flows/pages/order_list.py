"""My Orders: search by order id, "View orders" until a card shows up, read a card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playwright.async_api import Locator
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import PortalUnavailableError
from bot.errors_playwright import playwright_errors
from bot.models import OrderStatus
from flows.money import Money, read_money
from flows.pages.base import PortalPage


@dataclass(frozen=True)
class CardLine:
    """One item line of a card (read only when asked: :meth:`OrderListPage.read_card`)."""

    number: int
    """1-based, in page order (the detail page lists the lines in the same order)."""
    name: str
    price_text: str | None
    """The unit price as printed ("US $4.10"), None when the card shows none."""
    price: Money | None
    quantity: int
    """From "x2"; 1 when the card shows no quantity."""

    @property
    def amount(self) -> Money | None:
        """What the line cost: unit price x quantity (None without a readable price). The most
        a refund of this line can ask (sandbox/CONTRACT.md, "My Orders")."""
        if self.price is None:
            return None
        return Money(self.price.amount * self.quantity, self.price.currency)


@dataclass(frozen=True)
class OrderCard:
    """What one order card of the list says."""

    order_id: str
    status: OrderStatus
    status_text: str
    store: str | None
    total_text: str | None
    item_names: tuple[str, ...]
    total: Money | None = None
    """The total as amount + currency (None when the card shows no readable total)."""
    date_text: str | None = None
    """The order date as printed, its label removed ("Feb 17, 2026"); None when not read."""
    lines: tuple[CardLine, ...] = ()
    """The item lines with their prices; empty when not asked for or the card shows none."""


class OrderListPage(PortalPage):
    """The My Orders list (`pages.order_list` of the pack)."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "card_date", "card_details_link", "card_info", "card_item", "card_item_name", "card_item_price",
        "card_item_quantity", "card_status", "card_store", "card_total", "order_card",
        "order_card_with_id", "orders_more", "orders_root", "orders_search_button", "orders_search_input"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def open(self) -> None:
        """Load My Orders."""
        await self.goto(self.pack.url("orders"), "order-list")
        await self.find("orders_root", timeout_ms=self.env.navigation_ms)

    async def search(self, text: str) -> bool:
        """Search the list when the page has a search box; False when it has none."""
        if not await self.has("orders_search_input"):
            return False
        box = await self.find("orders_search_input")
        with playwright_errors("typing the order search"):
            await box.first.fill(text)
        button = await self.find("orders_search_button")
        await self.click(button, "order-search", retry_get=True)
        await self.find("orders_root", timeout_ms=self.env.navigation_ms)
        return True

    def card_for(self, order_id: str) -> Locator:
        """The card of `order_id` (may match nothing)."""
        return self.pack.locator(self.page, "order_card_with_id", order_id=order_id)

    def cards(self) -> Locator:
        """Every order card currently shown."""
        return self.pack.locator(self.page, "order_card")

    async def load_more(self) -> bool:
        """Click "View orders" once and wait for the new cards. False when there is no such
        button (every order is shown). A click that adds nothing is retried up to
        `navigation_retries` times, then PortalUnavailableError."""
        for _ in range(self.env.settings.navigation_retries + 1):
            if not await self.has("orders_more"):
                return False
            before = await self.cards().count()
            button = await self.find("orders_more")
            await self.click(button, "view-orders", snap=False)
            grown = self.cards().nth(before)
            with playwright_errors("waiting for more orders"):
                try:
                    appeared = grown.wait_for(state="attached", timeout=self.env.action_ms)
                    if await self.unless_navigated(appeared, self.env.action_ms):
                        return True
                except PlaywrightTimeoutError:
                    await self.check_blockers()
        raise PortalUnavailableError("\"View orders\" added no orders", url=self.page.url.split("?", 1)[0])

    async def find_card(self, order_id: str, *, search: bool = True) -> Locator | None:
        """The card of `order_id`: searched by id when the page can search, else (or when the
        search shows nothing) "View orders" until it appears or the list ends. None: not found."""
        if search and await self.search(order_id) and await self.card_for(order_id).count() > 0:
            return self.card_for(order_id).first
        if search:
            await self.open()
        while await self.card_for(order_id).count() == 0:
            if not await self.load_more():
                return None
        return self.card_for(order_id).first

    async def card_order_id(self, card: Locator) -> str | None:
        """The order id a card shows (its info lines, the id bounded by non-digits: the real
        "Copy" label follows it without a space), else the one its detail link carries
        (`orderId=` after `spm=` and other parameters); None when neither has one."""
        match = self.pack.order_id_re.search(await self.text_of("card_info", root=card))
        if match:
            return match.group(1)
        if self.pack.order_link_re is None or not await self.has("card_details_link", root=card):
            return None
        link = await self.find("card_details_link", root=card)
        with playwright_errors("reading the details link"):
            href = await link.first.get_attribute("href") or ""
        found = self.pack.order_link_re.search(href)
        return found.group(1) if found else None

    async def read_card(self, card: Locator, *, lines: bool = False) -> OrderCard:
        """Status, id, store, total and item names of one card; with `lines` also its date and
        item lines with prices (a few more reads per card: the status scan does without)."""
        order_id = await self.card_order_id(card)
        status_text = await self.text_of("card_status", root=card)
        store = await self._optional_text(card, "card_store")
        total = await self._optional_content(card, "card_total")
        names: tuple[str, ...] = ()
        if await self.has("card_item_name", root=card):
            with playwright_errors("reading item names"):
                found = self.pack.locator(card, "card_item_name")
                names = tuple(t.strip() for t in await found.all_inner_texts())
        return OrderCard(
            order_id=order_id or "",
            status=self.pack.order_status(status_text),
            status_text=status_text,
            store=store,
            total_text=total,
            item_names=names,
            total=read_money(total, self.pack.money_re, self.pack.model.currencies) if total else None,
            date_text=await self._date(card) if lines else None,
            lines=await self._lines(card) if lines else (),
        )

    async def read_all(self, *, lines: bool = False, limit: int | None = None) -> list[OrderCard]:
        """Every card currently shown (the first `limit` ones), in page order (`lines`: see
        :meth:`read_card`)."""
        with playwright_errors("listing order cards"):
            cards = await self.cards().all()
        return [await self.read_card(c, lines=lines) for c in cards[:limit]]

    async def _date(self, card: Locator) -> str | None:
        """The date line without its label: the text after the first colon ("Order date: Feb
        17, 2026" -> "Feb 17, 2026"; a line without a colon is kept whole)."""
        text = await self._optional_text(card, "card_date")
        if text is None:
            return None
        return text.split(":", 1)[1].strip() if ":" in text else text

    async def _lines(self, card: Locator) -> tuple[CardLine, ...]:
        """The card's item lines (empty when the card shows no `card_item`). Names, prices and
        quantities are read for all lines at once; only when one of them does not give one text
        per line (a line without a price, say) is each line read on its own."""
        if not await self.has("card_item", root=card):
            return ()
        items = self.pack.locator(card, "card_item")
        with playwright_errors("reading item lines"):
            count = await items.count()
            names = [t.strip() for t in await self.pack.locator(items, "card_item_name").all_inner_texts()]
            prices = [" ".join(t.split()) for t in
                      await self.pack.locator(items, "card_item_price").all_text_contents()]
            quantities = await self.pack.locator(items, "card_item_quantity").all_inner_texts()
        if not len(names) == len(prices) == len(quantities) == count:
            return await self._lines_one_by_one(items)
        return tuple(self._line(n, name, price, qty)
                     for n, (name, price, qty) in enumerate(zip(names, prices, quantities, strict=True), 1))

    async def _lines_one_by_one(self, items: Locator) -> tuple[CardLine, ...]:
        with playwright_errors("listing item lines"):
            each = await items.all()
        found: list[CardLine] = []
        for number, item in enumerate(each, start=1):
            name = await self._optional_text(item, "card_item_name") or ""
            price = await self._optional_content(item, "card_item_price")
            quantity = await self._optional_text(item, "card_item_quantity")
            found.append(self._line(number, name, price, quantity))
        return tuple(found)

    def _line(self, number: int, name: str, price_text: str | None, quantity_text: str | None) -> CardLine:
        """A line from its texts: the price read as money, the quantity from its digits ("x2"; 1
        when none)."""
        price = (read_money(price_text, self.pack.money_re, self.pack.model.currencies)
                 if price_text else None)
        digits = "".join(ch for ch in quantity_text or "" if ch.isascii() and ch.isdigit())
        return CardLine(number, name, price_text or None, price, int(digits) if digits else 1)

    async def _optional_text(self, card: Locator, key: str) -> str | None:
        if not await self.has(key, root=card):
            return None
        return await self.text_of(key, root=card)

    async def _optional_content(self, card: Locator, key: str) -> str | None:
        """The text content of `key` with whitespace collapsed (not the rendered text: a price
        split into one span per digit may render with line breaks between the spans)."""
        if not await self.has(key, root=card):
            return None
        found = await self.find(key, root=card)
        with playwright_errors(f"reading {key}"):
            text = await found.first.text_content() or ""
        return " ".join(text.split()) or None
