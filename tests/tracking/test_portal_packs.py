"""Mail of an account is read with its own portal's pack: a `bazaar` account (the second pack,
tests/fixtures/packs/bazaar.yaml, whose sender is orders@bazaar.test) takes Bazaar's mail and
ignores AliExpress's, while an AliExpress account keeps its pack — real Dovecot, both stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import Settings
from bot.mail.poller import MailPoller
from bot.models import Account
from bot.store import Store
from flows.registry import PackRegistry
from tests.fixtures.mail import Mailbox
from tests.tracking.conftest import FrozenClock, portal_mail, send, submitted_case

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BAZAAR_SENDER = "Bazaar <orders@bazaar.test>"


def _account(store: Store, name: str, box: Mailbox, portal: str) -> None:
    store.accounts.add(Account(name=name, email=box.email, portal=portal,
                               password_ref=f"env:RECOUP_SECRET_{name.upper()}",
                               mailbox_password_ref=f"env:RECOUP_TEST_MAILBOX_{name.upper()}"))


def _checks(store: Store, case_id: int) -> list[object]:
    return [e.detail["signal"] for e in store.cases.history(case_id) if e.kind == "status_check_requested"]


def test_each_account_is_classified_with_its_portals_pack(
    store: Store, mailbox: Mailbox, clock: FrozenClock, tmp_path: Path
) -> None:
    other = Mailbox(mailbox.server, "bazaar-" + mailbox.email, "pw-" + mailbox.password)
    mailbox.server.add_user(other.email, other.password)
    packs_dir = tmp_path / "packs"
    packs_dir.mkdir()
    shutil.copy(ROOT / "selectors" / "aliexpress.yaml", packs_dir)
    shutil.copy(ROOT / "tests" / "fixtures" / "packs" / "bazaar.yaml", packs_dir)
    settings = Settings(imap_host=mailbox.server.host, imap_port=mailbox.server.imap_port, imap_ssl=False,
                        pack_dir=packs_dir)  # fmt: skip
    _account(store, "alice", mailbox, "aliexpress")
    _account(store, "bob", other, "bazaar")
    alices, bobs = submitted_case(store, "alice"), submitted_case(store, "bob")
    for box, case in ((mailbox, alices), (other, bobs)):
        send(box, portal_mail(box, f"Order {case.order_id}: Order shipped", case.order_id))
        send(box, portal_mail(box, f"Order {case.order_id}: Delivered", case.order_id, sender=BAZAAR_SENDER))
    environ = {"RECOUP_TEST_MAILBOX_ALICE": mailbox.password, "RECOUP_TEST_MAILBOX_BOB": other.password}
    poller = MailPoller(store, PackRegistry(settings), settings, clock, environ=environ)

    alice, bob = poller.poll_account("alice"), poller.poll_account("bob")

    assert (alice.fetched, alice.applied, alice.ignored) == (2, 1, 1)
    assert (bob.fetched, bob.applied, bob.ignored) == (2, 1, 1)
    assert _checks(store, alices.id) == ["order_shipped"]  # AliExpress's sender only
    assert _checks(store, bobs.id) == ["delivered"]  # Bazaar's sender only
