"""Kept unrecognised mail: written with the processed key in one transaction, applied at most
once by a reclassification (also when two runs race), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.models import CaseKind
from bot.states import CaseState
from bot.store import CaseEffect, KeptMail, OpenCase, Store
from bot.store._tables import ProcessedMessageRow, UnrecognisedMailRow
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import drive_to, new_case


def _kept(order_id: str, subject: str = "Something new about your order") -> KeptMail:
    return KeptMail(
        sender="transaction@notice.aliexpress.com",
        subject=subject,
        sent_at=datetime(2024, 6, 1, 13, 0, tzinfo=UTC),
        received_at=datetime(2024, 6, 1, 13, 1, tzinfo=UTC),
        order_ids=(order_id,),
        excerpt="Your order ... code ######",
        content={
            "version": 1,
            "headers": [["From", "transaction@notice.aliexpress.com"]],
            "subject": subject,
            "text": "text",
            "links": [f"https://x.test/d?orderId={order_id}"],
        },
        accepted_as="From is the pack's sender",
    )


def _check_all(cases: Sequence[OpenCase]) -> list[CaseEffect]:
    return [CaseEffect(case_id=c.id) for c in cases]


def _count(store: Store, table: type) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _account_id(store: Store) -> int:
    account = store.accounts.get("alice")
    assert account.id is not None
    return account.id


def _keep(store: Store, key: str, order_id: str, uid: int = 1) -> None:
    applied = store.mail_apply.apply_message(
        _account_id(store),
        "INBOX",
        uidvalidity=7,
        uid=uid,
        message_key=key,
        classification="unrecognised",
        keep=_kept(order_id),
    )
    assert applied.kept or applied.duplicate


def test_kept_with_its_processed_key_once_and_listed(store: Store, clock: FrozenClock) -> None:
    case = drive_to(
        store,
        store.intake.create_with(new_case()),
        [CaseState.RUNNING, CaseState.SUBMITTING, CaseState.SUBMITTED],
    )
    _keep(store, "mid:a@x", case.order_id)
    _keep(store, "mid:a@x", case.order_id, uid=2)  # the same mail again (e.g. after a UIDVALIDITY reset)

    kept = store.unrecognised.list_kept()
    assert len(kept) == 1 and store.unrecognised.count() == 1
    one = kept[0]
    assert (one.account, one.mailbox, one.uidvalidity, one.uid, one.message_key) == (
        "alice",
        "INBOX",
        7,
        1,
        "mid:a@x",
    )
    assert one.mail.order_ids == (case.order_id,) and one.mail.sent_at == datetime(
        2024, 6, 1, 13, 0, tzinfo=UTC
    )
    assert one.kept_at == clock.now and one.resolved_at is None
    assert one.as_dict()["subject"] == "Something new about your order" and "content" not in one.as_dict()
    assert store.unrecognised.list_kept(account="alice", pending_only=True) == kept
    assert [c.id for c in store.unrecognised.open_cases([case.order_id])] == [case.id]


def test_a_failing_message_keeps_nothing(store: Store) -> None:
    case = store.intake.create_with(new_case())

    def boom(cases: Sequence[OpenCase]) -> list[CaseEffect]:
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        store.mail_apply.apply_message(
            _account_id(store),
            "INBOX",
            uidvalidity=7,
            uid=1,
            message_key="mid:b@x",
            classification="unrecognised",
            order_ids=[case.order_id],
            plan=boom,
            keep=_kept(case.order_id),
        )
    assert _count(store, ProcessedMessageRow) == 0 and _count(store, UnrecognisedMailRow) == 0


def test_reclassified_mail_is_applied_once(store: Store, clock: FrozenClock) -> None:
    case = drive_to(
        store,
        store.intake.create_with(new_case()),
        [CaseState.RUNNING, CaseState.SUBMITTING, CaseState.SUBMITTED],
    )
    _keep(store, "mid:c@x", case.order_id)
    kept_id = store.unrecognised.list_kept()[0].id
    clock.advance(60)

    first = store.mail_apply.apply_reclassified(
        kept_id, kind="cancel_approved", order_ids=[case.order_id], plan=_check_all, detail={"signal": "x"}
    )
    second = store.mail_apply.apply_reclassified(
        kept_id, kind="cancel_approved", order_ids=[case.order_id], plan=_check_all
    )

    assert first is not None and first.checked == (case.id,)
    assert second is None
    checks = [e for e in store.cases.history(case.id) if e.kind == "status_check_requested"]
    assert len(checks) == 1 and checks[0].detail["signal"] == "x"
    assert store.unrecognised.count() == 0
    done = store.unrecognised.list_kept()[0]
    assert (done.resolved_at, done.resolved_kind) == (clock.now, "cancel_approved")
    assert done.resolution["checked"] == [case.id]
    with store.engine.connect() as connection:
        marker = connection.execute(select(ProcessedMessageRow)).one()
    assert (marker.classification, marker.case_id) == ("cancel_approved", case.id)


def test_two_racing_reclassifications_apply_it_once(store: Store) -> None:
    case = drive_to(
        store,
        store.intake.create_with(new_case(kind=CaseKind.CANCEL)),
        [CaseState.RUNNING, CaseState.SUBMITTING, CaseState.SUBMITTED],
    )
    _keep(store, "mid:d@x", case.order_id)
    kept_id = store.unrecognised.list_kept()[0].id
    start = threading.Barrier(4)
    results: list[object] = []

    def run() -> None:
        start.wait()
        results.append(
            store.mail_apply.apply_reclassified(
                kept_id, kind="cancel_approved", order_ids=[case.order_id], plan=_check_all
            )
        )

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4
    assert sum(r is not None for r in results) == 1
    assert len([e for e in store.cases.history(case.id) if e.kind == "status_check_requested"]) == 1
