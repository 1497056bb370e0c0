"""`recoup orders ACCOUNT`: the account's orders as My Orders shows them, and what Recoup can file.

Read-only: signs in through :meth:`bot.runtime.Runtime.portal_session` while holding the account
like every one-off (:func:`bot.oneoff.hold_account`: never while another process drives its
browser), opens My Orders, clicks "View orders" until the list ends (or `--limit` orders show),
and reads each card: id, date, store, item lines numbered from 1 (the numbers `recoup refund
--item` takes) with their prices, total with currency, status, and what can be filed (cancel /
refund / nothing, by the status and the pack's `actions`). Nothing is written to the store.

Failures: an unknown account is bad input (exit 2); an account that stays busy, or a portal that
does not answer, exits 5; a slider or a rejected login exits 3 (see `recoup --help`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import Command, JsonOpt, opening
from bot.display import line, shown
from bot.errors import TransientError
from bot.oneoff import hold_account
from bot.runtime import open_runtime, service_running
from flows.money import Money
from flows.orders import fileable, list_orders
from flows.pack import Pack
from flows.pages.order_list import CardLine, OrderCard


def orders(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Account name.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the newest N orders (fewer \"View orders\" clicks).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List an account's orders as the portal shows them: items by line, total, status, and what
    Recoup can file (read-only)."""
    with opening(ctx, as_json) as cmd:
        cmd.store.accounts.get(account)  # UnknownAccountError: exit 2 before any browser starts
        if service_running(cmd.store):
            cmd.out.info("note: `recoup run` is running; reading the orders opens a second session.")
        rows = asyncio.run(_read(cmd, account, limit))
        cmd.out.data(rows, lambda: _table(cmd, account, rows))


async def _read(cmd: Command, name: str, limit: int | None) -> list[dict[str, Any]]:
    """Sign in as the account (held for the time of the read) and read its order list."""
    store, settings = cmd.store, cmd.settings
    say = lambda text: cmd.out.err.print(text, markup=False, highlight=False)  # noqa: E731
    async with (
        open_runtime(settings, store) as rt,
        hold_account(store, settings, name, wait_seconds=settings.account_wait_seconds, say=say) as hold,
    ):
        if not hold.held:
            raise TransientError(f"account {name} is busy ({hold.busy_with}); try again later", account=name)
        account = await asyncio.to_thread(store.accounts.get, name)
        async with rt.portal_session(account) as session:
            cards = await session.run(lambda: list_orders(session.page, session.env, limit=limit))
            pack = session.env.pack
    return [order_dict(card, pack) for card in cards]


def _money(value: Money | None) -> dict[str, Any] | None:
    return None if value is None else {"amount": f"{value.amount:.2f}", "currency": value.currency}


def _line(item: CardLine) -> dict[str, Any]:
    return {
        "line": item.number,
        "name": item.name,
        "quantity": item.quantity,
        "price_text": item.price_text,
        "price": _money(item.price),
        "amount": _money(item.amount),
    }


def order_dict(card: OrderCard, pack: Pack) -> dict[str, Any]:
    """One order as plain JSON values (the `--json` shape)."""
    items = [_line(i) for i in card.lines] or [
        {"line": n, "name": name, "quantity": None, "price_text": None, "price": None, "amount": None}
        for n, name in enumerate(card.item_names, start=1)
    ]
    return {
        "order_id": card.order_id,
        "date": card.date_text,
        "store": card.store,
        "status": card.status.value,
        "status_text": card.status_text,
        "total_text": card.total_text,
        "total": _money(card.total),
        "items": items,
        "can_file": fileable(pack, card.status),
    }


def _table(cmd: Command, account: str, rows: list[dict[str, Any]]) -> None:
    out = cmd.out
    table = Table("order", "date", "store", "line", "item", "qty", "price", "total", "status", "can file")
    for row in rows:
        items = row["items"] or [{"line": "", "name": "", "quantity": None, "price_text": None}]
        for index, item in enumerate(items):
            first = index == 0
            table.add_row(
                shown(row["order_id"]) if first else "",
                shown(row["date"] or "-") if first else "",
                shown(row["store"] or "-") if first else "",
                str(item["line"]),
                shown(item["name"]),
                "" if item["quantity"] is None else str(item["quantity"]),
                shown(item["price_text"] or "-"),
                shown(row["total_text"] or "-") if first else "",
                shown(row["status_text"]) if first else "",
                row["can_file"] if first else "",
            )
    out.console.print(table)
    out.console.print(
        line(f"{len(rows)} order(s) of {account}; `recoup refund ORDER --item LINE` files one line.")
    )
