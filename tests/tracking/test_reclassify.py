"""Nothing buried (issue 8 #3), through the real Dovecot poller and the `recoup mail` commands.

A portal mail whose subject no rule of the pack matches is kept as unrecognised (summary, codes
masked) with its processed key; after a pack change adds a rule, `recoup mail reclassify`
applies it once (a status check, or a move on a trusted account) and a second run changes
nothing. Both databases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import Store
from bot.store._tables import ProcessedMessageRow, UnrecognisedMailRow
from flows.pack import Pack
from tests.fixtures.clock import FrozenClock
from tests.fixtures.mail import Mailbox
from tests.tracking.conftest import add_account, make_poller, portal_mail, send, submitted_case

pytestmark = pytest.mark.e2e

PACK = Path(__file__).resolve().parents[2] / "selectors" / "aliexpress.yaml"
NEW_SUBJECT = "Good news: your cancellation for order {oid} went through"
NEW_RULE = (
    "    - {event: cancel_approved, subject: "
    "'^Good news: your cancellation for order (?P<order_id>\\d{15,19}) went through$'}\n"
)


def _changed_pack(folder: Path) -> Path:
    """A copy of the real pack with one more rule (the new wording), in `folder`."""
    text = PACK.read_text(encoding="utf-8")
    assert "  rules:\n" in text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aliexpress.yaml").write_text(text.replace("  rules:\n", "  rules:\n" + NEW_RULE, 1), "utf-8")
    return folder


def _recoup(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _events(store: Store, case_id: int, kind: str) -> list[dict[str, Any]]:
    return [e.detail for e in store.cases.history(case_id) if e.kind == kind]


def _kept_rows(store: Store) -> list[UnrecognisedMailRow]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(UnrecognisedMailRow)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize("trusted", [False, True], ids=["doorbell", "trusted"])
def test_reclassify_applies_a_kept_mail_once_after_a_pack_change(
    store: Store,
    pack: Pack,
    mailbox: Mailbox,
    clock: FrozenClock,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trusted: bool,
) -> None:
    add_account(store, "alice", mailbox.email)
    case = submitted_case(store, "alice", CaseKind.CANCEL)
    other = submitted_case(store, "alice", CaseKind.CANCEL)
    subject = NEW_SUBJECT.format(oid=case.order_id)
    body_code = "Your security code is 482913, do not share it."
    raw = portal_mail(mailbox, subject, case.order_id)
    send(mailbox, raw.replace(b"Something happened to your order.", body_code.encode()))

    result = make_poller(store, pack, mailbox, clock).poll_account("alice")

    # kept as unrecognised: counted, listed, its processed key written, the code masked
    assert (result.fetched, result.unrecognised) == (1, 1)
    kept = store.unrecognised.list_kept()
    assert [(k.account, k.mail.subject, k.mail.order_ids) for k in kept] == [
        ("alice", subject, (case.order_id,))
    ]
    assert kept[0].mail.sent_at is not None and kept[0].mail.received_at is not None
    assert (kept[0].mailbox, kept[0].uid) == ("INBOX", 1) and kept[0].message_key.startswith("mid:")
    stored = json.dumps(kept[0].as_dict(content=True))
    assert "482913" not in stored and "######" in stored
    with store.engine.connect() as connection:
        marker = connection.execute(select(ProcessedMessageRow)).one()
    assert marker.classification == "unrecognised" and marker.message_key == kept[0].message_key
    checks_before = len(_events(store, case.id, "status_check_requested"))
    assert store.cases.get(case.id).state is CaseState.SUBMITTED

    # the CLI, on the same store, with the pack changed to know the new wording
    monkeypatch.setenv("RECOUP_DATABASE_URL", db_url)
    listed = _recoup("mail", "unrecognised")
    assert (listed["count"], listed["pending"]) == (1, 1)
    assert listed["mails"][0]["subject"] == subject and listed["mails"][0]["order_ids"] == [case.order_id]
    assert _recoup("mail", "reclassify")["applied"] == 0  # the shipped pack still does not know it

    monkeypatch.setenv("RECOUP_PACK_DIR", str(_changed_pack(tmp_path / "pack")))
    if trusted:
        monkeypatch.setenv("RECOUP_TRUST_MAIL_ACCOUNTS", '["alice"]')
    first = _recoup("mail", "reclassify")

    assert first["applied"] == 1 and first["still_unrecognised"] == 0
    change = first["changed"][0]
    assert (change["now"], change["now_order_ids"], change["checked"]) == (
        "cancel_approved",
        [case.order_id],
        [case.id],
    )
    checks = _events(store, case.id, "status_check_requested")
    assert len(checks) == checks_before + 1
    assert checks[-1]["signal"] == "cancel_approved" and checks[-1]["reclassified"] is True
    assert checks[-1]["message_key"] == kept[0].message_key and checks[-1]["hint"] == "approved"
    if trusted:
        assert change["moved"] == [[case.id, "approved"]]
        assert store.cases.get(case.id).state is CaseState.APPROVED
        assert [e["trusted"] for e in _events(store, case.id, "mail_outcome")] == [True]
    else:
        assert change["moved"] == []
        assert store.cases.get(case.id).state is CaseState.SUBMITTED
        assert _events(store, case.id, "mail_outcome") == []
    assert _events(store, other.id, "status_check_requested") == []
    with store.engine.connect() as connection:
        marker = connection.execute(select(ProcessedMessageRow)).one()
    assert marker.classification == "cancel_approved" and marker.case_id == case.id

    # a second run (and a second poll) changes nothing
    history = [(e.kind, e.to_state) for e in store.cases.history(case.id)]
    second = _recoup("mail", "reclassify")
    again = make_poller(store, pack, mailbox, clock).poll_account("alice")
    assert second == {"changed": [], "applied": 0, "still_unrecognised": 0}
    assert (again.fetched, again.unrecognised) == (0, 0)
    assert [(e.kind, e.to_state) for e in store.cases.history(case.id)] == history
    after = _recoup("mail", "unrecognised", "--all")
    assert (after["count"], after["pending"]) == (1, 0)
    assert after["mails"][0]["resolved_kind"] == "cancel_approved"
    assert len(_kept_rows(store)) == 1
