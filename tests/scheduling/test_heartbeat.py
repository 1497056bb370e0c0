"""The one heartbeat (bot/heartbeat.py): cadence on an injected sleep, a lost hold told once and
ending the beat, hiccups retried, a renewal under way finished before stop returns, bugs logged."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import LeaseLostError, RecoupError, StoreUnavailableError
from bot.heartbeat import Heartbeat, heartbeat
from tests.scheduling.conftest import wait_until

WAIT = 10.0


class FakeSleep:
    """Records each wait and holds it until the test lets one beat through."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._go.get()

    def beat(self, times: int = 1) -> None:
        for _ in range(times):
            self._go.put_nowait(None)


class Renewals:
    """A renew function: counts calls, raises what the test queued for a given call."""

    def __init__(self, failures: dict[int, Exception] | None = None) -> None:
        self.calls = 0
        self.failures = failures or {}

    async def __call__(self) -> None:
        self.calls += 1
        failure = self.failures.get(self.calls)
        if failure is not None:
            raise failure


async def test_renews_every_interval_until_the_block_ends() -> None:
    sleep, renew = FakeSleep(), Renewals()
    async with heartbeat(renew, 40.0, what="test hold", sleep=sleep) as beating:
        await wait_until(lambda: len(sleep.asked) == 1)
        assert renew.calls == 0  # the first renewal waits one interval
        sleep.beat(3)
        await wait_until(lambda: renew.calls == 3 and len(sleep.asked) == 4)
        assert sleep.asked == [40.0] * 4
        assert beating.beats == 3 and beating.running
    assert not beating.running
    sleep.beat(5)  # a stopped heartbeat renews no more
    await asyncio.sleep(0)
    assert renew.calls == 3


async def test_a_lost_hold_is_told_once_and_ends_the_beat() -> None:
    gone = LeaseLostError("case 7: lease now held by w2")
    sleep, renew = FakeSleep(), Renewals({2: gone})
    told: list[RecoupError] = []

    async def on_lost(error: RecoupError) -> None:
        told.append(error)

    async with heartbeat(
        renew, 1.0, what="case 7 lease", lost=LeaseLostError, on_lost=on_lost, sleep=sleep
    ) as b:
        sleep.beat(2)
        await wait_until(lambda: not b.running)
        assert told == [gone] and b.lost is gone and b.beats == 1
        assert len(sleep.asked) == 2  # no wait after the loss
        assert await b.beat() is False  # lost stays lost: no renewal, not told again
        assert renew.calls == 2 and told == [gone]


async def test_a_failed_renewal_is_logged_and_retried(logs: list[str]) -> None:
    sleep, renew = FakeSleep(), Renewals({1: StoreUnavailableError("database unavailable")})
    lost: list[RecoupError] = []

    async def on_lost(error: RecoupError) -> None:
        lost.append(error)

    async with heartbeat(
        renew, 1.0, what="account bob lock", lost=LeaseLostError, on_lost=on_lost, sleep=sleep
    ) as b:
        sleep.beat(2)
        await wait_until(lambda: renew.calls == 2)
        await wait_until(lambda: b.beats == 1)
        assert b.running and b.lost is None and lost == []
    assert any(
        "account bob lock: renewal failed, retrying: StoreUnavailableError: database unavailable" in line
        for line in logs
    ), logs


async def test_without_lost_errors_every_recoup_error_is_a_hiccup() -> None:
    sleep, renew = FakeSleep(), Renewals({1: LeaseLostError("taken over")})
    async with heartbeat(renew, 1.0, what="account bob lock", sleep=sleep) as b:
        sleep.beat(2)
        await wait_until(lambda: b.beats == 1)
        assert b.running and b.lost is None and renew.calls == 2


async def test_stop_lets_a_renewal_under_way_finish() -> None:
    """A release after the block must never race a renewal still running in a thread."""
    sleep = FakeSleep()
    inside, finish = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def slow_renew() -> None:
        inside.set()
        await finish.wait()
        finished.append(True)

    beating = Heartbeat(slow_renew, 1.0, what="scheduler lock", sleep=sleep)
    beating.start()
    sleep.beat()
    async with asyncio.timeout(WAIT):
        await inside.wait()
    stopping = asyncio.create_task(beating.stop())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the renewal
    finish.set()
    async with asyncio.timeout(WAIT):
        await stopping
    assert finished == [True] and not beating.running


async def test_a_bug_in_renew_is_logged_and_never_raised_into_the_block(logs: list[str]) -> None:
    sleep = FakeSleep()

    async def broken() -> None:
        raise RuntimeError("boom")

    async with heartbeat(broken, 1.0, what="case 9 lease", sleep=sleep) as b:
        sleep.beat()
        await wait_until(lambda: not b.running)
    assert any("case 9 lease: heartbeat stopped: RuntimeError: boom" in line for line in logs), logs


def test_the_interval_must_be_positive() -> None:
    async def renew() -> None:
        return None

    with pytest.raises(ValueError, match="positive"):
        Heartbeat(renew, 0, what="nothing")
