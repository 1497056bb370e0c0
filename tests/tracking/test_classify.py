"""The classifier and the effects table: pure logic over parsed messages (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.mail.classify import LOGIN_CODE, MailClassifier, MailSignal, message_key
from bot.mail.effects import CLOSED, OUTCOMES, TRUSTED_NOTE, effects_for, outcome_for, planner
from bot.mail.message import MailMessage, parse_message
from bot.mail.sender import AuthResults
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import OpenCase
from flows.pack import Pack
from tests.fixtures.mail import make_message
from tests.mail.hostile import HOSTILE
from tests.tracking.conftest import PORTAL

OID = "3042417938137135"
OID2 = "3042417938137136"
RECEIVED = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
EARLIER = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _parsed(subject: str, body: str = "", *, sender: str = PORTAL, html: str | None = None,
            message_id: str | None = "fixed@example.test") -> MailMessage:  # fmt: skip
    raw = make_message(subject, body, sender=sender, html=html, message_id=message_id,
                       date=datetime(2025, 3, 1, 10, 0, tzinfo=UTC))  # fmt: skip
    parsed = parse_message(raw, uid=1)
    assert parsed is not None
    return parsed


@pytest.fixture(scope="module")
def classifier(pack: Pack) -> MailClassifier:
    return MailClassifier(pack.model.email)


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        (f"Your order {OID} is closed", "closed_needs_check"),
        (f"Order {OID}: Cancellation approved", "cancel_approved"),
        (f"Order {OID}: Cancellation rejected", "cancel_rejected"),
        (f"Order {OID}: Order canceled", "order_canceled"),
        (f"Order {OID}: Refund complete", "refund_approved"),
        (f"Order {OID}: Refund request rejected", "refund_rejected"),
        (f"Order {OID}: Seller proposed a solution", "counter_offer"),
        (f"Order {OID}: Dispute escalated to AliExpress", "refund_escalated"),
        (f"Order {OID}: Order shipped", "order_shipped"),
        (f"Order {OID}: How did it go?", "feedback_request"),
        (f"Bestellung {OID}: Versandfertig", "ready_to_ship"),
        (f"Bestellung {OID}: Stornierung genehmigt", "cancel_approved"),
        (f"Bestellung {OID}: Stornierung abgelehnt", "cancel_rejected"),
        (f"Bestellung {OID}: Erstattung abgeschlossen", "refund_approved"),
        (f"Bestellung {OID}: Verkäufer hat eine Lösung vorgeschlagen", "counter_offer"),
        (f"Bestellung {OID}: Wie war es?", "feedback_request"),
    ],
)
def test_subjects_in_every_language_map_to_their_event(
    classifier: MailClassifier, subject: str, kind: str
) -> None:
    signal = classifier.classify(_parsed(subject))
    assert signal == MailSignal(
        kind, (OID,), "mid:fixed@example.test", datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    )


def test_order_id_from_body_links_when_the_subject_has_none(classifier: MailClassifier, pack: Pack) -> None:
    # A rule without an order_id group (as a future pack might have) falls back to the patterns.
    rules = pack.model.email.model_copy(
        update={
            "rules": [pack.model.email.rules[0].model_copy(update={"subject": "^Update on your orders$"})]
        }
    )
    bare = MailClassifier(rules)
    html = f"<p>see <a href='https://x.test/p/order/list.html?o_ids={OID},{OID2}'>orders</a></p>"
    signal = bare.classify(_parsed("Update on your orders", "no id in text", html=html))
    assert signal is not None and signal.order_ids == (OID, OID2)
    text_link = bare.classify(_parsed("Update on your orders", f"https://x.test/detail.html?orderId={OID}"))
    assert text_link is not None and text_link.order_ids == (OID,)
    assert bare.classify(_parsed("Update on your orders", "orderId=123")) is None


@pytest.mark.parametrize(
    "sender",
    [
        "AliExpress <transaction@notice.aliexpress.com.evil.test>",
        "AliExpress <transaction@evil.test>",
        '"transaction@notice.aliexpress.com" <phish@evil.test>',
        "AliExpress <service@notice.aliexpress.com>",
        "",
    ],
)
def test_forged_or_foreign_senders_are_ignored(classifier: MailClassifier, sender: str) -> None:
    message = _parsed(f"Order {OID}: Cancellation approved", sender=sender or "nobody")
    assert classifier.classify(message) is None


def test_sender_address_case_does_not_matter(classifier: MailClassifier) -> None:
    message = _parsed(f"Order {OID}: Delivered", sender="AliExpress <Transaction@Notice.AliExpress.com>")
    signal = classifier.classify(message)
    assert signal is not None and signal.kind == "delivered"


def test_login_code_mail_is_recognised_without_order(classifier: MailClassifier) -> None:
    signal = classifier.classify(_parsed("Your AliExpress verification code", "Your code is 123456"))
    assert signal is not None and (signal.kind, signal.order_ids) == (LOGIN_CODE, ())
    assert planner(signal) is None


def test_unknown_portal_mail_and_invalid_ids_give_nothing(classifier: MailClassifier) -> None:
    assert classifier.classify(_parsed("Big savings this weekend!")) is None
    assert classifier.classify(_parsed("Order 12345: Cancellation approved")) is None
    # (issue 8: a forwarded subject is read after its prefix; see tests/mail/test_corpus.py)
    forwarded = classifier.classify(_parsed(f"Fwd: Order {OID}: Cancellation approved"))
    assert forwarded is not None and (forwarded.kind, forwarded.order_ids) == ("cancel_approved", (OID,))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_mail_never_raises(classifier: MailClassifier, name: str) -> None:
    parsed = parse_message(HOSTILE[name], uid=1)
    if parsed is not None:
        assert classifier.classify(parsed) is None
        assert message_key(parsed)


def test_message_key_is_the_message_id_else_a_stable_hash() -> None:
    with_id = _parsed("s", "b", message_id="abc@example.test")
    assert message_key(with_id) == "mid:abc@example.test"
    long_id = _parsed("s", "b", message_id="x" * 400 + "@example.test")
    assert message_key(long_id).startswith("mid-sha256:") and len(message_key(long_id)) <= 255
    raw = b"From: a@example.test\r\nSubject: no id\r\nDate: Sat, 1 Mar 2025 10:00:00 +0000\r\n\r\nbody\r\n"
    first, second = parse_message(raw, uid=1), parse_message(raw, uid=99)
    assert first is not None and second is not None
    assert message_key(first) == message_key(second) and message_key(first).startswith("hdr-sha256:")
    other = parse_message(raw.replace(b"body", b"other"), uid=1)
    assert other is not None and message_key(other) != message_key(first)


# ---- effects ------------------------------------------------------------------------------------
def test_closed_mail_is_never_an_outcome_for_any_case_kind_or_state() -> None:
    assert all(kind != CLOSED for kind, _ in OUTCOMES)
    signal = MailSignal(CLOSED, (OID,), "k", None)
    for kind in CaseKind:
        assert outcome_for(CLOSED, kind) is None
        for state in CaseState:
            for trusted in (False, True):
                effects = effects_for(signal, [OpenCase(1, OID, kind, state)], trusted=trusted)
                assert [(e.request_check, e.move_to) for e in effects] == [(True, None)]


def test_outcome_mails_only_hint_and_request_checks() -> None:
    """Mail is a doorbell: an outcome mail (which anyone can forge with the portal's exact From
    address) asks for a status check of each open case of its order and moves none of them."""
    for kind in {k for k, _ in OUTCOMES}:
        signal = MailSignal(kind, (OID,), "k", RECEIVED)
        cases = [OpenCase(n, OID, case_kind, state, EARLIER)
                 for n, (case_kind, state) in enumerate(
                     [(k, s) for k in CaseKind for s in CaseState], start=1)]  # fmt: skip
        effects = effects_for(signal, cases)
        assert [e.case_id for e in effects] == [c.id for c in cases]
        assert all(e.request_check and e.move_to is None and e.outcome_note is None for e in effects)
        for effect, case in zip(effects, cases, strict=True):
            hint = outcome_for(kind, case.kind)
            assert (effect.note or {}).get("hint") == (hint.value if hint else None)


def test_outcomes_apply_only_to_their_case_kind_and_order() -> None:
    signal = MailSignal("cancel_approved", (OID,), "k", RECEIVED)
    cases = [
        OpenCase(1, OID, CaseKind.CANCEL, CaseState.SUBMITTED, EARLIER),
        OpenCase(2, OID, CaseKind.REFUND, CaseState.SUBMITTED, EARLIER),
        OpenCase(3, OID2, CaseKind.CANCEL, CaseState.SUBMITTED, EARLIER),
    ]
    effects = {e.case_id: e for e in effects_for(signal, cases, trusted=True)}
    assert set(effects) == {1, 2}
    assert effects[1].move_to is CaseState.APPROVED and effects[2].move_to is None
    assert effects[1].outcome_note == TRUSTED_NOTE and (effects[1].note or {})["why"] == TRUSTED_NOTE
    assert all(e.request_check for e in effects.values())
    untrusted = {e.case_id: e for e in effects_for(signal, cases)}
    assert untrusted[1].move_to is None
    assert (untrusted[1].note or {}) == {"hint": "approved", "sender_via": "direct"}


def test_trusted_mail_moves_only_when_newer_than_the_last_change_and_not_failing_auth() -> None:
    case = OpenCase(1, OID, CaseKind.CANCEL, CaseState.SUBMITTED, RECEIVED)
    for received in (RECEIVED, EARLIER, None):  # not newer, older, undated
        signal = MailSignal("cancel_rejected", (OID,), "k", received)
        [effect] = effects_for(signal, [case], trusted=True)
        assert effect.move_to is None and "move_skipped" in (effect.note or {}), received
    failing = AuthResults("mx.buyer.test", dkim="fail", dkim_domain="notice.aliexpress.com")
    later = RECEIVED + timedelta(minutes=1)
    [vetoed] = effects_for(MailSignal("cancel_rejected", (OID,), "k", later, failing), [case], trusted=True)
    assert vetoed.move_to is None and "Authentication-Results" in (vetoed.note or {})["move_skipped"]
    [moved] = effects_for(MailSignal("cancel_rejected", (OID,), "k", later), [case], trusted=True)
    assert moved.move_to is CaseState.REJECTED
