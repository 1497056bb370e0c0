"""Evidence records, mail cursors and processed messages."""

from __future__ import annotations

import hashlib

import pytest

from bot.errors import EvidenceError, UnknownCaseError
from bot.models import NewEvidence
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, new_case

SHA = hashlib.sha256(b"png").hexdigest()


def test_evidence_records(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    item = NewEvidence(
        path="shots/01-before.png",
        sha256=SHA,
        kind="screenshot",
        step="before_submit",
        url="http://127.0.0.1/o/1",
        captured_at=clock.now,
    )
    stored = store.evidence.add(case.id, item)
    assert stored.case_id == case.id and stored.path == "shots/01-before.png"
    assert store.evidence.list_for(case.id) == [stored]
    with pytest.raises(EvidenceError):
        store.evidence.add(case.id, item)  # one record per path
    with pytest.raises(UnknownCaseError):
        store.evidence.add(999, item)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.png", "a/../../x.png", "a\\b.png", ""])
def test_evidence_paths_stay_inside_the_case_folder(path: str, clock: FrozenClock) -> None:
    with pytest.raises(EvidenceError):
        NewEvidence(path=path, sha256=SHA, kind="screenshot", captured_at=clock.now)


def test_mail_cursor(store: Store) -> None:
    alice = store.accounts.get("alice")
    assert alice.id is not None
    assert store.mail.get_cursor(alice.id, "INBOX") is None
    store.mail.save_cursor(alice.id, "INBOX", uidvalidity=7, last_uid=10)
    cursor = store.mail.save_cursor(alice.id, "INBOX", uidvalidity=7, last_uid=4)
    assert (cursor.uidvalidity, cursor.last_uid) == (7, 10)  # never backwards
    cursor = store.mail.save_cursor(alice.id, "INBOX", uidvalidity=8, last_uid=2)
    assert (cursor.uidvalidity, cursor.last_uid) == (8, 2)  # mailbox rebuilt: start over
    stored = store.mail.get_cursor(alice.id, "INBOX")
    assert stored is not None and stored.last_uid == 2
    bob = add_account(store, "bob")
    assert bob.id is not None and store.mail.get_cursor(bob.id, "INBOX") is None


def test_processed_messages_are_handled_once(store: Store) -> None:
    alice = store.accounts.get("alice")
    assert alice.id is not None
    assert not store.mail.is_processed(alice.id, "INBOX", "<m1@portal>")
    assert store.mail.mark_processed(alice.id, "INBOX", "<m1@portal>", classification="approved")
    assert store.mail.is_processed(alice.id, "INBOX", "<m1@portal>")
    assert not store.mail.mark_processed(alice.id, "INBOX", "<m1@portal>")
    assert store.mail.mark_processed(alice.id, "Archive", "<m1@portal>")
