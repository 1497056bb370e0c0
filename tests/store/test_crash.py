"""The submit intent survives a hard crash of the worker process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, new_case

CRASHING_WORKER = textwrap.dedent(
    """
    import os, sys
    from bot.store import Store
    store = Store.open(sys.argv[1], migrate=False)
    case = store.dispatch.claim_next_ready("doomed", lease_seconds=60)
    store.cases.mark_submit_intent(case.id, "doomed", detail={"button": "submit"})
    print(case.id, flush=True)
    os._exit(9)  # die like a killed process: no release, no cleanup, no dispose
    """
)


def test_submit_intent_survives_a_crash(db_url: str, clock: FrozenClock) -> None:
    with Store.open(db_url, clock=clock) as setup:
        add_account(setup, "alice")
        created = setup.intake.create_with(new_case())
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WORKER, db_url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 9, done.stderr
    assert int(done.stdout.strip()) == created.id

    # a new process-like start: new engine on the same URL, clock well after the lease
    clock.now = clock.now + timedelta(days=3650)
    with Store.open(db_url, clock=clock) as after:
        case = after.cases.get(created.id)
        assert case.state is CaseState.SUBMITTING
        assert case.submit_intent_at is not None and case.lease_owner == "doomed"
        intent = after.cases.history(created.id)[-1]
        assert (intent.kind, intent.to_state, intent.detail) == (
            "submit_intent",
            CaseState.SUBMITTING,
            {"button": "submit"},
        )
        assert [c.id for c in after.cases.reclaim_expired()] == [created.id]
        assert [c.id for c in after.cases.find_submitting()] == [created.id]
        # never submitted twice blindly
        assert after.dispatch.claim_next_ready("w2", lease_seconds=60) is None
        assert after.cases.get(created.id).state is CaseState.SUBMITTING
