"""A missing secret is the account's configuration problem, never the case's (issue 13, finding 2).

With `RECOUP_SECRET_<ACCOUNT>_PASSWORD` unset, a case of that account waits in `needs_human` with
the cause (nothing clicked, no retry budget spent, exit 6 for a one-off), is not re-filed by the
duplicate check, and runs to `submitted` through `recoup cases retry` once the secret is back.
In `recoup run`, one account without its secret does not hold up the others.
"""

from __future__ import annotations

from bot.states import CaseState
from bot.store import Store
from tests.cli.conftest import Cli
from tests.fixtures.service import Service, service_env, wait_until

ANN_ORDER = "3042417938137200"
BERND_ORDER = "3043000000000100"
MISSING = "secret env:RECOUP_SECRET_ANN_PASSWORD is not set"


def test_a_one_off_without_its_secret_waits_exits_6_and_runs_after_retry(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    password = cli.password("ann@buyer.test")
    cli.monkeypatch.delenv("RECOUP_SECRET_ANN_PASSWORD")

    parked = cli.json("cancel", ANN_ORDER, "--account", "ann", "--reason", "not_shipped_on_time", code=6)
    assert parked["state"] == CaseState.NEEDS_HUMAN.value
    assert parked["exit_code"] == 6 and parked["last_error"] == "SecretMissingError"
    assert MISSING in parked["outcome_note"] and f"cases retry {parked['id']}" in parked["outcome_note"]
    assert parked["attempts"] == 0 and parked["session_attempts"] == 0  # no budget spent
    assert parked["submit_intent_at"] is None
    assert cli.submissions(ANN_ORDER) == 0  # nothing was clicked

    # The order is not filed a second time: the duplicate check points to the waiting case.
    again = cli("cancel", ANN_ORDER, "--account", "ann", "--reason", "not_shipped_on_time", code=2)
    assert f"case {parked['id']} already covers" in again.output

    cli.monkeypatch.setenv("RECOUP_SECRET_ANN_PASSWORD", password)
    retried = cli.json("cases", "retry", str(parked["id"]))
    assert retried["state"] == CaseState.SUBMITTED.value and retried["ran"] is True
    assert cli.submissions(ANN_ORDER) == 1
    for output in (again.output, str(parked), str(retried)):
        assert password not in output


def test_the_service_parks_only_the_account_without_its_secret(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli.add_account("bernd", "bernd@kaeufer.test", "--locale", "de_DE")
    ann = cli.json("cancel", ANN_ORDER, "--account", "ann", "--reason", "not_shipped_on_time", "--queue")
    bernd = cli.json(
        "cancel", BERND_ORDER, "--account", "bernd", "--reason", "not_shipped_on_time", "--queue"
    )
    acc_ann = cli.sb.scenario.account("ann@buyer.test")
    acc_bernd = cli.sb.scenario.account("bernd@kaeufer.test")
    env = service_env(  # ann's password is not in the service's environment
        cli.sb,
        cli.mail,
        cli.data,
        RECOUP_SECRET_ANN_MAILBOX=acc_ann.mailbox_password,
        RECOUP_SECRET_BERND_PASSWORD=acc_bernd.password,
        RECOUP_SECRET_BERND_MAILBOX=acc_bernd.mailbox_password,
    )
    service = Service(env, cli.tmp / "service.log")
    service.start()
    with Store.open(f"sqlite:///{cli.db}") as store:
        try:
            wait_until(
                lambda: (
                    store.cases.get(ann["id"]).state is CaseState.NEEDS_HUMAN
                    and store.cases.get(bernd["id"]).state is CaseState.SUBMITTED
                ),
                300,
                "ann's case to wait and bernd's to be submitted",
            )
        except AssertionError as timeout:
            states = {c.account: (c.state.value, c.last_error) for c in store.cases.list_cases()}
            raise AssertionError(f"{timeout}: {states}\n{service.tail()}") from None
        finally:
            code = service.stop()
        assert code == 0, service.tail()
        waiting = store.cases.get(ann["id"])
        assert waiting.outcome_note is not None and MISSING in waiting.outcome_note
        assert waiting.attempts == 0 and waiting.submit_intent_at is None
        assert [a.action.value if a.action else None for a in store.cases.attempts_of(ann["id"])] == [
            "fix_config"
        ]
    assert cli.submissions(ANN_ORDER) == 0
    assert cli.submissions(BERND_ORDER) == 1

    cli.monkeypatch.setenv("RECOUP_SECRET_ANN_PASSWORD", acc_ann.password)
    assert cli.json("cases", "retry", str(ann["id"]))["state"] == CaseState.SUBMITTED.value
    assert cli.submissions(ANN_ORDER) == 1
    assert acc_ann.password not in service.tail(10**6)
